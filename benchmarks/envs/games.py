"""The MAC-Flow paper's didactic games, pure JAX (their datasets: benchmarks/data/games.py).

* coordination (App. H.5): 2 agents, actions {0,1}, team reward (1,1)=2, (1,0)=(0,1)=1, (0,0)=0.
  Dataset: 45% (0,1), 45% (1,0), 3% (1,1), 7% (0,0): the optimum is the rarest joint action, and
  each agent's marginal leans (52/48) towards action 0, so imitating the marginals is not enough.
* xor (App. H.6): 2 agents, actions in [-1,1], reward -a1*a2, optimal joint actions (-1,+1) and
  (+1,-1). Dataset: two sharp, disconnected modes at +-(0.9, -0.9) (std 0.05). No per-agent value can
  express the optimum (IGM breaks by construction).
* payoff-zeta (App. H.7): the coordination rewards; dataset zeta x {(0,0),(1,1)} + (1-zeta) x
  {(0,1),(1,0)}, zeta in {0, .25, .5, .75, 1} (interaction strength).
* landmarks[-N] (Sec. 4.3, App. H.4): N agents (3 by default, up to 40) cover N fixed landmarks on a
  circle of radius 0.5. Agents start on an outer ring, agent i near landmark i's bearing with a random
  jitter of up to half the angle between landmarks. Agent i observes its own position and every landmark, not the other agents; its action
  is a movement vector in [-1,1]^2 (position += 0.1 a). Team reward per step: minus the mean distance
  of agents to landmarks under the optimal assignment (Hungarian, recomputed every step), 25 steps.
  Dataset: experts that head for the landmark of the optimal assignment of the *initial* positions.
  That is usually landmark i but depends on where the other (unobserved) agents start, so each agent's
  behaviour is multi-modal given its own observation, while a consistent decentralised convention
  (i -> i) exists for the policies to find.

The bandit games are one-step episodes (terminal after the first action).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from algorithms.base import CONTINUOUS, DISCRETE, EnvSpec

COORD_REWARD = np.array([[0.0, 1.0], [1.0, 2.0]], np.float32)  # [a1, a2]
XOR_MODES = np.array([[-0.9, 0.9], [0.9, -0.9]], np.float32)
XOR_STD = 0.05
PAYOFF_ZETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
LANDMARK_DT = 0.1
LANDMARK_STEPS = 25
LANDMARK_RADIUS = 0.5


# ---- one-step bandit games ------------------------------------------------------------------------
class BanditGame:
    """Two agents, one decision, constant observation; reward from a function of the joint action."""

    def __init__(self, kind: str):
        self.kind = kind
        discrete = kind != "xor"
        self.spec = EnvSpec(
            n_agents=2, obs_dim=1, state_dim=1, action_kind=DISCRETE if discrete else CONTINUOUS,
            action_dim=2 if discrete else 1, has_legal=False, episode_length=1,
        )

    def _obs(self):
        spec = self.spec
        return jnp.ones((spec.n_agents, 1)), jnp.ones((spec.n_agents, spec.legal_dim), bool), jnp.zeros((1,))

    def reset(self, key):
        obs, legal, state = self._obs()
        return jnp.zeros((), jnp.int32), obs, legal, state

    def reward(self, actions):
        if self.kind == "xor":
            a = jnp.clip(actions[..., 0], -1.0, 1.0)
            return -a[..., 0] * a[..., 1]
        table = jnp.asarray(COORD_REWARD)
        return table[actions[..., 0], actions[..., 1]]

    def step(self, env_state, actions, key):
        obs, legal, state = self._obs()
        return env_state + 1, obs, legal, state, self.reward(actions), jnp.ones((), bool), {}


# ---- landmark covering ------------------------------------------------------------------------------
def landmark_positions(n: int) -> np.ndarray:
    ang = 2 * math.pi * np.arange(n) / n + math.pi / 2
    return (LANDMARK_RADIUS * np.stack([np.cos(ang), np.sin(ang)], -1)).astype(np.float32)


def assignment_cost_np(pos: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean agent-landmark distance under the optimal assignment; pos [..., N, 2] -> [...]."""
    lead = pos.shape[:-2]
    flat = pos.reshape((-1,) + pos.shape[-2:])
    out = np.empty(len(flat), np.float32)
    for k, p in enumerate(flat):
        d = np.linalg.norm(p[:, None, :] - landmarks[None], axis=-1)
        r, c = linear_sum_assignment(d)
        out[k] = d[r, c].mean()
    return out.reshape(lead)


class Landmarks:
    def __init__(self, n_agents: int = 3):
        if not 2 <= n_agents <= 40:
            from algorithms.errors import ConfigError

            raise ConfigError(f"landmarks supports 2 to 40 agents, got {n_agents}")
        self.n = n_agents
        self.landmarks = landmark_positions(n_agents)
        self.spec = EnvSpec(
            n_agents=n_agents, obs_dim=2 + 2 * n_agents, state_dim=2 * n_agents, action_kind=CONTINUOUS,
            action_dim=2, has_legal=False, episode_length=LANDMARK_STEPS,
        )

    def observe(self, pos):
        lm = jnp.broadcast_to(jnp.asarray(self.landmarks).reshape(-1), pos.shape[:-1] + (2 * self.n,))
        obs = jnp.concatenate([pos, lm], -1)
        return obs, jnp.ones(pos.shape[:-1] + (1,), bool), pos.reshape(pos.shape[:-2] + (2 * self.n,))

    def reset(self, key):
        pos = jnp.asarray(initial_positions(key, self.n))
        obs, legal, state = self.observe(pos)
        return (pos, jnp.zeros((), jnp.int32)), obs, legal, state

    def reward(self, pos):
        cost = jax.pure_callback(
            lambda p: assignment_cost_np(np.asarray(p), self.landmarks),
            jax.ShapeDtypeStruct(pos.shape[:-2], jnp.float32), pos, vmap_method="expand_dims",
        )
        return -cost

    def step(self, env_state, actions, key):
        pos, t = env_state
        pos = jnp.clip(pos + LANDMARK_DT * jnp.clip(actions, -1.0, 1.0), -1.0, 1.0)
        t = t + 1
        obs, legal, state = self.observe(pos)
        return (pos, t), obs, legal, state, self.reward(pos), t >= LANDMARK_STEPS, {}


def initial_positions(key_or_rng, n: int):
    """Agent i starts on the outer ring (radius 0.8-1.0) near landmark i's bearing, jittered by up to
    half the angle between landmarks, so the optimal assignment is usually i -> i but varies."""
    if isinstance(key_or_rng, np.random.Generator):
        u = key_or_rng.uniform(-1.0, 1.0, n)
        r = key_or_rng.uniform(0.8, 1.0, n)
        xp = np
    else:
        ka, kr = jax.random.split(key_or_rng)
        u = jax.random.uniform(ka, (n,), minval=-1.0, maxval=1.0)
        r = jax.random.uniform(kr, (n,), minval=0.8, maxval=1.0)
        xp = jnp
    ang = 2 * math.pi * xp.arange(n) / n + math.pi / 2 + u * math.pi / n
    return xp.clip(xp.stack([r * xp.cos(ang), r * xp.sin(ang)], -1), -1.0, 1.0).astype(np.float32)


def landmark_expert_action(pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
    return np.clip((goal - pos) / (3 * LANDMARK_DT), -1.0, 1.0)


def joint_histogram(actions: np.ndarray, n_actions: int = 2) -> np.ndarray:
    """Empirical distribution over joint discrete actions of 2 agents: actions [M, 2] -> [A*A]."""
    a = np.asarray(actions)
    return np.bincount(a[:, 0] * n_actions + a[:, 1], minlength=n_actions * n_actions) / len(a)


def w2_discrete(p: np.ndarray, q: np.ndarray, n_actions: int = 2) -> float:
    """Exact 2-Wasserstein distance between two distributions over joint actions of 2 agents, each joint
    action embedded as the point (a1, a2) in R^2 (the payoff game's W2, MAC-Flow App. H.7)."""
    from scipy.optimize import linprog

    pts = np.array([(i, j) for i in range(n_actions) for j in range(n_actions)], float)
    cost = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    k = len(pts)
    a_eq = np.zeros((2 * k, k * k))
    for i in range(k):
        a_eq[i, i * k:(i + 1) * k] = 1.0
        a_eq[k + i, i::k] = 1.0
    res = linprog(cost.reshape(-1), A_eq=a_eq, b_eq=np.concatenate([p, q]), bounds=(0, None), method="highs")
    return float(np.sqrt(max(res.fun, 0.0)))
