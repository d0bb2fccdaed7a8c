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


LOG_WIDTH = 10_000  # a console that is not a terminal: wide enough that no table is ever cut or wrapped


def console(stderr: bool = False):
    """A rich Console for a sub-command's output: the terminal's width on a terminal; otherwise (a file, a pipe,
    a cluster log) so wide that tables come out at the width they need instead of rich's 80-column default."""
    from rich.console import Console

    c = Console(stderr=stderr)
    if not c.is_terminal:
        c = Console(stderr=stderr, width=LOG_WIDTH)
    return c


def dumps(obj, **kw) -> str:
    """JSON for scripts: NaN and infinities become null (json.dumps would write NaN, which jq and strict
    parsers reject); everything else as json.dumps writes it."""
    import json
    import math

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), allow_nan=False, **kw)
