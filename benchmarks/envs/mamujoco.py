"""Multi-agent MuJoCo through gymnasium-robotics ``mamujoco_v1``, as a Python batch env.

Tasks (OMIGA's): 6-halfcheetah = HalfCheetah "6x1", 3-hopper = Hopper "3x1", 2-ant = Ant "2x4", with
``agent_obsk=1`` (each agent sees its joints and their neighbours', og-marl's gymnasium wrapper
setting). Per-agent observations differ in size (HalfCheetah 9/9/8/9/9/8, Hopper 8/9/8): they are
zero-padded at the end to the largest one, as og-marl's ``PadObsandActs`` does. The global state is
``env.state()`` (the single-agent observation: 17 / 11 / 105). Actions are [-1, 1] per joint. The
team reward is the shared reward (every agent gets the same); episodes end when the robot falls
(Hopper, Ant: termination) or after 1000 steps (truncation).
"""
from __future__ import annotations

import contextlib
import functools
import io
import warnings

import numpy as np

from algorithms.base import CONTINUOUS, EnvSpec
from algorithms.errors import DependencyError

SCENARIOS = {"6-halfcheetah": ("HalfCheetah", "6x1"), "3-hopper": ("Hopper", "3x1"), "2-ant": ("Ant", "2x4")}
EPISODE_LENGTH = 1000
INSTALL = 'pip install "gymnasium-robotics==1.4.2" "mujoco==4.0.0"  (or: pip install -e .)'


def missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("mujoco") is None or importlib.util.find_spec("gymnasium_robotics") is None:
        return f"the MaMuJoCo suite needs gymnasium-robotics and mujoco: {INSTALL}"
    return None


def make_raw(scenario: str):
    """One mamujoco_v1 parallel env for a task scenario name ('6-halfcheetah', '3-hopper', '2-ant')."""
    if scenario not in SCENARIOS:
        from algorithms.errors import unknown

        raise unknown("MaMuJoCo scenario", scenario, SCENARIOS)
    why = missing()
    if why:
        raise DependencyError(why)
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with warnings.catch_warnings(), quiet[0], quiet[1]:
        warnings.simplefilter("ignore")  # gymnasium-robotics warns about unrelated Adroit envs on import
        from gymnasium_robotics import mamujoco_v1

        robot, conf = SCENARIOS[scenario]
        return mamujoco_v1.parallel_env(robot, conf, agent_obsk=1)


@functools.lru_cache(None)
def spec_of(scenario: str) -> EnvSpec:
    env = make_raw(scenario)
    obs_dims = [env.observation_space(a).shape[0] for a in env.possible_agents]
    act_dims = {env.action_space(a).shape[0] for a in env.possible_agents}
    env.reset(seed=0)
    state_dim = int(np.asarray(env.state()).shape[0])
    env.close()
    if len(act_dims) != 1:
        raise DependencyError(f"{scenario}: agents have different action sizes {act_dims}; unsupported")
    return EnvSpec(n_agents=len(obs_dims), obs_dim=max(obs_dims), state_dim=state_dim, action_kind=CONTINUOUS,
                   action_dim=act_dims.pop(), has_legal=False, episode_length=EPISODE_LENGTH)


class MaMuJoCoBatch:
    """E MaMuJoCo episodes stepped together (the interface of benchmarks/envs/__init__.py)."""

    def __init__(self, scenario: str, n_envs: int, seed: int):
        self.spec = spec_of(scenario)
        self.n_envs, self.seed = n_envs, seed
        self.envs = [make_raw(scenario) for _ in range(n_envs)]
        self.agents = list(self.envs[0].possible_agents)
        n, o, s = self.spec.n_agents, self.spec.obs_dim, self.spec.state_dim
        self.done = np.zeros(n_envs, bool)
        self._obs = np.zeros((n_envs, n, o), np.float32)
        self._state = np.zeros((n_envs, s), np.float32)
        self.terminated = np.zeros(n_envs, bool)  # ended by a fall (not by the time limit)

    def _legal(self):
        return np.ones((self.n_envs, self.spec.n_agents, 1), bool)

    def _write_obs(self, e, obs, env):
        for i, a in enumerate(self.agents):
            v = np.asarray(obs[a], np.float32)
            self._obs[e, i, :len(v)] = v
            self._obs[e, i, len(v):] = 0.0
        self._state[e] = np.asarray(env.state(), np.float32)

    def reset(self):
        self.done[:] = False
        self.terminated[:] = False
        for e, env in enumerate(self.envs):
            obs, _ = env.reset(seed=self.seed + e)
            self._write_obs(e, obs, env)
        return self._obs.copy(), self._legal(), self._state.copy()

    def step(self, actions):
        actions = np.clip(np.asarray(actions, np.float32), -1.0, 1.0)
        reward = np.zeros(self.n_envs)
        for e, env in enumerate(self.envs):
            if self.done[e]:
                continue
            obs, rew, term, trunc, _ = env.step({a: actions[e, i] for i, a in enumerate(self.agents)})
            reward[e] = float(np.mean([rew[a] for a in self.agents]))
            self.terminated[e] = any(term.values())
            self.done[e] = self.terminated[e] or any(trunc.values())
            if not self.done[e]:
                self._write_obs(e, obs, env)
        return self._obs.copy(), self._legal(), self._state.copy(), reward, self.done.copy(), {}

    def close(self):
        for env in self.envs:
            env.close()


class MaMuJoCo:
    """The env maker of a mamujoco task: ``batch(n_envs, seed)``."""

    def __init__(self, scenario: str):
        self.scenario = scenario
        self.spec = spec_of(scenario)

    def batch(self, n_envs: int, seed: int) -> MaMuJoCoBatch:
        return MaMuJoCoBatch(self.scenario, n_envs, seed)
