"""``bench latency``: time one joint decision per algorithm (the inference-time protocol)."""
from __future__ import annotations

import argparse
import json

from algorithms.errors import BenchError
from benchmarks.cli.args import add_json_option, add_results_option, add_set_option, csv_list, int_list, parse_overrides
from benchmarks.perf.latency import (DEFAULT_BUDGET, DEFAULT_REPEATS, DEFAULT_TASK, DEFAULT_WARMUP, Timer,
                                     measure_many, specs_for)
from benchmarks.store import check_writable, latency_dir, results_root, save_latency


def add(sub):
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
    p.add_argument("--agents", help="comma-separated agent counts: time the landmarks game with N agents each "
                                    "(instead of --task); default: none")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed calls per algorithm (at least 3)")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed calls after compilation")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                   help="seconds of timed calls per algorithm after which it stops (it always gets 3 calls)")
    add_set_option(p, "validated as bench run does: every algorithm of --algos must have the key (e.g. a "
                      "denoising-step sweep with --allow-cost-override)")
    p.add_argument("--allow-cost-override", action="store_true",
                   help="accept overrides of cost-defining settings (the records are flagged in reports)")
    add_json_option(p, "one object per algorithm and agent count, one per line")
    add_results_option(p)
    p.set_defaults(func=cmd_latency)


def cmd_latency(args) -> int:
    import algorithms

    from benchmarks.training.plan import check_common_keys

    names = csv_list(args.algos) if args.algos else algorithms.names()
    classes = [algorithms.get(a) for a in names]
    agents = int_list(args.agents) if args.agents else None
    specs = specs_for(args.task, agents)
    overrides = parse_overrides(args.set)
    check_common_keys(classes, overrides, alone="bench latency")  # as bench run: each key for every algorithm
    for cls in classes:  # unknown keys, wrong types and cost overrides: refused before anything is timed or written
        cls.make_config(overrides, allow_cost_override=args.allow_cost_override)
    root = results_root(args.results)
    check_writable(root)
    from benchmarks.training.train import enable_compilation_cache

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
            timers.append(Timer(cls.name, spec, label, args.warmup, overrides, args.allow_cost_override,
                                budget_s=args.budget))
        for rec in measure_many(timers, args.repeats, args.budget) if timers else []:
            rec["path"] = str(save_latency(rec, root))
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
    from rich.table import Table

    from benchmarks.cli.args import console

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
    console().print(table)  # a log gets the table at its full width
    if any(r["cost_overrides"] for r in records):
        print("* cost-defining settings overridden (not the paper's method cost)")
