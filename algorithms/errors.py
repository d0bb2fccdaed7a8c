"""One exception family for everything a user can get wrong.

The CLI prints these as a single line (no traceback) and exits non-zero. The message must say what
was wrong *and* how to fix it.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class BenchError(Exception):
    """A user-facing error: bad name, bad config, bad dataset, missing dependency."""


class UnknownNameError(BenchError):
    pass


class ConfigError(BenchError):
    pass


class DatasetError(BenchError):
    pass


class DependencyError(BenchError):
    pass


class TrainingError(BenchError):
    """Training diverged (NaN/inf loss) or otherwise could not continue."""


def unknown(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the standard 'unknown X' error naming the valid choices and the closest match.

    ``kind`` is a noun, optionally qualified after " of " or " with " ("task of suite 'games'"): the name
    goes after the noun and the plural is the noun's ("unknown task 'x' of suite 'games'. Valid tasks: ...")."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    noun, qualifier = kind, ""
    for sep in (" of ", " with "):
        if sep in kind:
            noun, rest = kind.split(sep, 1)
            qualifier = sep + rest
            break
    return UnknownNameError(f"unknown {noun} '{name}'{qualifier}. Valid {noun}s: {', '.join(choices)}.{hint}")
