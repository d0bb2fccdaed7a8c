"""``bench run``: train algorithms on tasks through the runner, print a summary, write the report."""
from __future__ import annotations

import argparse

from benchmarks.cli.args import add_results_option
from benchmarks.training.plan import (DEFAULT_ALGOS, DEFAULT_BATCH_SIZE, DEFAULT_EVAL_EPISODES, DEFAULT_EVAL_EVERY,
                                      DEFAULT_SEEDS, DEFAULT_STEPS, PROTOCOLS)


def add(sub):
    p = sub.add_parser("run", help="train algorithms on a suite's tasks and report returns",
                       description="Train each algorithm on each task (seeds vmapped in one program), evaluate "
                                   "periodically, store results, and print a summary table. With no arguments: the "
                                   "embedded default (the games suite and mpe/spread-expert, macflow/flowbc/bc).",
                       epilog="examples:\n  bench run\n  bench run --suite games --algos macflow,bc --steps 5000\n"
                              "  bench run --task games/landmarks-10 --algos macflow --set alpha=10",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", help="suite name (bench list suites); default: the embedded default tasks "
                                        "(games suite + mpe/spread-expert)")
    p.add_argument("--tasks", help="comma-separated task names of the suite (default: the suite's default tasks)")
    p.add_argument("--task", help="tasks as SUITE/TASK, comma-separated, suites may differ (alternative to "
                                  "--suite/--tasks), e.g. smacv1/3m-good,smacv2/zerg_5_vs_5-replay")
    p.add_argument("--algos", help=f"comma-separated algorithm names (default: {','.join(DEFAULT_ALGOS)})")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated seeds (vmapped)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="gradient steps per run")
    p.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY)
    p.add_argument("--eval-episodes", type=int, default=DEFAULT_EVAL_EPISODES)
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="batch size (MAC-Flow App. G.4: 64)")
    add_results_option(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, validated per algorithm")
    p.add_argument("--allow-cost-override", action="store_true",
                   help="accept overrides of cost-defining settings (e.g. fewer denoising steps); flagged in reports")
    p.add_argument("--dataset", help="train on this vault instead of the task's own data (shapes must fit)")
    p.add_argument("--paper-size", action="store_true",
                   help="ignore the plugins' suite presets (smaller networks on suites their paper never ran, e.g. "
                        "the MADiff/DoF U-Net on the games) and train every network at its paper size")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS),
                   help="a paper's schedule: seeds, gradient steps per suite, evaluation cadence and episodes "
                        "(macflow-paper: 6 seeds, 1M steps on SMAC, 500K on MPE/MA-MuJoCo, eval every 50K x 10 "
                        "episodes); replaces --seeds/--steps/--eval-every/--eval-episodes/--batch-size")
    p.add_argument("--fresh", action="store_true", help="ignore finished runs and checkpoints (re-run from scratch)")
    p.add_argument("--no-progress", action="store_true")
    add_run_options(p)  # --address, --cpus-per-job, --gpus-per-job, --max-retries, --split-seeds, --no-ray
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from rich.console import Console

    from analysis.report import report_after_run  # the report for what this command ran, and where it is
    from benchmarks.store import check_writable, results_root
    from benchmarks.training import runner

    console = Console(stderr=True)
    root = results_root(args.results)
    check_writable(root)
    # validates names/overrides in a subprocess (the driver never imports JAX), then runs every job under
    # one live view; a failed job is recorded in its error.txt and the others go on
    outcome = runner.run(args, root, console)
    runner.print_outcome(outcome, root, console)
    finals = outcome.finals  # final.json of every finished job (including ones skipped as already done)
    print_summary(finals, console)
    console.print(f"results: {root.resolve()}")
    report_after_run(root, [j.get("run_id") for j in outcome.jobs], console)
    return 1 if outcome.failed else 0


def print_summary(finals, console) -> None:
    from rich.table import Table

    import numpy as np

    tasks = list(dict.fromkeys(f["task"] for f in finals))
    algos = list(dict.fromkeys(f["algo"] for f in finals))
    table = Table(title="return (mean ± std over seeds) [normalised score] (win rate where the task has one)")
    table.add_column("task")
    for a in algos:
        table.add_column(a, justify="right")
    for t in tasks:
        row = [t]
        for a in algos:
            fs = [f for f in finals if f["task"] == t and f["algo"] == a]  # several with --split-seeds
            if not fs:
                row.append("-")
                continue
            rets = np.concatenate([f["returns"] for f in fs])
            flag = " *" if any(f.get("cost_overrides") for f in fs) else ""
            norm = np.mean(np.concatenate([f["normalised"] for f in fs]))
            wins = [w for f in fs for w in f.get("win_rate") or []]
            won = f" win {100 * np.mean(wins):.0f}%" if wins else ""
            row.append(f"{rets.mean():.3f} ± {rets.std():.3f} [{norm:.0f}]{won}{flag}")
        table.add_row(*row)
    console.print(table)
    if any(f.get("cost_overrides") for f in finals):
        console.print("* cost-defining settings overridden (not the paper's method cost)")


def add_run_options(p) -> None:
    """The runner's flags of ``bench run``."""
    g = p.add_argument_group("runner (Ray)")
    g.add_argument("--address", help="join this running Ray cluster (HOST:PORT of the head, or 'auto') instead of "
                                     "starting one on this machine")
    g.add_argument("--cpus-per-job", type=float, default=1.0, help="Ray CPUs per job (default 1)")
    g.add_argument("--gpus-per-job", type=float, default=0.0,
                   help="Ray GPUs per job; fractions share a GPU, e.g. 0.25 (default 0: CPU)")
    g.add_argument("--max-retries", type=int, default=2,
                   help="restarts of a job whose worker process died (it resumes from its checkpoint; default 2)")
    g.add_argument("--split-seeds", action="store_true",
                   help="one job per seed instead of one job training all seeds together (vmapped)")
    g.add_argument("--no-ray", action="store_true", help="run the jobs one after the other in this process (debugging)")
