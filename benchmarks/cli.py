"""The ``bench`` command.

    bench run                                       the embedded default (games + MPE Spread, minutes on CPU)
    bench run --suite games --algos macflow,flowbc,bc --seeds 0,1,2 --steps 2000
    bench run --task games/landmarks-10 --algos macflow --set alpha=10
    bench list algos|suites|tasks
    bench throughput [--algos ...]                  gradient steps/s: scanned trainer vs per-step loop

Every user error prints one line naming the valid choices and exits with status 2; nothing already
in the results store is touched.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict

from benchmarks.errors import BenchError

# The embedded default: every plugin of the foundation on the games suite, small enough for 2 CPU cores.
DEFAULT_ALGOS = ("macflow", "flowbc", "bc")
DEFAULT_SEEDS = (0, 1)
DEFAULT_STEPS = 1000
DEFAULT_EVAL_EVERY = 500
# `bench run` with neither --task nor --suite: the didactic games plus MPE Spread (data generated on first use)
DEFAULT_TASKS = ("games/coordination", "games/xor", "games/payoff-0.5", "games/landmarks", "mpe/spread-expert")

SUBCOMMANDS: Dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def subcommand(name: str):
    """Register ``fn(subparsers)`` that adds sub-command ``name`` (its handler in ``set_defaults(func=)``)."""

    def deco(fn):
        SUBCOMMANDS[name] = fn
        return fn

    return deco


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> tuple:
    try:
        return tuple(int(t) for t in _csv(text))
    except ValueError:
        raise BenchError(f"expected comma-separated integers, got '{text}' (e.g. --seeds 0,1,2)") from None


def _overrides(pairs) -> dict:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise BenchError(f"--set expects key=value, got '{p}' (e.g. --set alpha=10)")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ---- run ---------------------------------------------------------------------------------------
@subcommand("run")
def _add_run(sub):
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
    p.add_argument("--task", help="one task as SUITE/TASK (alternative to --suite/--tasks)")
    p.add_argument("--algos", help=f"comma-separated algorithm names (default: {','.join(DEFAULT_ALGOS)})")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated seeds (vmapped)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="gradient steps per run")
    p.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY)
    p.add_argument("--eval-episodes", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=64, help="batch size (MAC-Flow App. G.4: 64)")
    p.add_argument("--results", help="results store (default: $BENCH_RESULTS or results/runs)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, validated per algorithm")
    p.add_argument("--allow-cost-override", action="store_true",
                   help="accept overrides of cost-defining settings (e.g. fewer denoising steps); flagged in reports")
    p.add_argument("--dataset", help="train on this vault instead of the task's own data (shapes must fit)")
    p.add_argument("--paper-size", action="store_true",
                   help="ignore the plugins' suite presets (smaller networks on suites their paper never ran, e.g. "
                        "the MADiff/DoF U-Net on the games) and train every network at its paper size")
    p.add_argument("--fresh", action="store_true", help="ignore finished runs and checkpoints (re-run from scratch)")
    p.add_argument("--no-progress", action="store_true")
    from benchmarks.runner import add_run_options

    add_run_options(p)  # --address, --cpus-per-job, --gpus-per-job, --max-retries, --split-seeds, --no-ray
    p.set_defaults(func=cmd_run)


def _show(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


def plan_jobs(args, notices: list | None = None) -> list:
    """Validate every name and override before anything runs; returns RunConfigs.

    Imports JAX: the Ray driver calls it in a subprocess (benchmarks.runner.plan_isolated), never itself."""
    import algorithms
    from benchmarks.suites import get_suite, get_task
    from benchmarks.train import RunConfig

    if args.task and (args.suite or args.tasks):
        raise BenchError("use either --task SUITE/TASK or --suite/--tasks, not both")
    if args.task:
        tasks = [get_task(args.task)]
    elif not args.suite and not args.tasks:
        tasks = [get_task(t) for t in DEFAULT_TASKS]
    else:
        suite = get_suite(args.suite or "games")
        why = suite.available()
        if why:
            raise BenchError(f"suite '{suite.name}' cannot run here: {why}")
        names = _csv(args.tasks) if args.tasks else list(suite.default_tasks)
        tasks = [suite.task(n) for n in names]
    algo_names = _csv(args.algos) if args.algos else list(DEFAULT_ALGOS)
    algos = [algorithms.get(a) for a in algo_names]
    overrides = _overrides(args.set)
    seeds = _ints(args.seeds)
    if not seeds:
        raise BenchError("--seeds is empty; give at least one seed, e.g. --seeds 0")
    for v, name in ((args.steps, "--steps"), (args.eval_every, "--eval-every"), (args.eval_episodes, "--eval-episodes"),
                    (args.batch_size, "--batch-size")):
        if v <= 0:
            raise BenchError(f"{name} must be a positive integer, got {v}")
    # one job trains all seeds together (vmapped); --split-seeds makes one job per seed
    paper_size = getattr(args, "paper_size", False)
    seed_groups = [(s,) for s in seeds] if getattr(args, "split_seeds", False) else [seeds]
    jobs = []
    for algo in algos:
        # validate overrides once per algorithm: a key must exist for every algorithm it is applied to
        algo.make_config(overrides, allow_cost_override=args.allow_cost_override)
        fitting = [t for t in tasks if t.spec.action_kind in algo.supports]
        if args.task or not fitting:
            # a task named explicitly, or an algorithm with nothing to run: the one-line error
            for task in tasks:
                algo.check_spec(task.spec)
        skipped = [t.id for t in tasks if t not in fitting]
        if skipped and notices is not None:
            notices.append(f"{algo.name} skips {', '.join(skipped)}: it supports "
                           f"{' and '.join(sorted(algo.supports))} actions only")
        for task in fitting:
            preset = {} if paper_size else {k: v for k, v in algo.preset_for(task.id).items() if k not in overrides}
            if preset and notices is not None:
                shown = ", ".join(f"{k}={_show(v)}" for k, v in preset.items())
                note = f"{algo.name} on {task.id}: suite preset {shown} (--paper-size for the paper's networks)"
                if note not in notices:
                    notices.append(note)
            for group in seed_groups:
                jobs.append(RunConfig(algo.name, task.id, group, args.steps, args.eval_every, args.eval_episodes,
                                      args.batch_size, {**preset, **overrides}, args.allow_cost_override,
                                      dataset=args.dataset, preset=tuple(preset)))
    return jobs


def cmd_run(args) -> int:
    from rich.console import Console

    from benchmarks import runner
    from benchmarks.store import check_writable, results_root

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
    from analysis.report import report_after_run  # the report for what this command ran, and where it is

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


# ---- list --------------------------------------------------------------------------------------
@subcommand("list")
def _add_list(sub):
    p = sub.add_parser("list", help="list algorithms, suites or tasks",
                       epilog="examples:\n  bench list algos\n  bench list tasks --suite games",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="algos", choices=["algos", "suites", "tasks"])
    p.add_argument("--suite", help="only this suite's tasks")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    import algorithms
    from benchmarks.suites import all_suites, get_suite

    if args.what == "algos":
        for name, cls in sorted(algorithms.all_algorithms().items()):
            kinds = ",".join(sorted(cls.supports))
            exe = "centralised" if cls.centralised_execution else "decentralised"
            print(f"{name:14s} {kinds:22s} {exe:14s} {cls.paper}")
    elif args.what == "suites":
        for name, s in sorted(all_suites().items()):
            why = s.available()
            print(f"{name:10s} {'ok' if not why else 'unavailable: ' + why:12s}  {s.description}")
    else:
        suites = [get_suite(args.suite)] if args.suite else list(all_suites().values())
        for s in suites:
            for t in s.tasks:
                print(f"{s.name}/{t}")
    return 0


# ---- entry point -----------------------------------------------------------------------------------
def _load_subcommands() -> None:
    # sub-commands that live in their own modules register themselves on import
    import importlib

    for mod in ("benchmarks.throughput", "benchmarks.latency", "analysis.report", "analysis.figures",
                "benchmarks.data.cli", "benchmarks.doctor", "benchmarks.evalbench",
                "benchmarks.om2p_derivative"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_subcommands()
    parser = argparse.ArgumentParser(
        prog="bench", description="Offline multi-agent RL benchmark harness (JAX).",
        epilog="examples:\n  bench run\n  bench run --suite games --algos macflow,flowbc,bc\n  bench list algos\n"
               "  bench throughput", formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        SUBCOMMANDS[name](sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["run"]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished runs are kept, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    # `python -m benchmarks.cli`: run the importable module so sub-command modules register with it
    from benchmarks.cli import main as _main

    sys.exit(_main())
