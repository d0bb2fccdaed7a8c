"""The games suite: the MAC-Flow paper's didactic games (environments benchmarks/envs/games.py, data
benchmarks/data/games.py), generated in memory from a seed.

The landmark game's dataset has ``LANDMARK_EPISODES`` expert trajectories; ``landmarks-N-Etraj`` (e.g.
``landmarks-40-50traj``) is the same game with E of them, such as App. H.4's 50."""
from __future__ import annotations

import functools
import re

from benchmarks.data import games as data
from benchmarks.envs import games
from benchmarks.tasks.base import Suite, Task


LANDMARK_EPISODES = 200  # trajectories in a landmark game's dataset (landmarks-N-Etraj sets another number)


def suites() -> list:
    return [games_suite()]


def games_suite() -> Suite:
    def bandit(name, kind, dataset, refs, desc):
        @functools.lru_cache(None)
        def make():
            env = games.BanditGame(kind)
            return Task("games", name, env.spec, lambda: games.BanditGame(kind), dataset, lambda: refs, desc)

        return make

    tasks = {
        "coordination": bandit("coordination", "coordination", lambda s: data.coordination_dataset(s),
                               (1.0, 2.0), "pure coordination game (MAC-Flow App. H.5)"),
        "xor": bandit("xor", "xor", lambda s: data.xor_dataset(s), (0.0, 1.0), "continuous XOR (App. H.6)"),
        # known-answer tasks (tests/test_known_answer.py); refs: uniform random and the exact optimum
        "credit": bandit("credit", "credit", lambda s: data.credit_dataset(s), (15.0, 30.0),
                         "credit assignment: marginal values mislead, a mixed value finds (1,1)"),
        "credit-cont": bandit("credit-cont", "credit-cont", lambda s: data.credit_dataset(s, continuous=True),
                              (15.0, 30.0), "credit assignment, continuous actions (move 1 iff a > 0)"),
    }

    def stitch(name, continuous):
        @functools.lru_cache(None)
        def make():
            env = games.Stitch(continuous)
            return Task("games", name, env.spec, lambda: games.Stitch(continuous),
                        lambda s: data.stitch_dataset(continuous, s), lambda: (games.STITCH_RANDOM, games.STITCH_OPTIMUM),
                        f"trajectory stitching over 3 steps, {'continuous' if continuous else 'discrete'} actions")

        return make

    tasks["stitch"] = stitch("stitch", False)
    tasks["stitch-cont"] = stitch("stitch-cont", True)
    for z in games.PAYOFF_ZETAS:
        name = f"payoff-{z:g}"
        tasks[name] = bandit(name, "payoff", functools.partial(lambda zz, s: data.payoff_dataset(zz, s), z),
                             (1.0, 2.0), f"payoff game, interaction strength {z:g} (App. H.7)")

    @functools.lru_cache(None)
    def landmark_task(n: int, episodes: int = LANDMARK_EPISODES) -> Task:
        name = ("landmarks" if n == 3 else f"landmarks-{n}") if episodes == LANDMARK_EPISODES else \
            f"landmarks-{n}-{episodes}traj"

        @functools.lru_cache(None)
        def refs():
            rnd = data.landmarks_dataset(n, seed=12345, episodes=50, random_policy=True).episode_returns().mean()
            exp = data.landmarks_dataset(n, seed=12345, episodes=50, noise=0.0).episode_returns().mean()
            return float(rnd), float(exp)

        env = games.Landmarks(n)
        return Task("games", name, env.spec, lambda: games.Landmarks(n),
                    lambda s: data.landmarks_dataset(n, seed=s, episodes=episodes), refs,
                    f"landmark covering with {n} agents, {episodes} trajectories (Sec. 4.3, App. H.4)")

    tasks["landmarks"] = lambda: landmark_task(3)
    for n in (10, 40):
        tasks[f"landmarks-{n}"] = functools.partial(landmark_task, n)

    def resolve(name):
        m = re.fullmatch(r"landmarks-(\d+)(?:-(\d+)traj)?", name)
        if m:
            n, episodes = int(m.group(1)), int(m.group(2) or LANDMARK_EPISODES)
            games.Landmarks(n)  # validates the range
            if episodes < 1:
                from algorithms.errors import ConfigError

                raise ConfigError(f"task games/{name}: the dataset needs at least 1 trajectory, e.g. landmarks-{n}-50traj")
            return functools.partial(landmark_task, n, episodes)
        return None

    return Suite("games", "the MAC-Flow paper's didactic games (pure JAX, generated data)", tasks,
                 ("coordination", "xor", "payoff-0.5", "landmarks"), resolve=resolve)
