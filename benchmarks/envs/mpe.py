"""MPE Spread (cooperative navigation) through mpe2's ``simple_spread_v3``, as a Python batch env.

Setting: 3 agents, 3 landmarks, ``local_ratio=0.5``, ``max_cycles=25``, continuous actions. Agent i
observes (18,) = own velocity, own position, the landmarks and the other agents relative to itself,
and two silent communication slots; the global state is ``env.state()`` (54,).

Action mapping. A policy emits a 2-D movement vector a = (a_x, a_y) in [-1, 1]^2 per agent. mpe2's
continuous action is Box(0, 1, (5,)) = [no_action, left, right, down, up], of which only the
differences right - left and up - down move the agent (times the sensitivity 5). We send
``[0, max(-a_x, 0), max(a_x, 0), max(-a_y, 0), max(a_y, 0)]``, so the applied force is exactly
5 * (a_x, a_y): the map is one-to-one on [-1, 1]^2 and covers every force mpe2 can apply. The 5-D
space is redundant (many vectors give the same force), which would give generative policies modes
that do not matter; the 2-D vector is also what the OMAR Spread data stores.

Team score: the sum over the 25 steps of the mean over agents of their rewards (each agent's reward
is 0.5 x (minus the summed landmark-to-nearest-agent distances) + 0.5 x (minus its collisions)).

This is the environment of the ``mpe-gen`` suite (data generated here). OMAR's Spread data, the MAC-Flow paper's,
were recorded in another world (reward, integration order): benchmarks/envs/omar_spread.py, the ``mpe`` suite.

Normalisation. The mpe-gen tasks use the references measured when their data were generated (random and
scripted-expert returns in mpe2, on the dataset card). The MAC-Flow paper's (App. G.3) random / expert scores
belong to OMAR's MPE, whose rewards are on another (positive) scale than mpe2's, so they must not be applied to
returns measured here.
"""
from __future__ import annotations

import itertools

import numpy as np

from algorithms.base import CONTINUOUS, EnvSpec
from algorithms.errors import DependencyError

N_AGENTS = 3
EPISODE_LENGTH = 25
OBS_DIM = 18
STATE_DIM = 54
INSTALL = 'pip install "pettingzoo==1.27.0" "mpe2==1.1.1"  (or: pip install -e .)'


SPEC = EnvSpec(n_agents=N_AGENTS, obs_dim=OBS_DIM, state_dim=STATE_DIM, action_kind=CONTINUOUS, action_dim=2,
               has_legal=False, episode_length=EPISODE_LENGTH)


def missing() -> str | None:
    """None when mpe2 imports, else the install command."""
    import importlib.util

    if importlib.util.find_spec("mpe2") is None or importlib.util.find_spec("pettingzoo") is None:
        return f"the MPE suite needs mpe2 and pettingzoo: {INSTALL}"
    return None


def to_mpe_action(a: np.ndarray) -> np.ndarray:
    """[..., 2] in [-1,1] -> mpe2's [..., 5] in [0,1] (see the module docstring)."""
    a = np.clip(np.asarray(a, np.float32), -1.0, 1.0)
    z = np.zeros(a.shape[:-1] + (1,), np.float32)
    return np.concatenate([z, np.maximum(-a[..., :1], 0), np.maximum(a[..., :1], 0),
                           np.maximum(-a[..., 1:], 0), np.maximum(a[..., 1:], 0)], -1)


def _make_one():
    why = missing()
    if why:
        raise DependencyError(why)
    from mpe2 import simple_spread_v3

    # the raw AEC env (no pettingzoo wrappers: 3-4x faster); agents act in index order, the world
    # steps after the last one, exactly as in parallel_env
    return simple_spread_v3.raw_env(N=N_AGENTS, local_ratio=0.5, max_cycles=EPISODE_LENGTH,
                                    continuous_actions=True)


class SpreadBatch:
    """E mpe2 Spread episodes stepped together (the interface of benchmarks/envs/__init__.py)."""

    spec = SPEC

    def __init__(self, n_envs: int, seed: int):
        self.n_envs = n_envs
        self.seed = seed
        self.envs = [_make_one() for _ in range(n_envs)]
        self.agents = [f"agent_{i}" for i in range(N_AGENTS)]
        self.done = np.zeros(n_envs, bool)
        self._obs = np.zeros((n_envs, N_AGENTS, OBS_DIM), np.float32)
        self._state = np.zeros((n_envs, STATE_DIM), np.float32)

    def _legal(self):
        return np.ones((self.n_envs, N_AGENTS, 1), bool)

    def reset(self):
        self.done[:] = False
        for e, env in enumerate(self.envs):
            env.reset(seed=self.seed + e)
            self._read(e, env)
        return self._obs.copy(), self._legal(), self._state.copy()

    def _read(self, e, env):
        self._obs[e] = np.stack([env.observe(a) for a in self.agents])
        self._state[e] = env.state()

    def step(self, actions):
        mpe_actions = to_mpe_action(np.asarray(actions, np.float32).reshape(self.n_envs, N_AGENTS, 2))
        reward = np.zeros(self.n_envs)
        for e, env in enumerate(self.envs):
            if self.done[e]:
                continue
            for i, a in enumerate(self.agents):
                assert env.agent_selection == a
                env.step(mpe_actions[e, i])
            reward[e] = np.mean([env.rewards[a] for a in self.agents])
            self.done[e] = all(env.terminations[a] or env.truncations[a] for a in self.agents)
            self._read(e, env)
        return self._obs.copy(), self._legal(), self._state.copy(), reward, self.done.copy(), {}

    def close(self):
        for env in self.envs:
            env.close()


class Spread:
    """The env maker of the mpe-gen suite's tasks: ``batch(n_envs, seed)``."""

    spec = SPEC

    def batch(self, n_envs: int, seed: int) -> SpreadBatch:
        return SpreadBatch(n_envs, seed)


# ---- scripted behaviour ---------------------------------------------------------------------------
def expert_action(obs: np.ndarray, gain: float = 3.0) -> np.ndarray:
    """The scripted expert: joint observations [..., N, 18] -> actions [..., N, 2] in [-1, 1].

    Every agent solves the same optimal assignment of agents to landmarks (minimum total distance
    over all N! assignments, on the current positions, which each agent observes) and steers to its
    landmark with a damped controller that inverts mpe2's dynamics (v' = 0.75 v + 0.5 a):
    a = (gain * (goal - p) - 0.75 v) / 0.5. Decentralised: agent i's action depends only on its own
    observation.
    """
    obs = np.asarray(obs, np.float32)
    n = obs.shape[-2]
    own, vel = obs[..., 2:4], obs[..., 0:2]  # [..., N, 2]
    lms = own[..., None, :] + obs[..., 4:4 + 2 * n].reshape(obs.shape[:-1] + (n, 2))  # [..., N(viewer), L, 2]
    others = own[..., None, :] + obs[..., 4 + 2 * n:4 + 4 * n - 2].reshape(obs.shape[:-1] + (n - 1, 2))
    idx = np.arange(n)
    goals = np.zeros_like(own)
    perms = np.asarray(list(itertools.permutations(range(n))))  # [P, N]: agent k -> landmark perm[k]
    for i in range(n):  # viewer i rebuilds every agent's position in index order
        pos = np.concatenate([others[..., i, :i, :], own[..., i:i + 1, :], others[..., i, i:, :]], -2)
        d = np.linalg.norm(pos[..., :, None, :] - lms[..., i, None, :, :], axis=-1)  # [..., N, L]
        cost = d[..., idx, perms].sum(-1)  # [..., P]
        best = perms[np.argmin(cost, -1)]  # [..., N]
        goals[..., i, :] = np.take_along_axis(lms[..., i, :, :], best[..., i, None, None], -2)[..., 0, :]
    return np.clip((gain * (goals - own) - 0.75 * vel) / 0.5, -1.0, 1.0).astype(np.float32)
