"""``bench report`` and ``bench figures``: the store as tables, aggregates, figures and the leaderboard."""
from __future__ import annotations

import argparse

from algorithms.errors import BenchError
from benchmarks.cli.args import add_json_option, add_results_option


def add(sub):
    add_report(sub)
    add_figures(sub)


def add_report(sub):
    p = sub.add_parser("report", help="tables, rliable aggregates, figures and the leaderboard for the store",
                       description="Build the report for everything in the results store: tables in the papers' "
                                   "format (Markdown, LaTeX, HTML) with the published numbers beside the measured ones "
                                   "where a paper has them, rliable aggregates with stratified-bootstrap CIs, figures, "
                                   "the leaderboard page and the marl-eval JSON export. Missing or failed runs are "
                                   "listed, not fatal; a store that does not exist or holds no runs is an error. "
                                   "docs/reports.md defines every number the report shows.",
                       epilog="examples:\n  bench report\n  bench report --score last-3\n  bench report --select best-config\n  bench report --poi macflow\n"
                              "  bench report --results /data/runs --out site/\n"
                              "  bench report --json | jq '.leaderboard.aggregates'",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_option(p)
    p.add_argument("--out", metavar="DIR", help="output directory (default: <results>/report)")
    p.add_argument("--reps", type=int, default=None, help="bootstrap repetitions, at least 100 (default 2000)")
    p.add_argument("--score", default="final", metavar="RULE",
                   help="which evaluation every table and aggregate reports: final (default; what the MAC-Flow "
                        "paper's tables report), best, or last-K (mean of the last K evaluations per seed)")
    p.add_argument("--select", metavar="RULE",
                   help="best-config: show each `bench run --sweep` as one tuned column per algorithm (per dataset, "
                        "the configuration with the best mean return), every caption naming the rule and the tuning "
                        "budget (configurations x evaluation episodes); default: every configuration its own column")
    p.add_argument("--poi", metavar="PAIRS", default=None,
                   help="which pairs get a probability of improvement: 'all' (every ordered pair), a variant (it "
                        "against each other one) or X:Y,X:Z; default: every pair up to 5 variants, else the "
                        "highest-IQM variant against each other one")
    add_json_option(p, "one object: where the report went and the leaderboard's contents (aggregates, finals, "
                       "latency, problems)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from analysis.report import write_report
    from analysis.score import parse

    if args.reps is not None and args.reps < 100:
        raise BenchError(f"--reps must be at least 100 for a meaningful bootstrap, got {args.reps}")
    from analysis.select import parse as parse_selection

    rule = parse(args.score)
    check_store(args.results)
    path = write_report(args.results, args.out, args.reps, score=rule, select=parse_selection(args.select),
                        poi=args.poi)
    board = path.parent / "leaderboard.json"
    if args.json:  # leaderboard.json is the report's machine-readable summary; add where the files are
        import json

        from benchmarks.cli.args import dumps

        print(dumps({"report": str(path.resolve()), "leaderboard_html": str(board.with_suffix(".html").resolve()),
                     "leaderboard": json.loads(board.read_text())}, indent=2))
        return 0
    print(path.read_text().split("## Aggregates")[0].strip())
    print(f"\nreport: {path.resolve()}\nleaderboard: {(path.parent / 'leaderboard.html').resolve()}")
    return 0


def add_figures(sub):
    p = sub.add_parser("figures", help="a paper's tables and figures from the store (measured beside published)",
                       description="Write every figure and table of the MAC-Flow paper the store has runs for: Figure "
                                   "1/4 (score vs inference time), Tables 1 and 2 (measured beside published), Table 3 "
                                   "(latency vs agents), Figure 3 (distillation diagnostics), the learning curves of "
                                   "Figures 5-10 and 12 (offline-to-online, the ablations, MA-FQL), Figure 11 (training "
                                   "time) and the games Figures 13-16 (sampled from the runs' checkpoints). index.md "
                                   "lists every paper item as its file or as the one command that produces it; "
                                   "--games first trains what the games figures need.",
                       epilog="examples:\n  bench figures --paper macflow\n  bench figures --paper macflow --games\n"
                              "  bench figures --paper macflow --results /data/runs --out paper_figs/",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--paper", default="macflow", choices=["macflow", "vgm2p", "om2p"], help="which paper's figures")
    add_results_option(p)
    p.add_argument("--out", metavar="DIR", help="output directory (default: <results>/report/<paper>)")
    p.add_argument("--games", action="store_true",
                   help="first train the runs the games figures (3, 13-16) need that the store lacks (1000 steps, "
                        "2 seeds; the landmark game at App. H.4's settings), in this process")
    regenerate_options(p)
    p.set_defaults(func=cmd_figures)


def check_store(results, need_runs: bool = True) -> None:
    """A results store that is not there (a typo in --results, or nothing run yet) is an error before anything is
    written: an empty report would look like a store without results. ``need_runs``: a directory holding neither runs
    nor latency records is one too (``bench figures`` accepts it: its index names the command for every item)."""
    from benchmarks.store import LATENCY_DIR, latency_records, results_root, runs

    root = results_root(results)
    given = f"--results {results}" if results else "the default store ($BENCH_RESULTS, else results/runs)"
    if not root.is_dir():
        raise BenchError(f"no results store at {root.absolute()} ({given}): check the path, or create one with "
                         f"`bench run{' --results ' + str(results) if results else ''}`")
    if need_runs and not runs(root) and not latency_records(root):
        raise BenchError(f"{root.absolute()} holds no runs and no {LATENCY_DIR}/ records ({given}): check the path, "
                         f"or fill it with `bench run{' --results ' + str(results) if results else ''}`")


def regenerate_options(p) -> None:
    """The whole-paper options of ``bench figures`` (benchmarks/cli/regenerate.py)."""
    g = p.add_argument_group("one command per paper")
    g.add_argument("--regenerate", action="store_true",
                   help="plan every run the paper's items need as one deduplicated set of jobs, print the job count and "
                        "the estimated compute on this device, train what this machine can run through the runner "
                        "(resumable, as bench run), take the latency timings, then draw every item; om2p: measure its "
                        "two claims")
    g.add_argument("--dry-run", action="store_true", help="with --regenerate: print the plan and the estimate only")
    g.add_argument("--items", help="with --regenerate: only these items, e.g. games (Figures 3, 13-16) or "
                                   "table2,fig13 (default: every item of the paper)")


def cmd_figures(args) -> int:
    from analysis.figures import write_figures
    from benchmarks.cli.args import csv_list

    if (args.dry_run or args.items) and not args.regenerate:
        raise BenchError("--dry-run and --items go with --regenerate (e.g. bench figures --paper macflow "
                         "--regenerate --dry-run)")
    if args.games and args.paper != "macflow":
        raise BenchError(f"--games trains the MAC-Flow paper's games figures; the {args.paper} paper has none "
                         f"(bench figures --paper {args.paper} --regenerate trains its items)")
    if args.regenerate:
        from benchmarks.cli.regenerate import regenerate

        items = csv_list(args.items) if args.items else (["games"] if args.games else [])
        return regenerate(args.paper, args.results, args.out, items, args.dry_run)
    if args.games:
        train_games(args.results)
    else:
        check_store(args.results, need_runs=False)

    index = write_figures(args.results, args.out, args.paper)
    print(index.read_text())
    print(f"figures: {index.parent.resolve()}")
    return 0


def train_games(results, budget=None) -> None:
    """Train (or find finished in the store) every run of the games figures, one after the other."""
    import time

    from analysis.games import GAMES_BUDGET, games_jobs
    from benchmarks.training.train import train

    budget = budget or GAMES_BUDGET
    jobs = games_jobs(budget)
    print(f"games figures: {len(jobs)} runs at {budget.text()} (finished runs are reused)", flush=True)
    t0 = time.time()
    for i, cfg in enumerate(jobs, 1):
        t = time.time()
        final = train(cfg, results)
        print(f"  [{i}/{len(jobs)}] {cfg.label} {cfg.overrides}: return {final['return_mean']:.3f} "
              f"({time.time() - t:.0f} s)", flush=True)
    print(f"games runs ready in {time.time() - t0:.0f} s", flush=True)
