"""``bench perf onlinebench``: environment steps/s of the online phase against the raw batched environment."""
from __future__ import annotations

from benchmarks.cli.args import add_json_option, add_set_option, csv_list, old_name, parse_overrides
from benchmarks.perf.onlinebench import DEFAULT_TASKS, __doc__ as DESCRIPTION, bench_task


def add(sub):
    p = sub.add_parser("onlinebench", help="environment steps/s of the online phase vs the raw batched environment",
                       description=DESCRIPTION,
                       epilog="examples:\n  bench perf onlinebench\n  bench perf onlinebench --envs 1,16 --json")
    p.add_argument("--task", help=f"comma-separated SUITE/TASK (default: {','.join(DEFAULT_TASKS)}: one JAX and one "
                                  "Python environment)")
    old_name(p, "--tasks", "task")
    p.add_argument("--envs", default="1", help="comma-separated numbers of environments stepped per gradient step "
                                               "(bench run's --online-envs; the released code's is 1)")
    p.add_argument("--iterations", type=int, default=500, help="timed online iterations (gradient steps) per repeat")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats (the best is reported)")
    p.add_argument("--algos", default="bc", help="comma-separated learning plugins (freshly initialised)")
    old_name(p, "--algo", "algos")
    add_set_option(p, default="hidden=64,64 (small networks)")
    add_json_option(p, "the measurements")
    p.set_defaults(func=cmd_onlinebench)


def cmd_onlinebench(args) -> int:
    import json

    from algorithms.errors import BenchError
    from benchmarks.tasks import get_task
    from benchmarks.training.plan import int_list
    from benchmarks.training.train import enable_compilation_cache

    envs = int_list(args.envs)
    if args.iterations <= 0 or args.repeats <= 0 or not envs or min(envs) <= 0:
        raise BenchError("--iterations, --repeats and every --envs value must be positive")
    enable_compilation_cache()
    overrides = parse_overrides(args.set) or {"hidden": "64,64"}
    rows = [{"algo": a, **bench_task(get_task(t), a, e, args.iterations, args.repeats, overrides)}
            for a in csv_list(args.algos) for t in (csv_list(args.task) if args.task else DEFAULT_TASKS) for e in envs]
    if args.json:
        print(json.dumps({"results": rows}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="online phase vs raw environment, environment steps/s (1 seed, compile excluded)")
    for col in ("task", "algo", "env", "envs", "online steps/s", "raw steps/s", "online / raw"):
        table.add_column(col, justify="left" if col in ("task", "algo", "env") else "right")
    for r in rows:
        table.add_row(r["task"], r["algo"], r["kind"], str(r["envs"]), f"{r['online_steps_per_s']:,.0f}",
                      f"{r['raw_steps_per_s']:,.0f}", f"{r['ratio']:.2f}")
    Console(width=max(Console().width, 110)).print(table)
    return 0
