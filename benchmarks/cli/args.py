"""Argument helpers shared by the ``bench`` sub-commands (the parsers themselves live in training/plan.py,
which reads the same strings when the runner plans a ``bench run`` in its subprocess)."""
from __future__ import annotations

import argparse

from benchmarks.training.plan import csv_list, int_list, parse_overrides  # noqa: F401  (re-exported)

EXAMPLES = argparse.RawDescriptionHelpFormatter  # every sub-command's epilog lists examples, line by line


def add_results_option(p) -> None:
    p.add_argument("--results", help="results store (default: $BENCH_RESULTS or results/runs)")


def add_json_option(p, what: str = "the result") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON (for scripts)")
