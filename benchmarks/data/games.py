"""Datasets of the didactic games (environments: benchmarks/envs/games.py).

* coordination: 45% (0,1), 45% (1,0), 3% (1,1), 7% (0,0) -- the optimum (1,1) is the rarest joint action.
* payoff-zeta: zeta x {(0,0),(1,1)} + (1-zeta) x {(0,1),(1,0)}.
* xor: two sharp modes at +-(0.9, -0.9), std 0.05.
* credit: 50% (1,0), 40% (0,1), 6% (0,0), 4% (1,1) under the reward 10 a1 + 20 a2 (anti-correlated agents);
  credit-cont: 50% (0,1), 40% (1,0), 6% (0,0), 4% (1,1) (agents swapped) as actions +-0.5 plus N(0, 0.15^2) noise
  (the move is the action's sign).
* stitch / stitch-cont: per agent and episode, independently: 45% S -> M -> W, 25% S -> T, 30% S2 -> M -> N -> G
  (continuous: the move's action +-0.5 plus N(0, 0.15^2) noise, clipped to [-1, 1]; the move is its sign).
* landmarks: experts heading for the landmark of the optimal assignment of the initial positions,
  with Gaussian action noise (or uniform random actions for the random reference).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from algorithms.base import EnvSpec
from benchmarks.data.transitions import Dataset
from benchmarks.envs.games import (COORD_REWARD, CREDIT_CONT_JOINT, CREDIT_JOINT, CREDIT_REWARD, STITCH_NEXT, STITCH_REWARD,
                                   STITCH_NODES, STITCH_STEPS, S2_, S_, Stitch, LANDMARK_DT, LANDMARK_STEPS, XOR_MODES, XOR_STD, BanditGame,
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


STITCH_ACTION_NOISE = 0.15  # std of the continuous games' action noise around +-0.5 (stitch-cont, credit-cont)


def credit_dataset(seed: int = 0, size: int = 10_000, continuous: bool = False) -> Dataset:
    """Joint moves drawn from CREDIT_JOINT; continuous: actions +-0.5 plus N(0, 0.15^2), clipped to [-1, 1], whose
    signs are the moves (the reward is the move's: noise that crosses 0 changes the move and its reward)."""
    rng = np.random.default_rng(seed)
    table = CREDIT_CONT_JOINT if continuous else CREDIT_JOINT
    joints = np.array(list(table), np.int64)
    a = joints[rng.choice(len(joints), size=size, p=np.array(list(table.values())))]
    kind = "credit-cont" if continuous else "credit"
    if continuous:
        a = np.clip(np.where(a == 1, 0.5, -0.5) + STITCH_ACTION_NOISE * rng.standard_normal(a.shape), -1, 1)
        moves = (a > 0).astype(np.int64)
    else:
        moves = a
    r = CREDIT_REWARD[moves[:, 0], moves[:, 1]]
    return _bandit_dataset(a, r, BanditGame(kind).spec, {"generator": f"{kind}({table})", "seed": seed})


STITCH_BEHAVIOURS = {  # name: (probability, start node, moves at t = 0, 1, 2)
    "A: S -> M -> W": (0.45, S_, (1, 0, 0)),
    "C: S -> T": (0.25, S_, (0, 0, 0)),
    "B: S2 -> M -> N -> G": (0.3, S2_, (1, 1, 1)),
}


def stitch_dataset(continuous: bool = False, seed: int = 0, episodes: int = 2000, behaviours: dict | None = None) -> Dataset:
    """Each agent of each episode follows one behaviour of ``behaviours`` (default STITCH_BEHAVIOURS; same
    layout: name -> (probability, start node, moves)), drawn independently."""
    behaviours = STITCH_BEHAVIOURS if behaviours is None else behaviours
    rng = np.random.default_rng(seed)
    spec = Stitch(continuous).spec
    probs = np.array([p for p, _, _ in behaviours.values()])
    starts = np.array([s for _, s, _ in behaviours.values()])
    plans = np.array([m for _, _, m in behaviours.values()])
    which = rng.choice(len(probs), size=(episodes, 2), p=probs)
    nodes, moves = starts[which], plans[which]  # [E, 2], [E, 2, T]
    T = STITCH_STEPS
    obs = np.zeros((episodes, T, 2, spec.obs_dim), np.float32)
    rew = np.zeros((episodes, T), np.float32)
    acts = np.zeros((episodes, T, 2) + (() if not continuous else (1,)), np.int32 if not continuous else np.float32)
    for t in range(T):
        obs[:, t] = np.concatenate([np.eye(len(STITCH_NODES))[nodes], np.broadcast_to(np.eye(T)[t], (episodes, 2, T))], -1)
        m = moves[:, :, t]
        if continuous:
            a = np.clip(np.where(m == 1, 0.5, -0.5) + STITCH_ACTION_NOISE * rng.standard_normal(m.shape), -1, 1)
            m = (a > 0).astype(np.int64)  # the move the environment makes for this action
            acts[:, t, :, 0] = a
        else:
            acts[:, t] = m
        rew[:, t] = STITCH_REWARD[nodes, m].sum(-1)
        nodes = STITCH_NEXT[nodes, m]
    terms = np.zeros((episodes, T), bool)
    terms[:, -1] = True  # fixed horizon, time in the observation: the last step is terminal
    ds = Dataset(observations=obs, actions=acts, rewards=rew, terminals=terms, truncations=np.zeros_like(terms),
                 legal=np.ones((episodes, T, 2, spec.legal_dim), bool), state=obs.reshape(episodes, T, -1),
                 card={"generator": f"stitch({'continuous' if continuous else 'discrete'}; "
                                    f"{', '.join(f'{k} {p:g}' for k, (p, _, _) in behaviours.items())})",
                       "seed": seed})
    ds.card.update(ds.summary())
    return ds


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
