"""``bench perf reportbench``: a synthetic store of the MAC-Flow paper's size, and the time and memory of ``bench report``
and ``bench figures --paper macflow`` on it (benchmarks/perf/reportbench.py)."""
from __future__ import annotations

import argparse

from algorithms.errors import BenchError
from benchmarks.cli.args import add_json_option, csv_list, old_name


def add(sub):
    from benchmarks.perf.reportbench import __doc__ as description

    p = sub.add_parser("reportbench", help="time bench report / bench figures on a synthetic paper-sized store",
                       description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  bench perf reportbench\n  bench perf reportbench --scale 10 --split-seeds\n"
                              "  bench perf reportbench --algos bc,macflow --tasks 4 --json")
    p.add_argument("--scale", type=int, default=1,
                   help="settings per algorithm (1: the paper's 16 algorithms; 10 with --split-seeds: ten times "
                        "the paper's runs and evaluation rows)")
    p.add_argument("--split-seeds", action="store_true", help="one run directory per seed, as bench run --split-seeds")
    p.add_argument("--algos", help="a subset of the paper's algorithms, comma-separated (default: all 16)")
    p.add_argument("--tasks", type=int, default=None, help="the first N of the 31 datasets (default: all)")
    p.add_argument("--commands", default="report,figures", help="what to time: report, figures or both")
    p.add_argument("--out", metavar="DIR", dest="dir",
                   help="where the store is written (default: a temporary directory, removed after)")
    old_name(p, "--dir", "dir")
    add_json_option(p, "the store's counts and each command's time, peak memory, stages and figures")
    p.set_defaults(func=cmd_reportbench)


def cmd_reportbench(args) -> int:
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from benchmarks.perf import reportbench as rb

    algos = tuple(csv_list(args.algos)) if args.algos else rb.ALGOS
    unknown = [a for a in algos if a not in rb.ALGOS]
    commands = csv_list(args.commands)
    if unknown or args.scale < 1 or (args.tasks is not None and not 1 <= args.tasks <= len(rb.tasks())) \
            or not commands or set(commands) - {"report", "figures"}:
        raise BenchError(f"--algos takes the paper's algorithms ({', '.join(rb.ALGOS)}), --scale a positive integer, "
                         f"--tasks 1..{len(rb.tasks())} and --commands report,figures; got --algos "
                         f"{args.algos!r} --scale {args.scale} --tasks {args.tasks} --commands {args.commands!r}")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-reportbench-"))
    root = work / "runs"
    if root.exists() and any(root.iterdir()):
        raise BenchError(f"{root} is not empty; pass --dir with a new directory")
    try:
        store = rb.write_store(root, args.scale, args.split_seeds, algos=algos, n_tasks=args.tasks)
        say = (lambda *a, **k: None) if args.json else print
        say(f"store: {store['runs']} runs, {store['rows']} evaluation rows, {store['variants']} variants, "
            f"{store['tasks']} datasets, written in {store['seconds']:.1f} s ({root})", flush=True)
        results = []
        for command in commands:
            r = rb.measure(root, command)
            results.append(r)
            within = r["wall"] <= rb.LIMIT_SECONDS and r["peak_bytes"] <= rb.LIMIT_BYTES
            say(f"\nbench {command}: {r['wall']:.1f} s wall ({r['cpu_seconds']:.1f} s of CPU), peak "
                f"{r['peak_bytes'] / 2**30:.2f} GiB, "
                f"{len(r['figures'])} figures" + ("" if args.scale > 1 or args.split_seeds else
                                                   f" ({'within' if within else 'OVER'} the paper-size limits: "
                                                   f"{rb.LIMIT_SECONDS:g} s, {rb.LIMIT_BYTES / 2**30:g} GiB)"), flush=True)
            for stage, sec in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
                say(f"  {stage:36s} {sec:7.2f} s")
            say("  figures: " + ", ".join(r["figures"]))
        if args.json:
            print(json.dumps({"store": store, "results": results}, indent=2))
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0
