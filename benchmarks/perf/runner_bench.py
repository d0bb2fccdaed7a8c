"""Benchmark of the runner on this machine: ``python -m benchmarks.perf.runner_bench``.

Runs one fixed small suite (default: bc on games/coordination and games/xor, 4 seeds, 200 steps,
hidden 32,32) three ways, each as a fresh ``bench run`` process with its own empty results store and
JAX compilation cache (so every mode pays the same cold start):

  no-ray   ``--no-ray``: the jobs one after the other in one process, seeds vmapped
  ray      the default: a local Ray cluster, one job per (algorithm, task), seeds vmapped
  ray/split  ``--split-seeds``: one job (and one compiled program) per seed

and prints wall time per mode, seed throughput (seeds x steps per second of wall time) and the
training-only throughput read from the final.json files (seeds x steps / train_time, summed over
jobs). Nothing is asserted: the numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = {"no-ray": ["--no-ray"], "ray": [], "ray/split": ["--split-seeds"]}


def measure(mode: str, args, work: Path) -> dict:
    root, cache = work / mode.replace("/", "-") / "runs", work / mode.replace("/", "-") / "jax-cache"
    cmd = [sys.executable, "-m", "benchmarks.cli", "run", "--algos", args.algos, "--suite", "games", "--tasks",
           args.tasks, "--seeds", args.seeds, "--steps", str(args.steps), "--eval-every", str(args.steps),
           "--eval-episodes", str(args.eval_episodes), "--set", f"hidden={args.hidden}", "--results", str(root),
           "--no-progress", *MODES[mode]]
    env = dict(os.environ, BENCH_JAX_CACHE=str(cache),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: bench run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    finals = [json.loads(p.read_text()) for p in root.glob("*/final.json")]
    seed_steps = sum(len(f["seeds"]) * f["steps"] for f in finals)
    return {"mode": mode, "jobs": len(finals), "wall": wall, "seed_steps": seed_steps,
            "per_wall": seed_steps / wall, "per_train": sum(len(f["seeds"]) * f["steps"] / f["train_time"]
                                                            for f in finals) / max(len(finals), 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.runner_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--algos", default="bc")
    p.add_argument("--tasks", default="coordination,xor")
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--hidden", default="32,32")
    p.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    args = p.parse_args(argv)
    print(f"suite: algos={args.algos} games/{{{args.tasks}}} seeds={args.seeds} steps={args.steps} "
          f"hidden={args.hidden} eval_episodes={args.eval_episodes}; cores={os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as work:
        for mode in args.modes.split(","):
            rows.append(measure(mode, args, Path(work)))
            r = rows[-1]
            print(f"  {r['mode']:10s} jobs {r['jobs']:2d}  wall {r['wall']:7.1f} s  "
                  f"seed-steps/s (wall) {r['per_wall']:8.1f}  seed-steps/s per job (training only) "
                  f"{r['per_train']:9.1f}", flush=True)
    by = {r["mode"]: r for r in rows}
    if "ray" in by and "no-ray" in by:
        print(f"Ray runner vs --no-ray wall time: {by['ray']['wall']:.1f} s vs {by['no-ray']['wall']:.1f} s "
              f"(x{by['ray']['wall'] / by['no-ray']['wall']:.2f})")
    if "ray" in by and "ray/split" in by:
        print(f"seed throughput, vmapped seeds vs one seed per job (Ray, wall clock): {by['ray']['per_wall']:.1f} vs "
              f"{by['ray/split']['per_wall']:.1f} seed-steps/s (x{by['ray']['per_wall'] / by['ray/split']['per_wall']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
