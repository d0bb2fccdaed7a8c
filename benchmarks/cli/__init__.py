"""The ``bench`` command: one module per sub-command, each with ``add(subparsers)``.

    bench run                                       the embedded default (the didactic games, minutes on CPU)
    bench run --suite games --algos macflow,flowbc,bc --seeds 0,1,2 --steps 2000
    bench run --task games/landmarks-10 --algos macflow --set alpha=10
    bench list algos|suites|tasks
    bench report | figures | reproduce RUN_ID | latency | data | doctor | test-plugin NAME
    bench perf throughput | databench | evalbench | onlinebench | om2p-derivative | reportbench
                                                    (the speed tools)

A bare ``bench`` prints this help and exits 0 (so does a bare group: ``bench data``, ``bench perf``). The
speed tools' former top-level names (``bench throughput`` ...) still work and are left out of the help.
Every user error prints one line naming the valid choices or the fix and exits with status 2; nothing
already in the results store is touched. A reader that closes the pipe early (``bench figures | head``)
ends the command quietly. The CLI is the top layer: sub-command modules import the layers below them
(lazily, inside their commands, so ``bench --help`` stays fast), never each other.

docs/cli.md lists every command and option; it is generated from this parser (``python -m
benchmarks.cli.docs``) and a test keeps it current.
"""
from __future__ import annotations

import os
import sys

from algorithms.errors import BenchError
from benchmarks.cli import (data, databench, doctor, evalbench, latency, listing, om2p, onlinebench, plugin, report,
                            reportbench, reproduce, run, throughput)
from benchmarks.cli.args import Hidden, Parser

# the user's verbs, in the order of `bench --help` (report adds `report` and `figures`)
COMMANDS = (run, listing, report, reproduce, data, doctor, latency, plugin)
# the speed tools, under `bench perf`; their former top-level names stay as hidden aliases
PERF_COMMANDS = (throughput, databench, evalbench, onlinebench, om2p, reportbench)


def build_parser() -> Parser:
    from benchmarks import __version__

    parser = Parser(
        prog="bench", description="Offline multi-agent RL benchmark harness (JAX): train, evaluate and time "
                                  "algorithms on the standard datasets and report both.",
        epilog="examples:\n  bench run                      the embedded default: 3 algorithms on the didactic "
               "games, minutes on a CPU\n  bench run --suite games --algos macflow,flowbc,bc\n  bench list algos\n"
               "  bench report\n  bench perf throughput --algos macflow\n\n"
               "`bench COMMAND --help` describes a command; docs/cli.md lists every command and option.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the harness version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add(sub)
    perf = sub.add_parser(
        "perf", help="speed tools: training throughput, dataset loading, evaluation, the online phase, OM2P",
        description="The harness's speed measurements (none of them trains a benchmark run). Each prints a table, "
                    "or JSON with --json where it has one.",
        epilog="examples:\n  bench perf throughput --algos macflow,flowbc,bc\n  bench perf databench --transitions "
               "1000000\n  bench perf evalbench --suite games\n  bench perf onlinebench --envs 1,16\n"
               "  bench perf om2p-derivative")
    tools = perf.add_subparsers(dest="tool", metavar="TOOL")
    for module in PERF_COMMANDS:
        module.add(tools)
    perf.set_defaults(func=lambda args: _help(perf))
    hidden = Hidden(sub)
    for module in PERF_COMMANDS:  # `bench throughput` ... as before the group existed
        module.add(hidden)
    return parser


def _help(parser) -> int:
    parser.print_help()
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            code = _run(argv)
        except SystemExit:  # argparse's --help, --version and usage errors: their output is flushed here too
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # what is still buffered fails here, where it is caught, not at the interpreter's exit
        return code
    except BrokenPipeError:
        return _reader_left()


def _run(argv) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            return _help(parser)
        return int(args.func(args) or 0)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished runs are kept, re-run the same command to resume", file=sys.stderr)
        return 130


def _reader_left() -> int:
    """The reader of stdout went away (``bench figures | head``): no traceback. stdout is pointed at /dev/null so
    the interpreter's final flush of what is still buffered does not fail a second time; the status is the one
    a process killed by SIGPIPE has."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (e.g. captured by a test)
        pass
    return 141
