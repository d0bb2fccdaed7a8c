"""Read and write datasets in the og-marl flashbax Vault layout.

A vault is a directory ``<root>/<scenario>.vlt/<quality>/`` holding flashbax's ``metadata.json`` and one
OCDBT database (``manifest.ocdbt``, ``d/``) in which every leaf of the experience tree is a zarr array
named after its path with a trailing dot (``observations.``, ``infos.legals.``), plus ``vault_index``,
the number of valid timesteps. Fields, shaped (B, T, N, ...): observations, actions, rewards,
terminals, truncations (per agent, float 0/1), infos.legals, infos.state (B, T, S).

Writing goes through flashbax's ``Vault`` (so flashbax and og-marl read our data), into a hidden
temporary directory that is renamed to its final name only when complete, with a dataset card
(``card.json``) inside. Reading opens the arrays with tensorstore directly into host NumPy memory (no
copy onto the JAX device, which flashbax's ``Vault.read`` would make) and normalises the og-marl
variants into :class:`benchmarks.data.transitions.Dataset`:

* rewards / terminals / truncations per agent (B,T,N) or per team (B,T): team reward = the agents'
  common reward (their mean when they differ), terminal / truncated when all agents are;
* B > 1 stored streams (OMAR) stay independent streams;
* ``-inf`` observation padding (OMAR MPE with uneven observation sizes) becomes 0;
* a trailing size-1 action axis is squeezed when the actions are discrete (integer dtype, or a
  multi-action legal mask); a genuine 1-D continuous action keeps it;
* missing ``infos.legals`` -> all legal; missing ``infos.state`` -> state of size 0; a per-agent state
  (B,T,N,S) that is replicated over agents -> (B,T,S), otherwise the agents' states concatenated.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.data.transitions import CHUNK_BYTES, Dataset, aligned_empty, time_slices
from algorithms.errors import DatasetError

CARD_FILE = "card.json"
META_FILE = "metadata.json"
REQUIRED = ("observations", "actions", "rewards", "terminals")
SHAPES = {
    "observations": "(B, T, N, obs_dim)",
    "actions": "(B, T, N) discrete or (B, T, N, action_dim) continuous",
    "rewards": "(B, T, N) or (B, T)",
    "terminals": "(B, T, N) or (B, T)",
    "truncations": "(B, T, N) or (B, T)",
    "infos.legals": "(B, T, N, n_actions)",
    "infos.state": "(B, T, state_dim) or (B, T, N, state_dim)",
}


def data_dir() -> Path:
    """Where datasets live: $BENCH_DATA, else the user cache directory (e.g. ~/.cache/bench/data)."""
    env = os.environ.get("BENCH_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bench")) / "data"


# ---- writing ---------------------------------------------------------------------------------------
def dataset_card(ds: Dataset, metadata: Optional[dict] = None) -> dict:
    """The dataset card: what generated it, plus episodes, transitions and return statistics."""
    card = {k: v for k, v in ds.card.items()}
    card.update(metadata or {})
    card.update(ds.summary())
    discrete = np.issubdtype(ds.actions.dtype, np.integer)
    card.update({
        "streams": int(ds.rewards.shape[0]),
        "action_kind": "discrete" if discrete else "continuous",
        "action_dim": int(ds.legal.shape[-1]) if discrete else int(ds.actions.shape[-1]),
        "state_dim": int(ds.state.shape[-1]),
    })
    card.setdefault("generator", "unknown")
    card.setdefault("seed", None)
    if discrete and card["action_dim"] <= 1 and ds.actions.size:
        card["action_dim"] = int(ds.actions.max()) + 1
    return card


def _experience(ds: Dataset) -> dict:
    B, T, N = ds.observations.shape[:3]
    per_agent = lambda x: np.ascontiguousarray(np.broadcast_to(x[:, :, None], (B, T, N)).astype(np.float32))
    exp = {
        "observations": np.asarray(ds.observations, np.float32),
        "actions": (np.asarray(ds.actions, np.int32) if np.issubdtype(ds.actions.dtype, np.integer)
                    else np.asarray(ds.actions, np.float32)),
        "rewards": per_agent(ds.rewards),
        "terminals": per_agent(ds.terminals),
        "truncations": per_agent(ds.truncations),
        "infos": {"legals": np.asarray(ds.legal, np.float32)},
    }
    if ds.state.shape[-1] > 0:
        exp["infos"]["state"] = np.asarray(ds.state, np.float32)
    return exp


def _check_dataset(ds: Dataset) -> None:
    if ds.observations.ndim != 4:
        raise DatasetError(f"dataset field 'observations' has shape {ds.observations.shape}, expected {SHAPES['observations']}")
    B, T, N = ds.observations.shape[:3]
    expect = {"rewards": (B, T), "terminals": (B, T), "truncations": (B, T)}
    for f, shape in expect.items():
        if getattr(ds, f).shape != shape:
            raise DatasetError(f"dataset field '{f}' has shape {getattr(ds, f).shape}, expected {shape} (B, T)")
    if ds.actions.shape[:3] != (B, T, N):
        raise DatasetError(f"dataset field 'actions' has shape {ds.actions.shape}, expected {SHAPES['actions']} "
                           f"with (B, T, N) = {(B, T, N)}")
    if ds.legal.shape[:3] != (B, T, N) or ds.legal.ndim != 4:
        raise DatasetError(f"dataset field 'legal' has shape {ds.legal.shape}, expected {(B, T, N)} + (n_actions,)")
    if ds.state.shape[:2] != (B, T) or ds.state.ndim != 3:
        raise DatasetError(f"dataset field 'state' has shape {ds.state.shape}, expected {(B, T)} + (state_dim,)")


def write_dataset(ds: Dataset, path: str | Path, metadata: Optional[dict] = None, overwrite: bool = False) -> Path:
    """Write ``ds`` as an og-marl vault at ``path`` (= ``<root>/<scenario>.vlt/<quality>``), atomically.

    The data go to a hidden sibling directory first, which is renamed to ``path`` once flashbax has
    written everything and the card is in place, so a half-written dataset never appears under its
    final name. Returns the final path. An existing dataset is replaced only with ``overwrite=True``.
    """
    from flashbax.buffers.trajectory_buffer import TrajectoryBufferState
    from flashbax.vault import Vault

    _check_dataset(ds)
    path = Path(path).expanduser().absolute()
    if path.exists() and not overwrite:
        raise DatasetError(f"a dataset already exists at {path}; delete it or write with overwrite=True")
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp_uid = f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    exp = _experience(ds)
    T = ds.observations.shape[1]
    card = dataset_card(ds, metadata)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # flashbax prints progress on stdout
            vault = Vault(vault_name=parent.name, experience_structure=exp, rel_dir=str(parent.parent),
                          vault_uid=tmp_uid, metadata={"bench_card": json.dumps(card)})
            state = TrajectoryBufferState(experience=exp, current_index=np.int32(T), is_full=False)
            written = vault.write(state, source_interval=(0, T))
        if written != T:
            raise DatasetError(f"flashbax wrote {written} of {T} timesteps to {path}")
        (parent / tmp_uid / CARD_FILE).write_text(json.dumps(card, indent=2, default=_json_default))
        _publish(parent / tmp_uid, path, overwrite)
    finally:
        if (parent / tmp_uid).exists():
            shutil.rmtree(parent / tmp_uid, ignore_errors=True)
    ds.card = card
    return path


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``path``; with ``overwrite``, move an existing one aside first.

    Renames are atomic, so a reader sees the old dataset, the new one, or (briefly, while replacing) none,
    never a partial one. Concurrent writers of the same dataset: the last one wins (overwrite) or the
    others fail with a clear message."""
    for _ in range(10):
        if overwrite and path.exists():
            trash = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            try:
                os.replace(path, trash)
            except FileNotFoundError:  # another writer moved it first
                pass
            else:
                shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, path)
            return
        except OSError:  # a directory appeared under the final name meanwhile (another writer)
            if not overwrite:
                raise DatasetError(f"a dataset appeared at {path} while this one was being written (another "
                                   f"process?); delete it or write with overwrite=True") from None
    raise DatasetError(f"could not move the new dataset into {path}: other processes keep replacing it")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---- reading ---------------------------------------------------------------------------------------
def _leaf_names(tree: dict, prefix: str = ""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaf_names(v, prefix + k + ".")
        else:
            yield prefix + k + ".", v


def resolve_vault(path: str | Path) -> Path:
    """The uid directory of a vault; a ``<scenario>.vlt`` directory with exactly one uid is accepted."""
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise DatasetError(f"no dataset at {p}. Download one with `bench data download --suite S --task T`, "
                           f"generate one with `bench data collect --suite S`, or check the path")
    if (p / META_FILE).is_file():
        return p
    if p.is_file():
        raise DatasetError(f"{p} is a file, not a vault directory <root>/<scenario>.vlt/<quality>/; a downloaded zip "
                           f"is unpacked by `bench data download`, or unzip it yourself and pass the quality directory")
    uids = sorted(d.name for d in p.iterdir() if d.is_dir() and (d / META_FILE).is_file() and not d.name.startswith("."))
    if len(uids) == 1:
        return p / uids[0]
    if uids:
        raise DatasetError(f"{p} holds several datasets ({', '.join(uids)}); give one, e.g. {p / uids[0]}")
    raise DatasetError(f"{p} is not a vault (no {META_FILE}); expected <root>/<scenario>.vlt/<quality>/ as written "
                       f"by og-marl / flashbax. Re-download it with `bench data download --force`")


def vault_fields(path: str | Path) -> dict:
    """{field: (stored shape string, dtype)} from a vault's metadata, plus its number of timesteps."""
    base = resolve_vault(path)
    meta = _metadata(base)
    shapes = dict(_leaf_names(meta["structure_shape"]))
    dtypes = dict(_leaf_names(meta["structure_dtype"]))
    return {"fields": {n[:-1]: (shapes[n], dtypes.get(n)) for n in shapes}, "timesteps": _vault_index(base)}


def _metadata(base: Path) -> dict:
    try:
        meta = json.loads((base / META_FILE).read_text())
        meta["structure_shape"], meta["structure_dtype"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{base / META_FILE} is unreadable or not a flashbax vault's metadata ({exc}); "
                           f"the dataset is corrupt: delete it and download or collect it again") from None
    if int(float(meta.get("version", 1))) != 1:
        raise DatasetError(f"{base} is a flashbax vault of version {meta.get('version')}; only 1.x is supported")
    return meta


def _spec(base: Path, name: str) -> dict:
    return {"driver": "zarr", "kvstore": {"driver": "ocdbt", "base": f"file://{base}", "path": name}}


def _vault_index(base: Path) -> int:
    import tensorstore as ts

    try:
        store = ts.open(_spec(base, "vault_index"), dtype=ts.int32, shape=[1]).result()
        return int(store.read().result()[0])
    except Exception as exc:  # tensorstore raises ValueError / RuntimeError subclasses
        raise DatasetError(f"cannot read the vault index of {base} ({str(exc).splitlines()[0][:200]}); "
                           f"the dataset is corrupt or half-copied: delete it and download or collect it again") from None


def read_raw(path: str | Path, timesteps: Optional[int] = None, fields: Optional[tuple] = None,
             legal_masks: bool = False) -> dict:
    """The stored experience tree as NumPy arrays [B, T, ...] (T = the valid timesteps, or the first ``timesteps``).

    Each field is read a time slice at a time into one 64-byte-aligned array (so a CPU device can use it
    without a copy, and reading never holds a field twice); ``fields`` (dotted names, e.g. ``("rewards",
    "infos.legals")``) reads only those; ``legal_masks`` turns the stored float legal masks into bool masks
    (``> 0.5``) slice by slice, so the float copy, four times the mask's size, is never held."""
    base = resolve_vault(path)
    meta = _metadata(base)
    n = _vault_index(base)
    if timesteps is not None:
        n = min(n, int(timesteps))
    out: dict = {}
    for name, _ in _leaf_names(meta["structure_shape"]):
        if fields is not None and name[:-1] not in fields:
            continue
        node = out
        keys = name[:-1].split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        mask = legal_masks and name in ("infos.legals.", "legals.")
        node[keys[-1]] = _read_field(base, name, n, as_mask=mask)
    return out


def _read_field(base: Path, name: str, n: int, as_mask: bool = False) -> np.ndarray:
    import tensorstore as ts

    try:
        store = ts.open(_spec(base, name)).result()
        shape = (store.shape[0], n) + tuple(store.shape[2:])
        arr = aligned_empty(shape, bool if as_mask else store.dtype.numpy_dtype)
        for sl in time_slices(arr):
            part = store[:, sl].read().result()
            arr[:, sl] = part > 0.5 if as_mask else part
    except Exception as exc:
        raise DatasetError(f"cannot read field '{name[:-1]}' of {base} ({str(exc).splitlines()[0][:200]}); the "
                           f"dataset is corrupt: delete it and download or collect it again") from None
    return arr


def _any(x: np.ndarray, test) -> bool:
    """``test(x).any()`` a time slice at a time (bounded temporaries on large arrays)."""
    return any(bool(test(x[:, sl]).any()) for sl in time_slices(x))


def _bad(field: str, got, why: str = "") -> DatasetError:
    return DatasetError(f"dataset field '{field}' has shape {tuple(got)}, expected {SHAPES[field]}{why}")


def _per_team(x: np.ndarray, field: str, B: int, T: int, N: int, reduce: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.shape == (B, T):
        return x
    if x.shape != (B, T, N):
        raise _bad(field, x.shape, f" with (B, T, N) = {(B, T, N)}")
    if reduce == "all":
        return (x > 0.5).all(-1)
    same = np.all(x == x[..., :1])
    return x[..., 0] if same else x.mean(-1)


def from_experience(exp: dict, card: Optional[dict] = None) -> Dataset:
    """Normalise an og-marl experience tree (NumPy arrays) into a :class:`Dataset` (see module docstring)."""
    infos = exp.get("infos", {}) or {}
    flat = {**{k: v for k, v in exp.items() if k != "infos"}, **{f"infos.{k}": v for k, v in infos.items()}}
    for k in ("legals", "state"):  # some converted vaults keep these at the top level
        if f"infos.{k}" not in flat and k in flat:
            flat[f"infos.{k}"] = flat.pop(k)
    missing = [f for f in REQUIRED if f not in flat]
    if missing:
        raise DatasetError(f"dataset has no field '{missing[0]}' (fields: {', '.join(sorted(flat))}); an og-marl vault "
                           f"needs {', '.join(f'{f} {SHAPES[f]}' for f in REQUIRED)}")
    obs = np.asarray(flat["observations"])
    if obs.ndim != 4:
        raise _bad("observations", obs.shape)
    B, T, N, _ = obs.shape
    if _any(obs, np.isnan):
        raise DatasetError("dataset field 'observations' contains NaN; the dataset is corrupt")
    obs = obs.astype(np.float32, copy=False)
    if not obs.flags.writeable:
        obs = obs.copy()
    for sl in time_slices(obs):  # OMAR MPE pads short observations with -inf: 0, in place
        part = obs[:, sl]
        np.copyto(part, 0.0, where=np.isneginf(part))
    if _any(obs, np.isinf):
        raise DatasetError("dataset field 'observations' contains +inf; the dataset is corrupt")

    rewards = _per_team(flat["rewards"], "rewards", B, T, N, "mean").astype(np.float32)
    if not np.isfinite(rewards).all():
        raise DatasetError("dataset field 'rewards' contains NaN or inf; the dataset is corrupt")
    terminals = _per_team(flat["terminals"], "terminals", B, T, N, "all").astype(bool)
    trunc = flat.get("truncations")
    truncations = (np.zeros((B, T), bool) if trunc is None
                   else _per_team(trunc, "truncations", B, T, N, "all").astype(bool))

    legals = flat.get("infos.legals")
    if legals is not None:
        legals = np.asarray(legals)
        if legals.ndim != 4 or legals.shape[:3] != (B, T, N):
            raise _bad("infos.legals", legals.shape, f" with (B, T, N) = {(B, T, N)}")

    actions = np.asarray(flat["actions"])
    if actions.shape[:3] != (B, T, N) or actions.ndim not in (3, 4):
        raise _bad("actions", actions.shape, f" with (B, T, N) = {(B, T, N)}")
    integer = np.issubdtype(actions.dtype, np.integer)
    multi_legal = legals is not None and legals.shape[-1] > 1
    discrete = actions.ndim == 3 or (actions.shape[-1] == 1 and (integer or multi_legal))
    if discrete:
        if actions.ndim == 4:
            actions = actions[..., 0]
        if not integer:
            if not np.all(np.isfinite(actions)) or np.any(actions != np.round(actions)):
                raise DatasetError("dataset field 'actions' is a discrete (B, T, N) action index but holds non-integer values")
        actions = actions.astype(np.int32, copy=False)
        if actions.size and actions.min() < 0:
            raise DatasetError("dataset field 'actions' holds negative discrete actions")
        if legals is None:
            n_act = int(actions.max()) + 1 if actions.size else 1
            legal = np.ones((B, T, N, n_act), bool)
        else:
            legal = legals if legals.dtype == bool else np.greater(legals, 0.5, out=aligned_empty(legals.shape, bool))
    else:
        actions = actions.astype(np.float32, copy=False)
        if _any(actions, lambda a: ~np.isfinite(a)):
            raise DatasetError("dataset field 'actions' contains NaN or inf; the dataset is corrupt")
        legal = np.ones((B, T, N, 1), bool)  # continuous tasks: a single always-true mask

    state = flat.get("infos.state")
    if state is None:
        state = np.zeros((B, T, 0), np.float32)
    else:
        state = np.asarray(state, np.float32)
        if state.ndim == 4 and state.shape[:3] == (B, T, N):
            state = state[:, :, 0] if np.all(state == state[:, :, :1]) else state.reshape(B, T, -1)
        if state.ndim != 3 or state.shape[:2] != (B, T):
            raise _bad("infos.state", state.shape, f" with (B, T) = {(B, T)}")
    return Dataset(observations=obs, actions=actions, rewards=rewards, terminals=terminals, truncations=truncations,
                   legal=legal, state=state, card=dict(card or {}))


def _stored_card(base: Path) -> dict:
    """The vault's card.json ({} when it has none, as og-marl's own vaults)."""
    if not (base / CARD_FILE).is_file():
        return {}
    try:
        return json.loads((base / CARD_FILE).read_text())
    except ValueError:
        raise DatasetError(f"{base / CARD_FILE} is not valid JSON; the dataset is corrupt") from None


def read_dataset(path: str | Path) -> Dataset:
    """Read any og-marl vault (downloaded or ours) into a :class:`Dataset`; ``ds.card`` holds its card."""
    base = resolve_vault(path)
    exp = read_raw(base, legal_masks=True)
    card = _stored_card(base)
    ds = from_experience(exp, card)
    if ds.rewards.shape[1] == 0:
        raise DatasetError(f"the vault at {base} holds no timesteps; collect or download it again")
    ds.card.setdefault("generator", "og-marl vault")
    ds.card["path"] = str(base)
    ds.card["scenario"] = base.parent.name[:-4] if base.parent.name.endswith(".vlt") else base.parent.name
    ds.card["quality"] = base.name
    return ds


def describe(path: str | Path) -> dict:
    """The dataset card of a vault, from its metadata, rewards and episode ends only (what ``bench data info``
    prints): seconds and a small fraction of the dataset's memory, whatever its size. Equal to the card of
    the fully read dataset (``dataset_card(read_dataset(path))``; tests/test_vault.py checks it)."""
    import tensorstore as ts

    from benchmarks.data.transitions import summary

    base = resolve_vault(path)
    meta = _metadata(base)
    n = _vault_index(base)
    names = {name[:-1] for name, _ in _leaf_names(meta["structure_shape"])}
    for k in ("legals", "state"):  # some converted vaults keep these at the top level
        if f"infos.{k}" not in names and k in names:
            names.add(f"infos.{k}")
    missing = [f for f in REQUIRED if f not in names]
    if missing:
        raise DatasetError(f"dataset has no field '{missing[0]}' (fields: {', '.join(sorted(names))}); an og-marl vault "
                           f"needs {', '.join(f'{f} {SHAPES[f]}' for f in REQUIRED)}")

    def store(field):
        stored = field if field in {nm[:-1] for nm, _ in _leaf_names(meta["structure_shape"])} else field[6:]
        return ts.open(_spec(base, stored + ".")).result()

    obs = store("observations")
    B, _, N, O = obs.shape
    T = n
    small = read_raw(base, fields=tuple(f for f in ("rewards", "terminals", "truncations") if f in names))
    rewards = _per_team(small["rewards"], "rewards", B, T, N, "mean").astype(np.float32)
    terminals = _per_team(small["terminals"], "terminals", B, T, N, "all").astype(bool)
    truncations = (_per_team(small["truncations"], "truncations", B, T, N, "all").astype(bool)
                   if "truncations" in small else np.zeros((B, T), bool))
    actions = store("actions")
    legals = store("infos.legals") if "infos.legals" in names else None
    integer = np.issubdtype(actions.dtype.numpy_dtype, np.integer)
    multi_legal = legals is not None and legals.shape[-1] > 1
    discrete = len(actions.shape) == 3 or (actions.shape[-1] == 1 and (integer or multi_legal))
    if discrete:
        action_dim = int(legals.shape[-1]) if legals is not None else 1
        if action_dim <= 1:  # no mask to read the number of actions from: the largest action taken
            action_dim = max(action_dim, int(_read_field(base, _stored(meta, "actions"), n).max()) + 1)
    else:
        action_dim = int(actions.shape[-1])
    state_dim = 0
    if "infos.state" in names:
        state = store("infos.state")
        state_dim = int(state.shape[-1])
        if len(state.shape) == 4:  # per agent: replicated (one state) or agent-specific (concatenated)
            state_dim *= 1 if _replicated(state, n) else int(state.shape[2])
    card = _stored_card(base)
    card.setdefault("generator", "og-marl vault")
    card.update(summary(rewards, terminals, truncations, (B, T, N, O)))
    card.update({"streams": int(B), "action_kind": "discrete" if discrete else "continuous",
                 "action_dim": action_dim, "state_dim": state_dim})
    card.setdefault("seed", None)
    card["path"] = str(base)
    card["scenario"] = base.parent.name[:-4] if base.parent.name.endswith(".vlt") else base.parent.name
    card["quality"] = base.name
    return card


def _stored(meta: dict, field: str) -> str:
    return next(name for name, _ in _leaf_names(meta["structure_shape"]) if name[:-1] == field)


def _replicated(state, n: int) -> bool:
    """Whether a per-agent state (B, T, N, S) is the same for every agent, read a time slice at a time."""
    per_step = max(1, int(np.prod(state.shape[:1] + state.shape[2:])) * state.dtype.numpy_dtype.itemsize)
    step = max(1, CHUNK_BYTES // per_step)
    for t0 in range(0, n, step):
        part = state[:, t0:min(n, t0 + step)].read().result()
        if not np.all(part == part[:, :, :1]):
            return False
    return True


def loaded_bytes(path: str | Path) -> int:
    """Bytes a vault takes once read (the normalised Dataset: float32 observations and state, int32 or
    float32 actions, team rewards, bool episode ends and legal masks) plus the int32 index arrays of its
    DeviceData, from its metadata alone (nothing is read)."""
    import tensorstore as ts

    base = resolve_vault(path)
    meta = _metadata(base)
    n = _vault_index(base)
    shape = {name[:-1]: ts.open(_spec(base, name)).result().shape for name, _ in _leaf_names(meta["structure_shape"])}
    B, _, N, O = shape["observations"]
    steps = B * n
    act = shape["actions"]
    per_step = N * O * 4 + N * 4 * (act[3] if len(act) == 4 and act[3] > 1 else 1) + 4 + 2 + 3 * 4
    legal = shape.get("infos.legals") or shape.get("legals")
    per_step += N * (legal[-1] if legal else 1)
    state = shape.get("infos.state") or shape.get("state")
    if state:
        per_step += 4 * int(np.prod(state[2:]))
    return int(steps * per_step)
