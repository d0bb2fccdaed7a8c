"""MPE Cooperative Navigation (Spread) as OMAR recorded its datasets, in JAX (batched, jitted with the evaluator).

OMAR's Spread data (the MAC-Flow paper's MPE datasets, og-marl ``omar/mpe/simple_spread``) were recorded in the
multi-agent particle environment bundled with OMAR (ling-pan/OMAR at 0e52ad6, ``multiagent-particle-envs``).
mpe2's ``simple_spread_v3`` (benchmarks/envs/mpe.py, the ``mpe-gen`` suite) cannot be configured into it: its
reward is another function and it integrates positions before velocities. This module restates OMAR's world:

* 3 agents and 3 landmarks. Reset: every agent and landmark position uniform in [-1, 1]^2, velocities 0.
* Agents have size 0.15 and collide with each other; landmarks do not collide (no force between an agent and a
  landmark). Mass 1.
* Action: a 2-D vector a in [-1, 1]^2 per agent (clamped by the policy side: OMAR's world applies whatever it
  is given, :func:`physics_step` too, and :class:`Spread` clips to the action box as its policies do). The
  applied force is ``SENSITIVITY * a`` = 5 a.
* Contact: for every pair of agents at distance d, the soft penetration ``k log(1 + exp(-(d - 0.3) / k))``
  (contact margin k = 1e-3) times the contact force 100, along the line between them, equal and opposite.
* Integration, physics step dt 0.1, damping 0.25: the velocity first, ``v <- (1 - 0.25) v + dt F / m``, then the
  position with the new velocity, ``p <- p + dt v``. (mpe2, since PettingZoo's v3, moves the position with the
  old velocity first: ``position_first=True`` reproduces that order, for the checks that tell the two apart.)
* Observation of agent i (18): own velocity (2), own position (2), the 3 landmarks relative to agent i (6),
  the 2 other agents relative to agent i in index order (4), and 4 communication slots that are always 0 (the
  agents are silent: 2 other agents x 2 channels).
* Reward of agent i, not shared: the sum over landmarks of ``min(1 / (distance to its nearest agent), 10)``,
  minus 5 for every other agent closer to i than 0.3 (the sum of the sizes, strictly).
* Episodes are never done; OMAR runs 25 steps per episode (``EPISODE_LENGTH``). The score of an episode is the
  sum over its steps of the mean over agents of the rewards.
* Global state (54): the three observations concatenated in agent order, the width of the data's
  ``infos.state`` (what it holds is checked on a download by benchmarks/data/omar_spread.py).

Episode length: 25, as OMAR's own training, evaluation and data (25-row episodes) and as the MAC-Flow paper's
normalisation references (App. G.3: random 159.8, expert 516.8; a uniform random policy scores 159.9 +- 0.9 over
5 000 episodes in OMAR's code). og-marl's MPE wrapper, through which the MAC-Flow code lineage evaluates, marks
the episode done only after its 26th step (its counter is tested before it is incremented):
``OGMARL_EPISODE_LENGTH``, selected by the ``-26steps`` task variants of the ``mpe`` suite.

The physics functions take the array module (``xp``: jax.numpy for the environment, numpy in float64 for the
known-answer checks on stored data), so both run the same equations.
"""
from __future__ import annotations

import numpy as np

from algorithms.base import CONTINUOUS, EnvSpec

N_AGENTS = 3
N_LANDMARKS = 3
COMM_DIM = 4  # 2 other agents x world.dim_c = 2 channels, always 0 (silent agents)
OBS_DIM = 2 + 2 + 2 * N_LANDMARKS + 2 * (N_AGENTS - 1) + COMM_DIM  # 18
STATE_DIM = N_AGENTS * OBS_DIM  # 54
AGENT_SIZE = 0.15
MASS = 1.0
SENSITIVITY = 5.0  # force = 5 * action
DT = 0.1
DAMPING = 0.25
CONTACT_FORCE = 100.0
CONTACT_MARGIN = 1e-3
COLLISION_DISTANCE = 2 * AGENT_SIZE  # 0.3: agents closer than this collide (reward penalty)
COLLISION_PENALTY = 5.0
MAX_LANDMARK_REWARD = 10.0  # per landmark: min(1 / distance, 10)
EPISODE_LENGTH = 25  # OMAR's episodes (training, evaluation, data)
OGMARL_EPISODE_LENGTH = 26  # og-marl's MPEOMAR wrapper: done after the 26th step
REFS = (159.8, 516.8)  # MAC-Flow App. G.3: random and expert scores, 100 (S - 159.8) / (516.8 - 159.8)
# obs layout of agent i: slices of the 18 dimensions
VEL, POS, LANDMARKS, OTHERS, COMM = slice(0, 2), slice(2, 4), slice(4, 10), slice(10, 14), slice(14, 18)
# OTHER[i] = the other agents of agent i, in index order (the order of its observation)
OTHER = np.array([[k for k in range(N_AGENTS) if k != i] for i in range(N_AGENTS)])


def spec(episode_length: int = EPISODE_LENGTH) -> EnvSpec:
    return EnvSpec(n_agents=N_AGENTS, obs_dim=OBS_DIM, state_dim=STATE_DIM, action_kind=CONTINUOUS, action_dim=2,
                   has_legal=False, episode_length=episode_length)


# ---- the world: positions [..., N, 2], velocities [..., N, 2], landmarks [..., L, 2] ---------------------------
def contact_forces(pos, xp=np):
    """[..., N, 2]: the summed soft-penetration forces of every other agent on each agent (OMAR's
    ``get_entity_collision_force`` for every pair of agents; equal masses, so equal and opposite)."""
    delta = pos[..., :, None, :] - pos[..., None, :, :]  # [..., i, j, 2] = p_i - p_j
    dist = xp.sqrt(xp.sum(delta * delta, -1))
    off = ~np.eye(pos.shape[-2], dtype=bool)
    # coincident agents (d = 0, never in practice) get no force instead of OMAR's division by zero
    safe = xp.where(off & (dist > 0), dist, 1.0)
    k = CONTACT_MARGIN
    penetration = xp.logaddexp(0.0, -(dist - COLLISION_DISTANCE) / k) * k
    mag = xp.where(off & (dist > 0), CONTACT_FORCE * penetration / safe, 0.0)
    return xp.sum(mag[..., None] * delta, -2)


def physics_step(pos, vel, actions, xp=np, position_first: bool = False):
    """One world step from the agents' actions [..., N, 2] (not clipped here): (new positions, new velocities).

    OMAR: velocity first, then the position with the new velocity. ``position_first``: mpe2's order (the
    position moves with the old velocity, then the velocity is updated)."""
    force = SENSITIVITY * MASS * actions + contact_forces(pos, xp)
    new_vel = vel * (1.0 - DAMPING) + force / MASS * DT
    new_pos = pos + (vel if position_first else new_vel) * DT
    return new_pos, new_vel


def observe(pos, vel, landmarks, xp=np):
    """[..., N, 18]: every agent's observation (see the module docstring)."""
    rel_lm = landmarks[..., None, :, :] - pos[..., :, None, :]  # [..., i, l, 2]
    rel_others = pos[..., OTHER, :] - pos[..., :, None, :]  # [..., i, k, 2], k over agent i's others
    lead = pos.shape[:-1]
    silent = xp.zeros(lead + (COMM_DIM,), pos.dtype)
    return xp.concatenate([vel, pos, rel_lm.reshape(lead + (2 * N_LANDMARKS,)),
                           rel_others.reshape(lead + (2 * (N_AGENTS - 1),)), silent], -1)


def state_of(obs):
    """[..., 54]: the global state, the agents' observations concatenated."""
    return obs.reshape(obs.shape[:-2] + (STATE_DIM,))


def _reward(agent_landmark_dist, other_dist, xp):
    """Per-agent reward from [..., A, L] agent-landmark distances (A = every agent) and [..., 2] distances from
    the agent to its others."""
    nearest = xp.min(agent_landmark_dist, -2)  # [..., L]
    cover = xp.sum(xp.minimum(1.0 / nearest, MAX_LANDMARK_REWARD), -1)
    return cover - COLLISION_PENALTY * xp.sum(other_dist < COLLISION_DISTANCE, -1)


def rewards(pos, landmarks, xp=np):
    """[..., N]: each agent's reward in the world ``pos`` / ``landmarks`` (after a step)."""
    d = xp.sqrt(xp.sum((pos[..., :, None, :] - landmarks[..., None, :, :]) ** 2, -1))  # [..., A, L]
    others = xp.sqrt(xp.sum((pos[..., OTHER, :] - pos[..., :, None, :]) ** 2, -1))  # [..., i, 2]
    return _reward(d[..., None, :, :], others, xp)


def rewards_from_obs(obs, xp=np):
    """[..., N]: each agent's reward read from its own observation of the world after the step (what the stored
    reward of a transition must equal: it is a function of the next observation alone)."""
    lm = obs[..., LANDMARKS].reshape(obs.shape[:-1] + (N_LANDMARKS, 2))  # relative to the agent
    others = obs[..., OTHERS].reshape(obs.shape[:-1] + (N_AGENTS - 1, 2))
    agents = xp.concatenate([xp.zeros_like(others[..., :1, :]), others], -2)  # [..., A, 2], the agent at 0
    d = xp.sqrt(xp.sum((agents[..., :, None, :] - lm[..., None, :, :]) ** 2, -1))  # [..., A, L]
    return _reward(d, xp.sqrt(xp.sum(others ** 2, -1)), xp)


def world_of(obs):
    """(positions, velocities, landmarks) of the world the joint observation [..., N, 18] shows (landmarks as
    agent 0 sees them)."""
    pos, vel = obs[..., POS], obs[..., VEL]
    landmarks = pos[..., 0, None, :] + obs[..., 0, LANDMARKS].reshape(obs.shape[:-2] + (N_LANDMARKS, 2))
    return pos, vel, landmarks


# ---- the JAX environment ------------------------------------------------------------------------------------
class Spread:
    """OMAR's Spread as a JAX environment (benchmarks/envs/__init__.py): ``reset(key)``, ``step(state, actions,
    key)``; env state = (positions, velocities, landmarks, t). The step's reward is the mean over agents."""

    def __init__(self, episode_length: int = EPISODE_LENGTH, position_first: bool = False):
        self.spec = spec(episode_length)
        self.position_first = position_first  # mpe2's integration order: only to show the checks refuse it

    def reset(self, key):
        import jax
        import jax.numpy as jnp

        ka, kl = jax.random.split(key)
        pos = jax.random.uniform(ka, (N_AGENTS, 2), minval=-1.0, maxval=1.0)
        landmarks = jax.random.uniform(kl, (N_LANDMARKS, 2), minval=-1.0, maxval=1.0)
        vel = jnp.zeros((N_AGENTS, 2))
        obs = observe(pos, vel, landmarks, jnp)
        return (pos, vel, landmarks, jnp.zeros((), jnp.int32)), obs, self._legal(), state_of(obs)

    def _legal(self):
        import jax.numpy as jnp

        return jnp.ones((N_AGENTS, 1), bool)

    def step(self, env_state, actions, key):
        import jax.numpy as jnp

        pos, vel, landmarks, t = env_state
        a = jnp.clip(actions, self.spec.action_low, self.spec.action_high)  # the policy side's clamp
        pos, vel = physics_step(pos, vel, a, jnp, self.position_first)
        obs = observe(pos, vel, landmarks, jnp)
        r = rewards(pos, landmarks, jnp)  # per agent, not shared
        t = t + 1
        return ((pos, vel, landmarks, t), obs, self._legal(), state_of(obs), jnp.mean(r, -1),
                t >= self.spec.episode_length, {"rewards": r})
