"""The inference-time protocol (DESIGN.md section 9) and ``bench latency``.

For each algorithm: build a state for the task's EnvSpec with the plugin's paper-default config (the
networks the paper pays for: [512]*4 MLPs, 200 denoising steps, ...), compile ``act`` for one joint
decision of N agents ahead of time (``jit(...).lower(...).compile()``, so compilation is never inside
the timed region), run ``warmup`` untimed calls, then time ``repeats`` calls one by one, each ended by
``block_until_ready``; the algorithms of one task take turns in blocks of 10 calls, so load from other
processes on a shared machine falls on all of them alike, and an algorithm stops after ``--budget``
seconds of timed calls once it has 3 (a 200-step U-Net sampler can take seconds per decision on a CPU;
the record keeps the number of calls actually timed). Reported: median and inter-quartile range per decision and per agent, the
network evaluations declared by ``cost()`` and counted in ``act``'s jaxpr (``count_nfe``), the device.

Results go to the store as ``<results root>/latency/<algo>__<label>__<device>.json`` (one file per
algorithm, task/agent count and device; a new measurement replaces the old one). Run directories
are the only sub-directories with a spec.json, so this folder never looks like a run.

    bench latency --algos macflow,bc,flowbc
    bench latency --algos macflow,dof --agents 2,4,8,16,40 --repeats 200
    bench latency --algos macflow,bc --task games/coordination --json
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import re
import time
from pathlib import Path

from benchmarks.cli import _csv, _ints, _overrides, subcommand
from benchmarks.errors import BenchError

DEFAULT_TASK = "games/landmarks"
DEFAULT_REPEATS = 100
DEFAULT_WARMUP = 10
DEFAULT_BUDGET = 60.0  # seconds of timed calls per algorithm, after at least 3 calls
LATENCY_DIR = "latency"


def machine() -> dict:
    """What the timings were measured on."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = jax.devices()[0]
    import os

    kind = str(getattr(dev, "device_kind", "") or "")
    device = dev.platform if kind.lower() in ("", dev.platform) else f"{dev.platform}:{kind}"
    return {"cpu": cpu, "cores": os.cpu_count(), "device": device,
            "jax": jax.__version__, "python": platform.python_version(), "os": platform.platform()}


BLOCK = 10  # calls per algorithm before the next one takes its turn


class Timer:
    """One algorithm ready to be timed: state built and ``act`` compiled (outside any timed region)."""

    def __init__(self, algo_name: str, spec, label: str, warmup: int = DEFAULT_WARMUP, overrides: dict | None = None,
                 allow_cost_override: bool = False, seed: int = 0, budget_s: float = DEFAULT_BUDGET):
        import jax
        import jax.numpy as jnp

        import algorithms
        from algorithms.base import cost_overrides

        self.cls = cls = algorithms.get(algo_name)
        cls.check_spec(spec)
        self.cfg = cls.make_config(overrides or {}, allow_cost_override=allow_cost_override)
        self.spec, self.label, self.warmup = spec, label, warmup
        self.cost_overrides = cost_overrides(cls, self.cfg)
        key = jax.random.PRNGKey(seed)
        self.state = cls.init(key, spec, self.cfg)
        n = spec.n_agents
        self.args = (self.state, jax.random.normal(jax.random.fold_in(key, 1), (n, spec.obs_dim)),
                     jnp.ones((n, spec.legal_dim), bool), jax.random.fold_in(key, 2))
        t0 = time.perf_counter()
        self.compiled = jax.jit(cls.act).lower(*self.args).compile()  # compilation: never timed
        self.compile_s = time.perf_counter() - t0
        for _ in range(max(warmup, 1)):
            t0 = time.perf_counter()
            jax.block_until_ready(self.compiled(*self.args))
            self.warm_s = time.perf_counter() - t0  # the last warm-up call: sizes the timing blocks
            if self.warm_s > budget_s / 3:  # a sampler this slow is warm after one call
                break
        self.times: list = []

    def time_calls(self, n: int) -> None:
        import jax

        for _ in range(n):
            t = time.perf_counter()
            jax.block_until_ready(self.compiled(*self.args))
            self.times.append(time.perf_counter() - t)

    def record(self) -> dict:
        import jax
        import numpy as np

        from algorithms.base import config_dict
        from algorithms.nets import count_nfe

        ms = np.asarray(self.times) * 1e3
        q1, med, q3 = np.percentile(ms, [25, 50, 75])
        declared = self.cls.cost(self.spec, self.cfg)
        counted = count_nfe(self.cls.act, *self.args)
        n = self.spec.n_agents
        mach = machine()
        return {
            "name": self.cls.name, "label": self.label, "n_agents": n, "median_ms": float(med),
            "iqr_ms": float(q3 - q1), "q1_ms": float(q1), "q3_ms": float(q3), "per_agent_ms": float(med / n),
            "mean_ms": float(ms.mean()), "nfe": int(declared.nfe), "nfe_counted": int(counted),
            "per_agent_cost": declared.per_agent, "centralised": bool(declared.centralised), "repeats": len(ms),
            "warmup": self.warmup, "compile_s": self.compile_s, "device": mach["device"], "machine": mach,
            "params": int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.state.params))),
            "config": config_dict(self.cfg), "cost_overrides": self.cost_overrides,
            "env_spec": dataclasses.asdict(self.spec), "harness_version": _version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }


def measure_many(timers: list, repeats: int = DEFAULT_REPEATS, budget_s: float = DEFAULT_BUDGET) -> list[dict]:
    """Time every prepared algorithm up to ``repeats`` times, in interleaved blocks of up to ``BLOCK`` calls, so
    that a burst of load from other processes on a shared machine falls on all algorithms alike. An algorithm
    whose timed calls already add up to ``budget_s`` seconds stops once it has 3 (a 200-step U-Net sampler
    on a CPU can take many seconds per decision); the record says how many calls were timed."""
    if repeats < 3:
        raise BenchError(f"--repeats must be at least 3 to give an inter-quartile range, got {repeats}")
    while True:
        active = [t for t in timers if len(t.times) < repeats and (len(t.times) < 3 or sum(t.times) < budget_s)]
        if not active:
            break
        for t in active:
            n = min(BLOCK, repeats - len(t.times))
            if t.warm_s * n > budget_s:  # slow: one call per turn
                n = 1
            t.time_calls(n)
    return [t.record() | {"budget_s": budget_s} for t in timers]


def measure(algo_name: str, spec, label: str, repeats: int = DEFAULT_REPEATS, warmup: int = DEFAULT_WARMUP,
            overrides: dict | None = None, allow_cost_override: bool = False, seed: int = 0,
            budget_s: float = DEFAULT_BUDGET) -> dict:
    """Time one joint decision of ``spec.n_agents`` agents for ``algo_name``; returns one result record."""
    return measure_many([Timer(algo_name, spec, label, warmup, overrides, allow_cost_override, seed, budget_s)],
                        repeats, budget_s)[0]


def _version() -> str:
    from benchmarks import __version__

    return __version__


def latency_dir(root) -> Path:
    return Path(root) / LATENCY_DIR


def save(record: dict, root) -> Path:
    from benchmarks.store import atomic_write_json

    dev = re.sub(r"[^A-Za-z0-9]+", "-", record["device"]).strip("-")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", record["label"]).strip("-")
    path = latency_dir(root) / f"{record['name']}__{label}__{dev}.json"
    atomic_write_json(path, record)
    return path


def load(root) -> list[dict]:
    """Every latency record in the store (unreadable files are skipped)."""
    d = latency_dir(root)
    out = []
    for p in sorted(d.glob("*.json")) if d.exists() else []:
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def specs_for(task: str | None, agents: tuple | None) -> list[tuple]:
    """[(label, EnvSpec)] for --task or for --agents (the landmarks game with N agents)."""
    if task and agents:
        raise BenchError("use either --task or --agents (which times games/landmarks-N), not both")
    if agents:
        from benchmarks.envs.games import Landmarks

        return [(f"games/landmarks-{n}", Landmarks(n).spec) for n in agents]
    from benchmarks.suites import get_task

    t = get_task(task or DEFAULT_TASK)
    return [(t.id, t.spec)]


# ---- CLI ---------------------------------------------------------------------------------------
@subcommand("latency")
def _add_latency(sub):
    p = sub.add_parser(
        "latency", help="time one joint decision per algorithm (the inference-time protocol)",
        description="For each algorithm, compile act for one joint decision of N agents (paper-default networks "
                    "and iteration counts), warm up, then time --repeats calls with block_until_ready. Prints the "
                    "median and IQR per decision and per agent, network evaluations (declared by cost() and counted "
                    "in act), and the ratio to macflow. Results are stored under <results>/latency/.",
        epilog="examples:\n  bench latency --algos macflow,bc,flowbc\n"
               "  bench latency --algos macflow,dof,bc --agents 2,4,8,16,40\n"
               "  bench latency --algos macflow,bc --task games/coordination --repeats 300 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", help="comma-separated algorithm names (default: every registered algorithm)")
    p.add_argument("--task", help=f"SUITE/TASK whose EnvSpec is timed (default: {DEFAULT_TASK})")
    p.add_argument("--agents", help="comma-separated agent counts: time the landmarks game with N agents each")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed calls per algorithm")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed calls after compilation")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                   help="seconds of timed calls per algorithm after which it stops (it always gets 3 calls)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="config override (e.g. a denoising-step sweep with --allow-cost-override)")
    p.add_argument("--allow-cost-override", action="store_true", help="accept overrides of cost-defining settings")
    p.add_argument("--json", action="store_true", help="print one JSON object per algorithm and agent count")
    p.add_argument("--results", help="results store (default: $BENCH_RESULTS or results/runs)")
    p.set_defaults(func=cmd_latency)


def cmd_latency(args) -> int:
    import algorithms
    from benchmarks.store import check_writable, results_root

    names = _csv(args.algos) if args.algos else algorithms.names()
    classes = [algorithms.get(a) for a in names]
    agents = _ints(args.agents) if args.agents else None
    specs = specs_for(args.task, agents)
    overrides = _overrides(args.set)
    root = results_root(args.results)
    check_writable(root)
    from benchmarks.train import enable_compilation_cache

    enable_compilation_cache()
    if args.repeats < 3:
        raise BenchError(f"--repeats must be at least 3 to give an inter-quartile range, got {args.repeats}")
    records, skipped = [], []
    for label, spec in specs:
        timers = []
        for cls in classes:
            if spec.action_kind not in cls.supports:
                skipped.append(f"{cls.name} on {label}: does not support {spec.action_kind} actions")
                continue
            ov = {k: v for k, v in overrides.items() if k in {f.name for f in dataclasses.fields(cls.Config)}}
            timers.append(Timer(cls.name, spec, label, args.warmup, ov, args.allow_cost_override, budget_s=args.budget))
        for rec in measure_many(timers, args.repeats, args.budget) if timers else []:
            rec["path"] = str(save(rec, root))
            records.append(rec)
            if args.json:
                print(json.dumps({k: rec[k] for k in ("name", "n_agents", "median_ms", "iqr_ms", "per_agent_ms",
                                                      "nfe", "device")} | {"task": label}), flush=True)
    if not args.json:
        print_table(records)
        for s in skipped:
            print(f"skipped: {s}")
        if records:
            print(f"machine: {records[0]['machine']['cpu']} ({records[0]['machine']['cores']} cores), "
                  f"device {records[0]['device']}, jax {records[0]['machine']['jax']}")
            print(f"stored: {latency_dir(root).resolve()}")
    if not records:
        raise BenchError("no algorithm could be timed on this task: " + "; ".join(skipped))
    return 0


def print_table(records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="latency of one joint decision (median over repeats, after compilation and warm-up)")
    for col in ("algorithm", "task", "N", "median ms", "IQR ms", "ms/agent", "nfe decl/count", "x macflow", "calls",
                "device"):
        table.add_column(col, justify="left" if col in ("algorithm", "task", "device") else "right")
    ref = {(r["label"]): r["median_ms"] for r in records if r["name"] == "macflow" and not r["cost_overrides"]}
    for r in records:
        base = ref.get(r["label"])
        ratio = f"{r['median_ms'] / base:.1f}x" if base else "-"
        flag = " *" if r["cost_overrides"] else ""
        table.add_row(r["name"] + flag, r["label"], str(r["n_agents"]), f"{r['median_ms']:.3f}", f"{r['iqr_ms']:.3f}",
                      f"{r['per_agent_ms']:.4f}", f"{r['nfe']}/{r['nfe_counted']}", ratio, str(r["repeats"]), r["device"])
    import sys

    Console(width=None if sys.stdout.isatty() else 140).print(table)
    if any(r["cost_overrides"] for r in records):
        print("* cost-defining settings overridden (not the paper's method cost)")
