"""Known-answer tests of bootstrapping and value mixing: games/stitch, games/stitch-cont, games/credit, games/credit-cont.

The tasks (rules, datasets and exact answers in benchmarks/envs/games.py's docstring):

* stitch / stitch-cont: 3-step episodes, 2 agents, team reward. The optimum S -> M -> N -> G (team
  return 40) needs one behaviour's start and another's continuation, two bootstrapped steps away from
  the +20; behaviour cloning goes S -> M -> W (0), a learner that ignores the future (discount 0, or a
  target network that never moves) takes the +5 at S (10). Uniform random: 10; the data's mean: 14.5.
* credit: one step; reward 10 a1 + 20 a2; the data's anti-correlated agents make agent 1's own value
  E[r | a1] prefer 0, so independent learners pick (0,1) (20), BC (1,0) (10), and an additive mixed
  value (1,1) (30).
* credit-cont: the same reward with actions in [-1, 1] (move 1 iff a > 0) and the agents' roles swapped, so that
  a deterministic actor pulled to the data's mean action starts on the wrong side for agent 1: BC and
  independent learners play (0,1) (20), an additive mixed value (1,1) (30).

Every plugin runs at its defaults (the paper's hyper-parameters: discount, target updates, CQL weight,
alpha, flow steps, ...); only the network width shrinks to ``TINY`` (hidden (32, 32)). Several seeds
train together in one vmapped program. The rewards are in tens, the scale at which the defaults'
reward-unit weights (CQL 3, OMIGA alpha 10, ...) are meaningful (tests/test_value_baselines.py).

Pass criteria (team return, mean over seeds and evaluation episodes):
* stitch: >= ``STITCH_PASS`` = 30, i.e. on average at least three of the four agent-runs stitch
  (one agent stitching and the other taking the +5 scores 25). BC scores 0, discount 0 scores 10.
* credit: >= ``CREDIT_PASS`` = 27 over 4 seeds (at least 3 of 4 seeds at (1,1), the others at (0,1));
  independent learners score 20, BC 10.

Measured (team return per seed; 2 CPU cores shared by ~20 processes, so not timed): discrete stitch
(1000 steps): mabcq 40, 40 (discount 0: 10, 10); macql 40, 40 (discount 0: 10, 10); omiga 40, 40
(discount 0: 5, 0); bc 0, 0; icq / macflow / mafql see KNOWN. Continuous stitch, actions at S, M, N
after 3000 steps (move 1 iff > 0; all positive = 40): matd3bc (.39, .32, .49) / (.37, .28, .48), omar
(.49, .49, .47) / (.49, .48, ..), omiga (.31, .35, .53) / (.33, .36, ..), vgm2p (.75, .43, .49) /
(.79, .48, .77), macql all > .5 at 2000; bc 0, 0. Not measured: continuous mabcq, macflow, mafql, om2p
and their discount-0 variants (slow run). Credit (500 steps, seeds 0-3): mabcq 30 x 4 (mixer none: 20,
20, 20, 30), omiga 30 x 4, macql none 20 x 4, bc 10 x 4; macql / icq / macflow see CREDIT_KNOWN. Continuous
credit (3000 steps, seeds 0-3, loaded machine): matd3bc 30 x 4 (mixer none: 20 x 4), omiga 30 x 4, mabcq
30 x 4 (mixer none: 20 x 4), macql 30 x 4 (mixer none: 20 x 4), bc 20 x 4 (1000 steps); macflow in
CREDIT_CONT_KNOWN.
"""
from __future__ import annotations

import functools
import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
from benchmarks.data import games as gdata
from benchmarks.envs import games
from benchmarks.tasks import get_task
from benchmarks.training.evaluate import make_evaluator
from benchmarks.training.train import fit
from tests.conftest import known_failure

TINY = {"hidden": (32, 32)}
STITCH_PASS = 30.0
CREDIT_PASS = 27.0
EPISODES = 16


def evaluate(name, task_id, overrides=None, seeds=(0, 1), steps=1000):
    """Train ``seeds`` copies of a plugin at its defaults (width ``TINY``), then roll each out: returns [S]."""
    cls, task, states = fit(name, task_id, {**TINY, **(overrides or {})}, seeds=seeds, steps=steps)
    rollouts = make_evaluator(task.make_env(), cls, EPISODES)
    returns, _ = rollouts(states, jnp.stack([jax.random.PRNGKey(900 + s) for s in seeds]))
    return np.asarray(returns).mean(-1)


# ---- the tasks' exact answers -----------------------------------------------------------------------------
def _stitch_values(gamma):
    """Backward induction on one agent's graph (the team reward is the sum of the agents' rewards and the
    agents' dynamics are independent, so the joint optimum is each agent's): Q[t, node, move]."""
    n = len(games.STITCH_NODES)
    v = np.zeros(n)
    qs = []
    for _ in range(games.STITCH_STEPS):
        q = games.STITCH_REWARD + gamma * v[games.STITCH_NEXT]
        qs.append(q)
        v = q.max(-1)
    return qs[::-1]


def _returns_of_moves(env, moves):
    """Team returns of the JAX environment driven by fixed joint moves: moves [K, T, 2] -> [K] (one jitted
    rollout; continuous actions +-0.7 for moves 1 / 0)."""

    def one(m):
        state, *_ = env.reset(jax.random.PRNGKey(0))
        total, done = 0.0, False
        for t in range(games.STITCH_STEPS):
            a = jnp.where(m[t] == 1, 0.7, -0.7)[:, None] if env.continuous else m[t]
            state, _, _, _, r, done, _ = env.step(state, a, None)
            total = total + r
        return total, done

    rets, done = jax.jit(jax.vmap(one))(jnp.asarray(np.asarray(moves), jnp.int32))
    assert np.all(np.asarray(done)), "the episode did not end after STITCH_STEPS steps"
    return np.asarray(rets)


ALL_MOVES = np.array(list(itertools.product((0, 1), repeat=6))).reshape(-1, 3, 2)  # every joint move sequence


@functools.lru_cache(None)
def _all_returns(continuous):
    return _returns_of_moves(games.Stitch(continuous), ALL_MOVES)


def _run_moves(env, moves_per_step):
    """Team return of one sequence of joint moves [T, 2], looked up among all 64 (one compilation)."""
    k = int(np.flatnonzero(np.all(ALL_MOVES == np.asarray(moves_per_step), axis=(1, 2)))[0])
    return float(_all_returns(env.continuous)[k])


def _greedy_moves(qs):
    node, moves = games.S_, []
    for q in qs:
        m = int(np.argmax(q[node]))
        moves.append([m, m])
        node = games.STITCH_NEXT[node, m]
    return moves


@pytest.mark.parametrize("continuous", [False, True])
def test_stitch_optimum_random_and_myopic_returns_are_exact(continuous):
    env = games.Stitch(continuous)
    for gamma in (0.99, 0.995, 1.0):  # the optimum is the same over the plugins' discounts and beyond
        moves = _greedy_moves(_stitch_values(gamma))
        assert moves == [[1, 1]] * 3, (gamma, moves)
        assert _run_moves(env, moves) == games.STITCH_OPTIMUM == 40.0
    # an exhaustive check: no sequence of joint moves beats it, and uniform random moves average 10
    rets = _all_returns(continuous)
    assert max(rets) == games.STITCH_OPTIMUM
    assert np.mean(rets) == games.STITCH_RANDOM == 10.0
    # discount 0: the +5 at S
    assert _run_moves(env, _greedy_moves(_stitch_values(0.0))) == 10.0
    doc = " ".join(games.__doc__.split())
    assert "team return 2 x 20 = 40" in doc and "Uniform random: per agent 5/2 (T) + 20/8 (G) = 5, team 10" in doc
    task = get_task("games/stitch-cont" if continuous else "games/stitch")
    assert task.refs() == (10.0, 40.0)


@pytest.mark.parametrize("continuous", [False, True])
def test_stitch_data_is_suboptimal_and_its_modes_score_zero(continuous):
    ds = gdata.stitch_dataset(continuous, seed=0)
    rets = ds.episode_returns()
    assert rets.max() == 40.0 and abs(rets.mean() - 14.5) < 1.0  # 2 (.25 x 5 + .3 x 20)
    # no episode of the data starts at S and reaches G: the optimum is made of pieces
    starts_at_s = ds.observations[:, 0, :, games.S_] == 1
    reached_g = ds.observations[:, -1, :, games.G_] == 1  # observed before the last move ...
    last_goal = (ds.observations[:, -1, :, games.N_] == 1)  # ... or about to enter G from N
    assert not np.any(starts_at_s & (reached_g | last_goal))
    # behaviour cloning's modes: the most frequent move at each observation, rolled out from S
    moves = (ds.actions[..., 0] > 0).astype(int) if continuous else ds.actions
    node, bc_moves = games.S_, []
    for t in range(games.STITCH_STEPS):
        here = (ds.observations[:, t, :, node] == 1)
        m = int(np.mean(moves[:, t][here]) > 0.5)
        bc_moves.append([m, m])
        node = games.STITCH_NEXT[node, m]
    assert bc_moves[:2] == [[1, 1], [0, 0]], bc_moves  # S -> M -> W
    assert _run_moves(games.Stitch(continuous), bc_moves) == 0.0
    # B's move at M is inside MABCQ's admissible set (p(N) / p(W) >= threshold 0.4)
    at_m = ds.observations[:, 1, :, games.M_] == 1
    ratio = np.mean(moves[:, 1][at_m] == 1) / np.mean(moves[:, 1][at_m] == 0)
    assert 0.55 < ratio < 0.8, ratio  # 30 / 45


def test_credit_marginal_values_mislead_and_the_additive_fit_finds_the_optimum():
    ds = gdata.credit_dataset(seed=0)
    a, r = ds.actions[0], ds.rewards[0]
    cond = {(i, v): float(r[a[:, i] == v].mean()) for i in range(2) for v in range(2)}
    # the docstring's numbers, up to sampling error (10 000 samples: standard errors ~0.1)
    expect = {(0, 1): 11.48, (0, 0): 17.39, (1, 1): 20.91, (1, 0): 8.93}
    for k, v in expect.items():
        assert abs(cond[k] - v) < 0.5, (k, cond[k], v)
    doc = " ".join(games.__doc__.split())
    for v in ("11.48", "17.39", "20.91", "8.93"):
        assert v in doc
    independent = (int(cond[(0, 1)] > cond[(0, 0)]), int(cond[(1, 1)] > cond[(1, 0)]))
    assert independent == (0, 1) and games.CREDIT_REWARD[independent] == 20.0
    # behaviour cloning's greedy joint action: each agent's most frequent action
    bc = tuple(int(np.mean(a[:, i]) > 0.5) for i in range(2))
    assert bc == (1, 0) and games.CREDIT_REWARD[bc] == 10.0
    # least squares r ~ b + q1[a1] + q2[a2] on the data (VDN): exact, and its argmax is the optimum
    x = np.stack([np.ones(len(a)), a[:, 0], a[:, 1]], -1).astype(float)
    coef, res, *_ = np.linalg.lstsq(x, r.astype(float), rcond=None)
    np.testing.assert_allclose(coef, [0.0, 10.0, 20.0], atol=1e-3)
    mixed = (int(coef[1] > 0), int(coef[2] > 0))
    assert mixed == (1, 1) and games.CREDIT_REWARD[mixed] == games.CREDIT_REWARD.max() == 30.0
    assert get_task("games/credit").refs() == (float(games.CREDIT_REWARD.mean()), 30.0) == (15.0, 30.0)


def test_credit_cont_marginals_mislead_bc_means_and_the_additive_fit_finds_the_optimum():
    ds = gdata.credit_dataset(seed=0, continuous=True)
    a, r = ds.actions[0, :, :, 0], ds.rewards[0]
    moves = (a > 0).astype(int)
    env = games.BanditGame("credit-cont")
    np.testing.assert_array_equal(np.asarray(env.reward(jnp.asarray(a[:, :, None]))), r)  # rewards are the moves'
    cond = {(i, v): float(r[moves[:, i] == v].mean()) for i in range(2) for v in range(2)}
    expect = {(0, 1): 11.8, (0, 0): 17.9, (1, 1): 20.7, (1, 0): 8.7}  # the docstring's numbers, up to sampling
    for k, v in expect.items():
        assert abs(cond[k] - v) < 0.5, (k, cond[k], v)
    independent = (int(cond[(0, 1)] > cond[(0, 0)]), int(cond[(1, 1)] > cond[(1, 0)]))
    assert independent == (0, 1) and games.CREDIT_REWARD[independent] == 20.0
    # a deterministic actor pulled to the data starts at each agent's mean action; both the means and the modes
    # play (0,1)
    assert tuple(int(m > 0) for m in a.mean(0)) == (0, 1) and a[:, 0].mean() < -0.03
    assert tuple(int(np.mean(moves[:, i]) > 0.5) for i in range(2)) == (0, 1)
    x = np.stack([np.ones(len(a)), moves[:, 0], moves[:, 1]], -1).astype(float)
    coef, *_ = np.linalg.lstsq(x, r.astype(float), rcond=None)
    np.testing.assert_allclose(coef, [0.0, 10.0, 20.0], atol=1e-3)
    assert get_task("games/credit-cont").refs() == (15.0, 30.0)


def test_new_tasks_are_not_in_the_games_default_run():
    from benchmarks.tasks import get_suite

    suite = get_suite("games")
    assert {"stitch", "stitch-cont", "credit", "credit-cont"} <= set(suite.tasks)
    assert not {"stitch", "stitch-cont", "credit", "credit-cont"} & set(suite.default_tasks)


# ---- bootstrapping: every value-guided plugin stitches, its no-bootstrap variant does not -------------------
# Training steps: the +20 is two bootstrapped steps behind S, each behind a target network (hard copy every
# 200 steps, or Polyak tau = 0.005, a time constant of 200 steps), so value reaches S after several hundred
# steps. Discrete: 1000. Continuous: 3000; the deterministic actors also have to move through the target
# policy at each step (measured, matd3bc at its defaults, 2 seeds: the action at M crosses 0 (-> N) at
# 1000 steps, the action at S only at 2500: -0.36 / -0.40 at 1000, +0.21 / +0.23 at 2500, +0.39 / +0.37
# at 3000; so 1000 steps score 10, the myopic answer).
STEPS = {"games/stitch": 1000, "games/stitch-cont": 3000}
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def bc_stitch():
    """Behaviour cloning on both variants: S -> M -> W, team return 0 on every seed."""
    out = {}
    for task in ("games/stitch", "games/stitch-cont"):
        r = evaluate("bc", task, seeds=SEEDS, steps=1000)
        assert np.all(r == 0.0), f"bc on {task} should reproduce the data's modes S -> M -> W (0), got {r}"
        out[task] = float(r.mean())
    return out


def _assert_stitches(name, task, bc):
    r = evaluate(name, task, seeds=SEEDS, steps=STEPS[task])
    print(f"{name} {task}: team returns {r.round(2).tolist()} (bc {bc:.1f}, optimum 40, discount 0: 10)")
    assert r.mean() >= STITCH_PASS, f"{name} on {task}: {r.tolist()} < {STITCH_PASS} (bc {bc})"


def _assert_broken_does_not(name, task, over):
    r = evaluate(name, task, over, seeds=SEEDS, steps=STEPS[task])
    print(f"{name} {over} {task}: team returns {r.round(2).tolist()}")
    assert r.mean() < STITCH_PASS, f"the broken variant {name} {over} still stitches on {task}: {r.tolist()}"


# Each plugin's own stitching task: the discrete one where the plugin runs discrete control in the paper
# (MAC-Flow's SMAC baselines), the continuous one otherwise. Cases that fail at the defaults carry the
# measurement and the reason (see KNOWN).
DISCRETE_STITCH = ("mabcq", "macql", "icq", "omiga", "macflow", "mafql")
CONTINUOUS_STITCH = ("matd3bc", "omar", "vgm2p", "om2p", "omiga", "macql", "mabcq", "macflow", "mafql")
# omar's continuous stitch takes 90 s (idle); its default-run learning test is the continuous bandit
# (tests/test_value_baselines.py); mabcq's discrete stitch (60 s) is slow too, its default-run learning test
# is the credit task (CI time: the U-Net planners' xor tests took its place)
DEFAULT_RUN = {("games/stitch", n) for n in DISCRETE_STITCH if n != "mabcq"} | {("games/stitch-cont", "matd3bc")}
KNOWN = {  # (task, plugin) -> reason of a strict xfail, with the measurement (hidden (32, 32), seeds 0, 1)
    # continuous stitching (3000 steps): the one-step policies' execution noise, measured
    ("games/stitch-cont", "macflow"): (
        "measured: team return 25.0, 21.9 (above BC's 0 and discount 0's 10, below the pass 30) at the defaults, "
        "40, 40 with act_noise=zero (same training): the critic and the policy's z = 0 point stitch, "
        "but the paper's stochastic one-step policy samples a fresh z per decision and keeps the data's modes at "
        "S and M (alpha = 3), so episodes mix stitched and unstitched paths; "
        "test_one_step_policies_at_zero_execution_noise_stitch"),
    ("games/stitch-cont", "mafql"): (
        "measured: team return 23.75, 19.4 at the defaults (above BC's 0 and discount 0's 10, below 30), 40, 40 "
        "with act_noise=zero (measured): as macflow, the sampled execution noise"),
    ("games/stitch", "icq"): (
        "genuine property of ICQ as implemented after ICQ-MA/og-marl: its critic target uses the dataset's own next "
        "action, r + gamma w_Q Q'(s', a'_data), and every transition leaving S for M belongs to behaviour A, whose "
        "next action is W (value 0); so Q(S, M) ~ 0 < Q(S, T) = 5 and the actor takes the +5. Measured: team "
        "return 10, 10 at the defaults and 10, 10 with beta_q = 1 (w_Q sharp), 1000 steps: no stitching"),
    ("games/stitch", "macflow"): (
        "measured: team return 0, 0 (BC's S -> M -> W) at the defaults and 0, 0 at alpha 0.3 (1000 steps). Seed 0 at "
        "the defaults: the one-step policy is the teacher (P(move 1) at S, M, N under z ~ N(0, I): student .80, .42, "
        ".87; teacher .77, .41, .89), and z = 0 picks each mode; the critic, whose TD next actions come from the "
        "behaviour flow, still ranks T over M at S (Q_i 12.3 vs 7.5) while ranking N over W at M (9.9 vs 7.3). "
        "Re-measured with Eq. 9's sum as the default reduction and the games' alpha preset only on the bandit "
        "games: 0, 0. A property of MAC-Flow's design here: TD next actions from the behaviour flow evaluate the "
        "behaviour policy (SARSA-like), and the alpha-3 distillation keeps the one-step policy on the data's modes"),
    ("games/stitch", "mafql"): (
        "measured: team return 0, 0 (BC's S -> M -> W) at the defaults, 40, 5 at alpha 0.3 (1000 steps): the critic "
        "is right and the alpha-3 distillation holds the policy at the teacher's modes. Re-measured after the "
        "student got the teacher's own noise (FQL's same-noise distillation): 0, 0 at the defaults"),
}


def _cases(task, names):
    out = []
    for n in names:
        # a strict xfail still trains: keep it out of the default run
        marks = [] if (task, n) in DEFAULT_RUN and (task, n) not in KNOWN else [pytest.mark.slow]
        marks += known_failure((task, n), KNOWN)
        out.append(pytest.param(task, n, marks=marks, id=f"{task.split('/')[1]}-{n}"))
    return out


@pytest.mark.parametrize("task,name", _cases("games/stitch", DISCRETE_STITCH) + _cases("games/stitch-cont", CONTINUOUS_STITCH))
def test_value_guided_plugins_stitch_at_their_defaults(task, name, bc_stitch):
    _assert_stitches(name, task, bc_stitch[task])


# The broken variant: discount 0, so nothing is bootstrapped; at S the +5 of T beats the 0 of M (measured
# below). It must fail the same criterion.
@pytest.mark.slow
@pytest.mark.parametrize("task,name", [(t, n) for t, names in (("games/stitch", DISCRETE_STITCH),
                                                                ("games/stitch-cont", CONTINUOUS_STITCH))
                                       for n in names if (t, n) not in KNOWN])
def test_without_bootstrapping_they_do_not(task, name):
    _assert_broken_does_not(name, task, {"discount": 0.0})


@pytest.mark.slow  # ~100 s each idle
@pytest.mark.parametrize("name", ["macflow", "mafql"])
def test_one_step_policies_at_zero_execution_noise_stitch(name):
    """The KNOWN stitch-cont failures of the one-step flow policies are their execution noise: the same training
    deployed at z = 0 stitches (measured 40, 40 for both), and without bootstrapping it does not."""
    r = evaluate(name, "games/stitch-cont", {"act_noise": "zero"}, seeds=SEEDS, steps=STEPS["games/stitch-cont"])
    assert r.mean() >= STITCH_PASS, f"{name} act_noise=zero on stitch-cont: {r.tolist()}"
    _assert_broken_does_not(name, "games/stitch-cont", {"act_noise": "zero", "discount": 0.0})


@pytest.mark.slow  # ~90 s idle
def test_mabcq_with_bcqs_vae_loss_summed_over_dimensions_does_not_stitch():
    """The summed VAE loss weighs the KL twice as much as the BCQ code's means, and the VAE collapses onto
    the data's mean action, between the moves, so no candidate reaches N at M (measured: 0, 0; with the
    default means 40, 40; algorithms/mabcq.py)."""
    _assert_broken_does_not("mabcq", "games/stitch-cont", {"vae_reduce": "sum"})


# ---- value mixing: the credit task ---------------------------------------------------------------------------
CREDIT_SEEDS = (0, 1, 2, 3)
CREDIT_STEPS = 500
MIXED = ("mabcq", "macql", "icq", "omiga", "macflow")  # discrete plugins with a value mixer
# MACQL's discrete default is independent Q-learning with the per-agent CQL penalty (MAC-Flow App. H.2), so its
# mixed variant is a switch: QMIX with the per-agent penalty. Measured (500 steps, seeds 0-3): 30, 30, 30, 30;
# with QMIX and the joint penalty of og-marl's qmix_cql (sampled joint actions, weight 3) 20, 20, 20, 20: the
# joint penalty pushes down Q_tot of the rarest joint action, (1,1) at 4% of the data.
MIXED_SWITCH = {"macql": {"mixer": "qmix", "cql": "agent"}}
INDEPENDENT = {"mabcq": {"mixer": "none"}, "macql": {"mixer": "none"}}  # their independent-learner switch
CREDIT_KNOWN = {  # plugin -> reason of a strict xfail, with the measurement (hidden (32, 32), seeds 0-3)
    "icq": (
        "measured (500 steps): returns 30, 0, 0, 20 at the defaults. ICQ's actor weights are a batch softmax of "
        "advantages / beta with beta = 0.1 (ICQ-MA's SMAC value, where rewards are below 1); at this task's reward "
        "scale (tens) exp(A / 0.1) puts the batch's weight on single samples, as measured on the coordination game "
        "at scale 10 (tests/test_value_baselines.py's docstring): a property of ICQ's temperatures at this scale"),
    "macflow": (
        "measured (500 steps): returns 10, 10, 10, 10 at the defaults, BC's (1,0): the alpha-3 distillation holds the "
        "one-step policy at the teacher's marginal modes, and execution at z = 0 lands on the teacher's mode (as on "
        "the coordination game: algorithms/macflow.py's docstring). Re-measured after the distillation and preset "
        "changes: 10, 10, 10, 10; with the bandit games' alpha 0.15: 10, 10, 10, 30"),
}


@pytest.fixture(scope="module")
def bc_credit():
    r = evaluate("bc", "games/credit", seeds=CREDIT_SEEDS, steps=CREDIT_STEPS)
    assert np.all(r == 10.0), f"bc should pick the marginals' modes (1,0) (10), got {r}"
    return float(r.mean())


def _credit_marks(n):
    marks = [] if n == "mabcq" else [pytest.mark.slow]  # each plugin's default-run test is its stitching one
    return marks + known_failure(n, CREDIT_KNOWN)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_credit_marks(n)) for n in MIXED])
def test_a_mixed_value_assigns_credit(name, bc_credit):
    r = evaluate(name, "games/credit", MIXED_SWITCH.get(name), seeds=CREDIT_SEEDS, steps=CREDIT_STEPS)
    print(f"{name} credit: returns {r.round(2).tolist()} (bc {bc_credit:.0f}, independent 20, optimum 30)")
    assert r.mean() >= CREDIT_PASS, f"{name}: {r.tolist()}"


@pytest.mark.slow  # the broken variants of the credit test (mabcq's positive test stays in the default run)
@pytest.mark.parametrize("name", sorted(INDEPENDENT))
def test_independent_learners_are_misled_by_the_marginals(name):
    r = evaluate(name, "games/credit", INDEPENDENT[name], seeds=CREDIT_SEEDS, steps=CREDIT_STEPS)
    print(f"{name} {INDEPENDENT[name]} credit: returns {r.round(2).tolist()}")
    assert r.mean() < CREDIT_PASS, f"{name} without a mixer still finds (1,1): {r.tolist()}"


# ---- value mixing with continuous actions: games/credit-cont --------------------------------------------------
# 3000 steps, as stitch-cont: the critics must reach the reward's scale (tens) before the deterministic actors,
# pulled to the data's mean action (agent 1: -0.06), follow the mixed value's slope across 0. Measured (matd3bc,
# seeds 0, 1): agent 1's action -0.055 / -0.048 after 1000 steps (team return 20, BC's), +0.25 / +0.24 after 3000.
CREDIT_CONT_STEPS = 3000
MIXED_CONT = ("matd3bc", "omiga", "mabcq", "macql", "macflow")  # continuous plugins with a value mixer
INDEPENDENT_CONT = {"matd3bc": {"mixer": "none"}, "mabcq": {"mixer": "none"}, "macql": {"mixer": "none"},
                    "macflow": {"critic": "independent"}}  # omiga's mixers (omiga, mean, vdn) are all mixed
CREDIT_CONT_KNOWN = {  # plugin -> reason of a strict xfail, with the measurement (hidden (32, 32), seeds 0-3)
    "macflow": (
        "measured (3000 steps): returns 25.0, 21.9, 23.8, 17.5 (mean 22.0) at the defaults against 21.9, 16.9, 16.9, "
        "11.2 (16.7) with critic=independent: the mixed critic moves the one-step policy towards (1,1), but at "
        "alpha = 3 the distillation keeps much of its mass on the joint teacher's data modes, and the continuous "
        "one-step policy samples z (episodes mix 20 and 30). Not the execution noise alone: at act_noise=zero "
        "30, 20, 20, 20 (measured): at z = 0 agent 1's student still plays the data's move 0 on 3 of 4 seeds"),
}


@pytest.fixture(scope="module")
def bc_credit_cont():
    r = evaluate("bc", "games/credit-cont", seeds=CREDIT_SEEDS, steps=1000)
    assert np.all(r == 20.0), f"bc should play the data's mean actions (0,1) (20), got {r}"
    return float(r.mean())


@pytest.mark.slow  # 3-5 min each on the loaded 2-core machine
@pytest.mark.parametrize("name", [pytest.param(n, marks=known_failure(n, CREDIT_CONT_KNOWN)) for n in MIXED_CONT])
def test_a_mixed_value_assigns_credit_with_continuous_actions(name, bc_credit_cont):
    r = evaluate(name, "games/credit-cont", seeds=CREDIT_SEEDS, steps=CREDIT_CONT_STEPS)
    print(f"{name} credit-cont: returns {r.round(2).tolist()} (bc {bc_credit_cont:.0f}, independent 20, optimum 30)")
    assert r.mean() >= CREDIT_PASS, f"{name}: {r.tolist()}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INDEPENDENT_CONT))
def test_independent_learners_are_misled_with_continuous_actions(name):
    r = evaluate(name, "games/credit-cont", INDEPENDENT_CONT[name], seeds=CREDIT_SEEDS, steps=CREDIT_CONT_STEPS)
    print(f"{name} {INDEPENDENT_CONT[name]} credit-cont: returns {r.round(2).tolist()}")
    assert r.mean() < CREDIT_PASS, f"{name} without a mixer still finds (1,1): {r.tolist()}"
