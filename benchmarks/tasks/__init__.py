"""Suites and their tasks: where environments (benchmarks/envs) meet datasets (benchmarks/data).

    get_task("games/coordination") -> Task     get_suite("mpe") -> Suite     all_suites()
    tasks_of_vault(path) -> [Task]             is_generated("mpe-gen") -> True

Each suite is built by its own module here (games, mpe for mpe and mpe-gen, smax, mamujoco_paper for
mamujoco, mamujoco for mamujoco-gen, smac for smacv1 / smacv2), from an environment and a dataset source; the
environments know nothing of suites or data.
See benchmarks/tasks/base.py for Task and Suite.
"""
from __future__ import annotations

from typing import Dict, List

from algorithms.errors import BenchError, unknown
from benchmarks.tasks.base import Suite, Task  # noqa: F401  (re-exported: the types of this layer)

SUITES: Dict[str, Suite] = {}


def register_suite(suite: Suite) -> Suite:
    SUITES[suite.name] = suite
    return suite


def get_suite(name: str) -> Suite:
    _load()
    if name not in SUITES:
        raise unknown("suite", name, SUITES)
    return SUITES[name]


def get_task(task_id: str) -> Task:
    """'suite/task' -> Task."""
    if "/" not in task_id:
        raise BenchError(f"task '{task_id}' must be written SUITE/TASK, e.g. games/coordination")
    suite, name = task_id.split("/", 1)
    return get_suite(suite).task(name)


def all_suites() -> Dict[str, Suite]:
    _load()
    return dict(SUITES)


def is_generated(suite: str) -> bool:
    """Whether ``suite`` holds data the harness generated (``Suite.generated``): never beside published numbers."""
    _load()
    return suite in SUITES and SUITES[suite].generated


def tasks_of_vault(path) -> List[Task]:
    """The tasks whose data are the vault at ``path``, a catalogue dataset in og-marl's layout
    (``<source>/<env>/<scenario>.vlt/<uid>``, under the data directory or any other root, e.g. og-marl's own
    ``vaults/``), to run their known-answer checks (``Task.verify``); [] for any other vault."""
    from pathlib import Path

    from benchmarks.data.catalogue import entry_of

    entry = entry_of(path)
    if entry is None or entry.suite not in all_suites():
        return []
    here = Path(path).parts[-4:]
    out = []
    for name in SUITES[entry.suite].tasks:
        try:
            task = SUITES[entry.suite].task(name)
        except BenchError:  # a task that cannot be built here (a missing package) has nothing to check
            continue
        if task.data_path is not None and Path(task.data_path(0)).parts[-4:] == here:
            out.append(task)
    return out


_loaded = False


def _load():
    global _loaded
    if _loaded:
        return
    _loaded = True
    from benchmarks.tasks import games, mamujoco, mamujoco_paper, mpe, smac, smax

    for module in (games, smac, mpe, smax, mamujoco_paper, mamujoco):  # the order of `bench list suites`
        for suite in module.suites():
            register_suite(suite)
