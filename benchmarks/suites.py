"""Suites and tasks.

A task is a dataset plus an evaluation environment plus fixed normalisation references
(random and expert return): normalised score = 100 * (R - random) / (expert - random). References are
fixed per task, never taken from the algorithms being compared.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Optional

from algorithms.base import EnvSpec
from benchmarks.errors import BenchError, unknown


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

    def task(self, name: str) -> Task:
        if name in self.tasks:
            return self.tasks[name]()
        if self.resolve is not None:
            maker = self.resolve(name)
            if maker is not None:
                return maker()
        raise unknown(f"task of suite '{self.name}'", name, self.tasks)


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


# ---- the games suite -------------------------------------------------------------------------------
def _games() -> Suite:
    from benchmarks.envs import games

    def bandit(name, kind, dataset, refs, desc):
        @functools.lru_cache(None)
        def make():
            env = games.BanditGame(kind)
            return Task("games", name, env.spec, lambda: games.BanditGame(kind), dataset, lambda: refs, desc)

        return make

    tasks = {
        "coordination": bandit("coordination", "coordination", lambda s: games.coordination_dataset(s),
                               (1.0, 2.0), "pure coordination game (MAC-Flow App. H.5)"),
        "xor": bandit("xor", "xor", lambda s: games.xor_dataset(s), (0.0, 1.0), "continuous XOR (App. H.6)"),
    }
    for z in games.PAYOFF_ZETAS:
        name = f"payoff-{z:g}"
        tasks[name] = bandit(name, "payoff", functools.partial(lambda zz, s: games.payoff_dataset(zz, s), z),
                             (1.0, 2.0), f"payoff game, interaction strength {z:g} (App. H.7)")

    @functools.lru_cache(None)
    def landmark_task(n: int) -> Task:
        name = "landmarks" if n == 3 else f"landmarks-{n}"

        @functools.lru_cache(None)
        def refs():
            rnd = games.landmarks_dataset(n, seed=12345, episodes=50, random_policy=True).episode_returns().mean()
            exp = games.landmarks_dataset(n, seed=12345, episodes=50, noise=0.0).episode_returns().mean()
            return float(rnd), float(exp)

        env = games.Landmarks(n)
        return Task("games", name, env.spec, lambda: games.Landmarks(n),
                    lambda s: games.landmarks_dataset(n, seed=s), refs,
                    f"landmark covering with {n} agents (Sec. 4.3, App. H.4)")

    tasks["landmarks"] = lambda: landmark_task(3)
    for n in (10, 40):
        tasks[f"landmarks-{n}"] = functools.partial(landmark_task, n)

    def resolve(name):
        if name.startswith("landmarks-") and name[10:].isdigit():
            n = int(name[10:])
            games.Landmarks(n)  # validates the range
            return functools.partial(landmark_task, n)
        return None

    return Suite("games", "the MAC-Flow paper's didactic games (pure JAX, generated data)", tasks,
                 ("coordination", "xor", "payoff-0.5", "landmarks"), resolve=resolve)


_loaded = False


def _load():
    global _loaded
    if _loaded:
        return
    _loaded = True
    register_suite(_games())
    import importlib

    # modules defining suites next to their environments: suites() -> [Suite]
    for mod in ("benchmarks.envs.smac", "benchmarks.envs.mpe", "benchmarks.envs.smax", "benchmarks.envs.mamujoco"):
        for suite in importlib.import_module(mod).suites():
            register_suite(suite)
