"""A synthetic store of the MAC-Flow paper's size, and how long ``bench report`` and ``bench figures`` take on it.

``write_store(root, scale, split_seeds)`` writes, in the store's own layout (spec.json, metrics.jsonl,
final.json, node.json per run), the results a ``bench run --protocol macflow-paper`` of the paper's 16
algorithms on its 31 datasets (SMACv1 12, SMACv2 3, MA-MuJoCo 12, MPE 4) would leave: 6 seeds, 1M / 500K
gradient steps, an evaluation every 50K steps (21 per seed on SMAC, 11 on MPE and MA-MuJoCo are the
protocol's; every run here has ``EVALS`` = 21 evaluation points, the count the report was measured at), each row with two
losses. The continuous-only plugins (matd3bc, omar) skip the 15 discrete SMAC datasets: 466 runs,
58 716 evaluation rows. Scores are drawn at once for the whole store (numpy), per algorithm around its own
mean, so aggregates and tables have something to rank.

Beside the runs, ``bench latency`` records of the 16 algorithms (3 agents, and 2-40 agents for Table 3's five), so
the score-vs-inference-time figures (Fig. 1/4, the report's) and Table 3 are drawn too. The games figures (Figs.
3, 13-16) need trained checkpoints and the games runs, which a synthetic store cannot give.

``scale`` K > 1 adds K - 1 settings of every algorithm (for ``macflow``: the paper's ablation variants of
Figs. 6-9 first, ``q_weight=0``, ``critic=independent``, ``critic=central``, ``flow=individual``; then
learning-rate variants ``lr=...``): K x 466 runs' worth of results and K x 16 variants, plus Fig. 5's
offline-to-online runs (macflow, macql, matd3bc, omar on MPE). ``split_seeds`` writes one run directory per
seed, as ``bench run --split-seeds`` does. ``--scale 10 --split-seeds`` (28 056 run directories, about 590 000
evaluation rows, 164 variants) is the "ten times the paper" store.

``measure`` runs ``bench report`` and ``bench figures --paper macflow`` on such a store, each in a fresh
process, and returns wall time, peak resident memory and the time of each stage (load, tables, aggregates,
probability of improvement, each figure, ...) that ``analysis.report.TIMINGS`` recorded in that process.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from analysis.ablations import SUITE_TASKS
from benchmarks.store import Run

ALGOS = ("bc", "mabcq", "macql", "matd3bc", "icq", "omar", "omiga", "diffusionbc", "madiff-c", "madiff-d", "dof",
         "flowbc", "macflow", "mafql", "vgm2p", "om2p")
CONTINUOUS_ONLY = ("matd3bc", "omar")
DISCRETE_SUITES = ("smacv1", "smacv2")
SEEDS = 6
EVALS = 21
STEPS = {"smacv1": 1_000_000, "smacv2": 1_000_000, "mpe": 500_000, "mamujoco": 500_000}
EXPERT = {"smacv1": 20.0, "smacv2": 20.0, "mpe": 100.0, "mamujoco": 4000.0}  # refs: (0, expert) per suite
ABLATIONS = ({"q_weight": 0.0}, {"critic": "independent"}, {"critic": "central"}, {"flow": "individual"})
NFE = {"diffusionbc": 200, "madiff-c": 201, "madiff-d": 201, "dof": 201, "flowbc": 10}
ONLINE = ("macflow", "macql", "matd3bc", "omar")  # Fig. 5, on MPE
TABLE3 = ("macflow", "dof", "madiff-d", "madiff-c", "bc")
AGENTS = (2, 4, 8, 16, 40)


def tasks() -> list:
    return [t for suite in ("smacv1", "smacv2", "mamujoco", "mpe") for t in SUITE_TASKS[suite]]


def settings(algo: str, scale: int) -> list:
    """The ``scale`` settings (overrides) of one algorithm: the paper's, then ablations (macflow) and lr sweeps."""
    extra = list(ABLATIONS) if algo == "macflow" else []
    extra += [{"lr": float(f"{3e-4 * 2 ** k:.3g}")} for k in range(1, scale)]
    return ([{}] + extra)[:scale]


def plan(scale: int = 1, split_seeds: bool = False, algos=ALGOS, n_tasks: int | None = None) -> list:
    """[(algo, overrides, task, seeds)] of every run of the store (``algos`` and the first ``n_tasks`` datasets
    only, for a smaller store)."""
    out = []
    groups = [(s,) for s in range(SEEDS)] if split_seeds else [tuple(range(SEEDS))]
    for algo in algos:
        for over in settings(algo, scale):
            for task in tasks()[:n_tasks]:
                if algo in CONTINUOUS_ONLY and task.split("/")[0] in DISCRETE_SUITES:
                    continue
                out += [(algo, over, task, g) for g in groups]
    if scale > 1:  # Fig. 5: 500K offline then 500K online steps
        out += [(a, {"online": STEPS["mpe"]}, t, g) for a in algos if a in ONLINE for t in SUITE_TASKS["mpe"]
                for g in groups]
    return out


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def write_store(root, scale: int = 1, split_seeds: bool = False, seed: int = 0, algos=ALGOS,
                n_tasks: int | None = None) -> dict:
    """Write the synthetic store under ``root`` (which must not hold runs yet); returns its counts."""
    root = Path(root)
    runs = plan(scale, split_seeds, algos, n_tasks)
    rng = np.random.default_rng(seed)
    n = len(runs)
    width = len(runs[0][3])
    # every score of the store at once: per run a level (the algorithm's skill + a task effect), per seed noise,
    # and a learning curve that rises to it over the evaluations
    skill = {a: i / len(ALGOS) for i, a in enumerate(ALGOS)}
    level = np.array([0.2 + 0.6 * skill[a] + 0.05 * len(o) for a, o, _, _ in runs])[:, None, None]
    level = level + rng.normal(0.0, 0.1, (n, 1, 1)) + rng.normal(0.0, 0.05, (n, width, 1))
    curve = 1.0 - np.exp(-np.linspace(0.5, 4.0, EVALS))[None, None, :]
    frac = level * curve + rng.normal(0.0, 0.02, (n, width, EVALS))  # fraction of the expert return
    losses = rng.lognormal(0.0, 0.3, (n, width, EVALS, 2))
    commit = _digest("commit")[:40]
    t0 = time.time()
    rows = 0
    for i, (algo, over, task, seeds) in enumerate(runs):
        suite, name = task.split("/", 1)
        rid = _digest(algo, over, task, seeds)[:16]
        online = over.get("online", 0)
        over = {k: v for k, v in over.items() if k != "online"}
        steps, expert = STEPS[suite], EXPERT[suite]
        every = (steps + online) // (EVALS - 1)
        run = Run(root, rid)
        run.dir.mkdir(parents=True)
        ret = frac[i] * expert
        win = suite in DISCRETE_SUITES
        plugin_rev = _digest("rev", algo)[:16]
        spec = {"algo": algo, "task": task, "suite": suite, "task_name": name, "seeds": list(seeds), "steps": steps,
                "online_steps": online,
                "eval_every": every, "eval_episodes": 10, "batch_size": 64, "overrides": over, "preset": [],
                "protocol": "macflow-paper", "cost": {"nfe": NFE.get(algo, 1), "per_agent": "O(1)"},
                "cost_overrides": {}, "refs": [0.0, expert], "harness_version": "0.1.0", "run_id": rid,
                "data_seed": 0, "dataset": None, "chunk": 1000, "allow_cost_override": False,
                "provenance": {"harness": {"version": "0.1.0", "commit": commit, "dirty": False},
                               "packages": {"jax": "0.10.2"}, "machine": {"device": "gpu:synthetic",
                                                                          "device_count": 1},
                               "dataset": {"sha256": _digest("data", task)},
                               "revision": {"id": plugin_rev, "plugin": plugin_rev, "shared": "s", "task": "t"}}}
        run.spec_path.write_text(json.dumps(spec))
        lines = []
        for k in range(EVALS):
            for j, s in enumerate(seeds):
                r = float(ret[j, k])
                step = every * k if k else every // 10
                row = {"kind": "eval", "step": step, "seed": s, "return": r,
                       "return_std": 0.1 * abs(r), "normalised": 100.0 * frac[i, j, k], "train_time": 36.0 * k,
                       "wall_time": 40.0 * k, "phase": "online" if step > steps else "offline",
                       "loss/actor": float(losses[i, j, k, 0]), "loss/critic": float(losses[i, j, k, 1])}
                if online:
                    row["online_start"] = steps
                if win:
                    row["win_rate"] = float(np.clip(frac[i, j, k], 0.0, 1.0))
                lines.append(json.dumps(row))
        rows += len(lines)
        run.metrics_path.write_text("\n".join(lines) + "\n")
        final_ret = ret[:, -1]
        final = {"run_id": rid, "algo": algo, "task": task, "seeds": list(seeds), "steps": steps + online,
                 "returns": final_ret.tolist(), "return_mean": float(final_ret.mean()),
                 "return_std": float(final_ret.std()), "normalised": (100.0 * frac[i, :, -1]).tolist(),
                 "train_time": 36.0 * EVALS, "wall_time": 40.0 * EVALS, "steps_per_sec": steps * len(seeds) / 720.0,
                 "cost": spec["cost"], "cost_overrides": {}, "harness_version": "0.1.0", "score_rule": "final",
                 "device": "gpu:synthetic"}
        if win:
            final["win_rate"] = np.clip(frac[i, :, -1], 0.0, 1.0).tolist()
        run.final_path.write_text(json.dumps(final))
    write_latency(root, sorted({a for a, _, _, _ in runs}))
    variants = len({(a, json.dumps(o, sort_keys=True)) for a, o, _, _ in runs})
    return {"runs": n, "rows": rows, "variants": variants, "tasks": len({t for _, _, t, _ in runs}),
            "seconds": time.time() - t0}


def write_latency(root, algos) -> None:
    """``bench latency`` records of ``algos``: games/landmarks with 3 agents, and Table 3's agent counts."""
    from benchmarks.store import save_latency

    for i, a in enumerate(algos):
        for n in (3,) + (AGENTS if a in TABLE3 else ()):
            ms = (0.3 if NFE.get(a, 1) == 1 else 0.3 * NFE[a]) * (1 + 0.1 * i) * (n / 3 if a == "madiff-d" else 1)
            label = "games/landmarks" if n == 3 else f"games/landmarks-{n}"
            save_latency({"name": a, "label": label, "n_agents": n, "median_ms": ms, "iqr_ms": 0.1 * ms,
                          "per_agent_ms": ms / n, "nfe": NFE.get(a, 1), "nfe_counted": NFE.get(a, 1),
                          "device": "gpu:synthetic", "cost_overrides": {}, "date": "2026-01-01T00:00:00+00:00",
                          "machine": {"cpu": "synthetic"}}, root)


# ---- timing the report on it ------------------------------------------------------------------------------
_CHILD = """
import json, resource, sys, time
t = time.time()
from benchmarks.cli import main
rc = main(sys.argv[1:])
import analysis.report as r
u = resource.getrusage(resource.RUSAGE_SELF)
print("REPORTBENCH " + json.dumps({"rc": rc, "seconds": time.time() - t, "stages": r.TIMINGS,
      "cpu_seconds": u.ru_utime + u.ru_stime, "peak_bytes": u.ru_maxrss * 1024}))
"""


LIMIT_SECONDS, LIMIT_BYTES = 30.0, 2 * 2**30  # bench report / figures on the paper-sized store, 2 cores


def figures(out: Path) -> list:
    """The PNG files a report (or the paper figures) wrote under ``out``, by name."""
    return sorted(p.relative_to(out).as_posix() for p in Path(out).rglob("*.png"))


def measure(root, command: str, reps: int | None = None) -> dict:
    """Run ``bench report`` or ``bench figures --paper macflow`` on ``root`` in a fresh process: wall seconds
    (process start to exit), the CPU seconds the process used (user + system: what the wall time comes to on an
    otherwise idle machine, as the report runs on one core), peak resident bytes, and the stages' seconds."""
    repo = Path(__file__).resolve().parents[2]
    argv = ["report", "--results", str(root)] if command == "report" else \
        ["figures", "--paper", "macflow", "--results", str(root)]
    if reps and command == "report":
        argv += ["--reps", str(reps)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])))
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], cwd=repo, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPORTBENCH ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench {command} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][len("REPORTBENCH "):])
    where = Path(root) / "report" / ("macflow" if command == "figures" else "")
    drawn = [f for f in figures(where) if command == "figures" or not f.startswith("macflow/")]
    return {"command": command, "wall": wall, **out, "figures": drawn}
