"""Multi-agent MuJoCo as OMIGA recorded its datasets, built on gymnasium's single-agent v5 environments.

OMIGA (Wang et al. 2023) split one gym 0.17.2 ``*-v2`` robot (MuJoCo 2.0) among agents with
schroederdewitt's ``MujocoMulti``; its recording setup, which ``mamujoco_v1`` cannot be configured into:

* robots: 6halfcheetah = HalfCheetah 6x1, 3hopper = Hopper 3x1, 2ant = Ant 2x4; 1 000-step limit;
* actions: the agents' actions concatenated in agent order (agent i drives actuators
  [sum_{j<i} k_j, ...)), passed unscaled (every actuator's range is [-1, 1]);
* reward: the single-agent reward, the same for every agent;
* observation of agent i: the full v2 observation (HalfCheetah 17, Hopper 11, Ant 111) with the one-hot
  id of i appended, z-scored over that vector with its population std: 23, 14, 113 per agent;
* MuJoCo 2.0 left ``cfrc_ext`` at zero, so Ant's 84 contact dimensions are 0 and its contact cost is 0;
* v2 Hopper and Ant pay the +1 healthy reward on the terminating step too (v5 pays it only while healthy).

The v5 environments give the rest unchanged (frame skips, ctrl costs, reset noise, health tests, the v2
observation layout with Hopper's velocities clipped to [-10, 10]). What cannot be removed: MuJoCo 4.0's
simulator in place of 2.0, and gymnasium's rewritten Hopper model (docs/mamujoco.md gives the measured effects).

``Body`` is one robot (reset / step / setting a state recovered from an observation, for the replay checks of
benchmarks/data/omiga_mujoco.py); ``OmigaBatch`` steps E episodes (the interface of benchmarks/envs/__init__.py).
The global state is agent 0's observation, which is what the datasets' ``infos.state`` is taken to hold (OMIGA
stores every agent's state equal to its observation; the vault keeps one 23 / 14 / 113 wide).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys

import numpy as np

from algorithms.base import CONTINUOUS, EnvSpec
from algorithms.errors import DependencyError, unknown

EPISODE_LENGTH = 1000
INSTALL = 'pip install "gymnasium==1.3.0" "mujoco==4.0.0"  (or: pip install -e ".[mamujoco]")'


@dataclasses.dataclass(frozen=True)
class Robot:
    scenario: str          # the dataset's scenario name (og-marl catalogue): 6halfcheetah, 3hopper, 2ant
    module: str            # gymnasium.envs.mujoco.<module>
    cls: str               # the v5 environment class
    n_agents: int
    per_agent: int         # actuators per agent
    raw_dim: int           # size of the v2 single-agent observation
    nq_hidden: int         # leading qpos entries the observation leaves out (x; Ant: x and y)
    kwargs: tuple = ()     # v5 constructor arguments
    zeros: int = 0         # observation dims v2 filled with MuJoCo 2.0's zero contact forces (Ant)
    pays_healthy_on_end: bool = False  # v2 pays the healthy reward on the terminating step
    qvel_clip: float = float("inf")    # |qvel| at which the v2 observation clips velocities (Hopper: 10)
    frame_progress: bool = False       # forward progress read from the torso's body frame (Ant), not from qpos
    other_map: tuple = ()              # the action map another release uses (mamujoco_v1's Ant partition)

    @property
    def obs_dim(self) -> int:
        return self.raw_dim + self.n_agents

    @property
    def action_dim(self) -> int:
        return self.n_agents * self.per_agent


ROBOTS = {
    "6halfcheetah": Robot("6halfcheetah", "half_cheetah_v5", "HalfCheetahEnv", 6, 1, 17, 1),
    "3hopper": Robot("3hopper", "hopper_v5", "HopperEnv", 3, 1, 11, 1, pays_healthy_on_end=True, qvel_clip=10.0),
}
# mamujoco_v1's partition of Ant 2x4 (agent -> actuators): the one OMIGA did not use (would drive other legs)
MAMUJOCO_V1_ANT = ((2, 3, 4, 5), (6, 7, 0, 1))
ROBOTS["2ant"] = Robot("2ant", "ant_v5", "AntEnv", 2, 4, 111, 2,
                       kwargs=(("include_cfrc_ext_in_observation", False), ("contact_cost_weight", 0.0)),
                       zeros=84, pays_healthy_on_end=True, frame_progress=True, other_map=MAMUJOCO_V1_ANT)


def robot(scenario: str) -> Robot:
    if scenario not in ROBOTS:
        raise unknown("OMIGA MA-MuJoCo scenario", scenario, ROBOTS)
    return ROBOTS[scenario]


def missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("mujoco") is None or importlib.util.find_spec("gymnasium") is None:
        return f"the mamujoco suite needs gymnasium's MuJoCo environments: {INSTALL}"
    return None


def concatenated(r: Robot) -> tuple:
    """OMIGA's action map: agent i drives actuators i*k .. i*k + k - 1."""
    return tuple(tuple(range(i * r.per_agent, (i + 1) * r.per_agent)) for i in range(r.n_agents))


def joint_action(actions: np.ndarray, action_map: tuple) -> np.ndarray:
    """[..., N, k] agents' actions -> [..., N*k] actuator controls under ``action_map`` (agent -> actuators)."""
    actions = np.asarray(actions, np.float64)
    out = np.empty(actions.shape[:-2] + (sum(len(m) for m in action_map),))
    for i, acts in enumerate(action_map):
        out[..., list(acts)] = actions[..., i, :]
    return out


# ---- observations ---------------------------------------------------------------------------------------
def observe(raw: np.ndarray, n_agents: int) -> np.ndarray:
    """Raw v2 observations [..., D] -> every agent's [..., N, D + N]: the raw vector with the one-hot id
    appended, minus its mean, over its population std (float32, as the datasets store it)."""
    raw = np.asarray(raw, np.float64)
    rep = np.broadcast_to(raw[..., None, :], raw.shape[:-1] + (n_agents, raw.shape[-1]))
    ids = np.broadcast_to(np.eye(n_agents), raw.shape[:-1] + (n_agents, n_agents))
    x = np.concatenate([rep, ids], -1)
    x = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    return x.astype(np.float32)


def recover(obs: np.ndarray, n_agents: int):
    """Undo the z-score of stored observations [..., N, D + N] -> (raw [..., N, D] float64, ids [..., N]
    the recovered one-hot position, id_err [..., N] how far the id slots are from a one-hot scaled like the
    vector: max |slot - expected| in raw units).

    The id slots of agent i hold (1 - m) / s at i and -m / s elsewhere, so s = 1 / (b - a) and m = -a s
    with a the mean of the other slots and b the largest; raw = z s + m."""
    z = np.asarray(obs, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # data that are not OMIGA's: inf / nan, which checks refuse
        return _recover(z, n_agents)


def _recover(z: np.ndarray, n_agents: int):
    slots = z[..., -n_agents:]
    ids = slots.argmax(-1)
    b = np.take_along_axis(slots, ids[..., None], -1)[..., 0]
    a = (slots.sum(-1) - b) / (n_agents - 1)
    s = 1.0 / (b - a)
    m = -a * s
    raw = z[..., :-n_agents] * s[..., None] + m[..., None]
    back = slots * s[..., None] + m[..., None]  # the id slots in raw units: a one-hot if the data are OMIGA's
    onehot = np.eye(n_agents)[ids]
    return raw, ids, np.abs(back - onehot).max(-1)


# ---- one robot ------------------------------------------------------------------------------------------
@functools.lru_cache(None)
def _env_class(module: str, cls: str):
    import importlib

    return getattr(importlib.import_module(f"gymnasium.envs.mujoco.{module}"), cls)


@contextlib.contextmanager
def _quiet_compiler():
    """Silence MuJoCo's C-level stderr while a model compiles: MuJoCo 4.0 warns on every load that
    half_cheetah.xml's ``settotalmass`` is deprecated (it is still applied: HalfCheetah steps as in MuJoCo 2.2, see
    docs/mamujoco.md), which would print once per evaluation episode."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr file descriptor: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Body:
    """One v5 robot stepped as OMIGA's v2 one: ``reset`` / ``step`` return the raw v2 observation."""

    def __init__(self, scenario: str):
        why = missing()
        if why:
            raise DependencyError(why)
        self.robot = robot(scenario)
        with _quiet_compiler():
            self.env = _env_class(self.robot.module, self.robot.cls)(**dict(self.robot.kwargs))
        self.dt = self.env.dt
        self.default_map = concatenated(self.robot)

    def _raw(self, v5_obs) -> np.ndarray:
        obs = np.asarray(v5_obs, np.float64)
        return np.concatenate([obs, np.zeros(self.robot.zeros)]) if self.robot.zeros else obs

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        return self._raw(obs)

    def step(self, actions: np.ndarray, action_map: tuple | None = None):
        """Agents' actions [N, k] (not clipped here) -> (raw obs, v2 reward, terminated)."""
        ctrl = joint_action(actions, action_map or self.default_map)
        obs, reward, terminated, _, _ = self.env.step(ctrl)
        if terminated and self.robot.pays_healthy_on_end:
            reward += 1.0  # v2's healthy (alive) bonus is paid on every step, the falling one too
        return self._raw(obs), float(reward), bool(terminated)

    def set_raw(self, raw: np.ndarray) -> None:
        """Put the simulator in the state a raw v2 observation describes (hidden x / y positions at 0)."""
        r = self.robot
        nq = self.env.model.nq
        shown = nq - r.nq_hidden
        qpos = np.concatenate([np.zeros(r.nq_hidden), raw[:shown]])
        qvel = np.asarray(raw[shown:shown + self.env.model.nv], np.float64)
        self.env.set_state(qpos, qvel)

    def lag(self) -> float:
        """x of the torso's body frame as MuJoCo last computed it minus the state's x: v2 / v5 Ant read the
        forward progress from that frame, which after a step lags the state by one sub-step."""
        return float(self.env.data.body(1).xpos[0] - self.env.data.qpos[0])

    def close(self) -> None:
        self.env.close()


@functools.lru_cache(None)
def spec_of(scenario: str) -> EnvSpec:
    r = robot(scenario)
    return EnvSpec(n_agents=r.n_agents, obs_dim=r.obs_dim, state_dim=r.obs_dim, action_kind=CONTINUOUS,
                   action_dim=r.per_agent, has_legal=False, episode_length=EPISODE_LENGTH)


class OmigaBatch:
    """E episodes stepped together (the interface of benchmarks/envs/__init__.py)."""

    def __init__(self, scenario: str, n_envs: int, seed: int):
        self.spec = spec_of(scenario)
        self.robot = robot(scenario)
        self.n_envs, self.seed = n_envs, seed
        self.bodies = [Body(scenario) for _ in range(n_envs)]
        n, o = self.spec.n_agents, self.spec.obs_dim
        self.done = np.zeros(n_envs, bool)
        self.terminated = np.zeros(n_envs, bool)  # ended by a fall (not by the time limit)
        self.steps = np.zeros(n_envs, int)
        self._obs = np.zeros((n_envs, n, o), np.float32)

    def _out(self):
        legal = np.ones((self.n_envs, self.spec.n_agents, 1), bool)
        return self._obs.copy(), legal, self._obs[:, 0].copy()

    def reset(self):
        self.done[:] = False
        self.terminated[:] = False
        self.steps[:] = 0
        for e, body in enumerate(self.bodies):
            self._obs[e] = observe(body.reset(self.seed + e), self.spec.n_agents)
        return self._out()

    def step(self, actions):
        actions = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)  # the policy side's bound
        reward = np.zeros(self.n_envs)
        for e, body in enumerate(self.bodies):
            if self.done[e]:
                continue
            raw, reward[e], term = body.step(actions[e])
            self.steps[e] += 1
            self.terminated[e] = term
            self.done[e] = term or self.steps[e] >= EPISODE_LENGTH
            self._obs[e] = observe(raw, self.spec.n_agents)
        obs, legal, state = self._out()
        return obs, legal, state, reward, self.done.copy(), {}

    def close(self):
        for body in self.bodies:
            body.close()


class OmigaMuJoCo:
    """The env maker of a mamujoco task: ``batch(n_envs, seed)``."""

    def __init__(self, scenario: str):
        why = missing()
        if why:
            raise DependencyError(why)
        self.scenario = scenario
        self.spec = spec_of(scenario)

    def batch(self, n_envs: int, seed: int) -> OmigaBatch:
        return OmigaBatch(self.scenario, n_envs, seed)
