"""``bench run``: train algorithms on tasks through the runner, print a summary, write the report."""
from __future__ import annotations

import argparse

from benchmarks.cli.args import add_json_option, add_results_option, add_set_option
from benchmarks.training.plan import (DEFAULT_ALGOS, DEFAULT_BATCH_SIZE, DEFAULT_EVAL_EPISODES, DEFAULT_EVAL_EVERY,
                                      DEFAULT_SEEDS, DEFAULT_STEPS, DEFAULT_TASK_STEPS, DEFAULT_TASKS,
                                      PROTOCOLS)


def add(sub):
    p = sub.add_parser("run", help="train algorithms on a suite's tasks and report returns",
                       description="Train each algorithm on each task (seeds vmapped in one program), evaluate "
                                   "periodically, store results, and print a summary table. With no arguments: the "
                                   "embedded default (the games coordination, xor, payoff-0.5 and landmarks; macflow/flowbc/bc), "
                                   "which ends by timing its algorithms (--no-latency skips that). On a terminal "
                                   "progress is a live display; in a log (output not a terminal) it is plain lines: "
                                   "job start, evaluations (step, return), job end (elapsed time).",
                       epilog="examples:\n  bench run\n  bench run --suite games --algos macflow,bc --steps 5000\n"
                              "  bench run --task mpe/spread-medium --algos macflow,macql --steps 500000 "
                              "--online-steps 500000\n"
                              "  bench run --task games/landmarks-10 --algos macflow --set alpha=10\n"
                              "  bench run --task games/coordination --algos 'macflow,macflow[critic=independent]'\n"
                              "  bench run --task games/xor --algos macflow --sweep alpha=1,3,10 --sweep lr=1e-4,3e-4\n"
                              "  bench run --suite games --algos macflow --tensorboard   # then: tensorboard --logdir "
                              "results/runs/tensorboard\n"
                              "  nohup bench run --json > summary.json 2> run.log &",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", help="suite name (bench list suites); default: the embedded default tasks "
                                        "(" + ", ".join(DEFAULT_TASKS) + ")")
    p.add_argument("--tasks", help="comma-separated task names of the suite (default: the suite's default tasks)")
    p.add_argument("--task", help="tasks as SUITE/TASK, comma-separated, suites may differ (alternative to "
                                  "--suite/--tasks), e.g. smacv1/3m-good,smacv2/zerg_5_vs_5-replay; default: none")
    p.add_argument("--algos", help=f"comma-separated algorithm names (default: {','.join(DEFAULT_ALGOS)}); a variant "
                   "with its own overrides is NAME[KEY=VALUE;KEY=VALUE], e.g. macflow,macflow[q_weight=0]")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)),
                   help="the seed ids, comma-separated (trained together in one program per job)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"gradient steps per run (default {DEFAULT_STEPS}; "
                        + ", ".join(f"{n} on {t}" for t, n in DEFAULT_TASK_STEPS.items()) + ")")
    p.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY,
                   help="gradient steps between evaluations (each also writes a checkpoint); the last step always "
                        "evaluates")
    p.add_argument("--eval-episodes", type=int, default=DEFAULT_EVAL_EPISODES,
                   help="evaluation episodes per seed at each evaluation")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help="transitions per gradient step (MAC-Flow App. G.4: 64)")
    add_results_option(p)
    add_set_option(p, "applies to every algorithm of --algos (give one algorithm its own as NAME[KEY=VALUE])")
    p.add_argument("--allow-cost-override", action="store_true",
                   help="accept overrides of cost-defining settings (e.g. fewer denoising steps); flagged in reports")
    p.add_argument("--dataset", metavar="PATH",
                   help="train on this vault (<root>/<scenario>.vlt/<quality>) instead of the task's own data (shapes "
                        "must fit; checked before anything is written); default: the task's dataset")
    p.add_argument("--paper-size", action="store_true",
                   help="ignore the plugins' suite presets (settings for suites their paper gives no hyper-parameters "
                        "for: e.g. the MADiff/DoF U-Net size on the games, MAC-Flow's alpha on the discrete "
                        "bandit games) and train every plugin at its paper defaults")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS),
                   help="a paper's schedule: seeds, gradient steps per suite, evaluation cadence and episodes "
                        "(macflow-paper: 6 seeds, 1M steps on SMAC, 500K on MPE/MA-MuJoCo, eval every 50K x 10 "
                        "episodes); replaces --seeds/--steps/--eval-every/--eval-episodes/--batch-size; default: "
                        "none, those options apply")
    add_online_options(p)
    add_tool_options(p)
    p.add_argument("--fresh", action="store_true", help="ignore finished runs and checkpoints (re-run from scratch; a "
                                                        "fine-tuning re-runs its online phase, reusing its finished "
                                                        "offline parent)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress display (on a terminal) and no progress lines (otherwise)")
    lat = p.add_mutually_exclusive_group()
    lat.add_argument("--latency", dest="latency", action="store_const", const=True, default=None,
                     help="end by timing the run's algorithms at their paper-default configurations (a few seconds "
                          "each, the `bench latency` protocol, stored under <results>/latency/), so the report has "
                          "the score-vs-inference-time figure; default: on for the embedded default (no --suite, "
                          "--tasks or --task), off otherwise")
    lat.add_argument("--no-latency", dest="latency", action="store_const", const=False,
                     help="skip that latency step")
    add_json_option(p, "the summary (one object per task and algorithm)",
                    "progress and tables then go to stderr, so stdout holds only the JSON")
    add_run_options(p)  # --address, --cpus-per-job, --gpus-per-job, --max-retries, --split-seeds, --no-ray
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    """Train (runner), print the jobs and the summary, time the algorithms if asked, write the report."""
    from analysis.report import report_after_run  # the report for what this command ran, and where it is
    from benchmarks.cli.args import console as make_console, dumps
    from benchmarks.store import results_root
    from benchmarks.training import runner

    console = make_console(stderr=True)
    root = results_root(args.results)
    # validates names/overrides in a subprocess (the driver never imports JAX), then runs every job under
    # one progress view; a failed job is recorded in its error.txt and the others go on
    outcome = runner.run(args, root, console)
    runner.print_outcome(outcome, root, console)
    finals = outcome.finals  # final.json of every finished job (including ones skipped as already done)
    labels = variant_labels(outcome.jobs)  # ablation variants and sweep configurations get their own column
    finals = [{**f, "variant": labels.get(f.get("run_id"), f["algo"])} for f in finals]
    print_summary(finals, console)
    if args.json:
        print(dumps(summary_rows(finals), indent=2), flush=True)
    console.print(f"results: {root.resolve()}")
    if wants_latency(args) and finals:
        measure_latency([f["algo"] for f in finals], root, console)
    report_after_run(root, [j.get("run_id") for j in outcome.jobs], console)
    return 1 if outcome.failed else 0


def wants_latency(args) -> bool:
    """--latency / --no-latency, else on exactly when the run is the embedded default's task set."""
    if args.latency is not None:
        return args.latency
    return not (args.suite or args.tasks or args.task)


def measure_latency(algos: list, root, console) -> list:
    """The short latency step (benchmarks.perf.latency.quick): a line per algorithm, never a failed command."""
    import time

    from benchmarks.perf.latency import DEFAULT_TASK, QUICK_BUDGET, QUICK_REPEATS, quick
    from benchmarks.training.train import enable_compilation_cache

    console.print(f"latency: timing {', '.join(dict.fromkeys(algos))} on {DEFAULT_TASK} at their paper-default "
                  f"configurations (up to {QUICK_REPEATS} calls or {QUICK_BUDGET:g} s each; --no-latency skips this)")
    t0 = time.monotonic()
    enable_compilation_cache()
    try:
        records, skipped = quick(algos, root)
    except Exception as exc:  # noqa: BLE001 - the trained runs are safe; say how to measure later
        console.print(f"latency not measured ({type(exc).__name__}: {exc}); run `bench latency --algos "
                      f"{','.join(dict.fromkeys(algos))} --results {root}`")
        return []
    for r in records:
        console.print(f"latency: {r['name']} {r['median_ms']:.3f} ms per decision (IQR {r['iqr_ms']:.3f}, "
                      f"{r['repeats']} calls, nfe {r['nfe']})")
    for why in skipped:
        console.print(f"latency: skipped {why}")
    console.print(f"latency: {time.monotonic() - t0:.1f} s")
    return records


def variant_labels(jobs) -> dict:
    """run id -> the algorithm, with the overrides whose values differ between this command's jobs of it
    (``bc[lr=0.001]``, ``bc[lr=0.003]``; a --set shared by all of them is left out: plain ``bc``)."""
    by_algo: dict = {}
    for j in jobs:
        by_algo.setdefault(j["cfg"]["algo"], []).append(j["cfg"].get("overrides") or {})
    out = {}
    for j in jobs:
        algo, own = j["cfg"]["algo"], j["cfg"].get("overrides") or {}
        varying = sorted(k for k in own if len({str(o.get(k)) for o in by_algo[algo]}) > 1)
        out[j["run_id"]] = f"{algo}[{';'.join(f'{k}={own[k]}' for k in varying)}]" if varying else algo
    return out


def summary_rows(finals) -> list[dict]:
    """One row per (task, algorithm) over its finished runs: the numbers of the summary table, for --json."""
    import numpy as np

    rows = []
    for t in dict.fromkeys(f["task"] for f in finals):
        for a in dict.fromkeys(f.get("variant", f["algo"]) for f in finals):
            # one row per algorithm variant (several runs with --split-seeds)
            fs = [f for f in finals if f["task"] == t and f.get("variant", f["algo"]) == a]
            if not fs:
                continue
            rets = np.concatenate([f["returns"] for f in fs]).astype(float)
            norm = np.concatenate([f["normalised"] for f in fs]).astype(float)
            wins = [float(w) for f in fs for w in f.get("win_rate") or []]
            rows.append({"task": t, "algo": fs[0]["algo"], "variant": a,
                         "seeds": [int(s) for f in fs for s in f.get("seeds", [])],
                         "return_mean": float(rets.mean()), "return_std": float(rets.std()),
                         "returns": rets.tolist(), "normalised_mean": float(norm.mean()),
                         "win_rate": float(np.mean(wins)) if wins else None,
                         "cost_overrides": any(bool(f.get("cost_overrides")) for f in fs),
                         "run_ids": [f.get("run_id") for f in fs]})
    return rows


def print_summary(finals, console) -> None:
    """The table of returns: a row per task, a column per algorithm (cells fold rather than being cut)."""
    from rich.table import Table

    rows = summary_rows(finals)
    algos = list(dict.fromkeys(r["variant"] for r in rows))
    from rich.markup import escape

    # the title as its own line: a table's title wraps at the table's width, and "[...]" would be read as markup
    console.print(escape("return (mean ± std over seeds) [normalised score] (win rate where the task has one)"))
    table = Table()
    table.add_column("task", overflow="fold")
    for a in algos:
        table.add_column(escape(a), justify="right", overflow="fold")  # variants: [k=v] is not markup
    for t in dict.fromkeys(r["task"] for r in rows):
        cells = {r["variant"]: r for r in rows if r["task"] == t}
        row = [t]
        for a in algos:
            r = cells.get(a)
            if r is None:
                row.append("-")
                continue
            won = f" win {100 * r['win_rate']:.0f}%" if r["win_rate"] is not None else ""
            flag = " *" if r["cost_overrides"] else ""
            row.append(f"{r['return_mean']:.3f} ± {r['return_std']:.3f} [{r['normalised_mean']:.0f}]{won}{flag}")
        table.add_row(*row)
    console.print(table)
    if any(r["cost_overrides"] for r in rows):
        console.print("* cost-defining settings overridden (not the paper's method cost)")


def add_online_options(p) -> None:
    """The offline-to-online flags of ``bench run`` (benchmarks/training/online.py)."""
    from benchmarks.training.plan import RunConfig

    d = RunConfig("", "")
    g = p.add_argument_group("offline-to-online fine-tuning (MAC-Flow Sec. 5 A3, App. E, Fig. 5)")
    g.add_argument("--online-steps", type=int, default=d.online_steps,
                   help="after the offline --steps, this many gradient steps on rollouts of the policy in the task's "
                        "environment, from a replay buffer only (paper: 500000 after 500000); a finished offline run "
                        "with the same inputs is reused, not retrained; 0: offline only")
    g.add_argument("--online-envs", type=int, default=d.online_envs,
                   help="environments stepped once before every online gradient step, i.e. transitions per gradient "
                        "step (paper: silent; released code: 1)")
    g.add_argument("--online-buffer", type=int, default=d.online_buffer,
                   help="replay capacity in transitions per seed (paper: silent; released code: 2000000)")
    g.add_argument("--online-warmup", type=int, default=d.online_warmup,
                   help="transitions collected before the first online update (paper: silent; released code: 640)")
    g.add_argument("--online-noise", type=float, default=d.online_noise,
                   help="extra exploration: Gaussian std on continuous actions (in units of half the action range), "
                        "random legal action probability on discrete ones (default 0: the policy's own "
                        "stochasticity, as the paper)")
    g.add_argument("--mix-offline", action="store_true",
                   help="each online batch adds batch-size offline transitions (symmetric sampling; paper App. E: off)")


def add_tool_options(p) -> None:
    """Sweeps and the metrics mirror of ``bench run`` (benchmarks/training/plan.py sweep_grid, training/mirror.py)."""
    g = p.add_argument_group("sweeps and following runs in other tools")
    g.add_argument("--sweep", action="append", metavar="KEY=V1,V2,...",
                   help="train every algorithm (variant) at each value of a config key, one run and one column each, "
                        "e.g. macflow[alpha=3]; repeat for a grid over several keys; tuples in brackets: "
                        "hidden=(64,64),(256,256). `bench report --select best-config` picks per dataset, naming the "
                        "rule and the tuning budget (default: no sweep)")
    g.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="mirror every job's evaluations, losses and diagnostics to TensorBoard event files while it "
                        "trains, with its config and provenance (default DIR: <results>/tensorboard); the store "
                        "stays the source of truth")
    g.add_argument("--wandb", nargs="?", const="", default=None, metavar="PROJECT",
                   help="the same to Weights & Biases (project default offline-marl-bench): needs `pip install "
                        "'offline-marl-bench[wandb]'` and `wandb login` (or WANDB_MODE=offline)")


def add_run_options(p) -> None:
    """The runner's flags of ``bench run``."""
    g = p.add_argument_group("runner (Ray)")
    g.add_argument("--address", help="join this running Ray cluster (HOST:PORT of the head, or 'auto'); default: "
                                     "start one on this machine for the command")
    g.add_argument("--cpus-per-job", type=float, default=1.0, help="Ray CPUs per job (default 1)")
    g.add_argument("--gpus-per-job", type=float, default=None,
                   help="Ray GPUs per job; fractions share a GPU, e.g. 0.25; 0 trains on the CPU with the GPUs hidden "
                        "from the jobs (default: on a cluster with GPUs, a share that spreads the jobs over every "
                        "GPU, at most 4 per GPU and what fits in its memory; docs/cluster.md)")
    g.add_argument("--max-retries", type=int, default=2,
                   help="restarts of a job whose worker process died (it resumes from its checkpoint; default 2)")
    g.add_argument("--split-seeds", action="store_true",
                   help="one job per seed instead of one job training all seeds together (vmapped)")
    g.add_argument("--no-ray", action="store_true", help="run the jobs one after the other in this process (debugging)")
