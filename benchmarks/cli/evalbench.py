"""``bench perf evalbench``: evaluation throughput per suite, batched vs one episode at a time."""
from __future__ import annotations

from benchmarks.cli.args import add_json_option, add_set_option, csv_list, old_name, parse_overrides
from benchmarks.perf.evalbench import DEFAULT_TASKS, __doc__ as DESCRIPTION, bench_task


def add(sub):
    p = sub.add_parser("evalbench", help="evaluation throughput per suite: batched vs one episode at a time",
                       description=DESCRIPTION,
                       epilog="examples:\n  bench perf evalbench\n  bench perf evalbench --suite smax,mpe --episodes 64")
    p.add_argument("--suite", help=f"comma-separated suites (default: {','.join(DEFAULT_TASKS)}; unavailable ones "
                                   "are listed with the reason)")
    old_name(p, "--suites", "suite")
    p.add_argument("--episodes", type=int, default=32, help="episodes per batched evaluation")
    p.add_argument("--repeats", type=int, default=2, help="timed batched evaluations")
    p.add_argument("--algos", default="bc", help="comma-separated policies whose act is evaluated (freshly initialised)")
    old_name(p, "--algo", "algos")
    add_set_option(p, default="hidden=64,64 (small networks)")
    add_json_option(p, "the measurements and the skipped suites")
    p.set_defaults(func=cmd_evalbench)


def cmd_evalbench(args) -> int:
    import json

    from algorithms.errors import BenchError
    from benchmarks.tasks import all_suites, get_suite, get_task
    from benchmarks.training.train import enable_compilation_cache

    if args.episodes <= 0 or args.repeats <= 0:
        raise BenchError("--episodes and --repeats must be positive")
    enable_compilation_cache()
    names = csv_list(args.suite) if args.suite else [s for s in DEFAULT_TASKS if s in all_suites()]
    overrides = parse_overrides(args.set) or {"hidden": "64,64"}
    rows, skipped = [], []
    for name in names:
        suite = get_suite(name)
        why = suite.available()
        if why:
            skipped.append((name, why))
            continue
        task = get_task(DEFAULT_TASKS.get(name) or f"{name}/{suite.default_tasks[0]}")
        for algo in csv_list(args.algos):
            rows.append({"algo": algo, **bench_task(task, algo, args.episodes, args.repeats, overrides)})
    if args.json:
        print(json.dumps({"results": rows, "skipped": dict(skipped)}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"evaluation throughput (act of a freshly initialised policy, {args.episodes} episodes per "
                        "batch; compile excluded)")
    for col in ("task", "algo", "env", "batched steps/s", "batched episodes/s", "1-by-1 steps/s", "1-by-1 episodes/s",
                "speed-up"):
        table.add_column(col, justify="left" if col in ("task", "algo", "env") else "right")
    for r in rows:
        b, s = r["batched"], r["single"]
        table.add_row(r["task"], r["algo"], r["kind"], f"{b['steps_per_s']:,.0f}", f"{b['episodes_per_s']:,.1f}",
                      f"{s['steps_per_s']:,.0f}", f"{s['episodes_per_s']:,.2f}", f"{r['speedup']:.1f}x")
    console = Console(width=max(Console().width, 130))
    console.print(table)
    for name, why in skipped:
        console.print(f"[dim]{name}: skipped ({why})[/dim]")
    return 0
