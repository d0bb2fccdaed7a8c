"""``bench doctor``: what can run on this machine, and what to do about what cannot.

Reports the JAX version, backend and devices, and what a GPU run needs (the NVIDIA GPUs nvidia-smi lists, whether
the CUDA build of JAX is installed, and a warning when the machine has GPUs JAX does not see); the data, results
and compilation-cache directories
(and whether they are writable); key package versions; every suite with ``ok`` or the fix its
``available()`` names (missing package, StarCraft II / SC2PATH, missing data); and which downloadable
og-marl datasets are present.

StarCraft II: the game builds in ``$SC2PATH/Versions`` (a warning when 4.10 is not among them), and each
StarCraft suite's pre-flight check over all its tasks (the same check ``bench run`` makes before
training: package, game build, every map file, ``get_env_info()`` against the task's shapes and limit).
``--check-sc2`` also starts one StarCraft II instance per package, in that package's host process.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import tempfile
from pathlib import Path

from benchmarks.cli.args import add_json_option

PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "flashbax", "tensorstore", "etils", "ray",
            "jaxmarl", "mpe2", "pettingzoo", "gymnasium-robotics", "mujoco", "smac", "smacv2")


def add(sub):
    p = sub.add_parser("doctor", help="check which suites can run here and why not; devices and directories",
                       description="What can run on this machine and what to do about what cannot: Python, JAX and "
                                   "its devices; the data, results and compilation-cache directories and whether "
                                   "they are writable; package versions; every suite with ok or the fix; StarCraft "
                                   "II's builds and maps; which og-marl datasets are downloaded.",
                       epilog="examples:\n  bench doctor\n  bench doctor --json\n  bench doctor --check-sc2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_json_option(p, "the report")
    p.add_argument("--check-sc2", action="store_true",
                   help="also start one StarCraft II instance per StarCraft suite (smac / smacv2) to prove "
                        "the game runs")
    p.set_defaults(func=cmd_doctor)


def _writable(path: Path) -> str:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=probe)
        os.close(fd)
        os.unlink(tmp)
        return "writable" if probe == path else f"will be created (under writable {probe})"
    except OSError as exc:
        return f"NOT writable ({exc.strerror}): set another location"


def _version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


CUDA_PLUGINS = ("jax-cuda12-plugin", "jax-cuda12-pjrt")  # what `pip install -e ".[gpu]"` (jax[cuda12]) adds


def gpu_report(jax) -> dict:
    """The GPUs of this machine (nvidia-smi -L), the CUDA build of JAX, what JAX sees, and the advice line."""
    import shutil
    import subprocess

    from benchmarks.training.runner import GPU_INSTALL

    smi = shutil.which("nvidia-smi")
    gpus = []
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
            gpus = [ln.strip() for ln in out.stdout.splitlines() if ln.strip().startswith("GPU ")]
        except (OSError, subprocess.SubprocessError):
            pass
    plugin = {d: _version(d) for d in CUDA_PLUGINS if _version(d)}
    backend = jax.default_backend()
    if gpus and backend != "gpu":
        verdict = (f"WARNING: this machine has {len(gpus)} NVIDIA GPU(s) but JAX sees only {backend}: "
                   + ("the CUDA build of JAX is installed but cannot use them (driver or CUDA_VISIBLE_DEVICES?)"
                      if plugin else f"install the CUDA build of JAX: {GPU_INSTALL}"))
    elif backend == "gpu":
        verdict = "JAX trains on the GPU here; bench run gives each job a GPU share on a cluster with GPUs"
    else:
        verdict = (f"no GPU here: bench run trains on the CPU. A GPU run needs the CUDA build of JAX on every GPU "
                   f"node ({GPU_INSTALL}); bench run then gives each job a share of a GPU by default "
                   f"(docs/cluster.md); --gpus-per-job 0 keeps a run on the CPU")
    return {"nvidia_smi": smi, "nvidia_gpus": gpus, "cuda_jax": plugin or None,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "jax_backend": backend,
            "gpu_ready": backend == "gpu", "advice": verdict}


def report(check_sc2: bool = False) -> dict:
    import jax

    from algorithms.errors import BenchError
    from benchmarks.data import catalogue
    from benchmarks.envs import smac
    from benchmarks.data.vault import data_dir
    from benchmarks.store import results_root
    from benchmarks.tasks import all_suites

    data = data_dir()
    results = results_root(None)
    cache = Path(os.environ.get("BENCH_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "bench", "jax")))
    devices = [f"{d.platform}:{d.id} ({getattr(d, 'device_kind', d.platform)})" for d in jax.devices()]
    suites = {}
    for name, suite in sorted(all_suites().items()):
        try:
            why = suite.available()
        except Exception as exc:  # a broken optional install must not hide the rest of the report
            why = f"availability check failed: {type(exc).__name__}: {exc}"
        suites[name] = {"ok": not why, "why": why, "tasks": len(suite.tasks), "description": suite.description}
        if suite.preflight is not None:  # StarCraft II: install, map files, shapes from the environment itself
            try:
                suite.preflight(list(suite.tasks), launch=check_sc2)
                pre = None
            except BenchError as exc:
                pre = str(exc)
            suites[name].update(preflight=pre, ok=suites[name]["ok"] and pre is None,
                                launched=check_sc2 and pre is None)
    downloads = {}
    for e in catalogue.CATALOGUE:
        found = e.locate(data)  # og-marl's own copy (or one unzipped by hand) is used in place
        downloads[e.name] = {"suite": e.suite, "present": e.present(data), "approx": e.approx,
                             "found": str(found.path) if found is not None and not found.downloaded else None}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "jax": {"version": jax.__version__, "backend": jax.default_backend(), "devices": devices},
        "gpu": gpu_report(jax),
        "directories": {
            "data": {"path": str(data), "set_by": "BENCH_DATA" if os.environ.get("BENCH_DATA") else "default",
                     "status": _writable(data)},
            "results": {"path": str(results.absolute()),
                        "set_by": "BENCH_RESULTS" if os.environ.get("BENCH_RESULTS") else "default",
                        "status": _writable(results.absolute())},
            "jax_cache": {"path": str(cache), "status": _writable(cache)},
        },
        "sc2path": os.environ.get("SC2PATH"),
        "starcraft": {"path": str(smac.sc2_path()), "builds": smac.sc2_builds(), "problem": smac.missing_sc2(),
                      "build_note": smac.sc2_build_note()},
        "packages": {p: _version(p) for p in PACKAGES},
        "suites": suites,
        "datasets": downloads,
    }


def cmd_doctor(args) -> int:
    rep = report(getattr(args, "check_sc2", False))
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    j = rep["jax"]
    print(f"python {rep['python']} on {rep['platform']}")
    print(f"jax {j['version']}, backend {j['backend']}, devices: {', '.join(j['devices'])}")
    g = rep["gpu"]
    print(f"{'GPUs':14s} " + (f"{len(g['nvidia_gpus'])} NVIDIA GPU(s) (nvidia-smi)" if g["nvidia_gpus"] else
                              "none found" + ("" if g["nvidia_smi"] else " (no nvidia-smi on PATH)"))
          + "; CUDA build of JAX: " + (", ".join(f"{k} {v}" for k, v in g["cuda_jax"].items()) if g["cuda_jax"]
                                      else "not installed")
          + (f"; CUDA_VISIBLE_DEVICES={g['cuda_visible_devices']!r}" if g["cuda_visible_devices"] is not None else ""))
    print(f"{'':14s} {g['advice']}")
    for k, d in rep["directories"].items():
        extra = f" (from {d['set_by']})" if "set_by" in d else ""
        print(f"{k + ' dir':14s} {d['path']}{extra}: {d['status']}")
    print(f"{'SC2PATH':14s} {rep['sc2path'] or 'not set (StarCraft II is looked for in ~/StarCraftII)'}")
    sc2 = rep["starcraft"]
    print(f"{'StarCraft II':14s} " + (sc2["problem"] or f"builds {', '.join(sc2['builds'])} in {sc2['path']}")
          + (f" (warning: {sc2['build_note']})" if sc2["build_note"] else ""))
    print("packages       " + ", ".join(f"{p} {v}" for p, v in rep["packages"].items() if v)
          + " | missing: " + (", ".join(p for p, v in rep["packages"].items() if not v) or "none"))
    print("suites:")
    for name, s in rep["suites"].items():
        why = s["why"] or s.get("preflight")
        launched = " (StarCraft II started)" if s.get("launched") else ""
        print(f"  {name:10s} {'ok' + launched if s['ok'] else 'unavailable'}" + ("" if s["ok"] else f": {why}"))
        if s["why"] and s.get("preflight") and s["preflight"] not in s["why"]:
            print(f"  {'':10s} pre-flight: {s['preflight']}")
    print("og-marl datasets (bench data download --suite S --task T):")
    for name, d in rep["datasets"].items():
        state = "present" if d["present"] else f"found at {d['found']}" if d.get("found") else "not downloaded"
        print(f"  {name:36s} {d['suite']:9s} {state} (~{d['approx']})")
    return 0
