"""Known-answer checks that an evaluation environment matches the data recorded in it.

A task whose environment claims to be the one its dataset was recorded in proves it on the data: the
dimensions, the reward recomputed from stored transitions, one step of the dynamics replayed from a stored
state and action, and a reference score of a known policy. Each check is a ``Check``; ``Task.verify``
(benchmarks/tasks/base.py) returns them for a vault, and ``bench data verify --deep`` prints them.
"""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Check:
    name: str                          # what is checked, e.g. "reward recomputed from the next observations"
    passed: bool
    measured: Optional[float] = None   # the figure the check decides on (a max abs error, a mean score, ...)
    tolerance: Optional[float] = None  # the bound it is held to
    detail: str = ""                   # one line: the numbers behind the verdict, or what differs

    def line(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        figures = ""
        if self.measured is not None:
            figures = f" {self.measured:.4g}" + (f" (tolerance {self.tolerance:.4g})" if self.tolerance is not None else "")
        if not figures:
            return f"{verdict} {self.name}" + (f": {self.detail}" if self.detail else "")
        return f"{verdict} {self.name}:{figures}" + (f"; {self.detail}" if self.detail else "")
