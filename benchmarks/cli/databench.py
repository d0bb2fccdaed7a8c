"""``bench perf databench``: load time and peak memory of a real-size vault, against the dataset's own bytes."""
from __future__ import annotations

import argparse
import json

from algorithms.errors import BenchError
from benchmarks.cli.args import add_json_option, csv_list, int_list, old_name


def add(sub):
    from benchmarks.perf.databench import MODES, SHAPES, WINDOW, __doc__ as description

    p = sub.add_parser("databench", help="load time and peak memory of a real-size dataset (x its own bytes)",
                       description=description,
                       epilog="examples:\n  bench perf databench\n  bench perf databench --transitions 500000,1000000\n"
                              "  bench perf databench --shapes smacv1/3m --transitions 100000 --modes indexed,info --json")
    p.add_argument("--shapes", default="smacv1/8m", choices=sorted(SHAPES), help="whose shapes the vault has")
    p.add_argument("--transitions", default="500000", help="comma-separated dataset sizes (timesteps)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--window", type=int, default=WINDOW, help="window length of the 'windows' mode")
    p.add_argument("--out", metavar="DIR",
                   help="where the vaults are written and kept (default: a temporary directory, removed after)")
    old_name(p, "--dir", "out")
    add_json_option(p, "one object per size and mode")
    p.set_defaults(func=cmd_databench)


def cmd_databench(args) -> int:
    import shutil
    import tempfile
    from pathlib import Path

    from benchmarks.perf.databench import MODES, measure_load, write_vault

    sizes = int_list(args.transitions)
    modes = csv_list(args.modes)
    bad = [m for m in modes if m not in MODES]
    if bad or not sizes or min(sizes) <= 0:
        raise BenchError(f"--modes takes {', '.join(MODES)} and --transitions positive sizes; got "
                         f"{args.modes!r} / {args.transitions!r}")
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-databench-"))
    rows = []
    try:
        for n in sizes:
            path = work / f"{args.shapes.replace('/', '_')}-{n}.vlt" / "Synthetic"
            made = write_vault(path, args.shapes, n)
            for mode in modes:
                r = measure_load(path, mode, args.window)
                row = {"shapes": args.shapes, "transitions": n, "mode": mode, "dataset_bytes": made["bytes"],
                       "load_seconds": r["seconds"], "peak_bytes": r["peak"],
                       "peak_over_dataset": r["peak"] / made["bytes"]}
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    print(f"{n:>9,d} {mode:13s} dataset {made['bytes'] / 2**30:6.2f} GiB  load {r['seconds']:7.1f} s  "
                          f"peak {r['peak'] / 2**30:6.2f} GiB  = {row['peak_over_dataset']:.2f} x the dataset",
                          flush=True)
    finally:
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    return 0
