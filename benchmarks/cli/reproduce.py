"""``bench reproduce RUN_ID``: re-run a stored run from its record into a new store and compare final scores."""
from __future__ import annotations

import argparse

from benchmarks.cli.args import add_results_option, old_name


def add(sub):
    p = sub.add_parser("reproduce", help="re-run a stored run from its spec.json and compare its final scores",
                       description="Re-run RUN_ID from its spec.json (same config, seeds and data) into a new store, "
                                   "warn about every provenance field that differs on this machine (commit, "
                                   "versions, device), refuse data whose content differs from the recorded run's, "
                                   "and print the per-seed difference in final return.",
                       epilog="examples:\n  bench reproduce 3f2a9c0d1e4b5a67\n"
                              "  bench reproduce 3f2a9c0d1e4b5a67 --results /data/runs --out /tmp/repro",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_id", metavar="RUN_ID", help="a run directory name under the results store")
    add_results_option(p)
    p.add_argument("--out", metavar="DIR", help="store for the re-run (default: <results>/reproduce/RUN_ID)")
    old_name(p, "--into", "out")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    from benchmarks.training.reproduce import describe, reproduce
    from benchmarks.training.train import enable_compilation_cache

    enable_compilation_cache()
    rep = reproduce(args.run_id, args.results, args.out)
    print("\n".join(describe(rep)))
    return 0
