"""``bench throughput``: training throughput of each plugin, scanned trainer vs a plain per-step loop."""
from __future__ import annotations

import argparse
import dataclasses

from benchmarks.cli.args import add_json_option, csv_list, dumps, parse_overrides
from benchmarks.perf.throughput import __doc__ as DESCRIPTION, measure


def add(sub):
    p = sub.add_parser("throughput", help="gradient steps/s per plugin: scanned trainer vs per-step loop",
                       description=DESCRIPTION, epilog="examples:\n  bench throughput\n  bench throughput --algos macflow,bc --steps 500",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", help="comma-separated algorithms (default: all registered)")
    p.add_argument("--steps", type=int, default=300, help="timed gradient steps per mode")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (e.g. hidden=64,64)")
    p.add_argument("--discrete-task", default="games/coordination")
    p.add_argument("--continuous-task", default="games/landmarks")
    add_json_option(p, "one JSON object per algorithm (steps/s of both modes, their ratio, task, device) instead "
                       "of the table")
    p.set_defaults(func=cmd_throughput)


def cmd_throughput(args) -> int:
    import algorithms
    from benchmarks.tasks import get_task
    from benchmarks.training.train import enable_compilation_cache
    from rich.table import Table

    enable_compilation_cache()
    names = csv_list(args.algos) if args.algos else algorithms.names()
    classes = [algorithms.get(n) for n in names]
    overrides = parse_overrides(args.set)
    tasks = {"discrete": get_task(args.discrete_task), "continuous": get_task(args.continuous_task)}
    import jax

    table = Table(title=f"training throughput, gradient steps/s (batch {args.batch_size}, {args.steps} steps, "
                        f"device {jax.devices()[0].platform})")
    for col in ("algorithm", "task", "scanned trainer", "per-step loop", "ratio"):
        table.add_column(col, justify="right" if col not in ("algorithm", "task") else "left")
    from benchmarks.cli.args import console as make_console

    console = make_console()
    for cls in classes:
        kind = "continuous" if "continuous" in cls.supports else "discrete"
        task = tasks[kind]
        valid = {k: v for k, v in overrides.items() if k in {f.name for f in dataclasses.fields(cls.Config)}}
        r = measure(cls, task, valid, args.steps, args.batch_size)
        if args.json:
            print(dumps({"algo": cls.name, "task": task.id, "scanned_steps_per_s": r["scanned"],
                         "loop_steps_per_s": r["loop"], "ratio": r["ratio"], "batch_size": args.batch_size,
                         "steps": args.steps, "overrides": valid, "device": jax.devices()[0].platform},
                        default=str), flush=True)
            continue
        table.add_row(cls.name, task.id, f"{r['scanned']:.1f}", f"{r['loop']:.1f}", f"{r['ratio']:.2f}x")
        console.print(f"{cls.name}: scanned {r['scanned']:.1f} steps/s, loop {r['loop']:.1f} steps/s, ratio {r['ratio']:.2f}x")
    if not args.json:
        console.print(table)
    return 0
