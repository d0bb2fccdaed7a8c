"""Oryx (algorithms/oryx.py, algorithms/retention.py): the retention forms, who sees whom, the declared cost, and
its known answers on the games (XOR's joint modes, the credit task, the stitch tasks).

The registry-driven contract tests (tests/test_contract.py) cover the rest of the contract. Learning tests run
Oryx at its defaults (the released code's: temperatures, critic weight, discount, 20-step windows, sampled
execution, ...) with the retention width shrunk to ``WIDTH`` (the games preset: embed_dim 32 in 2 heads instead of
128 in 4, so that each head's output is still normalised in groups of 8 channels as at the paper's size; 32 in 4
heads would normalise pairs of channels, which leaves only their signs) and the step counts named in each test.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
from algorithms.errors import ConfigError
from algorithms.nets import count_nfe
from algorithms.retention import Sable, decay, decays, timestep_encoding
from benchmarks.envs.games import Landmarks
from benchmarks.training.evaluate import make_evaluator
from benchmarks.training.train import fit, seed_slice

WIDTH = {"embed_dim": 32, "n_head": 2}


# ---- the retention network ----------------------------------------------------------------------------------
B, T, N, O, A, E, H = 2, 4, 3, 5, 2, 32, 2


def _net(chunk=0):
    return Sable(E, H, 1, decays(H, 0.5), N, policy_out=A, value_out=1, chunk=chunk, action_bias=True)


@pytest.fixture(scope="module")
def sable():
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    obs = jax.random.normal(k[0], (B, T * N, O))
    act_in = jax.random.normal(k[1], (B, T * N, A))

    @jax.jit
    def init(key):
        params = _net().init(key, obs, act_in, method=Sable.init_all)
        # perturb every parameter, so that no initial value (zero biases, unit norms) hides a wrong wiring
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(k[3], len(leaves))
        return jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(kk, x.shape) for x, kk in zip(leaves, keys)])

    pe = jnp.broadcast_to(jnp.repeat(timestep_encoding(jnp.arange(T) + 3, E), N, 0), (B, T * N, E))  # steps 3..6
    return init(k[2]), obs, act_in, pe


@functools.partial(jax.jit, static_argnums=4)
def _features(params, obs, act_in, pe, chunk=0):
    return _net(chunk).apply(params, obs, act_in, pe, method=Sable.features)


def test_chunkwise_training_and_recurrent_acting_compute_the_same_retention(sable):
    """The parallel form over a window (one chunk, the default), the chunkwise form (chunks of 2 timesteps, the
    state carried between them) and the recurrent form of acting (per timestep: decay, encoder over the N agents,
    then one decoder step per agent) give the same decoder features, timestep encoding included."""
    params, obs, act_in, pe = sable
    x = np.asarray(_features(params, obs, act_in, pe))
    assert np.abs(x).max() > 0.1
    np.testing.assert_allclose(np.asarray(_features(params, obs, act_in, pe, 2)), x, atol=2e-4, rtol=2e-4)
    net, kappa = _net(), decays(H, 0.5)
    encode = jax.jit(lambda *a: net.apply(params, *a, method=Sable.encode_step))
    decode = jax.jit(lambda *a: net.apply(params, *a, method=Sable.decode_step))
    d = E // H
    h_enc = h1 = h2 = jnp.zeros((B, 1, H, d, d))
    for t in range(T):
        h_enc, h1, h2 = decay(h_enc, kappa), decay(h1, kappa), decay(h2, kappa)
        p = pe[:, t * N:t * N + 1]
        rep, h_enc = encode(obs[:, t * N:(t + 1) * N], h_enc, p)
        for i in range(N):
            j = t * N + i
            xi, (h1, h2) = decode(act_in[:, j:j + 1], rep[:, i:i + 1], (h1, h2), p)
            np.testing.assert_allclose(np.asarray(xi[:, 0]), x[:, j], atol=2e-4, rtol=2e-4, err_msg=f"step {t} agent {i}")


def test_the_encoder_sees_every_agent_and_the_decoder_only_the_actions_before_each(sable):
    """Changing agent j's observation at step t changes every agent's features from step t on (the encoder is
    centralised within a timestep), never an earlier step's; changing the decoder input of token (t, j) (agent
    j - 1's action) changes only tokens (t, j) and after, in the agents' order."""
    params, obs, act_in, pe = sable
    x = np.asarray(_features(params, obs, act_in, pe))
    t, j = 1, 1
    tok = t * N + j
    moved = lambda a, b: np.abs(a - b).max(-1).max(0) > 1e-5  # [T N]: which tokens changed
    by_obs = moved(np.asarray(_features(params, obs.at[:, tok].add(1.0), act_in, pe)), x)
    assert not by_obs[:t * N].any() and by_obs[t * N:].all(), by_obs.reshape(T, N)
    by_act = moved(np.asarray(_features(params, obs, act_in.at[:, tok].add(1.0), pe)), x)
    assert not by_act[:tok].any() and by_act[tok:].all(), by_act.reshape(T, N)


def test_declared_cost_is_one_encoder_pass_and_one_decoder_pass_per_agent():
    """N + 1 network passes per joint decision, counted in act's jaxpr (the decoder's agents in a scan), at the
    latency protocol's agent counts; execution is declared centralised."""
    cls = algorithms.get("oryx")
    cfg = cls.Config()
    for n in (2, 8, 40):
        spec = Landmarks(n).spec
        state = jax.eval_shape(lambda k: cls.init(k, spec, cfg), jax.random.PRNGKey(0))
        obs, legal = jnp.zeros((n, spec.obs_dim)), jnp.ones((n, 1), bool)
        cost = cls.cost(spec, cfg)
        assert count_nfe(cls.act, state, obs, legal, jax.random.PRNGKey(0)) == cost.nfe == n + 1
        assert cost.centralised and cls.centralised_execution


def test_bad_settings_are_one_line_config_errors_when_the_run_is_planned(tmp_path, capsys):
    from benchmarks.cli import main

    cls = algorithms.get("oryx")
    for over, what in (({"embed_dim": "40"}, "multiple of n_head"), ({"execution": "mean"}, "execution must be one of"),
                       ({"continuous_critic": "x"}, "continuous_critic"), ({"chunk": "3"}, "chunk must divide")):
        with pytest.raises(ConfigError, match=what):
            cls.make_config(over)
    assert main(["run", "--task", "games/xor", "--algos", "oryx", "--set", "execution=mean", "--results",
                 str(tmp_path / "runs"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "execution must be one of sample, greedy" in err[0], err
    assert not (tmp_path / "runs").exists(), "nothing is written for a refused run, not even the store"


# ---- XOR (MAC-Flow App. H.6, Fig. 15): an autoregressive policy keeps both anti-aligned joint modes ----------
# games/xor: reward -a1 a2, data at the two modes +-(0.9, -0.9). A policy that samples each agent from its own
# distribution (factorised: MAC-Flow's one-step policies, Flow BC, Diffusion BC) lands on aligned and anti-aligned
# pairs alike, about half each, mean reward ~0; Oryx samples agent 1, then agent 2 given agent 1's action.
XOR_STEPS = 300  # measured (WIDTH, seeds 0, 1): anti-aligned 0.972 / 0.967, P(a1 > 0) 0.506 / 0.498, mean reward
# 0.364 / 0.373; without autoregressive actions 0.514 / 0.519, 0.501 / 0.515, 0.007 / 0.007
XOR_SAMPLES = 2000


def _xor_stats(cls, state):
    obs, legal = jnp.ones((XOR_SAMPLES, 2, 1)), jnp.ones((XOR_SAMPLES, 2, 1), bool)
    a = np.asarray(jax.jit(cls.act)(state, obs, legal, jax.random.PRNGKey(5)))[..., 0]
    return {"anti_aligned": float(np.mean(np.sign(a[:, 0]) != np.sign(a[:, 1]))),
            "first_positive": float(np.mean(a[:, 0] > 0)), "reward": float(np.mean(-a[:, 0] * a[:, 1]))}


def keeps_both_joint_modes(st) -> bool:
    """Anti-aligned (> 0.85 of the samples; independent agents ~0.5), both modes (agent 1 positive in 30-70% of
    them) and a mean reward above 0.2 (independent zero-mean agents: ~0; the data's modes: 0.81)."""
    return st["anti_aligned"] > 0.85 and 0.3 < st["first_positive"] < 0.7 and st["reward"] > 0.2


@pytest.fixture(scope="module")
def xor_oryx():
    return fit("oryx", "games/xor", WIDTH, seeds=(0,), steps=XOR_STEPS)


def test_xor_oryx_keeps_both_anti_aligned_joint_modes(xor_oryx):
    cls, task, states = xor_oryx
    st = _xor_stats(cls, seed_slice(states, 0))
    print("\noryx on xor:", st)
    assert keeps_both_joint_modes(st), st


@pytest.mark.slow  # a second compilation of act (the execution mode is static)
def test_xor_oryx_acting_greedily_keeps_one_mode(xor_oryx):
    """The same training executed greedily (the continuous code's choice, the tanh of each agent's mean): agent 1's
    mean is the data's mean, near 0, so every sample is one mode (measured: agent 1 positive in all, reward 0.03)."""
    cls, task, states = xor_oryx
    state = seed_slice(states, 0)
    greedy = _xor_stats(cls, state.replace(cfg=dataclasses.replace(state.cfg, execution="greedy")))
    print("oryx on xor, greedy execution:", greedy)
    assert not keeps_both_joint_modes(greedy) and greedy["first_positive"] in (0.0, 1.0), greedy


@pytest.mark.slow  # ~4 min on the loaded 2-core machine
def test_xor_without_autoregressive_actions_the_agents_do_not_coordinate():
    """The broken variant (the paper's "w/o autoregressive actions" ablation): every agent reads the start token,
    so agent 2 cannot see agent 1's action and the pairs fall on both diagonals (measured: 0.52 anti-aligned)."""
    cls, task, states = fit("oryx", "games/xor", {**WIDTH, "autoregressive": False}, seeds=(0, 1), steps=XOR_STEPS)
    for i in range(2):
        st = _xor_stats(cls, seed_slice(states, i))
        print("oryx autoregressive=False on xor:", st)
        assert not keeps_both_joint_modes(st) and st["anti_aligned"] < 0.65, st


# ---- the credit task and the stitch tasks (tests/test_known_answer.py has their exact answers) -------------
def _returns(task_id, overrides, seeds, steps):
    from tests.test_known_answer import EPISODES

    cls, task, states = fit("oryx", task_id, {**WIDTH, **overrides}, seeds=seeds, steps=steps)
    returns, _ = make_evaluator(task.make_env(), cls, EPISODES)(states, jnp.stack([jax.random.PRNGKey(900 + s) for s in seeds]))
    return np.asarray(returns).mean(-1)


CREDIT_REASON = (
    "measured (WIDTH, seeds 0-3): team return 20.6, 20.6, 21.3, 20 after 1500 steps (greedy execution 20 x 4): "
    "P(a1 = 1) 0.01-0.15, P(a2 = 1 | a1) 1.0. The decoder's first agent has no earlier action to condition on, so "
    "its in-sample (SARSA) value is the data's marginal E[r | a1], which prefers a1 = 0 (17.4 vs 11.5) as an "
    "independent learner's does; the second agent, seeing a1, is right. After 500 steps a transient: 28.1, 23.8, "
    "23.1, 20 sampled, 30 x 4 greedy (P(a1 = 1) 0.62-0.88), before the first agent's critic settles")


@pytest.mark.slow  # ~10 min on the loaded 2-core machine
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=CREDIT_REASON)
def test_credit_oryx_assigns_credit_to_both_agents():
    from tests.test_known_answer import CREDIT_PASS, CREDIT_SEEDS

    r = _returns("games/credit", {}, CREDIT_SEEDS, 1500)
    print("oryx credit:", r.round(2).tolist(), "(independent 20, optimum 30)")
    assert r.mean() >= CREDIT_PASS, r.tolist()


STITCH_REASON = {
    "games/stitch": (
        "measured (WIDTH, seeds 0, 1, 1000 steps): team return 10.9, 10.0 (greedy 10, 10), as our ICQ (10, 10): Oryx's critic is "
        "ICQ's in-sample SARSA target, r + gamma w Q'(next step, the data's next action), so every step from S to M "
        "is valued by the behaviour that took it (A, which goes on to W: 0) and the actor takes the +5 at S; its "
        "memory of the window's earlier steps tells it too that an agent at M came from S, not from S2"),
    "games/stitch-cont": (
        "measured (WIDTH, seeds 0, 1, 3000 steps): team return 10.0, 9.4 sampled, 10, 10 greedy (10.3, 8.4 after "
        "1000 steps); our ICQ at [32, 32] measured beside it: 10, 10 at 1000 and 3000 steps. The same in-sample "
        "target as the discrete task: the +5 at S, no stitching"),
}


@pytest.mark.slow  # ~10 min on the loaded 2-core machine
@pytest.mark.parametrize("task_id", [pytest.param(t, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=why))
                                     for t, why in STITCH_REASON.items()])
def test_stitch_oryx(task_id):
    from tests.test_known_answer import STEPS, STITCH_PASS

    r = _returns(task_id, {}, (0, 1), STEPS[task_id])
    print(f"oryx {task_id}:", r.round(2).tolist(), "(bc 0, discount 0: 10, optimum 40)")
    assert r.mean() >= STITCH_PASS, r.tolist()
