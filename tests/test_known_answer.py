"""Known-answer tests of bootstrapping and value mixing: games/stitch, games/stitch-cont, the delay task (the stitch
environment with other data, defined here), games/credit, games/credit-cont.

The tasks (rules, datasets and exact answers in benchmarks/envs/games.py's docstring):

* stitch / stitch-cont: 3-step episodes, 2 agents, team reward. The optimum S -> M -> N -> G (team
  return 40) needs one behaviour's start and another's continuation, two bootstrapped steps away from
  the +20; behaviour cloning goes S -> M -> W (0), a learner that ignores the future (discount 0, or a
  target network that never moves) takes the +5 at S (10). Uniform random: 10; the data's mean: 14.5.
* delay: the same environment; the data take S -> T (60%) or S -> M -> N -> G (40%), so the data's own
  continuation is the optimum's and an in-sample critic (ICQ's, MAC-Flow's) must still bootstrap twice;
  BC and discount 0 take T (10).
* credit: one step; reward 10 a1 + 20 a2; the data's anti-correlated agents make agent 1's own value
  E[r | a1] prefer 0, so independent learners pick (0,1) (20), BC (1,0) (10), and an additive mixed
  value (1,1) (30).
* credit-cont: the same reward with actions in [-1, 1] (move 1 iff a > 0) and the agents' roles swapped, so that
  a deterministic actor pulled to the data's mean action starts on the wrong side for agent 1: BC and
  independent learners play (0,1) (20), an additive mixed value (1,1) (30).

Every plugin runs at its defaults (the paper's hyper-parameters: discount, target updates, CQL weight,
alpha, flow steps, ...); only the network width shrinks to ``TINY`` (hidden (32, 32)) and the number of steps is
the test's. Exceptions, named where they occur: MACQL's credit test asks for its mixed switch (mixer=qmix,
cql=agent: its discrete default is independent Q-learning, MAC-Flow App. H.2), and the cause tests change the
one setting whose effect they show. Several seeds, and a broken variant that differs only in its data, train
together in one program (tests/learning.py). The rewards are in tens, the scale at which the defaults'
reward-unit weights (CQL 3, OMIGA alpha 10, ...) are meaningful (tests/test_value_baselines.py); the delay
task trains on its rewards x 0.1, where the tiny critics reach its values in 1000 steps (below).

Pass criteria (team return, mean over seeds and evaluation episodes):
* stitch, delay: >= ``STITCH_PASS`` = 30, i.e. on average at least three of the four agent-runs reach G
  (one agent doing so and the other taking the +5 scores 25). BC scores 0 (stitch) or 10 (delay), random and
  discount 0 10.
* credit: >= ``CREDIT_PASS`` = 27 over 4 seeds (at least 3 of 4 seeds at (1,1), the others at (0,1));
  independent learners score 20, BC 10.

Measured (team return per seed; 2 CPU cores shared by many processes, so not timed), each with its variant that
never bootstraps trained beside it: discrete stitch (1000 steps): mabcq 40, 40 (discount 0: 10, 10); macql 40,
40 (10, 10); omiga 40, 40 (discount 0: 5, 0); bc 0, 0; icq / macflow / mafql see KNOWN. Delay (rewards x 0.1,
1000 steps): icq 40, 40 (10, 10); the critics' Q(S, 1) - Q(S, 0) (in-sample answer in brackets): macflow 2.1-2.5
(2.96; without bootstrapping -1.0), mafql 1.31-1.33 (1.48; -0.5), vgm2p 2.5-2.7 (2.96; -1.0), while their deployed
returns stay at T's 10 (macflow and mafql, alpha 3) or below the pass (vgm2p 40, 19.4). Continuous stitch (3000 steps): om2p 40, 40 (10, 10), omar
40, 40 (10, 10); actions at S, M, N (move 1 iff > 0; all positive = 40): matd3bc (.39, .32, .49) / (.37, .28,
.48), omiga (.31, .35, .53) / (.33, .36, ..), vgm2p (.75, .43, .49) / (.79, .48, .77), macql all > .5 at 2000;
bc 0, 0. Credit (500 steps, seeds 0-3): mabcq 30 x 4 (mixer none: 20, 20, 20, 30), omiga 30 x 4, macql none 20
x 4, bc 10 x 4; macql / icq / macflow see CREDIT_KNOWN. Continuous credit (3000 steps, seeds 0-3, loaded machine):
matd3bc 30 x 4 (mixer none: 20 x 4), omiga 30 x 4, mabcq 30 x 4 (mixer none: 20 x 4), macql 30 x 4 (mixer none:
20 x 4), bc 20 x 4 (1000 steps); macflow in CREDIT_CONT_KNOWN.
"""
from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.data import games as gdata
from benchmarks.envs import games
from benchmarks.tasks import get_task
from benchmarks.training.evaluate import make_evaluator
from benchmarks.training.train import fit, seed_slice
from tests.conftest import known_failure
from tests.learning import TINY, check_finite, mean_returns, train_variants

STITCH_PASS = 30.0
CREDIT_PASS = 27.0
EPISODES = 16


def evaluate(name, task_id, overrides=None, seeds=(0, 1), steps=1000):
    """Train ``seeds`` copies of a plugin at its defaults (width ``TINY``), then roll each out: returns [S]."""
    cls, task, states = fit(name, task_id, {**TINY, **(overrides or {})}, seeds=seeds, steps=steps)
    check_finite(name, states)
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


# ---- the delay task: two bootstrapped steps that the data's own continuation takes ---------------------------
# The stitch environment with other data: per agent and episode, independently, 60% S -> T (+5) and 40%
# S -> M -> N -> G (+20 two steps after the choice at S). At M and N the data only ever moves on, so the value
# of the data's own continuation (what an in-sample critic estimates: ICQ's dataset next action, MAC-Flow's
# TD next action from its behaviour flow) is the optimum's: Q(S, 1) = gamma^2 20 > Q(S, 0) = 5. Behaviour
# cloning takes the majority T (team 10), as do discount 0 and a learner whose target never moves; random 10.
DELAY_BEHAVIOURS = {"D: S -> M -> N -> G": (0.4, games.S_, (1, 1, 1)), "C: S -> T": (0.6, games.S_, (0, 0, 0))}


def delay_dataset(continuous=False):
    return gdata.stitch_dataset(continuous, seed=0, behaviours=DELAY_BEHAVIOURS)


def test_delay_data_bc_and_the_in_sample_values_are_exact():
    ds = delay_dataset()
    moves, obs = ds.actions, ds.observations
    at_s = obs[:, 0, :, games.S_] == 1
    assert at_s.all() and abs(np.mean(moves[:, 0][at_s] == 1) - 0.4) < 0.03  # every episode starts at S
    for t, node in ((1, games.M_), (2, games.N_)):  # the data only moves on at M and N
        here = obs[:, t, :, node] == 1
        assert here.any() and np.all(moves[:, t][here] == 1)
    env = games.Stitch(False)
    assert _run_moves(env, [[0, 0]] * 3) == 10.0  # BC's majority at S (and discount 0's +5)
    assert _run_moves(env, [[1, 1]] * 3) == games.STITCH_OPTIMUM == 40.0
    for gamma in (0.99, 0.995):  # the in-sample (behaviour) value of S's moves, from the data's continuation
        assert gamma**2 * 20.0 > 5.0
    assert abs(ds.episode_returns().mean() - 2 * (0.6 * 5 + 0.4 * 20)) < 1.0  # 22


# ---- bootstrapping over two steps: every value-guided plugin, beside its variant that never bootstraps ------
# The default-run test of each value-guided plugin trains it at its defaults (width TINY) together with its broken
# variant in ONE program (tests/learning.py): the same plugin on the same rows with every transition terminal, so
# its TD target is the reward alone, as at discount 0. Both are held to the same bar: team return >= STITCH_PASS
# (30), where BC scores 0 (stitch) or 10 (delay) and random 10. A fault in the TD target, the target network's
# update, the terminal mask or the next-state index fails these tests (planted one by one: tests/README.md).
#
# Training steps: the +20 is two bootstrapped steps behind S, each behind a target network (hard copy every 200
# steps, or Polyak tau = 0.005, a time constant of 200 steps), so value reaches S after several hundred steps.
# Discrete stitch: 1000; delay: 1000 with its rewards x 0.1 (REWARD_SCALE; unscaled, icq scored 10, 10 after 1000
# steps and 40, 40 after 2000; scaled, 40, 40 after 1000, and its variant without bootstrapping 10, 10). Continuous:
# 3000; the deterministic actors also have to move through the target policy at each step (measured, matd3bc at
# its defaults, 2 seeds: the action at M crosses 0 (-> N) at 1000 steps, the action at S only at 2500: -0.36 /
# -0.40 at 1000, +0.21 / +0.23 at 2500, +0.39 / +0.37 at 3000; so 1000 steps score 10, the myopic answer).
TASKS = {"stitch": ("games/stitch", False), "stitch-cont": ("games/stitch-cont", True), "delay": (None, False)}
STEPS = {"stitch": 1000, "stitch-cont": 3000, "delay": 1000}
REWARD_SCALE = {"delay": 0.1}  # training rewards 0.5 and 2 (returns are the environment's: 5 and 20)
SEEDS = (0, 1)


def bootstrap_run(name, task, overrides=None, variants=("default", "no_bootstrap"), seeds=SEEDS, reward_scale=None):
    """Train plugin ``name`` and its data ``variants`` in one program on ``task``; returns (cls, states, returns)."""
    task_id, continuous = TASKS[task]
    env = games.Stitch(continuous)
    ds = delay_dataset(continuous) if task == "delay" else get_task(task_id).make_dataset(0)
    scale = REWARD_SCALE.get(task, 1.0) if reward_scale is None else reward_scale
    cls, states = train_variants(name, env.spec, ds, variants, overrides, seeds=seeds, steps=STEPS[task],
                                 reward_scale=scale)
    return cls, states, mean_returns(env, cls, states, EPISODES)


def _critic_q(name, state, obs):
    """The trained critic's per-agent Q of moves 0 and 1 at the joint observation ``obs`` [N, O]: [N, 2] (the
    mean of twin heads). MAC-Flow's (mean mixer) and VGM2P's (Eq. 13's sum) per-agent values carry each agent's
    share of the team reward twice over (the mixed value is fitted to the team reward); MA-FQL's independent
    critics once."""
    from algorithms import macflow, mafql
    from algorithms.nets import with_agent_id

    spec, cfg = state.spec, state.cfg
    o = with_agent_id(jnp.broadcast_to(obs, (2,) + obs.shape))  # [move, N, O + N]
    av = jnp.broadcast_to(jnp.eye(2)[:, None, :], (2, spec.n_agents, 2))  # every agent makes the move
    mod = {"macflow": macflow, "mafql": mafql}[name]
    q = mod._q(mod._nets(spec, cfg), state.params["critic"], o, av).mean(0)
    return np.asarray(q).T


SHARE = {"macflow": 2.0, "mafql": 1.0}  # see _critic_q


def critic_gap_at_s(name, states, seeds=SEEDS):
    """Q(S, move 1) - Q(S, move 0) of every seed's every agent [S, N]."""
    obs = games.stitch_obs(jnp.full((2,), games.S_), 0)
    return np.stack([_critic_q(name, seed_slice(states, i), obs) @ np.array([-1.0, 1.0]) for i in range(len(seeds))])


# Each value-guided plugin's default-run test: (task, check). "return": the deployed team return; "critic": the
# critic's value of S's moves, for MAC-Flow and MA-FQL, whose deployed return at the paper's alpha = 3 stays at
# the data's majority T (measured on delay: 10, 10 each) although their critic is right (MAC-Flow's TD actions
# are in-sample, from its behaviour flow): the in-sample gap Q(S, 1) - Q(S, 0) = share x (gamma^2 20 - 5) x 0.1,
# two bootstrapped steps from the +20, must be at least half learned; without bootstrapping it is
# share x (0 - 5) x 0.1. Their deployed answers at the defaults are tested on the continuous Q-guidance task
# (tests/test_games.py) and the one at alpha 3 on stitch is a known failure (KNOWN below).
BOOTSTRAP_DEFAULT_RUN = {
    "macql": ("stitch", "return"), "omiga": ("stitch", "return"), "mabcq": ("stitch", "return"),
    "icq": ("delay", "return"), "matd3bc": ("stitch-cont", "return"), "omar": ("stitch-cont", "return"),
    "om2p": ("stitch-cont", "return"), "vgm2p": ("stitch-cont", "return"),
    "macflow": ("delay", "critic"), "mafql": ("delay", "critic"),
}
# OMAR's update scores 3 x 10 CEM samples and the CQL terms per transition (~2e8 matmul FLOPs at this width),
# so its 3000 steps run one seed (measured 40 / 10 for seeds 0 and 1 alike)
BOOTSTRAP_SEEDS = {"omar": (0,)}


@pytest.mark.parametrize("name", sorted(BOOTSTRAP_DEFAULT_RUN))
def test_value_guided_plugins_bootstrap_over_two_steps_and_fail_without_it(name):
    task, check = BOOTSTRAP_DEFAULT_RUN[name]
    seeds = BOOTSTRAP_SEEDS.get(name, SEEDS)
    cls, states, r = bootstrap_run(name, task, seeds=seeds)
    print(f"{name} {task}: team returns {r['default'].round(2).tolist()}, without bootstrapping "
          f"{r['no_bootstrap'].round(2).tolist()} (optimum 40, BC {0 if task != 'delay' else 10}, random 10)")
    if check == "return":
        assert r["default"].mean() >= STITCH_PASS, f"{name} on {task}: {r['default'].tolist()} < {STITCH_PASS}"
        assert r["no_bootstrap"].mean() < STITCH_PASS, f"{name} still passes without bootstrapping: {r['no_bootstrap']}"
        return
    scale = REWARD_SCALE.get(task, 1.0)
    true_gap = SHARE[name] * scale * (cls.make_config({}).discount ** 2 * 20.0 - 5.0)
    gap, broken = (critic_gap_at_s(name, states[v], seeds) for v in ("default", "no_bootstrap"))
    print(f"{name}: Q(S, 1) - Q(S, 0) {gap.round(2).tolist()}, without bootstrapping {broken.round(2).tolist()} "
          f"(in-sample answer {true_gap:.1f})")
    assert np.all(gap >= true_gap / 2), f"{name}: the critic's value of S's moves {gap.tolist()} (answer {true_gap:.1f})"
    assert not np.all(broken >= true_gap / 2), f"{name} without bootstrapping: {broken.tolist()}"


# ---- behaviour cloning: the data's mode at every observation ------------------------------------------------
def test_bc_takes_the_datas_mode_at_each_observation_and_not_without_them():
    """BC at its defaults (width TINY, 1000 steps) on games/stitch reproduces the data's modes along its own path:
    S -> M (45% vs 25%) -> W (45% vs 30%), team return exactly 0 on every seed (random 10, optimum 40). The broken
    variant, trained beside it in one program: the same plugin on the rows with their observations shuffled
    across rows, so an action says nothing about where it was taken: it plays the pooled majority move 0 at
    every node, S -> T (10)."""
    cls, states, r = bootstrap_run("bc", "stitch", variants=("default", "shuffled_obs"))
    print(f"bc stitch: team returns {r['default'].tolist()}, shuffled observations {r['shuffled_obs'].tolist()}")
    assert np.all(r["default"] == 0.0), f"bc should follow the data's modes S -> M -> W (0): {r['default']}"
    assert not np.all(r["shuffled_obs"] == 0.0), r["shuffled_obs"]



# The data's frequency of move 1 at the nodes of the optimum's path, per agent: at (S, t=0) A 45% vs C 25%, at
# (M, t=1) B 30% vs A 45%, at (N, t=2) B only (test_stitch_data_is_suboptimal_and_its_modes_score_zero's data).
STITCH_FREQ = {(games.S_, 0): 0.45 / 0.70, (games.M_, 1): 0.30 / 0.75, (games.N_, 2): 1.0}
FREQ_TOLERANCE = 0.12


@pytest.mark.parametrize("name", ["diffusionbc", "flowbc"])
def test_generative_bc_samples_the_datas_action_frequencies_and_not_without_observations(name):
    """Diffusion BC (K = 200 DDPM steps) and Flow BC (10 Euler steps) at their defaults, width [64, 64], 1000 steps
    on games/stitch: sampled from fresh noise at each observation, their actions follow the data's frequencies
    there (STITCH_FREQ: 0.64, 0.40, 1.0), each within FREQ_TOLERANCE on every seed. Greedy BC (1, 0, 1) and uniform
    random (0.5 each) miss it. Broken variant, trained beside it in one program: the observations shuffled across
    rows, so the samples follow the pooled frequency of move 1 (0.45) everywhere. Measured (seeds 0, 1):
    diffusionbc (0.59, 0.37, 1.00) / (0.61, 0.32, 1.00), flowbc (0.71, 0.46, 0.98) / (0.65, 0.40, 0.99); shuffled
    0.42-0.47 at every node."""
    cls, states = train_variants(name, games.Stitch(False).spec, get_task("games/stitch").make_dataset(0),
                                 ("default", "shuffled_obs"), {"hidden": (64, 64)}, steps=1000)
    obs = jnp.concatenate([jnp.broadcast_to(games.stitch_obs(jnp.full((2,), n), t), (1000, 2, games.Stitch().spec.obs_dim))
                           for n, t in STITCH_FREQ])
    legal = jnp.ones(obs.shape[:-1] + (2,), bool)
    act = jax.jit(jax.vmap(lambda st: cls.act(st, obs, legal, jax.random.PRNGKey(3))))
    freq = {v: np.asarray(act(st)).reshape(len(SEEDS), len(STITCH_FREQ), -1).mean(-1) for v, st in states.items()}
    want = np.array(list(STITCH_FREQ.values()))
    print(f"{name}: P(move 1) at S, M, N {freq['default'].round(3).tolist()} (data {want.round(3).tolist()}), "
          f"shuffled observations {freq['shuffled_obs'].round(3).tolist()}")
    assert np.all(np.abs(freq["default"] - want) <= FREQ_TOLERANCE), freq["default"]
    assert not np.all(np.abs(freq["shuffled_obs"] - want) <= FREQ_TOLERANCE), freq["shuffled_obs"]

# ---- every (task, plugin) pair at the defaults: the slow run ---------------------------------------------------
# Each plugin's stitching task: the discrete one where the plugin runs discrete control in the paper (MAC-Flow's
# SMAC baselines), the continuous one otherwise; the default run has one pair per plugin (above). Cases that fail
# at the defaults carry the measurement and the reason (KNOWN) and train the plugin alone.
DISCRETE_STITCH = ("mabcq", "macql", "icq", "omiga", "macflow", "mafql")
CONTINUOUS_STITCH = ("matd3bc", "omar", "vgm2p", "om2p", "omiga", "macql", "mabcq", "macflow", "mafql")
KNOWN = {  # (task, plugin) -> reason of a strict xfail, with the measurement (hidden (32, 32), seeds 0, 1)
    # continuous stitching (3000 steps): the one-step policies' execution noise
    ("stitch-cont", "macflow"): (
        "measured: team return 25.0, 21.9 (above BC's 0 and discount 0's 10, below the pass 30) at the defaults, "
        "40, 40 with act_noise=zero (same training): the critic and the policy's z = 0 point stitch, "
        "but the paper's stochastic one-step policy samples a fresh z per decision and keeps the data's modes at "
        "S and M (alpha = 3), so episodes mix stitched and unstitched paths; "
        "test_one_step_policies_at_zero_execution_noise_stitch"),
    ("stitch-cont", "mafql"): (
        "measured: team return 23.75, 19.4 at the defaults (above BC's 0 and discount 0's 10, below 30), 40, 40 "
        "with act_noise=zero: as macflow, the sampled execution noise"),
    ("stitch", "icq"): (
        "genuine property of ICQ as implemented after ICQ-MA/og-marl: its critic target uses the dataset's own next "
        "action, r + gamma w_Q Q'(s', a'_data), and every transition leaving S for M belongs to behaviour A, whose "
        "next action is W (value 0); so Q(S, M) ~ 0 < Q(S, T) = 5 and the actor takes the +5. Measured: team "
        "return 10, 10 at the defaults and 10, 10 with beta_q = 1 (w_Q sharp), 1000 steps: no stitching; on the "
        "delay task, where the data's own continuation is the optimum's, it bootstraps (default run)"),
    ("stitch", "macflow"): (
        "measured: team return 0, 0 (BC's S -> M -> W) at the defaults, 1000 steps, and 0, 0 with the rewards x 0.1, "
        "where the critic's values converge in 1000 steps. The cause is the alpha-3 distillation, which holds the "
        "discrete one-step policy at z = 0 on the teacher's data modes (M at S, W at M): with the rewards x 0.1, "
        "alpha 0.15 (the games preset's) stitches, 40, 40, and TD next actions from the one-step policy (the "
        "released code's next_action='onestep') at alpha 3 do not, 0, 0 "
        "(test_macflow_discrete_stitch_fails_by_its_distillation_weight). The TD next actions from the behaviour "
        "flow are not the cause: the behaviour's own value at S ranks M (0.4 gamma^2 20 = 7.9) above T (5)"),
    ("stitch", "mafql"): (
        "measured: team return 0, 0 (BC's S -> M -> W) at the defaults, 40, 5 at alpha 0.3 (1000 steps): the critic "
        "is right and the alpha-3 distillation holds the policy at the teacher's modes. Re-measured after the "
        "student got the teacher's own noise (FQL's same-noise distillation): 0, 0 at the defaults"),
}


def _cases(task, names):
    return [pytest.param(task, n, marks=known_failure((task, n), KNOWN), id=f"{task}-{n}") for n in names
            if BOOTSTRAP_DEFAULT_RUN.get(n, (None,))[0] != task]


@pytest.mark.slow
@pytest.mark.parametrize("task,name", _cases("stitch", DISCRETE_STITCH) + _cases("stitch-cont", CONTINUOUS_STITCH))
def test_value_guided_plugins_stitch_at_their_defaults(task, name):
    """As the default-run test above, for every other (task, plugin) pair; known failures train alone."""
    known = (task, name) in KNOWN
    cls, states, r = bootstrap_run(name, task, variants=("default",) if known else ("default", "no_bootstrap"))
    print(f"{name} {task}: team returns {r['default'].round(2).tolist()} (optimum 40, BC 0, discount 0: 10)")
    assert r["default"].mean() >= STITCH_PASS, f"{name} on {task}: {r['default'].tolist()} < {STITCH_PASS}"
    if known:  # (an unexpected pass is an XPASS, which fails the strict xfail)
        return
    print(f"  without bootstrapping: {r['no_bootstrap'].round(2).tolist()}")
    assert r["no_bootstrap"].mean() < STITCH_PASS, f"{name} still stitches without bootstrapping: {r['no_bootstrap']}"


@pytest.mark.slow  # ~100 s each idle
@pytest.mark.parametrize("name", ["macflow", "mafql"])
def test_one_step_policies_at_zero_execution_noise_stitch(name):
    """The KNOWN stitch-cont failures of the one-step flow policies are their execution noise: the same training
    deployed at z = 0 stitches (measured 40, 40 for both), and without bootstrapping it does not."""
    cls, states, r = bootstrap_run(name, "stitch-cont", {"act_noise": "zero"})
    assert r["default"].mean() >= STITCH_PASS, f"{name} act_noise=zero on stitch-cont: {r['default'].tolist()}"
    assert r["no_bootstrap"].mean() < STITCH_PASS, f"{name} act_noise=zero without bootstrapping: {r['no_bootstrap']}"


@pytest.mark.slow
def test_macflow_discrete_stitch_fails_by_its_distillation_weight():
    """The cause of KNOWN[("stitch", "macflow")], removed: with the rewards x 0.1 (so that the critic converges in
    the 1000 steps) MAC-Flow at the defaults still takes BC's path (measured 0, 0); at alpha 0.15 it stitches
    (40, 40) and not without bootstrapping (10, 10); TD next actions from the one-step policy at alpha 3 leave it
    on BC's path (0, 0)."""
    runs = {"defaults": ({}, ("default",)), "alpha 0.15": ({"alpha": 0.15}, ("default", "no_bootstrap")),
            "next_action onestep": ({"next_action": "onestep"}, ("default",))}
    r = {k: bootstrap_run("macflow", "stitch", over, variants, reward_scale=0.1)[2] for k, (over, variants) in runs.items()}
    print({k: {v: x.tolist() for v, x in d.items()} for k, d in r.items()})
    assert r["defaults"]["default"].mean() < STITCH_PASS and r["next_action onestep"]["default"].mean() < STITCH_PASS, r
    assert r["alpha 0.15"]["default"].mean() >= STITCH_PASS > r["alpha 0.15"]["no_bootstrap"].mean(), r


@pytest.mark.slow  # ~90 s idle
def test_mabcq_with_bcqs_vae_loss_summed_over_dimensions_does_not_stitch():
    """The summed VAE loss weighs the KL twice as much as the BCQ code's means, and the VAE collapses onto
    the data's mean action, between the moves, so no candidate reaches N at M (measured: 0, 0; with the
    default means 40, 40; algorithms/mabcq.py)."""
    cls, states, r = bootstrap_run("mabcq", "stitch-cont", {"vae_reduce": "sum"}, variants=("default",))
    assert r["default"].mean() < STITCH_PASS, f"mabcq vae_reduce=sum still stitches: {r['default'].tolist()}"


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
    # slow: each plugin's default-run test is its bootstrapping one above
    return [pytest.mark.slow] + known_failure(n, CREDIT_KNOWN)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_credit_marks(n)) for n in MIXED])
def test_a_mixed_value_assigns_credit(name, bc_credit):
    r = evaluate(name, "games/credit", MIXED_SWITCH.get(name), seeds=CREDIT_SEEDS, steps=CREDIT_STEPS)
    print(f"{name} credit: returns {r.round(2).tolist()} (bc {bc_credit:.0f}, independent 20, optimum 30)")
    assert r.mean() >= CREDIT_PASS, f"{name}: {r.tolist()}"


@pytest.mark.slow  # the broken variants of the credit test
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
        "30, 20, 20, 20: at z = 0 agent 1's student still plays the data's move 0 on 3 of 4 seeds"),
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
