"""Datasets of the didactic games (environments: benchmarks/envs/games.py).

* coordination: 45% (0,1), 45% (1,0), 3% (1,1), 7% (0,0) -- the optimum (1,1) is the rarest joint action.
* payoff-zeta: zeta x {(0,0),(1,1)} + (1-zeta) x {(0,1),(1,0)}.
* xor: two sharp modes at +-(0.9, -0.9), std 0.05.
* landmarks: experts heading for the landmark of the optimal assignment of the initial positions,
  with Gaussian action noise (or uniform random actions for the random reference).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from algorithms.base import EnvSpec
from benchmarks.data.transitions import Dataset
from benchmarks.envs.games import (COORD_REWARD, LANDMARK_DT, LANDMARK_STEPS, XOR_MODES, XOR_STD, BanditGame,
                                   assignment_cost_np, initial_positions, landmark_expert_action,
                                   landmark_positions)


def _bandit_dataset(joint_actions: np.ndarray, rewards: np.ndarray, spec: EnvSpec, card: dict) -> Dataset:
    n = len(rewards)
    obs = np.ones((1, n, 2, 1), np.float32)
    if spec.discrete:
        actions = joint_actions.astype(np.int32)[None]
    else:
        actions = joint_actions.astype(np.float32)[None, :, :, None]
    ds = Dataset(
        observations=obs, actions=actions, rewards=rewards.astype(np.float32)[None],
        terminals=np.ones((1, n), bool), truncations=np.zeros((1, n), bool),
        legal=np.ones((1, n, 2, spec.legal_dim), bool), state=np.zeros((1, n, 1), np.float32), card=card,
    )
    ds.card.update(ds.summary())
    return ds


def coordination_dataset(seed: int = 0, size: int = 10_000, best: float = 0.03, worst: float = 0.07) -> Dataset:
    rng = np.random.default_rng(seed)
    joints = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    probs = np.array([(1 - best - worst) / 2, (1 - best - worst) / 2, best, worst])
    a = joints[rng.choice(4, size=size, p=probs)]
    r = COORD_REWARD[a[:, 0], a[:, 1]]
    return _bandit_dataset(a, r, BanditGame("coordination").spec,
                           {"generator": f"coordination(best={best}, worst={worst})", "seed": seed})


def payoff_dataset(zeta: float, seed: int = 0, size: int = 10_000) -> Dataset:
    rng = np.random.default_rng(seed)
    joints = np.array([[0, 0], [1, 1], [0, 1], [1, 0]])
    probs = np.array([zeta / 2, zeta / 2, (1 - zeta) / 2, (1 - zeta) / 2])
    a = joints[rng.choice(4, size=size, p=probs)]
    r = COORD_REWARD[a[:, 0], a[:, 1]]
    return _bandit_dataset(a, r, BanditGame("payoff").spec, {"generator": f"payoff(zeta={zeta})", "seed": seed})


def xor_dataset(seed: int = 0, size: int = 10_000) -> Dataset:
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, size)
    a = np.clip(XOR_MODES[mode] + XOR_STD * rng.standard_normal((size, 2)), -1, 1)
    r = -a[:, 0] * a[:, 1]
    return _bandit_dataset(a, r, BanditGame("xor").spec, {"generator": "xor(two modes)", "seed": seed})


def landmarks_dataset(n_agents: int = 3, seed: int = 0, episodes: int = 200, noise: float = 0.1,
                      random_policy: bool = False) -> Dataset:
    rng = np.random.default_rng(seed)
    lm = landmark_positions(n_agents)
    T, n = LANDMARK_STEPS, n_agents
    obs = np.zeros((episodes, T, n, 2 + 2 * n), np.float32)
    acts = np.zeros((episodes, T, n, 2), np.float32)
    rew = np.zeros((episodes, T), np.float32)
    state = np.zeros((episodes, T, 2 * n), np.float32)
    for e in range(episodes):
        pos = initial_positions(rng, n)
        d = np.linalg.norm(pos[:, None] - lm[None], axis=-1)
        _, assign = linear_sum_assignment(d)
        goal = lm[assign]
        for t in range(T):
            obs[e, t] = np.concatenate([pos, np.broadcast_to(lm.reshape(-1), (n, 2 * n))], -1)
            state[e, t] = pos.reshape(-1)
            if random_policy:
                a = rng.uniform(-1, 1, (n, 2))
            else:
                a = landmark_expert_action(pos, goal) + noise * rng.standard_normal((n, 2))
            a = np.clip(a, -1, 1).astype(np.float32)
            acts[e, t] = a
            pos = np.clip(pos + LANDMARK_DT * a, -1, 1).astype(np.float32)
            rew[e, t] = -assignment_cost_np(pos, lm)
    terms = np.zeros((episodes, T), bool)
    truncs = np.zeros((episodes, T), bool)
    truncs[:, -1] = True  # time limit: the last step does not bootstrap and has no successor
    ds = Dataset(observations=obs, actions=acts, rewards=rew, terminals=terms, truncations=truncs,
                 legal=np.ones((episodes, T, n, 1), bool), state=state,
                 card={"generator": "random" if random_policy else f"landmark expert (noise {noise})", "seed": seed})
    ds.card.update(ds.summary())
    return ds
