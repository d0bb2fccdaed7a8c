"""What a run was made with, recorded in its spec.json at the start so a reader can trust or re-make it.

``collect(task, ds, cfg)`` returns the ``provenance`` block of spec.json:

* ``harness``: version, git ``commit`` and ``dirty`` (uncommitted changes) of the checkout the harness
  was imported from; both null when that is not a git checkout or git is missing (never an error);
* ``python`` and ``packages``: versions of jax, jaxlib, flax, optax, orbax-checkpoint and of the
  environment packages the task's suite evaluates in (``SUITE_PACKAGES``; null when not installed);
  ``sc2_build``: the StarCraft II build under $SC2PATH for the StarCraft suites;
* ``machine``: cpu, cores, device kind and count, os (also what ``bench latency`` records);
* ``dataset``: the fingerprint of the data trained on (``fingerprint``).

``differences(old, new)`` lists the fields that differ between two provenance blocks (``bench
reproduce`` warns about each), and ``summary`` is the one-line form shown in reports and leaderboards.
"""
from __future__ import annotations

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
    dev = devices[0]
    kind = str(getattr(dev, "device_kind", "") or "")
    device = dev.platform if kind.lower() in ("", dev.platform) else f"{dev.platform}:{kind}"
    return {"cpu": cpu, "cores": os.cpu_count(), "device": device, "device_count": len(devices),
            "jax": jax.__version__, "python": platform.python_version(), "os": platform.platform()}


def fingerprint(ds, cfg=None) -> dict:
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
    return out


def collect(task, ds, cfg=None) -> dict:
    """The ``provenance`` block of spec.json for a run of ``task`` on ``ds``."""
    import sys

    suite_pkgs = SUITE_PACKAGES.get(task.suite, ())
    out = {"harness": harness(), "python": sys.version.split()[0],
           "packages": package_versions(CORE_PACKAGES + tuple(suite_pkgs)), "machine": machine(),
           "dataset": fingerprint(ds, cfg)}
    if task.suite in ("smacv1", "smacv2"):
        out["sc2_build"] = sc2_build()
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# fields that say where, not what: a different value does not make a different result
_PLACE = ("machine.os", "dataset.path", "dataset.download.downloaded", "dataset.download.url")


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
