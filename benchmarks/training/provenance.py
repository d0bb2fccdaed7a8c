"""What a run was made with, recorded in its spec.json at the start so a reader can trust or re-make it.

``collect(task, ds, cfg)`` returns the ``provenance`` block of spec.json:

* ``harness``: version, git ``commit`` and ``dirty`` (uncommitted changes) of the checkout the harness
  was imported from; both null when that is not a git checkout or git is missing (never an error);
* ``python`` and ``packages``: versions of jax, jaxlib, flax, optax, orbax-checkpoint and of the
  environment packages the task's suite evaluates in (``SUITE_PACKAGES``; null when not installed);
  ``sc2_build``: the StarCraft II build under $SC2PATH for the StarCraft suites;
* ``machine``: cpu, cores, device kind and count, os (also what ``bench latency`` records);
* ``dataset``: the fingerprint of the data trained on (``fingerprint``): its content sha256 and ``stamp``;
* ``revision``: which code made the run (``revision``): content hashes of the plugin's source, of the shared
  training and evaluation code and of the task's environment code.

``differences(old, new)`` lists the fields that differ between two provenance blocks (``bench
reproduce`` warns about each), and ``summary`` is the one-line form shown in reports and leaderboards.

The revision rule (``revision``). A run's code is three groups of Python modules, each hashed from the bytes
of its source files (line endings normalised), so it works the same from a git checkout and from an installed
wheel without git history:

* ``plugin``: the plugin's module and every module of its own package it imports, transitively, at any depth
  (``algorithms/macflow.py`` -> ``nets``, ``flows``, ``value``, ``base``), except the package's registry
  (``algorithms/__init__.py``: adding another plugin changes no result) and ``algorithms/errors.py`` (messages);
* ``shared``: the trainer and the evaluation (``SHARED_MODULES``: the jitted trainer, the evaluators, the
  on-device batch sampler and the transition/window indexing), plus the online phase for a fine-tuned run;
* ``task``: the modules that define the task (its suite module: spec, references, episode length) and its
  environment: what the task's callables are defined in, and the ``benchmarks.tasks`` / ``benchmarks.envs``
  modules they import, transitively (the suites' registry ``benchmarks/tasks/__init__.py`` excepted).

Any edit to one of these files, comments included, is a new revision. The data are not code: the dataset's
content sha256 says what was trained on, and ``data_stamp`` is its cheap stand-in that the driver of a
``bench run`` compares before deciding to skip a finished run (the files' sizes and modification times of a
vault on disk; for data made in memory, the hash of the generator modules).
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

from benchmarks import __version__
from benchmarks.data.transitions import content_digest  # noqa: F401  (re-exported: a run's dataset sha256)

CORE_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint")
# the distributions each suite's evaluation environment imports (benchmarks/envs/)
SUITE_PACKAGES = {
    "games": (),
    "mpe": (),  # OMAR's Spread in JAX (benchmarks/envs/omar_spread.py)
    "mpe-gen": ("mpe2", "pettingzoo"),
    "smax": ("jaxmarl",),
    "mamujoco": ("mujoco", "gymnasium"),  # gymnasium's v5 robots, set up as OMIGA recorded (envs/mamujoco_omiga.py)
    "mamujoco-gen": ("gymnasium-robotics", "mujoco", "gymnasium"),
    "smacv1": ("smac", "pysc2"),
    "smacv2": ("smacv2", "pysc2"),
}
_REPO = Path(__file__).resolve().parents[2]  # the checkout that holds benchmarks/


def _git(*args: str) -> Optional[str]:
    git = shutil.which("git")
    if git is None:
        return None
    try:  # an absolute executable and close_fds=False let subprocess use posix_spawn: no fork of the JAX process
        out = subprocess.run([git, "-C", str(_REPO), *args], capture_output=True, text=True, timeout=10,
                             close_fds=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def harness() -> dict:
    """Version, commit and dirty flag of the harness source in use (null commit without git)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"version": __version__, "commit": commit, "dirty": None if status is None else bool(status)}


def package_versions(names) -> dict:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def sc2_build() -> Optional[str]:
    """The newest StarCraft II build under $SC2PATH (Versions/Base<build>), or None."""
    root = os.environ.get("SC2PATH")
    versions = Path(root) / "Versions" if root else None
    if versions is None or not versions.is_dir():
        return None
    builds = sorted((p.name[4:] for p in versions.iterdir() if p.name.startswith("Base")), key=lambda b: (len(b), b))
    return builds[-1] if builds else None


def device_name(dev) -> str:
    """A JAX device as results record it: its platform, and its kind when that says more (gpu:NVIDIA H100)."""
    kind = str(getattr(dev, "device_kind", "") or "")
    return dev.platform if kind.lower() in ("", dev.platform) else f"{dev.platform}:{kind}"


def machine() -> dict:
    """The host and the JAX device: what timings and results were produced on."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    devices = jax.devices()
    return {"cpu": cpu, "cores": os.cpu_count(), "device": device_name(devices[0]), "device_count": len(devices),
            "jax": jax.__version__, "python": platform.python_version(), "os": platform.platform()}


def fingerprint(ds, cfg=None, task=None) -> dict:
    """Where the data came from and what they hold: path or generator (with its seed), the catalogue
    download's sha256, the statistics, the content digest and the part of the vault that was read."""
    from benchmarks.data.catalogue import installed_download

    card = ds.card or {}
    summary = ds.summary()
    path = card.get("path")
    user_data = bool(getattr(cfg, "dataset", None))
    out = {"path": path, "generator": card.get("generator"),
           "data_seed": None if user_data else getattr(cfg, "data_seed", None),
           "download": installed_download(path) if path else None,
           "episodes": summary["episodes"], "transitions": summary["transitions"],
           "return_mean": summary["return_mean"],
           "sha256": content_digest(ds),
           "subset": card.get("subset") or "whole dataset (every stream, every stored timestep)"}
    if card.get("derived"):  # a dataset cut from or joined of others (bench data derive): its rule and parents
        out["derived"] = card["derived"]
    if task is not None and cfg is not None:
        out["stamp"] = data_stamp(task, cfg)
    return out


def collect(task, ds, cfg=None) -> dict:
    """The ``provenance`` block of spec.json for a run of ``task`` on ``ds``."""
    import sys

    suite_pkgs = SUITE_PACKAGES.get(task.suite, ())
    out = {"harness": harness(), "python": sys.version.split()[0],
           "packages": package_versions(CORE_PACKAGES + tuple(suite_pkgs)), "machine": machine(),
           "dataset": fingerprint(ds, cfg, task)}
    if cfg is not None:
        out["revision"] = revision(cfg.algo, task, online=bool(getattr(cfg, "online_steps", 0)))
    if task.suite in ("smacv1", "smacv2"):
        out["sc2_build"] = sc2_build()
    return out


# ---- the revision of the code that makes a run ---------------------------------------------------------------
SHARED_MODULES = ("benchmarks.training.train", "benchmarks.training.evaluate", "benchmarks.data.device",
                  "benchmarks.data.transitions")
ONLINE_MODULES = ("benchmarks.training.online",)
# modules whose edits change no result: the plugin and suite registries, and the error messages
NOT_RESULTS = ("algorithms", "algorithms.errors", "benchmarks.tasks")
TASK_PACKAGES = ("benchmarks.tasks", "benchmarks.envs")
DATA_PACKAGES = ("benchmarks.data",)


@functools.lru_cache(maxsize=None)
def _source_of(module: str) -> Optional[str]:
    """The file of ``module`` (found without running it), or None (a built-in or missing module)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None) if spec else None
    return origin if origin and origin.endswith(".py") else None


def _stat(path: str) -> tuple:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def _file_digest(path: str) -> str:
    """sha256 of a source file's bytes (CRLF read as LF); cached while the file is unchanged."""
    return _digest_of(path, _stat(path))


@functools.lru_cache(maxsize=None)
def _digest_of(path: str, stat: tuple) -> str:
    return hashlib.sha256(Path(path).read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def _imports(module: str) -> tuple:
    """The dotted names ``module``'s source imports, at any depth (lazy imports inside functions too)."""
    path = _source_of(module)
    return _imports_of(module, path, _stat(path)) if path else ()


@functools.lru_cache(maxsize=None)
def _imports_of(module: str, path: str, stat: tuple) -> tuple:
    tree = ast.parse(Path(path).read_text(), filename=path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            out.append(base)
            out += [f"{base}.{a.name}" for a in node.names]  # ``from pkg import module``
    return tuple(dict.fromkeys(out))


def _within(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def closure(roots, packages, through=()) -> list:
    """The modules of ``packages`` (dotted prefixes) that ``roots`` import, transitively (also by way of modules
    of ``through``, which are not counted themselves), roots included, registries and error messages
    (``NOT_RESULTS``) excepted; sorted."""
    walk = tuple(packages) + tuple(through)
    seen, todo = set(), [m for m in roots if _source_of(m)]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [i for i in _imports(m) if _within(i, walk) and i not in seen and _source_of(i)]
    return sorted(m for m in seen if (m in roots or _within(m, packages)) and (m not in NOT_RESULTS or m in roots))


def _group(modules) -> tuple[str, dict]:
    files = {m: _file_digest(_source_of(m))[:16] for m in modules}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16], files


def _defined_in(task) -> list:
    """The modules the task's callables (environment, dataset, references, data path) are defined in."""
    out = []
    for f in (task.make_env, task.make_dataset, task.refs, task.data_path, task.verify):
        while isinstance(f, functools.partial):
            f = f.func
        mod = getattr(f, "__module__", None)
        if mod:
            out.append(mod)
    return list(dict.fromkeys(out))


def revision(algo: str, task, online: bool = False) -> dict:
    """The revision of the code that trains ``algo`` (a registered name) on ``task`` (a Task): ``id`` (a hash of
    the three groups) and each group's hash and files (module -> sha256 prefix). See the module docstring."""
    import algorithms

    cls = algorithms.get(algo)
    top = cls.__module__.split(".")[0]
    groups = {"plugin": closure([cls.__module__], (top,)),
              "shared": sorted(SHARED_MODULES + (ONLINE_MODULES if online else ())),
              # the task's environment may be reached through its data generator (the generated suites)
              "task": closure(_defined_in(task), TASK_PACKAGES, through=DATA_PACKAGES)}
    out, files = {}, {}
    for name, mods in groups.items():
        out[name], found = _group(mods)
        files.update(found)
    out["id"] = hashlib.sha256("".join(out[k] for k in ("plugin", "shared", "task")).encode()).hexdigest()[:16]
    # the algorithm's own code (plugin and shared code, not the task's): equal across the tasks of one revision
    out["algorithm"] = hashlib.sha256((out["plugin"] + out["shared"]).encode()).hexdigest()[:16]
    out["files"] = files
    return out


def data_stamp(task, cfg) -> Optional[str]:
    """A cheap stand-in for the dataset's content digest, compared before a finished run is reused: for data on
    disk (``--dataset`` or the task's vault), a hash of every file's path, size and modification time; for
    data made in memory, a hash of the generator code (the ``benchmarks.data`` modules the task imports) and
    the data seed; None when the data are not there yet (they are made when the run starts)."""
    path = getattr(cfg, "dataset", None)
    if path is None and task.data_path is not None:
        path = task.data_path(getattr(cfg, "data_seed", 0))
    if path is not None:
        path = Path(path)
        if not path.exists():
            return None
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        h = hashlib.sha256()
        for f in files:
            st = f.stat()
            h.update(f"{f.relative_to(path) if f != path else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return "files:" + h.hexdigest()[:16]
    digest, _ = _group(closure(_defined_in(task), DATA_PACKAGES, through=TASK_PACKAGES))
    return f"generator:{digest}:seed{getattr(cfg, 'data_seed', 0)}"


def outdated(spec: dict, rev: dict, stamp: Optional[str]) -> tuple[str, str]:
    """Whether a stored run (its spec.json) was made by this code on these data: ("", "") when it was; else
    (kind, why): kind "code" (another revision, or none recorded) or "data" (the data's stamp differs: compare
    the content digest before deciding), why a sentence naming what changed."""
    prov = spec.get("provenance") or {}
    old = prov.get("revision")
    if not old:
        return "code", "it was recorded before runs recorded the revision of their code"
    if old.get("id") != rev.get("id"):
        a, b = old.get("files") or {}, rev.get("files") or {}
        changed = sorted(m for m in set(a) | set(b) if a.get(m) != b.get(m))
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
        return "code", f"its code changed since ({shown or 'another revision'})"
    recorded = (prov.get("dataset") or {}).get("stamp")
    if stamp is not None and recorded != stamp:
        return "data", "its data files changed since (sizes or modification times)"
    return "", ""


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# fields that say where, not what: a different value does not make a different result
_PLACE = ("machine.os", "dataset.path", "dataset.download.downloaded", "dataset.download.url", "dataset.stamp")


def differences(old: dict, new: dict, ignore=_PLACE) -> list:
    """[(field, old value, new value)] for every provenance field that differs (flattened dotted names)."""
    a, b = _flatten(old), _flatten(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and k not in ignore]


def summary(prov: Optional[dict]) -> str:
    """One line: commit (+dirty), jax/flax versions, device. Empty for runs recorded before provenance."""
    if not prov:
        return ""
    h, p, m = prov.get("harness") or {}, prov.get("packages") or {}, prov.get("machine") or {}
    commit = (h.get("commit") or "no-git")[:10] + ("+dirty" if h.get("dirty") else "")
    return (f"{commit} jax {p.get('jax')} flax {p.get('flax')} {m.get('device')}x{m.get('device_count')}")
