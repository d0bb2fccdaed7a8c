"""The ``bench`` command: one module per sub-command, each with ``add(subparsers)``.

    bench run                                       the embedded default (games + MPE Spread, minutes on CPU)
    bench run --suite games --algos macflow,flowbc,bc --seeds 0,1,2 --steps 2000
    bench run --task games/landmarks-10 --algos macflow --set alpha=10
    bench list algos|suites|tasks
    bench reproduce RUN_ID [--results DIR] [--into DIR]
    bench run --task mpe/spread-medium --algos macflow,macql --online-steps 500000   (offline, then online)
    bench report | figures | latency | throughput | data | doctor | evalbench | om2p-derivative | onlinebench
    bench reportbench                               bench report / figures timed on a synthetic paper-sized store

Every user error prints one line naming the valid choices and exits with status 2; nothing already
in the results store is touched. The CLI is the top layer: sub-command modules import the layers
below them (lazily, inside their commands, so ``bench --help`` stays fast), never each other.
"""
from __future__ import annotations

import argparse
import sys

from algorithms.errors import BenchError
from benchmarks.cli import (data, databench, doctor, evalbench, latency, listing, om2p, onlinebench, report,
                            reportbench, reproduce, run, throughput)

# in the order of `bench --help`
COMMANDS = (run, listing, report, reproduce, latency, throughput, databench, data, doctor, evalbench, om2p,
            onlinebench, reportbench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench", description="Offline multi-agent RL benchmark harness (JAX).",
        epilog="examples:\n  bench run\n  bench run --suite games --algos macflow,flowbc,bc\n  bench list algos\n"
               "  bench throughput", formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add(sub)
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
