"""What is in a dataset (``bench data analyse``): its episode returns, episode lengths and joint coverage.

og-marl's ``analyse_vault`` describes a vault by its return distribution per quality, its episode
lengths and its joint state-action coverage, ``SACo``: the number of distinct (global state, joint
action) pairs divided by the number of timesteps, together with how often each distinct pair occurs
(the "count frequencies" its papers plot on log-log axes). This module computes the same descriptors
for any dataset the harness reads, written here from that definition:

* pairs are compared exactly (every byte of the state and of every agent's action), as og-marl's
  ``np.unique`` over the concatenated rows does; -0.0 and 0.0 count as one value;
* every stored timestep of every stream is one pair (og-marl reads the one stream of its vaults, so
  its denominator is that stream's length); a vault without a global state uses the agents'
  observations, concatenated, and the result says so (``coverage.over``);
* episodes are the complete ones (ending in a terminal or a truncation, the harness's episode rule,
  ``transitions.episode_returns``); og-marl splits at terminals only.

It reads a vault once, a time slice of the state and action fields at a time, never the whole
dataset: each timestep leaves a 16-byte digest of its pair (two independent 64-bit hashes, so a
collision among 10^9 pairs has a probability below 10^-20) and the rewards and episode ends, whose
size is a few percent of the dataset's. A :class:`Dataset` already in memory (the games, generated
in memory) goes through the same code, slice by slice.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from algorithms.errors import DatasetError
from benchmarks.data.transitions import CHUNK_BYTES, Dataset, episode_lengths, episode_returns

_SEEDS = (np.uint64(0x243F6A8885A308D3), np.uint64(0x13198A2E03707344))
_MULTIPLIERS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


def pair_digests(state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """[n, 2] uint64: two independent 64-bit hashes of every row's bytes (state row, then action row).

    ``state`` [n, ...] and ``actions`` [n, ...]; floats are compared as values (-0.0 == 0.0). The rows' 8-byte
    words are folded in one at a time (xor, multiply by an odd constant, xor-shift), both hashes together."""
    n = state.shape[0]
    parts = []
    for x in (state, actions):
        x = np.ascontiguousarray(x.reshape(n, -1))
        if np.issubdtype(x.dtype, np.floating):
            x = x + x.dtype.type(0.0)  # -0.0 + 0.0 = 0.0: one value, one byte pattern
        parts.append(x.view(np.uint8).reshape(n, -1))
    pad = (-sum(p.shape[1] for p in parts)) % 8
    rows = np.concatenate(parts + [np.zeros((n, pad), np.uint8)], axis=1)
    words = np.ascontiguousarray(rows.view(np.uint64).T)  # [W, n]: each word of every row, contiguous
    h = np.empty((2, n), np.uint64)
    h[:] = np.array(_SEEDS, np.uint64)[:, None]
    mult, shift = np.array(_MULTIPLIERS, np.uint64)[:, None], np.array([29, 31], np.uint64)[:, None]
    tmp = np.empty_like(h)
    for w in words:
        h ^= w
        h *= mult
        np.right_shift(h, shift, out=tmp)
        h ^= tmp
    return np.ascontiguousarray(h.T)


def coverage(digests: np.ndarray) -> dict:
    """og-marl's joint SACo from the [M, 2] digests of M timesteps' pairs, with its count frequencies:
    ``count`` k and ``pairs`` (how many distinct pairs occur exactly k times)."""
    m = len(digests)
    if not m:
        return {"joint_saco": float("nan"), "unique_pairs": 0, "timesteps": 0,
                "count_frequencies": {"count": [], "pairs": []}}
    keys = np.ascontiguousarray(digests).view(np.dtype((np.void, 16))).ravel()
    _, counts = np.unique(keys, return_counts=True)
    values, freq = np.unique(counts, return_counts=True)
    return {"joint_saco": float(len(counts) / m), "unique_pairs": int(len(counts)), "timesteps": int(m),
            "count_frequencies": {"count": values.tolist(), "pairs": freq.tolist()}}


@dataclasses.dataclass
class DatasetAnalysis:
    """The descriptors of one dataset; ``returns`` and ``lengths`` hold one value per complete episode."""

    name: str
    source: str  # a vault's path, or "task SUITE/TASK (in memory, data seed N)"
    agents: int
    timesteps: int
    returns: np.ndarray
    lengths: np.ndarray
    coverage: dict
    card: dict = dataclasses.field(default_factory=dict)

    def summary(self, edges: Optional[np.ndarray] = None) -> dict:
        """JSON: statistics of returns and lengths (with the histogram of returns over ``edges``, shared by the
        datasets shown together), and the coverage."""
        def stats(x):
            if not len(x):
                return {k: None for k in ("mean", "std", "min", "q25", "median", "q75", "max")}
            q = np.percentile(x, [0, 25, 50, 75, 100])
            return {"mean": float(x.mean()), "std": float(x.std()), "min": float(q[0]), "q25": float(q[1]),
                    "median": float(q[2]), "q75": float(q[3]), "max": float(q[4])}

        out = {"name": self.name, "source": self.source, "agents": self.agents, "timesteps": self.timesteps,
               "episodes": int(len(self.returns)), "return": stats(self.returns),
               "episode_length": stats(self.lengths.astype(np.float64)), "coverage": self.coverage}
        if edges is not None:
            out["return"]["histogram"] = {"edges": [float(e) for e in edges],
                                          "counts": np.histogram(self.returns, edges)[0].tolist()}
        if self.card.get("derived"):
            out["derived"] = self.card["derived"]
        return out


def shared_edges(analyses, bins: int = 30) -> np.ndarray:
    """Histogram edges over every dataset's returns, so the qualities of one scenario share one axis."""
    vals = [a.returns for a in analyses if len(a.returns)]
    if not vals:
        return np.linspace(0.0, 1.0, bins + 1)
    lo, hi = min(float(v.min()) for v in vals), max(float(v.max()) for v in vals)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


# ---- one pass over a source ---------------------------------------------------------------------------
def _steps_per_slice(row_bytes: int, streams: int) -> int:
    return max(1, CHUNK_BYTES // max(1, row_bytes * streams))


def _analyse(name: str, source: str, rewards, terminals, truncations, n_agents: int,
             slices: Iterator[tuple], over: str, card: dict) -> DatasetAnalysis:
    digests = [pair_digests(s, a) for s, a in slices]
    cov = coverage(np.concatenate(digests) if digests else np.zeros((0, 2), np.uint64))
    cov["over"] = over
    return DatasetAnalysis(name, source, n_agents, int(rewards.size), episode_returns(rewards, terminals, truncations),
                           episode_lengths(terminals, truncations), cov, card)


def analyse_dataset(ds: Dataset, name: str, source: str) -> DatasetAnalysis:
    """The descriptors of a dataset in memory (read a time slice at a time, like a vault)."""
    B, T, N = ds.observations.shape[:3]
    has_state = ds.state.shape[-1] > 0
    pairs = ds.state if has_state else ds.observations
    row = pairs[:, :1].nbytes // B + ds.actions[:, :1].nbytes // B
    step = _steps_per_slice(row, B)

    def slices():
        for t0 in range(0, T, step):
            s, a = pairs[:, t0:t0 + step], ds.actions[:, t0:t0 + step]
            n = s.shape[0] * s.shape[1]
            yield s.reshape((n,) + s.shape[2:]), a.reshape((n,) + a.shape[2:])

    over = "global state + joint action" if has_state else "joint observations + joint action (no state)"
    return _analyse(name, source, ds.rewards, ds.terminals, ds.truncations, N, slices(), over, dict(ds.card))


def analyse_vault(path: str | Path, name: Optional[str] = None) -> DatasetAnalysis:
    """The descriptors of a vault, in one pass over its state (or observations) and actions and its rewards."""
    import tensorstore as ts

    from benchmarks.data.vault import (_leaf_names, _metadata, _per_team, _spec, _stored_card, _vault_index,
                                       read_raw, resolve_vault)

    base = resolve_vault(path)
    meta = _metadata(base)
    n = _vault_index(base)
    stored = {nm[:-1]: nm for nm, _ in _leaf_names(meta["structure_shape"])}
    for f in ("observations", "actions", "rewards", "terminals"):
        if f not in stored:
            raise DatasetError(f"{base} has no field '{f}' (fields: {', '.join(sorted(stored))}); an og-marl vault "
                               f"needs observations, actions, rewards and terminals")
    state_name = next((stored[f] for f in ("infos.state", "state") if f in stored), None)
    open_ = lambda nm: ts.open(_spec(base, nm)).result()
    obs = open_(stored["observations"])
    B, _, N = obs.shape[:3]
    small = read_raw(base, fields=tuple(f for f in ("rewards", "terminals", "truncations") if f in stored))
    rewards = _per_team(small["rewards"], "rewards", B, n, N, "mean").astype(np.float32)
    terminals = _per_team(small["terminals"], "terminals", B, n, N, "all").astype(bool)
    truncations = (_per_team(small["truncations"], "truncations", B, n, N, "all").astype(bool)
                   if "truncations" in small else np.zeros((B, n), bool))
    pairs = open_(state_name) if state_name else obs
    actions = open_(stored["actions"])
    itemsize = lambda s: int(np.prod(s.shape[2:])) * s.dtype.numpy_dtype.itemsize
    step = _steps_per_slice(itemsize(pairs) + itemsize(actions), B)

    def slices():
        reads = lambda t0: (pairs[:, t0:min(n, t0 + step)].read(), actions[:, t0:min(n, t0 + step)].read())
        ahead = reads(0) if n else None
        for t0 in range(0, n, step):
            s, a = ahead[0].result(), ahead[1].result()
            ahead = reads(t0 + step) if t0 + step < n else None  # the next slice is read while this one is hashed
            if not state_name:
                s = np.where(np.isneginf(s), 0.0, s)  # OMAR MPE's -inf observation padding, as the reader maps it
            m = s.shape[0] * s.shape[1]
            yield s.reshape((m,) + s.shape[2:]), a.reshape((m,) + a.shape[2:])

    over = "global state + joint action" if state_name else "joint observations + joint action (no state)"
    card = _stored_card(base)
    default = f"{base.parent.name[:-4] if base.parent.name.endswith('.vlt') else base.parent.name}/{base.name}"
    return _analyse(name or default, str(base), rewards, terminals, truncations, N, slices(), over, card)
