"""Argument helpers shared by the ``bench`` sub-commands (the parsers themselves live in training/plan.py,
which reads the same strings when the runner plans a ``bench run`` in its subprocess)."""
from __future__ import annotations

import argparse

from benchmarks.training.plan import csv_list, int_list, parse_overrides  # noqa: F401  (re-exported)

EXAMPLES = argparse.RawDescriptionHelpFormatter  # every sub-command's epilog lists examples, line by line


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written (the examples line by line), and every option that takes a value
    ends its help with its default, unless the help already says what the default is."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS)
                and "%(default)" not in text and "default" not in text):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """The parser of ``bench`` and of every sub-command (argparse makes sub-parsers of the parent's class), so
    each gets the same help formatter whatever its module passes."""

    def __init__(self, *args, **kw):
        kw["formatter_class"] = HelpFormatter
        super().__init__(*args, **kw)


class Hidden:
    """Sub-parsers whose commands parse but are left out of the help: the former top-level names of the speed
    tools (``bench throughput`` for ``bench perf throughput``). A module's ``add(sub)`` works on it unchanged."""

    def __init__(self, sub):
        self.sub = sub

    def add_parser(self, name, **kw):
        kw.pop("help", None)  # argparse lists a sub-command in the help only when it has one
        kw.pop("aliases", None)
        return self.sub.add_parser(name, **kw)


def old_name(p, flag: str, dest: str, **kw) -> None:
    """``flag``, the former name of the option stored in ``dest``: still accepted, not shown in the help
    (docs/cli.md lists it beside the current name)."""
    p.add_argument(flag, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kw)


def add_results_option(p) -> None:
    p.add_argument("--results", metavar="DIR",
                   help="the results store (default: $BENCH_RESULTS, else results/runs)")


def add_json_option(p, what: str = "the result", note: str = "") -> None:
    p.add_argument("--json", action="store_true",
                   help=f"print {what} on stdout as JSON instead of text, NaN written as null (for scripts)"
                        + (f"; {note}" if note else ""))


def add_set_option(p, scope: str = "", default: str = "the plugin's paper defaults") -> None:
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a config value of the plugin (a field of its Config; repeat for several; tuples as "
                        "hidden=256,256)" + (f"; {scope}" if scope else "") + f"; default: {default}")


def overrides_for(cls, overrides: dict) -> dict:
    """The ``--set`` values whose keys are fields of ``cls``'s Config: the speed tools apply each where it fits
    (``hidden=64,64`` sizes the MLP plugins and leaves the U-Net planners alone)."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(cls.Config)}
    return {k: v for k, v in overrides.items() if k in fields}


def check_known_keys(classes, overrides: dict) -> None:
    """A ``--set`` key that none of ``classes`` has is a typo: the one-line error naming the valid keys (the speed
    tools; ``bench run`` and ``bench latency`` ask more: every algorithm must have it)."""
    import dataclasses

    from algorithms.errors import ConfigError, unknown

    keys = {f.name for cls in classes for f in dataclasses.fields(cls.Config)}
    for k in overrides:
        if k not in keys:
            raise ConfigError(f"--set {k}: {unknown('config key', k, keys)}")


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

    from benchmarks.store import strict

    return json.dumps(strict(obj), allow_nan=False, **kw)
