"""StarCraft II (SMAC, oxwhirl's ``smac`` package) as a Python batch env (the smacv1 / smacv2 suites and
their data: benchmarks/tasks/smac.py).

Neither oxwhirl smac / smacv2 nor StarCraft II installs from PyPI (``pip install smac`` installs SMAC3,
an unrelated hyper-parameter optimiser), so both are optional extras::

    pip install "smac @ git+https://github.com/oxwhirl/smac.git"        # smacv1  (extra: .[smac])
    pip install "smacv2 @ git+https://github.com/oxwhirl/smacv2.git"    # smacv2  (extra: .[smacv2])
    StarCraft II 4.10 for Linux (SC2.4.10.zip from Blizzard's s2client-proto) unzipped to ~/StarCraftII
    or to $SC2PATH, with SMAC_Maps.zip (smacv1) / the smacv2 maps unzipped into $SC2PATH/Maps/

The adapter follows the batch-env interface of :mod:`benchmarks.envs`: E episodes step together and each
step makes one jitted ``act`` call for all of them. They run on at most $BENCH_SC2_PARALLEL (default 8)
StarCraft II processes, in waves (a process is about a gigabyte; seeds x episodes are often hundreds). Observations,
legal actions and state come from ``get_obs`` / ``get_avail_actions`` / ``get_state`` (no agent id, no
last action: og-marl's recording), the reward is SMAC's team reward (default reward scaling, max about
20), ``done`` is SMAC's ``terminated`` (a time-limit end included, as og-marl stores it), and ``won`` is
``info["battle_won"]``. The score and win rate of an evaluation match og-marl's ``evaluate``.

Task names are ``<map>-<quality>`` (``3m-good``); the data are og-marl vaults in
``$BENCH_DATA/<source>/<env>/<map>.vlt/<Quality>`` fetched with ``bench data download``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from algorithms.base import DISCRETE, EnvSpec
from algorithms.errors import DatasetError, DependencyError

SC2_HINT = ("StarCraft II 4.10 (Linux: SC2.4.10.zip from github.com/Blizzard/s2client-proto, unzipped to "
            "~/StarCraftII, or set SC2PATH) with the maps in $SC2PATH/Maps")
INSTALL = {
    "smac": 'pip install "smac @ git+https://github.com/oxwhirl/smac.git" (not `pip install smac`, which is SMAC3)',
    "smacv2": 'pip install "smacv2 @ git+https://github.com/oxwhirl/smacv2.git"',
}


@dataclasses.dataclass(frozen=True)
class MapInfo:
    """Shapes of a map as stored in its og-marl data (SMAC defaults: no agent id, no last action)."""

    n_agents: int
    obs_dim: int
    state_dim: int
    n_actions: int
    limit: int  # SMAC episode limit
    source: str  # og-marl catalogue source of its data
    refs: tuple  # (random, expert) returns for normalisation


# obs/state/actions of og_marl maps from og-marl's datacards; 2c_vs_64zg from SMAC's feature layout
# (2 colossi vs 64 zerglings: 4 + 64*5 + 6 + 2 obs, 2*5 + 64*3 + 2*70 state, 6 + 64 actions).
# Normalisation: 0 (an agent team that deals no damage) to 20 (SMAC's maximum scaled return).
V1_MAPS = {
    "3m": MapInfo(3, 30, 48, 9, 60, "og_marl", (0.0, 20.0)),
    "8m": MapInfo(8, 80, 168, 14, 120, "og_marl", (0.0, 20.0)),
    "2s3z": MapInfo(5, 80, 120, 11, 120, "og_marl", (0.0, 20.0)),
    "5m_vs_6m": MapInfo(5, 55, 98, 12, 70, "og_marl", (0.0, 20.0)),
    "2c_vs_64zg": MapInfo(2, 332, 342, 70, 400, "omiga", (0.0, 20.0)),
}
V1_QUALITIES = ("Good", "Medium", "Poor")


def sc2_path() -> Path:
    return Path(os.environ.get("SC2PATH", os.path.expanduser("~/StarCraftII")))


def missing_sc2() -> Optional[str]:
    p = sc2_path()
    if not (p / "Versions").is_dir():
        where = f"SC2PATH={os.environ['SC2PATH']}" if "SC2PATH" in os.environ else f"{p} (SC2PATH is not set)"
        return f"StarCraft II not found at {where}: install {SC2_HINT}"
    return None


def missing_package(package: str) -> Optional[str]:
    """None when oxwhirl's package imports, else the install command."""
    try:
        if package == "smac":
            from smac.env import StarCraft2Env  # noqa: F401
        else:
            from smacv2.env import StarCraftCapabilityEnvWrapper  # noqa: F401
    except ImportError:
        return f"the {package} package is missing: {INSTALL[package]}"
    return None


def missing_env(package: str) -> Optional[str]:
    why = [w for w in (missing_package(package), missing_sc2()) if w]
    return "; ".join(why) if why else None


# ---- the batch env ---------------------------------------------------------------------------------
class SMACBatch:
    """E SMAC episodes stepped together on at most K StarCraft II instances (interface: benchmarks/envs/__init__.py).

    Each StarCraft II instance is a process of about a gigabyte, so E = seeds x episodes (hundreds) cannot
    all run at once. Episode i runs on instance i % K, in wave i // K: when an instance's episode ends it
    is reset for its next episode at the following step. Episodes waiting for their wave report done=False,
    reward 0, zero observations and all-legal masks (their actions are ignored), so every episode's return
    is exactly its own. The batch needs at most ``max_steps`` = limit x waves steps.
    """

    def __init__(self, envs: list, spec: EnvSpec, n_episodes: Optional[int] = None):
        self.envs, self.spec = envs, spec
        self.K, self.E, self.N = len(envs), n_episodes or len(envs), spec.n_agents
        self.waves = -(-self.E // max(self.K, 1))
        self.max_steps = spec.episode_length * self.waves
        self.done = np.zeros(self.E, bool)
        self.illegal = 0  # actions outside the legal mask, replaced by the first legal action
        self._obs = np.zeros((self.E, self.N, spec.obs_dim), np.float32)
        self._legal = np.ones((self.E, self.N, spec.action_dim), bool)
        self._state = np.zeros((self.E, spec.state_dim), np.float32)
        self._t = np.zeros(self.E, np.int64)  # steps taken by each episode
        self._current = [None] * self.K  # episode running on each instance
        info = envs[0].get_env_info() if envs else None
        if info is not None:
            got = (info["n_agents"], info["obs_shape"], info["state_shape"], info["n_actions"])
            want = (spec.n_agents, spec.obs_dim, spec.state_dim, spec.action_dim)
            if tuple(got) != want:
                self.close()
                raise DatasetError(
                    f"the StarCraft II environment has (agents, obs, state, actions) = {tuple(got)} but the task's data "
                    f"have {want}; the data were recorded with different environment settings (e.g. the OMIGA "
                    f"2c_vs_64zg data use MAPPO-style observations), so policies trained on them cannot run here")

    def _read(self, i: int, env) -> None:
        self._obs[i] = np.asarray(env.get_obs(), np.float32).reshape(self.N, -1)
        self._legal[i] = np.asarray(env.get_avail_actions()).reshape(self.N, -1) > 0
        self._state[i] = np.asarray(env.get_state(), np.float32).reshape(-1)

    def _start(self, k: int, i: Optional[int]) -> None:
        self._current[k] = i
        if i is not None and i < self.E:
            self.envs[k].reset()
            self._read(i, self.envs[k])
        else:
            self._current[k] = None

    def reset(self):
        self.done[:] = False
        self._t[:] = 0
        self._obs[:] = 0.0
        self._legal[:] = True
        self._state[:] = 0.0
        for k in range(self.K):
            self._start(k, k)
        return self._obs.copy(), self._legal.copy(), self._state.copy()

    def step(self, actions):
        actions = np.asarray(actions).reshape(self.E, self.N).astype(np.int64)
        reward = np.zeros(self.E, np.float32)
        won = np.zeros(self.E, bool)
        for k, env in enumerate(self.envs):
            i = self._current[k]
            if i is None:
                continue
            a = actions[i].copy()
            ok = (a >= 0) & (a < self.spec.action_dim)
            ok[ok] = self._legal[i, np.flatnonzero(ok), a[ok]]
            if not ok.all():
                self.illegal += int((~ok).sum())
                a[~ok] = np.argmax(self._legal[i, ~ok], -1)
            r, terminated, info = env.step([int(x) for x in a])
            self._t[i] += 1
            reward[i] = float(r)
            if terminated or self._t[i] >= self.spec.episode_length:
                self.done[i] = True
                won[i] = bool((info or {}).get("battle_won", False))
                self._start(k, i + self.K)  # this instance's next episode begins at the next step
            else:
                self._read(i, env)
        return (self._obs.copy(), self._legal.copy(), self._state.copy(), reward, self.done.copy(),
                {"won": won, "illegal": self.illegal})

    def close(self):
        for env in self.envs:
            try:
                env.close()
            except Exception:  # a crashed SC2 process: nothing left to close
                pass


def max_instances() -> int:
    """Parallel StarCraft II instances per evaluation: $BENCH_SC2_PARALLEL, default 8."""
    try:
        return max(1, int(os.environ.get("BENCH_SC2_PARALLEL", "8")))
    except ValueError:
        raise DependencyError("BENCH_SC2_PARALLEL must be a positive integer (StarCraft II instances run at once)") from None


@dataclasses.dataclass
class SMACMaker:
    """``Task.make_env()`` for SMAC: ``batch(n_envs, seed)`` runs n_envs episodes on at most
    ``max_instances()`` StarCraft II processes, in waves.

    ``factory(seed) -> env`` builds one environment with the smac API. ``spec.episode_length`` of the
    maker (not of the task) is raised to the batch's ``max_steps`` when episodes run in waves, so that a
    caller stepping ``spec.episode_length`` times (benchmarks.training.evaluate) sees every wave finish.
    """

    spec: EnvSpec
    factory: Callable[[int], object]
    package: str = "smac"
    max_envs: Optional[int] = None

    def batch(self, n_envs: int, seed: int) -> SMACBatch:
        k = min(n_envs, self.max_envs or max_instances())
        envs = []
        try:
            for i in range(k):
                envs.append(self.factory(seed + i))
        except BaseException:
            for env in envs:
                env.close()
            raise
        b = SMACBatch(envs, self._base, n_envs)
        self.spec = dataclasses.replace(self._base, episode_length=b.max_steps)
        return b

    def __post_init__(self):
        self._base = self.spec


def v1_factory(map_name: str) -> Callable[[int], object]:
    def make(seed: int):
        why = missing_env("smac")
        if why:
            raise DependencyError(f"SMAC map {map_name} cannot run here: {why}")
        from smac.env import StarCraft2Env

        return StarCraft2Env(map_name=map_name, seed=seed)

    return make


def map_spec(info: MapInfo) -> EnvSpec:
    return EnvSpec(n_agents=info.n_agents, obs_dim=info.obs_dim, state_dim=info.state_dim, action_kind=DISCRETE,
                   action_dim=info.n_actions, has_legal=True, episode_length=info.limit)
