"""``bench perf throughput``: training throughput of each plugin, scanned trainer vs a plain per-step loop."""
from __future__ import annotations

import argparse

from algorithms.errors import BenchError
from benchmarks.cli.args import (add_json_option, add_set_option, check_known_keys, csv_list, dumps, int_list, old_name,
                                 overrides_for, parse_overrides)
from benchmarks.perf.throughput import __doc__ as DESCRIPTION, measure


def add(sub):
    p = sub.add_parser("throughput", help="gradient steps/s per plugin: scanned trainer vs per-step loop",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  bench perf throughput\n  bench perf throughput --algos macflow,bc --steps 500\n"
                              "  bench perf throughput --algos macflow --seed-counts 1,2,4,6 --json")
    p.add_argument("--algos", help="comma-separated algorithm names (default: every registered algorithm)")
    p.add_argument("--steps", type=int, default=300, help="timed gradient steps per mode and round")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved timing rounds; each mode keeps its best (robust to a shared machine)")
    p.add_argument("--batch-size", type=int, default=64, help="transitions per gradient step")
    p.add_argument("--seed-counts", default="1", metavar="COUNTS",
                   help="comma-separated numbers of seeds in one program for the scanned trainer (seed-steps/s and "
                        "XLA's planned memory for each), e.g. 1,2,4,6")
    old_name(p, "--seeds", "seed_counts")
    p.add_argument("--seed-batching", choices=("auto", "vmap", "map"), default="auto",
                   help="several seeds in one program: vmapped (batched products) or one after another; auto "
                        "(the trainer's default): map on a CPU for networks of 100 000 parameters or more per seed or "
                        "updates of 10^8 matmul FLOPs or more per seed, else vmap")
    add_set_option(p, "applied to each algorithm whose Config has the key (e.g. hidden=64,64 sizes the MLPs, not "
                      "the U-Nets); a key no chosen algorithm has is an error")
    p.add_argument("--discrete-task", default="games/coordination", metavar="SUITE/TASK",
                   help="the task whose data trains the discrete-only plugins")
    p.add_argument("--continuous-task", default="games/landmarks", metavar="SUITE/TASK",
                   help="the task whose data trains every plugin that supports continuous actions")
    add_json_option(p, "one object per algorithm and line (steps/s of both modes, their ratio, seed-steps/s per "
                       "number of seeds, FLOPs and the fraction of the matmul peak, task, device)")
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
    seeds = int_list(args.seed_counts)
    if not seeds or min(seeds) <= 0 or args.steps <= 0 or args.rounds <= 0:
        raise BenchError(f"--seed-counts takes positive counts (e.g. 1,2,4), --steps and --rounds positive numbers; "
                         f"got {args.seed_counts!r} / {args.steps} / {args.rounds}")
    check_known_keys(classes, overrides)
    tasks = {"discrete": get_task(args.discrete_task), "continuous": get_task(args.continuous_task)}
    import jax

    table = Table(title=f"training throughput, gradient steps/s (batch {args.batch_size}, {args.steps} steps, device "
                        f"{jax.devices()[0].platform}; the float32 matmul peak timed between the rounds)")
    for col in ("algorithm", "task", "GFLOP/update (XLA; matmul, loops counted)", "per-step loop", "scanned, 1 seed",
                "ratio",
                *[f"{k} seeds: seed-steps/s (MiB)" for k in seeds if k != 1], "fraction of peak (scanned; peak GFLOP/s)"):
        table.add_column(col, justify="right" if col not in ("algorithm", "task") else "left")
    from benchmarks.cli.args import console as make_console

    console = make_console()
    for cls in classes:
        kind = "continuous" if "continuous" in cls.supports else "discrete"
        task = tasks[kind]
        valid = overrides_for(cls, overrides)
        r = measure(cls, task, valid, args.steps, args.batch_size, tuple(sorted(set(seeds) | {1})), True, args.rounds,
                    args.seed_batching)
        if args.json:
            print(dumps({"algo": cls.name, "task": task.id, "scanned_steps_per_s": r["scanned"],
                         "loop_steps_per_s": r["loop"], "ratio": r["ratio"], "batch_size": args.batch_size,
                         "steps": args.steps, "overrides": valid, "device": jax.devices()[0].platform,
                         "seed_batching": args.seed_batching,
                         **{k: v for k, v in r.items() if k not in ("scanned", "loop", "ratio")}},
                        default=str), flush=True)
            continue
        per_seed = [f"{r['seed_steps_per_s'][k]:.1f} ({(r['chunk_bytes'][k] or 0) / 2**20:.0f})"
                    for k in seeds if k != 1]
        fraction = r["fraction_of_peak"][max(seeds)]
        gflop = f"{r['gflop_per_update']:.3f}; {r['matmul_gflop_per_update']:.3f}"
        table.add_row(cls.name, task.id, gflop, f"{r['loop']:.1f}", f"{r['scanned']:.1f}",
                      f"{r['ratio']:.2f}x", *per_seed, f"{fraction:.2f} ({max(seeds)} seed{'s' * (max(seeds) > 1)}; {r['gemm_peak_gflops']:.0f})")
        console.print(f"{cls.name}: scanned {r['scanned']:.1f} steps/s, loop {r['loop']:.1f} steps/s, "
                      f"ratio {r['ratio']:.2f}x")
    if not args.json:
        console.print(table)
    return 0
