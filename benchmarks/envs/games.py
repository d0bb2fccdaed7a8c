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

* credit (known-answer task, not in the paper): the bandit of the coordination game with an additive,
  asymmetric team reward r = 10 a1 + 20 a2 (table [[0, 20], [10, 30]]): optimum (1,1) = 30. Dataset:
  50% (1,0), 40% (0,1), 6% (0,0), 4% (1,1), so the agents' actions are anti-correlated and each
  agent's own value misleads agent 1: E[r | a1=1] = 10 + 20 (.04/.54) = 11.48 < E[r | a1=0] =
  20 (.40/.46) = 17.39, while E[r | a2=1] = 20 + 10 (.04/.44) = 20.91 > E[r | a2=0] = 10 (.50/.56) =
  8.93. Independent learners (each Q_i fitted to E[r | a_i]) pick (0,1) = 20; behaviour cloning picks
  the marginals' modes (1,0) = 10; an additive decomposition fitted to the team reward (VDN / mean /
  QMIX / linear mixers) recovers Q_1(1) - Q_1(0) = 10 and Q_2(1) - Q_2(0) = 20 exactly (the reward is
  additive and every joint action is in the data) and picks (1,1) = 30. Uniform random: 15.
  credit-cont: the same reward with actions a_i in [-1, 1], move 1 iff a_i > 0 (as stitch-cont); the
  dataset's actions are +-0.5 plus N(0, 0.15^2) noise around joint moves drawn from CREDIT_CONT_JOINT:
  50% (0,1), 40% (1,0), 6% (0,0), 4% (1,1). The agents are swapped with respect to credit because a
  deterministic actor regularised towards the data (TD3+BC, OMAR, MAC-Flow's distillation) starts from
  the data's mean action, and with credit's moves agent 1's mean (+0.04) already makes move 1, so every
  learner would find (1,1) (measured: matd3bc with and without its mixer, 30 on 3 of 4 seeds). Here
  agent 1's mean is -0.06 (move 0) and its own value points to move 0 too: E[r | a1 > 0] = 10 + 20
  (.04/.44) = 11.8 < E[r | a1 < 0] = 20 (.50/.56) = 17.9, E[r | a2 > 0] = 20 + 10 (.04/.54) = 20.7 >
  E[r | a2 < 0] = 10 (.40/.46) = 8.7. So BC (the modes and the mean actions) and independent
  learners play (0,1) = 20; an additive mixed value (1,1) = 30.
* stitch, stitch-cont (known-answer task, not in the paper): trajectory stitching over 3 steps, 2
  agents, team reward = the sum of the agents' rewards. Each agent moves on its own small graph
  (nodes S, S2, M, N, G, W, T; ``STITCH_NEXT``), choosing "0" or "1" each step (stitch: actions
  {0, 1}; stitch-cont: a in [-1, 1], move 1 iff a > 0):
      S  -0-> T (+5)   S  -1-> M        S2 -0-> W   S2 -1-> M
      M  -0-> W        M  -1-> N        N  -0-> W   N  -1-> G (+20)
      T, W, G absorbing (reward 0).
  Every episode starts at S and lasts 3 steps (terminal at the end). Agent i observes one-hot(its
  node) and one-hot(t), so each agent's problem is Markov (the team reward is additive; the global
  state is both observations). Optimal path S -> M -> N -> G: discounted value 20 gamma^2 > 5 for
  any gamma > 0.5, so the optimum is the same for every gamma in [0.99, 1]: undiscounted team return
  2 x 20 = 40. The greedy one-step choice (gamma = 0) takes the +5 at S: team return 10. Uniform
  random: per agent 5/2 (T) + 20/8 (G) = 5, team 10. The dataset's behaviours (per agent,
  independently): A (45%) S -> M -> W (return 0), C (25%) S -> T (5), B (30%) starts at S2 (a start
  the environment never uses), S2 -> M -> N -> G (20). Only B knows what to do at M and N, only A and
  C start at S; the optimum at S needs B's continuation (stitching). Behaviour cloning's modes: at S
  go to M (45 vs 25), at (M, t=1) go to W (45 vs 30): team return 0. The data's mean team return is
  2 (.25 x 5 + .3 x 20) = 14.5. B's move at M and C's at S are 2/3 and 5/9 as frequent as A's,
  inside MABCQ's admissible set (threshold 0.4).

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
CREDIT_REWARD = np.array([[0.0, 20.0], [10.0, 30.0]], np.float32)  # [a1, a2]: 10 a1 + 20 a2
CREDIT_JOINT = {(1, 0): 0.50, (0, 1): 0.40, (0, 0): 0.06, (1, 1): 0.04}  # the credit dataset's joint actions
# credit-cont's joint moves: the agents swapped, so that agent 1's actions average below 0 (see the docstring)
CREDIT_CONT_JOINT = {(0, 1): 0.50, (1, 0): 0.40, (0, 0): 0.06, (1, 1): 0.04}
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
        discrete = kind not in ("xor", "credit-cont")
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
        table = jnp.asarray(CREDIT_REWARD if self.kind.startswith("credit") else COORD_REWARD)
        if self.kind == "credit-cont":
            actions = (actions[..., 0] > 0).astype(jnp.int32)  # move 1 iff a > 0
        return table[actions[..., 0], actions[..., 1]]

    def step(self, env_state, actions, key):
        obs, legal, state = self._obs()
        return env_state + 1, obs, legal, state, self.reward(actions), jnp.ones((), bool), {}


# ---- trajectory stitching ---------------------------------------------------------------------------------
STITCH_NODES = ("S", "S2", "M", "N", "G", "W", "T")
S_, S2_, M_, N_, G_, W_, T_ = range(7)
STITCH_NEXT = np.array([[T_, M_], [W_, M_], [W_, N_], [W_, G_], [G_, G_], [W_, W_], [T_, T_]], np.int32)  # [node, move]
STITCH_REWARD = np.zeros((7, 2), np.float32)  # [node, move], per agent
STITCH_REWARD[S_, 0] = 5.0
STITCH_REWARD[N_, 1] = 20.0
STITCH_STEPS = 3
STITCH_OPTIMUM = 40.0  # team return of S -> M -> N -> G for both agents
STITCH_RANDOM = 10.0  # expected team return of uniformly random moves


def stitch_obs(nodes, t):
    """Per-agent observation one-hot(node) ++ one-hot(t): nodes [..., N] int, t [...] -> [..., N, 10]."""
    t = jnp.broadcast_to(jnp.asarray(t)[..., None], jnp.shape(nodes))
    return jnp.concatenate([jax.nn.one_hot(nodes, len(STITCH_NODES)), jax.nn.one_hot(t, STITCH_STEPS)], -1)


class Stitch:
    """Two agents, each on its own copy of the stitching graph; team reward = sum of the agents' rewards."""

    def __init__(self, continuous: bool = False):
        self.continuous = continuous
        obs_dim = len(STITCH_NODES) + STITCH_STEPS
        self.spec = EnvSpec(
            n_agents=2, obs_dim=obs_dim, state_dim=2 * obs_dim, action_kind=CONTINUOUS if continuous else DISCRETE,
            action_dim=1 if continuous else 2, has_legal=False, episode_length=STITCH_STEPS,
        )

    def moves(self, actions):
        return (actions[..., 0] > 0).astype(jnp.int32) if self.continuous else actions.astype(jnp.int32)

    def observe(self, nodes, t):
        obs = stitch_obs(nodes, t)
        return obs, jnp.ones(obs.shape[:-1] + (self.spec.legal_dim,), bool), obs.reshape(obs.shape[:-2] + (-1,))

    def reset(self, key):
        nodes, t = jnp.full((2,), S_, jnp.int32), jnp.zeros((), jnp.int32)
        obs, legal, state = self.observe(nodes, t)
        return (nodes, t), obs, legal, state

    def step(self, env_state, actions, key):
        nodes, t = env_state
        m = self.moves(actions)
        reward = jnp.asarray(STITCH_REWARD)[nodes, m].sum(-1)
        nodes, t = jnp.asarray(STITCH_NEXT)[nodes, m], t + 1
        obs, legal, state = self.observe(nodes, jnp.minimum(t, STITCH_STEPS - 1))
        return (nodes, t), obs, legal, state, reward, t >= STITCH_STEPS, {}


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
