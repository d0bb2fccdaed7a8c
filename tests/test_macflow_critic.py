"""macflow's ``critic`` switch (the paper's w/o-IGM and centralised-critic ablations, Figs. 7, 8, 14 (d)) on the
coordination game, whose optimum (1,1) is the rarest joint action of the data (App. H.5).

Networks [64, 64] (the games preset's) and alpha = 0.3: the paper gives no alpha for the games (App. G.4's 3.0
is its benchmarks'); `bench run`'s games preset uses 0.15 with Eq. 9's sum (tests/test_games.py), and these
measurements were taken at 0.3, twice that. Measured (400 steps, seed 0, P((1,1)) of the push-forward one-step
policy): igm 0.9985, central 0.9985, independent 0.2435 with the four joint actions at 0.27/0.28/0.21/0.24.
Why "independent" fails: each agent's Q_i(a_i) regressed on its own to the team reward learns
E[r | a_i] under the data, 1.06 for action 1 and 0.87 for action 0 (an advantage of 0.2), while the
mixed IGM critic fits r = a1 + a2 exactly (advantage 2 per agent); the normalised Q term then loses to the
distillation towards the flow's near-even marginals (0.48), as the paper's Fig. 14 (d) shows.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.training.train import fit, seed_slice

GAME = {"hidden": (64, 64), "alpha": 0.3}


def _onestep(algo, states, spec, i):
    obs = jnp.ones((2000, spec.n_agents, spec.obs_dim))
    legal = jnp.ones((2000, spec.n_agents, spec.legal_dim), bool)
    return np.asarray(algo.sample_onestep(seed_slice(states, i), obs, legal, jax.random.PRNGKey(3)))


def _frac11(a):
    return float(np.mean((a[:, 0] == 1) & (a[:, 1] == 1)))


def test_central_critic_learns_the_joint_reward_and_finds_the_rare_optimum():
    algo, task, states = fit("macflow", "games/coordination", {**GAME, "critic": "central"}, seeds=(0,), steps=400)
    st = seed_slice(states, 0)
    # one Q on the joint observation and joint one-hot action: ~ the reward table at the data's joint actions
    from algorithms.macflow import _nets, _qvals

    nets = _nets(task.spec, st.cfg)
    obs = jnp.ones((4, 2, 1))
    acts = jax.nn.one_hot(jnp.array([[0, 0], [0, 1], [1, 0], [1, 1]]), 2)
    q = np.asarray(_qvals(nets, st.params["critic"], task.spec, st.cfg, obs, None, acts).mean(0))
    assert q.shape == (4,)
    assert np.allclose(q[1:3], 1.0, atol=0.25) and q[3] > q[1] + 0.5 and q[0] < q[1] - 0.5, q
    assert _frac11(_onestep(algo, states, task.spec, 0)) > 0.8


@pytest.mark.slow
def test_without_igm_the_one_step_policy_does_not_find_the_optimum():
    res = {}
    for critic in ("igm", "independent"):
        algo, task, states = fit("macflow", "games/coordination", {**GAME, "critic": critic}, seeds=(0, 1), steps=400)
        res[critic] = [_onestep(algo, states, task.spec, i) for i in range(2)]
    for a in res["igm"]:
        assert _frac11(a) > 0.8
    for a in res["independent"]:  # close to the data's marginals: no coordination on (1,1)
        assert _frac11(a) < 0.5 and np.all(np.abs(a.mean(0) - 0.5) < 0.2), a.mean(0)
