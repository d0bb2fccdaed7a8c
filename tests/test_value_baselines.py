"""Learning claims of the value-based and Gaussian baselines (MABCQ, MACQL, MATD3BC, ICQ, OMAR, OMIGA).

Each plugin must learn something a behaviour cloner cannot, on a game whose answer is known:

* discrete: games/coordination. The best joint action (1,1) (reward 2) is the rarest in the data (3%);
  each agent's marginal leans 52/48 towards action 0, so BC's greedy joint action is (0,0) (reward 0).
  A value method with a mixer finds (1,1).
* continuous: a two-agent continuous bandit written here. r(a) = 10 (2 - sum_i (a_i - 0.5)^2); each
  agent's dataset action is drawn from N(-0.5, 0.1^2) with probability 0.8 and N(0.5, 0.1^2) with 0.2,
  so BC's mean action is about -0.3 (r ~ 7.4) while the optimum (0.5, 0.5) (r = 20) is in the data.

Reward scale. Conservative and advantage-weighted methods measure their regularisation in reward units:
the CQL weight 3.0 (MACQL, OMAR) and OMIGA's alpha 10 are the paper's values for MPE / MA-MuJoCo, whose
Q-values are in the tens to hundreds. On the raw coordination rewards (<= 2, one step) the CQL penalty
~3 log(p_data ratio) and OMIGA's weights exp(w A / 10) ~ 1 swamp the reward gap and those methods act
like BC (measured). Both games are therefore scaled to rewards of order 10 (coordination rewards x 10,
a monotone change that keeps the optimum and BC's answer), and every plugin runs with its paper
defaults; only the network size is reduced (tiny nets, a few hundred steps). ICQ is the exception:
its temperatures (beta 0.1 on advantages, beta_Q 1000) come from SMAC, whose per-step rewards are
below 1; at scale 10 its batch-softmax weights exp(A / 0.1) ~ e^100 put the whole batch's weight on a
single sample (measured: (1,1) for 2 of 6 seeds after 300 steps, 4 of 6 after 1000), so ICQ sees the
games' own rewards (5 of 6 seeds find (1,1) at scale 1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
from algorithms.base import EnvSpec
from benchmarks.data.transitions import Dataset, to_transitions, to_windows
from algorithms.errors import ConfigError
from benchmarks.tasks import get_task
from benchmarks.training.train import init_states, make_chunk
from tests.conftest import generated_data_dir, known_failure

REWARD_SCALE = 10.0
OWN_SCALE = {"icq": 1.0, "bc": 1.0}  # see the module docstring; BC ignores rewards
TINY = {"hidden": (32, 32)}
STEPS = 300
DISCRETE_SEEDS = (0, 1, 2, 3, 4, 5)
CONTINUOUS_SEEDS = (0, 1, 2)
# A plugin "finds the optimum" when at least 4 of 6 seeds' greedy joint action is (1,1). BC's is (0,0)
# for every seed (its logits follow the 52/48 marginals), so this is strictly more often than BC, and a
# method that picks each agent's action at random would reach 4/6 with probability ~0.4% (p = 1/4 per seed).
FIND_RATE = 4 / 6


def _data(cls, ds):
    scale = OWN_SCALE.get(cls.name, REWARD_SCALE)
    arrays = to_transitions(ds) if cls.sequence_length == 1 else to_windows(ds, cls.sequence_length)
    data = {k: jnp.asarray(v) for k, v in arrays.items()}
    data["reward"] = data["reward"] * scale
    return data


def train_and_act(name, overrides, spec, ds, seeds, steps=STEPS):
    """Train ``seeds`` copies of a plugin together (the harness' jitted, vmapped chunk), then one greedy
    joint decision per seed on the game's constant observation: actions [S, N] or [S, N, A]."""
    cls = algorithms.get(name)
    cls.check_spec(spec)
    cfg = cls.make_config({**TINY, **overrides}, allow_cost_override=True)
    states = init_states(cls, spec, cfg, seeds)
    keys = jnp.stack([jax.random.PRNGKey(100 + s) for s in seeds])
    states, metrics = make_chunk(cls, 64, steps)(states, keys, _data(cls, ds))
    if not np.all(np.isfinite(np.asarray(metrics["loss"]))):  # a crash, not the known failure of a strict xfail
        raise FloatingPointError(f"{name}: non-finite loss")
    s = len(seeds)
    obs = jnp.ones((s, spec.n_agents, spec.obs_dim))
    legal = jnp.ones((s, spec.n_agents, spec.legal_dim), bool)
    act_keys = jnp.stack([jax.random.PRNGKey(7)] * s)
    return np.asarray(jax.vmap(cls.act)(states, obs, legal, act_keys))


# ---- discrete: the coordination game ---------------------------------------------------------------
# MACQL's discrete default is independent Q-learning with a per-agent CQL penalty (MAC-Flow App. H.2). On
# this game each agent's own value already points to 1: E[r | a_i = 1] = 1.06 > E[r | a_i = 0] = 0.87
# (both agents, x 10 here). The per-agent CQL fixed point Q(a) = y(a) - alpha (softmax(Q)(a) / p(a) - 1)
# with p = (0.52, 0.48), alpha = 3 shrinks that gap of 1.9 to about 0.5, which the tiny nets reach slowly:
# measured (1,1) on 3 of 6 seeds at 300 steps, 6 of 6 at 1 000 (and 0 of 6 for the broken weight 1000).
# The mixed variant (mixer=qmix, og-marl qmix_cql) finds it on 6 of 6 at 300 steps. Whether a mixer is
# *needed* is the credit-assignment task's question, not this game's.
STEPS_OF = {"macql": 1000}


def coordination_rate(name, overrides=None):
    task = get_task("games/coordination")
    a = train_and_act(name, overrides or {}, task.spec, task.make_dataset(0), DISCRETE_SEEDS,
                      steps=STEPS_OF.get(name, STEPS))
    return float(np.mean(np.all(a == 1, axis=-1))), a


@pytest.fixture(scope="module")
def bc_rate():
    rate, a = coordination_rate("bc")
    assert np.all(a == 0), f"bc should imitate the 52/48 marginals and pick (0,0), got {a.tolist()}"
    return rate


# slow: each plugin's default-run learning test is its bootstrapping one in tests/test_known_answer.py (stitch for
# mabcq, macql and omiga, delay for icq), which beats BC there too and trains its broken variant beside it
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mabcq", "macql", "icq", "omiga"])
def test_finds_the_rare_optimal_joint_action_that_bc_misses(name, bc_rate):
    rate, a = coordination_rate(name)
    print(f"{name}: (1,1) chosen by {rate:.2f} of seeds (bc: {bc_rate:.2f}); joint actions {a.tolist()}")
    assert rate >= FIND_RATE and rate > bc_rate, f"{name} picked (1,1) for {rate:.2f} of seeds: {a.tolist()}"


# Broken variants, each removing what the method's claim rests on:
# * mabcq, threshold 1.0: only the behaviour policy's favourite action is admissible, i.e. BC's (0,0).
# * macql, conservative weight 1000: the penalty drowns the TD loss, Q ranks actions by data frequency.
# * icq, beta 1e4: batch-softmax weights become uniform, the actor is plain BC.
# * omiga, alpha 1e5: exp(w A / alpha) = 1, the policy update is plain BC.
BROKEN = {"mabcq": {"threshold": 1.0}, "macql": {"cql_weight": 1000.0}, "icq": {"beta": 1e4}, "omiga": {"alpha": 1e5}}


@pytest.mark.slow  # as the test above
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_variant_misses_the_optimum(name):
    rate, a = coordination_rate(name, BROKEN[name])
    print(f"{name} {BROKEN[name]}: (1,1) chosen by {rate:.2f} of seeds; joint actions {a.tolist()}")
    assert rate < FIND_RATE, f"the broken variant {name} {BROKEN[name]} still finds (1,1): the test cannot fail"


# ---- continuous: a two-agent bandit with a rare good mode ---------------------------------------------
BANDIT_SPEC = EnvSpec(n_agents=2, obs_dim=1, state_dim=1, action_kind="continuous", action_dim=1, episode_length=1)


def bandit_reward(a):
    """a [..., 2, 1] -> r [...]; unscaled (2 at the optimum (0.5, 0.5)): the plugins train on REWARD_SCALE times
    it (``_data``), and the pass marks below are on this scale."""
    return 2.0 - np.sum((np.asarray(a)[..., 0] - 0.5) ** 2, -1)


def bandit_dataset(seed=0, n=4000, p_good=0.2) -> Dataset:
    rng = np.random.default_rng(seed)
    good = rng.random((n, 2)) < p_good
    a = np.clip(np.where(good, 0.5, -0.5) + 0.1 * rng.standard_normal((n, 2)), -1, 1).astype(np.float32)
    return Dataset(observations=np.ones((1, n, 2, 1), np.float32), actions=a[None, :, :, None],
                   rewards=bandit_reward(a[..., None]).astype(np.float32)[None],
                   terminals=np.ones((1, n), bool), truncations=np.zeros((1, n), bool),
                   legal=np.ones((1, n, 2, 1), bool), state=np.zeros((1, n, 1), np.float32))


def bandit_score(name, overrides=None):
    a = train_and_act(name, overrides or {}, BANDIT_SPEC, bandit_dataset(), CONTINUOUS_SEEDS)
    return bandit_reward(a), a


@pytest.fixture(scope="module")
def bc_bandit():
    r, a = bandit_score("bc")
    assert np.all(a < 0), f"bc should sit between the modes, nearer the frequent bad one: {a.tolist()}"
    return float(r.mean())


# The optimum scores 2.0, BC about 0.74 (its mean action is ~-0.3), and the constant midpoint action 0, which
# needs no learning of where the good mode is, 1.5. "Learns the good mode" = the mean reward over 3 seeds is at
# least PASS (1.6) and every seed beats the midpoint's 1.5 (so BC, random and the midpoint all fail).
MIDPOINT, PASS = 1.5, 1.6


def _assert_finds_the_good_mode(name, bc, overrides=None):
    r, a = bandit_score(name, overrides)
    print(f"{name}: rewards {r.round(2).tolist()} (bc {bc:.2f}, midpoint {MIDPOINT}, optimum 2.0); "
          f"actions {a[..., 0].round(2).tolist()}")
    assert r.mean() >= PASS and r.min() > MIDPOINT, f"{name}: rewards {r.tolist()} (pass {PASS}, bc {bc:.2f})"


# slow: matd3bc's and omar's default-run learning tests are continuous stitching (tests/test_known_answer.py).
# Measured: omar 1.955, 2.0, 1.988 (actions 0.29-0.58; bc 0.73, 0.75, 0.72)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["matd3bc", "omar"])
def test_continuous_bandit_beats_bc(name, bc_bandit):
    _assert_finds_the_good_mode(name, bc_bandit)


# Measured below the pass mark (seeds of CONTINUOUS_SEEDS, bc 0.73): both beat BC on every seed but stay below the
# midpoint action's 1.5. Both causes are measured: OMIGA's temperature, BCQ's latent clip.
BANDIT_KNOWN = {
    "omiga": ("measured: rewards 0.88, 0.94, 0.85 (bc 0.73, pass >= 1.6). A property of OMIGA's temperature at this "
              "reward scale: its policy is a Gaussian fitted by regression weighted with exp(w (Q - V) / alpha), and "
              "the two modes' values differ by about 1 per agent, so at the paper's alpha = 10 the weights are within "
              "~10% of uniform and the mean stays near the data's; at alpha 3: 1.51, 1.45, 1.42; at alpha 1: 2.00, "
              "1.97, 1.98 (test_without_the_measured_cause_the_bandit_xfails_beat_bc)"),
    "mabcq": ("measured: rewards 1.05, 1.07, 1.15, actions -0.13 to -0.24 (bc 0.73, pass >= 1.6); 0.99, 0.93, 1.03 "
              "before the VAE loss took the BCQ code's means. A property of BCQ's candidate generator: "
              "it decodes latents clipped to [-0.5, 0.5], the prior's central 38%, and the good mode holds 20% of "
              "each agent's data, so no candidate reaches it; with the clip at 3: 1.99, 1.83, 1.80 "
              "(test_without_the_measured_cause_the_bandit_xfails_beat_bc)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=known_failure(n, BANDIT_KNOWN))
                                  for n in ["icq", "omiga", "macql", "mabcq"]])
def test_continuous_bandit_beats_bc_slow(name, bc_bandit):
    _assert_finds_the_good_mode(name, bc_bandit)


# The causes of the two xfails above, each removed by one setting (measured):
# * mabcq, latent_clip 3: decoding latents up to +-3 reaches the 20% mode (1.99, 1.83, 1.80);
# * omiga, alpha 1: a temperature at this reward scale separates the modes' advantage weights (2.00, 1.97, 1.98).
BANDIT_CAUSES = {"mabcq": {"latent_clip": 3.0}, "omiga": {"alpha": 1.0}}


@pytest.mark.slow  # ~100 s each idle
@pytest.mark.parametrize("name", sorted(BANDIT_CAUSES))
def test_without_the_measured_cause_the_bandit_xfails_beat_bc(name, bc_bandit):
    _assert_finds_the_good_mode(name, bc_bandit, BANDIT_CAUSES[name])


# ---- contract details specific to these plugins -----------------------------------------------------
@pytest.mark.parametrize("name", ["matd3bc", "omar"])
def test_continuous_only_plugins_reject_discrete_tasks(name):
    cls = algorithms.get(name)
    assert cls.supports == frozenset({"continuous"})
    with pytest.raises(ConfigError, match="supports: continuous"):
        cls.check_spec(get_task("games/coordination").spec)


def test_mabcq_vae_loss_averages_over_dimensions_as_the_bcq_code():
    """BCQ code: F.mse_loss(recon, a) + 0.5 * KL.mean() over latent dims, per sample; the "sum" switch sums both."""
    from algorithms.mabcq import vae_loss

    recon, a = jnp.array([[0.2, -0.4]]), jnp.array([[0.5, 0.1]])
    mu, log_std = jnp.array([[0.3, -0.2, 1.0, 0.0]]), jnp.array([[0.0, -1.0, 0.5, 0.2]])
    se = np.array([0.09, 0.25])
    kl = -0.5 * (1 + 2 * np.asarray(log_std) - np.asarray(mu) ** 2 - np.exp(2 * np.asarray(log_std)))
    np.testing.assert_allclose(float(vae_loss(recon, a, mu, log_std)[0]), se.mean() + 0.5 * kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(vae_loss(recon, a, mu, log_std, "sum")[0]), se.sum() + 0.5 * kl.sum(), rtol=1e-5)
    assert algorithms.get("mabcq").Config().vae_reduce == "mean"


def _with_huge_q(params, action, value=1000.0):
    """The Q network's output bias raised by ``value`` at ``action``: Q(., action) is huge at every input."""
    if not any(k.startswith("Dense_") for k in params):  # down to the MLP (through "params", an ensemble's vmap)
        (key,) = params
        return {key: _with_huge_q(params[key], action, value)}
    last = max((k for k in params if k.startswith("Dense_")), key=lambda k: int(k.split("_")[1]))
    return {**params, last: {**params[last], "bias": params[last]["bias"].at[..., action].add(value)}}


def test_discrete_targets_and_penalties_ignore_illegal_actions():
    """An illegal action with a huge Q never enters a greedy choice, a TD target or the CQL log-sum-exp."""
    from algorithms.base import Batch
    from algorithms.value import cql_discrete

    q = jnp.array([[0.0, 1.0, 50.0]])
    legal = jnp.array([[True, True, False]])
    pen = float(cql_discrete(q, jnp.array([1]), legal)[0])
    assert abs(pen - (float(jax.nn.logsumexp(jnp.array([0.0, 1.0]))) - 1.0)) < 1e-5
    spec = EnvSpec(n_agents=2, obs_dim=3, action_kind="discrete", action_dim=4, state_dim=2, has_legal=True)
    obs = jax.random.normal(jax.random.PRNGKey(1), (64, 2, 3))
    only = jax.random.randint(jax.random.PRNGKey(2), (64, 2), 0, 3)  # never action 3
    legal = jax.nn.one_hot(only, 4).astype(bool)
    for name in ("mabcq", "macql", "icq", "omiga"):
        c = algorithms.get(name)
        st = c.init(jax.random.PRNGKey(0), spec, c.make_config(TINY))
        np.testing.assert_array_equal(np.asarray(c.act(st, obs, legal, jax.random.PRNGKey(3))), np.asarray(only),
                                      err_msg=f"{name} chose an illegal action")
    # TD targets: Q(., 3) = Q(., 3) + 1000 in the online and target critics, action 3 illegal at every next
    # observation (and never taken). The greedy next action (macql; mabcq among its admissible actions) must
    # be a legal one, so the critic's TD error stays of the order of its initial outputs; a target that took
    # the max over all actions would be ~ 1000 gamma, and macql's per-agent CQL penalty ~ 1000 likewise.
    batch = Batch(obs=obs, actions=only, reward=jnp.zeros(64), next_obs=obs[::-1], terminal=jnp.zeros(64),
                  legal=legal, next_legal=legal[::-1], state=jnp.zeros((64, 2)), next_state=jnp.zeros((64, 2)),
                  valid=jnp.ones(64))
    for name in ("mabcq", "macql"):
        c = algorithms.get(name)
        st = c.init(jax.random.PRNGKey(0), spec, c.make_config(TINY))
        st = st.replace(params={**st.params, "q": _with_huge_q(st.params["q"], 3)},
                        target={**st.target, "q": _with_huge_q(st.target["q"], 3)})
        loss = float(jax.jit(c.update)(st, batch, jax.random.PRNGKey(4))[1]["loss"])
        assert loss < 100.0, f"{name}: loss {loss:.0f}: the illegal action's Q = 1000 entered the TD target or penalty"
        leaky = st.replace(params={**st.params, "q": _with_huge_q(st.params["q"], only[0, 0])},
                           target={**st.target, "q": _with_huge_q(st.target["q"], only[0, 0])})
        # the check can fail: the same 1000 on a legal action does reach the loss
        assert float(jax.jit(c.update)(leaky, batch, jax.random.PRNGKey(4))[1]["loss"]) > 1000.0, name


def test_mixers_are_monotone_and_broadcast_over_twin_heads():
    """Known outputs where they are fixed (mean, vdn: the average and the sum of Q_i; icq: weights k(s) >= 0
    summing to 1; omiga: w(s) >= 0), and, for the state-dependent mixers, monotone in every Q_i at many random
    states and parameters (a mixer whose |W| were dropped breaks it for some of them), with a non-zero
    gradient; twin heads broadcast over the state's axes."""
    from algorithms.nets import StateMixer

    q = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 3))
    s = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
    for kind, expect in (("mean", q.mean(-1)), ("vdn", q.sum(-1)), ("none", q)):
        mix = StateMixer(kind, 3, 8, 16)
        out = mix.apply(mix.init(jax.random.PRNGKey(2), q, s), q, s)
        np.testing.assert_allclose(np.asarray(out), np.asarray(expect), rtol=1e-6, err_msg=kind)
    for kind in ("qmix", "omiga", "icq"):
        mix = StateMixer(kind, 3, 8, 16)
        for i in range(8):
            s = 3.0 * jax.random.normal(jax.random.PRNGKey(10 + i), (64, 4))
            q = 5.0 * jax.random.normal(jax.random.PRNGKey(20 + i), (2, 64, 3))
            p = mix.init(jax.random.PRNGKey(30 + i), q, s)
            out = mix.apply(p, q, s)
            assert out.shape == (2, 64)
            grads = np.asarray(jax.grad(lambda x: mix.apply(p, x, s).sum())(q))
            assert np.all(grads >= 0), f"{kind} mixer is not monotone in Q_i"
            # (an ELU saturated at a very negative input has a zero gradient in float32 at some rows)
            assert np.all(grads.sum(axis=(0, 1)) > 0), f"{kind} mixer ignores an agent's Q_i"
            if kind != "qmix":
                w, b = mix.apply(p, s, method="weights")
                assert np.all(np.asarray(w) >= 0) and b.shape == (64,)
                np.testing.assert_allclose(np.asarray(out), np.asarray(jnp.sum(q * w, -1) + b), rtol=1e-5, atol=1e-5)
                if kind == "icq":
                    np.testing.assert_allclose(np.asarray(w.sum(-1)), 1.0, rtol=1e-5)


# ---- MPE Spread, generated Medium-Replay data --------------------------------------------------------
# A short run (2 seeds, [128, 128] nets, batch 256) on the generated mpe-gen/spread-medium-replay data (400
# episodes of a replay whose epsilon-random share falls from 1 to 0.8; normalised return ~23), evaluated
# in mpe2 over 32 episodes per seed. Normalised scores put the uniform-random policy at 0 and the
# scripted expert at 100. Standing still scores about the same as random (measured: -3.6), so a score
# needs agents that head for the landmarks. "Clear margin": every seed >= 10 and the mean >= 15; the
# evaluation's standard error is about 3 points (per-episode std ~5 return = ~24 points, 64 episodes).
# Measured at these settings: icq 26.7 / 31.6, omiga 33.5 / 37.4, matd3bc 28.8 / 34.3 (2k steps, default
# run; with the QMIX mixer one matd3bc seed collapses, see its docstring); macql
# 27.3 / 18.2, omar 41.6 / 34.1 (2k steps), mabcq 28.5 / 25.6 (5k steps) (slow: minutes each on 2 CPU
# cores). BC scores ~25 here, so this shows learning, not an advantage over imitation; that is shown on
# the coordination and continuous bandit games above.
MPE_SEEDS = (0, 1)
MPE_STEPS = {"icq": 2000, "omiga": 2000, "matd3bc": 2000, "macql": 2000, "omar": 2000, "mabcq": 5000}
MPE_SEED_FLOOR, MPE_MEAN_FLOOR = 10.0, 15.0


@pytest.fixture(scope="module")
def mpe_data(tmp_path_factory):
    yield from generated_data_dir(tmp_path_factory, "small")


def _zero_action_score(refs):
    from benchmarks.envs.mpe import Spread

    env = Spread().batch(64, 123)
    env.reset()
    total = np.zeros(64)
    for _ in range(25):
        total += env.step(np.zeros((64, 3, 2), np.float32))[3]
    env.close()
    return 100.0 * (total.mean() - refs["random"]) / (refs["expert"] - refs["random"])


def _assert_beats_random_on_mpe(name, mpe_data, tmp_path):
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    steps = MPE_STEPS[name]
    final = train(RunConfig(name, "mpe-gen/spread-medium-replay", seeds=MPE_SEEDS, steps=steps, eval_every=steps,
                            eval_episodes=32, batch_size=256, overrides={"hidden": (128, 128)}),
                  results=tmp_path / "runs")
    card = final["dataset"]
    assert card["quality"] == "Medium-Replay" and card["episodes"] == 400
    floor = _zero_action_score(card["refs"])
    assert floor < MPE_SEED_FLOOR, f"standing still scores {floor:.1f}: the threshold would not need learning"
    scores = np.asarray(final["normalised"])
    print(f"{name}: normalised {scores.round(1).tolist()} (random 0, standing still {floor:.1f}, "
          f"data {card['normalised_return']:.1f})")
    assert scores.min() >= MPE_SEED_FLOOR and scores.mean() >= MPE_MEAN_FLOOR, f"{name}: {scores.tolist()}"


# the costliest first (they are handed to the test workers in file order)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["macql", "omar", "mabcq"])
def test_beats_random_on_mpe_medium_replay_slow(name, mpe_data, tmp_path):
    _assert_beats_random_on_mpe(name, mpe_data, tmp_path)


# slow: 95-150 s each (idle, two test workers); each plugin keeps a default-run learning test on a game
# (coordination, the continuous bandit, games/stitch(-cont) in tests/test_known_answer.py)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["icq", "omiga", "matd3bc"])
def test_beats_random_on_mpe_medium_replay(name, mpe_data, tmp_path):
    _assert_beats_random_on_mpe(name, mpe_data, tmp_path)


def test_omar_averages_its_imitation_and_l2_terms_over_action_dimensions():
    """Known answer on the actor loss: with c = 1 (pure imitation of a_hat, no Q term) and L2 weight 1,
    the loss is E[reduce_d (pi - a_hat)_d^2 + reduce_d pi_d^2]; from the same parameters and key (same
    CEM, same a_hat) the summed variant is exactly |A| = 3 times the default, so the default is the
    official code's mean (F.mse_loss, (pi ** 2).mean()), not the old sum (ratio 1 on the old code)."""
    spec = EnvSpec(n_agents=2, obs_dim=4, action_kind="continuous", action_dim=3, state_dim=0)
    cls = algorithms.get("omar")
    assert cls.default_config().action_reduce == "mean"
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    B = 16
    batch = algorithms.base.Batch(
        obs=jax.random.normal(k[0], (B, 2, 4)), actions=jax.random.uniform(k[1], (B, 2, 3), minval=-1, maxval=1),
        reward=jnp.ones(B), next_obs=jax.random.normal(k[2], (B, 2, 4)), terminal=jnp.zeros(B),
        legal=jnp.ones((B, 2, 1), bool), next_legal=jnp.ones((B, 2, 1), bool), state=jnp.zeros((B, 0)),
        next_state=jnp.zeros((B, 0)), valid=jnp.ones(B))

    def actor_loss(reduce):
        cfg = cls.make_config({"hidden": (16,), "omar_coe": 1.0, "action_reg": 1.0, "action_reduce": reduce})
        state = jax.jit(cls.init, static_argnums=(1, 2))(jax.random.PRNGKey(1), spec, cfg)
        return float(jax.jit(cls.update)(state, batch, k[3])[1]["actor_loss"])

    mean, summed = actor_loss("mean"), actor_loss("sum")
    assert mean > 1e-3, mean
    np.testing.assert_allclose(summed / mean, 3.0, rtol=1e-4)


def test_macql_defaults_are_independent_in_discrete_and_mixed_in_continuous():
    """MAC-Flow App. H.2: discrete CQL is independent Q-learning ("unlike continuous control", F.1's mixer):
    the "auto" defaults resolve by action kind; explicit choices are kept, and the discrete mixed variant
    gets og-marl qmix_cql's joint penalty."""
    from algorithms.macql import resolve

    cls = algorithms.get("macql")
    disc = EnvSpec(n_agents=2, obs_dim=1, action_kind="discrete", action_dim=2)
    cont = EnvSpec(n_agents=2, obs_dim=1, action_kind="continuous", action_dim=1)
    d = resolve(disc, cls.default_config())
    c = resolve(cont, cls.default_config())
    assert (d.mixer, d.cql) == ("none", "agent") and c.mixer == "qmix"
    m = resolve(disc, cls.make_config({"mixer": "qmix"}))
    assert (m.mixer, m.cql) == ("qmix", "joint")
    assert resolve(disc, cls.make_config({"mixer": "qmix", "cql": "agent"})).cql == "agent"
    with pytest.raises(ConfigError, match="mixer must be one of"):
        cls.init(jax.random.PRNGKey(0), disc, cls.make_config({"mixer": "sum"}))


def test_macql_continuous_independent_switch_fits_each_agents_own_value():
    """mixer=none with continuous actions (the independent switch of games/credit-cont's test): each agent's
    critic is regressed on its own to the team reward (it crashed on a [B] vs [B, N] broadcast before). Known
    answer on one-step transitions (terminal) with a constant observation: agent 1 always plays +0.5; agent 2
    plays +0.5 (team reward 20) or -0.5 (reward 0) half the time each. Independent learners fit
    Q_1(+0.5) = E[r] = 10, Q_2(+0.5) = 20 and Q_2(-0.5) = 0; any mixed critic fits the pair jointly instead
    (the mean mixer: Q_1 + Q_2(+0.5) = 40 and Q_1 + Q_2(-0.5) = 0, so Q_2(+0.5) = 20 only if Q_1 = 20, when
    Q_2(-0.5) = -20). The CQL penalty is off (weight 0): this checks the target each critic regresses to."""
    from algorithms.base import Batch
    from algorithms.macql import _nets, resolve

    cls = algorithms.get("macql")
    spec = EnvSpec(n_agents=2, obs_dim=1, action_kind="continuous", action_dim=1, state_dim=1)
    cfg = cls.make_config({"hidden": (16, 16), "mixer": "none", "cql_weight": 0.0, "value_lr": 3e-3})
    B = 64
    a2 = jnp.where(jnp.arange(B) % 2 == 0, 0.5, -0.5)
    actions = jnp.stack([jnp.full(B, 0.5), a2], -1)[..., None]
    batch = Batch(obs=jnp.ones((B, 2, 1)), actions=actions, reward=jnp.where(a2 > 0, 20.0, 0.0),
                  next_obs=jnp.ones((B, 2, 1)), terminal=jnp.ones(B), legal=jnp.ones((B, 2, 1), bool),
                  next_legal=jnp.ones((B, 2, 1), bool), state=jnp.zeros((B, 1)), next_state=jnp.zeros((B, 1)),
                  valid=jnp.ones(B))
    train = jax.jit(lambda st, keys: jax.lax.scan(lambda s, k: (cls.update(s, batch, k)[0], None), st, keys)[0])
    state = train(cls.init(jax.random.PRNGKey(0), spec, cfg), jax.random.split(jax.random.PRNGKey(1), 600))
    net = _nets(spec, resolve(spec, cfg))["q"]
    q = lambda a: np.asarray(net.apply(state.params["q"], jnp.concatenate(
        [with_agent_id_of(2), jnp.asarray(a, jnp.float32).reshape(1, 2, 1)], -1))).mean(0)[0].reshape(-1)  # both heads' mean
    q1_plus, q2_plus = q([0.5, 0.5])
    _, q2_minus = q([0.5, -0.5])
    print(f"Q_1(+0.5) {q1_plus:.2f}, Q_2(+0.5) {q2_plus:.2f}, Q_2(-0.5) {q2_minus:.2f}")
    assert abs(q1_plus - 10.0) < 1.5 and abs(q2_plus - 20.0) < 1.5 and abs(q2_minus) < 1.5, (q1_plus, q2_plus, q2_minus)


def with_agent_id_of(n):
    from algorithms.nets import with_agent_id

    return with_agent_id(jnp.ones((1, n, 1)))
