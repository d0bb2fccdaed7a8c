"""``bench evalbench``: evaluation throughput per suite, batched vs one episode at a time."""
from __future__ import annotations

import argparse

from benchmarks.cli.args import csv_list, parse_overrides
from benchmarks.perf.evalbench import DEFAULT_TASKS, __doc__ as DESCRIPTION, bench_task


def add(sub):
    p = sub.add_parser("evalbench", help="evaluation throughput per suite: batched vs one episode at a time",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  bench evalbench\n  bench evalbench --suites smax,mpe --episodes 64")
    p.add_argument("--suites", help=f"comma-separated suites (default: {','.join(DEFAULT_TASKS)}; unavailable ones "
                                    "are listed with the reason)")
    p.add_argument("--episodes", type=int, default=32, help="episodes per batched evaluation")
    p.add_argument("--repeats", type=int, default=2, help="timed batched evaluations")
    p.add_argument("--algo", default="bc", help="policy whose act is evaluated (freshly initialised)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (default hidden=64,64)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_evalbench)


def cmd_evalbench(args) -> int:
    import json

    from algorithms.errors import BenchError
    from benchmarks.tasks import all_suites, get_suite, get_task
    from benchmarks.training.train import enable_compilation_cache

    if args.episodes <= 0 or args.repeats <= 0:
        raise BenchError("--episodes and --repeats must be positive")
    enable_compilation_cache()
    names = csv_list(args.suites) if args.suites else [s for s in DEFAULT_TASKS if s in all_suites()]
    overrides = parse_overrides(args.set) or {"hidden": "64,64"}
    rows, skipped = [], []
    for name in names:
        suite = get_suite(name)
        why = suite.available()
        if why:
            skipped.append((name, why))
            continue
        task = get_task(DEFAULT_TASKS.get(name) or f"{name}/{suite.default_tasks[0]}")
        rows.append(bench_task(task, args.algo, args.episodes, args.repeats, overrides))
    if args.json:
        print(json.dumps({"results": rows, "skipped": dict(skipped)}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"evaluation throughput ({args.algo} act, {args.episodes} episodes per batch; "
                        "compile excluded)")
    for col in ("task", "env", "batched steps/s", "batched episodes/s", "1-by-1 steps/s", "1-by-1 episodes/s",
                "speed-up"):
        table.add_column(col, justify="left" if col in ("task", "env") else "right")
    for r in rows:
        b, s = r["batched"], r["single"]
        table.add_row(r["task"], r["kind"], f"{b['steps_per_s']:,.0f}", f"{b['episodes_per_s']:,.1f}",
                      f"{s['steps_per_s']:,.0f}", f"{s['episodes_per_s']:,.2f}", f"{r['speedup']:.1f}x")
    console = Console(width=max(Console().width, 130))
    console.print(table)
    for name, why in skipped:
        console.print(f"[dim]{name}: skipped ({why})[/dim]")
    return 0
