"""A task is a dataset plus an evaluation environment plus fixed normalisation references.

Normalised score = 100 * (R - random) / (expert - random), with the random and expert returns fixed
per task, never taken from the algorithms being compared. A suite is a named set of tasks, built
lazily (listing a suite never imports its environment package).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional

from algorithms.base import EnvSpec
from algorithms.errors import UnknownNameError, unknown


@dataclasses.dataclass(frozen=True)
class Task:
    suite: str
    name: str
    spec: EnvSpec
    make_env: Callable[[], object]
    make_dataset: Callable[[int], object]  # seed -> Dataset
    refs: Callable[[], tuple]  # () -> (random_return, expert_return)
    description: str = ""
    jax_env: bool = True  # False: a Python batch env (benchmarks/envs/__init__.py)
    reports_win_rate: bool = False  # the environment has a win condition (SMAX, SMAC)
    # seed -> where the task's vault is (None for data made in memory); lets a job's memory be known from the
    # vault's metadata before anything is read
    data_path: Optional[Callable[[int], object]] = None
    # (vault path, deep) -> [benchmarks.data.verify.Check]: known-answer checks that the environment is the one
    # the data were recorded in (dimensions; deep: reward recomputed, dynamics replayed, a reference score)
    verify: Optional[Callable[[object, bool], list]] = None

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"

    def normalise(self, ret: float) -> float:
        lo, hi = self.refs()
        return 100.0 * (ret - lo) / (hi - lo)


@dataclasses.dataclass
class Suite:
    name: str
    description: str
    tasks: Dict[str, Callable[[], Task]]  # lazily built
    default_tasks: tuple
    available: Callable[[], Optional[str]] = lambda: None  # None if runnable here, else the fix
    resolve: Optional[Callable[[str], Optional[Callable[[], Task]]]] = None  # parametric task names
    # (task names, launch) -> None or raises: checks a run needs before training (StarCraft II: install, maps,
    # the environment's own shapes and limit); launch=True also starts the simulator once
    preflight: Optional[Callable[..., None]] = None
    # task names taken out of the suite -> why (shown by `bench list tasks`; asking for one raises the reason)
    removed: Dict[str, str] = dataclasses.field(default_factory=dict)

    def task(self, name: str) -> Task:
        if name in self.removed:
            raise UnknownNameError(f"task {self.name}/{name} was removed from the suite: {self.removed[name]}")
        if name in self.tasks:
            return self.tasks[name]()
        if self.resolve is not None:
            maker = self.resolve(name)
            if maker is not None:
                return maker()
        raise unknown(f"task of suite '{self.name}'", name, self.tasks)
