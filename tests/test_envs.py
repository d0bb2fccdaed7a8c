"""Evaluation environments: MPE Spread (mpe2), SMAX (jaxmarl, in jit), MaMuJoCo (gymnasium-robotics),
and the Python-env evaluator."""
from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.envs import mamujoco, mpe
from algorithms.errors import DependencyError


# ---- MPE ------------------------------------------------------------------------------------------
def test_mpe_action_mapping_applies_exactly_the_policy_force():
    a = np.random.default_rng(0).uniform(-1.5, 1.5, (100, 2))
    m = mpe.to_mpe_action(a)
    assert m.shape == (100, 5) and m.min() >= 0 and m.max() <= 1 and np.all(m[:, 0] == 0)
    # mpe2: u_x = right - left, u_y = up - down
    np.testing.assert_allclose(np.stack([m[:, 2] - m[:, 1], m[:, 4] - m[:, 3]], -1), np.clip(a, -1, 1), atol=1e-6)


def test_spread_batch_matches_pettingzoo_parallel_env():
    """Our raw-AEC batch env gives the same observations, state and team reward (mean over agents)
    as mpe2's parallel_env stepped with the mapped actions."""
    from mpe2 import simple_spread_v3

    rng = np.random.default_rng(1)
    batch = mpe.SpreadBatch(2, seed=5)
    obs, legal, state = batch.reset()
    assert obs.shape == (2, 3, 18) and legal.shape == (2, 3, 1) and state.shape == (2, 54)
    ref = simple_spread_v3.parallel_env(N=3, local_ratio=0.5, max_cycles=25, continuous_actions=True)
    ref_obs, _ = ref.reset(seed=6)  # batch env e=1 uses seed + 1
    np.testing.assert_allclose(obs[1], np.stack([ref_obs[f"agent_{i}"] for i in range(3)]), rtol=1e-6)
    total, ref_total = np.zeros(2), 0.0
    for t in range(25):
        a = rng.uniform(-1, 1, (2, 3, 2)).astype(np.float32)
        obs, _, state, r, done, _ = batch.step(a)
        ro, rr, _, rtr, _ = ref.step({f"agent_{i}": mpe.to_mpe_action(a[1, i]) for i in range(3)})
        total += r
        ref_total += np.mean(list(rr.values()))
        assert done.all() == (t == 24) and all(rtr.values()) == (t == 24)
        if t < 24:
            np.testing.assert_allclose(obs[1], np.stack([ro[f"agent_{i}"] for i in range(3)]), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(state[1], ref.state(), rtol=1e-5, atol=1e-6)
    assert total[1] == pytest.approx(ref_total, rel=1e-6)
    # a finished episode ignores further actions and pays nothing
    _, _, _, r, done, _ = batch.step(np.zeros((2, 3, 2)))
    assert done.all() and np.all(r == 0)


def test_spread_expert_is_decentralised_and_beats_random():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, 18)).astype(np.float32)
    a = mpe.expert_action(obs)
    other = obs.copy()
    other[1] += 5.0  # agent 1 sees something else: agents 0 and 2 must not react
    b = mpe.expert_action(other)
    np.testing.assert_array_equal(a[[0, 2]], b[[0, 2]])
    assert not np.allclose(a[1], b[1])

    def score(policy):
        env = mpe.SpreadBatch(8, seed=3)
        o, _, _ = env.reset()
        tot = np.zeros(8)
        for _ in range(25):
            o, _, _, r, _, _ = env.step(policy(o))
            tot += r
        return tot.mean()

    expert = score(mpe.expert_action)
    random = score(lambda o: rng.uniform(-1, 1, o.shape[:-1] + (2,)))
    assert expert > random + 10, (expert, random)


def test_python_evaluator_matches_direct_stepping():
    """make_python_evaluator steps S seeds x E episodes together with one act call per step and
    returns the same per-episode scores as stepping the envs by hand."""
    from benchmarks.training.evaluate import make_python_evaluator

    class Const:
        @staticmethod
        def act(state, obs, legal, key):  # a fixed push per seed, from the (array) state
            return jnp.broadcast_to(state["push"], obs.shape[:-1] + (2,))

    states = {"push": jnp.asarray([[0.5, -0.2], [-1.0, 0.3]])}  # two seeds
    keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])
    ev = make_python_evaluator(mpe.Spread(), Const, n_episodes=3)
    returns, won = ev(states, keys)
    assert returns.shape == (2, 3) and won.shape == (2, 3) and not won.any()
    seed = int(jax.random.randint(keys[0], (), 0, 2 ** 30))
    env = mpe.SpreadBatch(6, seed)
    env.reset()
    tot = np.zeros(6)
    push = np.repeat(np.asarray(states["push"]), 3, axis=0)[:, None, :].repeat(3, 1)
    for _ in range(25):
        _, _, _, r, _, _ = env.step(push)
        tot += r
    np.testing.assert_allclose(returns.reshape(-1), tot, rtol=1e-6)


class _Recall:
    """A plugin with an acting carry (algorithms/base.py ``act_carry_init`` / ``act_step``) whose action depends on
    it: the carry holds the step count and the episode's first positions, and each agent pushes towards a point
    that turns with the step count relative to where it started. ``act`` (a fresh carry each step) behaves
    differently, so an evaluator that drops or resets the carry gets other returns."""

    name = "recall"

    @staticmethod
    def act_carry_init(state, obs, legal):
        return {"t": jnp.zeros(obs.shape[:-2]), "o0": obs[..., :2]}

    @staticmethod
    def act_step(state, carry, obs, legal, key):
        t = carry["t"][..., None, None]
        turn = jnp.concatenate([jnp.cos(0.4 * t), jnp.sin(0.4 * t)], -1) * state["r"]
        a = jnp.clip(carry["o0"] + turn - obs[..., :2], -1.0, 1.0)
        return a, {"t": carry["t"] + 1, "o0": carry["o0"]}

    @staticmethod
    def act(state, obs, legal, key):
        return _Recall.act_step(state, _Recall.act_carry_init(state, obs, legal), obs, legal, key)[0]


def _recall_by_hand(r, obs0, step, n_steps, carry=True):
    """The _Recall policy stepped by hand with numpy: returns [E]; ``carry=False`` restarts it every step."""
    t, o0, obs, total, alive = 0, obs0[..., :2].copy(), obs0, 0.0, True
    for _ in range(n_steps):
        if not carry:
            t, o0 = 0, obs[..., :2].copy()
        turn = np.concatenate([np.cos(0.4 * np.full(obs.shape[:-1] + (1,), t)),
                               np.sin(0.4 * np.full(obs.shape[:-1] + (1,), t))], -1) * r
        obs, reward, done = step(np.clip(o0 + turn - obs[..., :2], -1.0, 1.0))
        total = total + np.where(alive, reward, 0.0)
        alive = alive & ~done
        t += 1
    return total


def test_evaluators_thread_the_acting_carry():
    """Both evaluators build a plugin's acting carry from the episodes' first observations and thread it
    through the episode (a JAX environment: landmarks; a Python one: MPE Spread): the returns equal a
    hand-written loop's, and differ from those of the same policy restarted every step (``act``)."""
    from benchmarks.envs.games import Landmarks
    from benchmarks.training.evaluate import make_evaluator, make_python_evaluator

    # JAX environment: the jitted rollout, one seed, 8 episodes, replayed with the rollout's own keys
    env, E = Landmarks(3), 8
    state = {"r": jnp.asarray(0.3)}
    key = jax.random.PRNGKey(4)
    returns, _ = make_evaluator(env, _Recall, E)(jax.tree.map(lambda x: x[None], state), key[None])
    k_reset, k_run = jax.random.split(key)
    env_state, obs0, _, _ = jax.vmap(env.reset)(jax.random.split(k_reset, E))
    keys = iter(jax.random.split(k_run, env.spec.episode_length))

    def jax_step(actions):
        nonlocal env_state
        ks = jax.random.split(next(keys))[1]
        env_state, obs, _, _, reward, done, _ = jax.vmap(env.step)(env_state, jnp.asarray(actions, jnp.float32),
                                                                     jax.random.split(ks, E))
        return np.asarray(obs), np.asarray(reward), np.asarray(done)

    want = _recall_by_hand(0.3, np.asarray(obs0), jax_step, env.spec.episode_length)
    np.testing.assert_allclose(np.asarray(returns[0]), want, rtol=1e-4, atol=1e-4)
    keys = iter(jax.random.split(k_run, env.spec.episode_length))
    env_state = jax.vmap(env.reset)(jax.random.split(k_reset, E))[0]
    restarted = _recall_by_hand(0.3, np.asarray(obs0), jax_step, env.spec.episode_length, carry=False)
    assert np.abs(restarted - want).max() > 0.1, "the test cannot tell a threaded carry from a restarted one"

    # Python environment: two seeds x 3 episodes stepped together
    states = {"r": jnp.asarray([0.3, 0.6])}
    keys2 = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])
    returns, _ = make_python_evaluator(mpe.Spread(), _Recall, n_episodes=3)(states, keys2)
    seed = int(jax.random.randint(keys2[0], (), 0, 2 ** 30))
    r = np.repeat(np.asarray(states["r"]), 3)[:, None, None]
    for carry in (True, False):
        batch = mpe.SpreadBatch(6, seed)
        obs0 = np.asarray(batch.reset()[0])

        def py_step(actions):
            obs, _, _, reward, done, _ = batch.step(np.asarray(actions, np.float32))
            return np.asarray(obs), np.asarray(reward), np.asarray(done, bool)

        got = _recall_by_hand(r, obs0, py_step, mpe.Spread().spec.episode_length, carry=carry)
        if carry:
            np.testing.assert_allclose(returns.reshape(-1), got, rtol=1e-5, atol=1e-5)
        else:
            assert np.abs(got - returns.reshape(-1)).max() > 0.1
        batch.close()


# ---- SMAX -----------------------------------------------------------------------------------------
def test_smax_rolls_out_in_jit_with_legal_masks_and_wins():
    from benchmarks.envs.smax import SMAX
    from benchmarks.training.evaluate import rollout

    env = SMAX("3m")
    s = env.spec
    assert (s.n_agents, s.obs_dim, s.state_dim, s.action_dim, s.has_legal) == (3, 75, 72, 8, True)
    init, heuristic = env.heuristic()

    def policy(obs, legal, key, use_heuristic):
        assert obs.shape == (16, 3, 75) and legal.shape == (16, 3, 8)
        k1, k2 = jax.random.split(key)
        rand = jax.random.categorical(k1, jnp.where(legal, 0.0, -1e9))
        # the built-in heuristic used statelessly (a fresh policy state every step)
        split = jax.random.split(k2, obs.shape[0])
        heur, _ = jax.vmap(lambda o, lg, k: heuristic(init(), o, lg, k))(obs, legal, split)
        return jnp.where(use_heuristic, heur, rand)

    run = jax.jit(lambda k, h: rollout(env, lambda o, l, kk: policy(o, l, kk, h), k, 16))
    r_rand, w_rand = run(jax.random.PRNGKey(0), False)
    r_heur, w_heur = run(jax.random.PRNGKey(0), True)
    for r, w in ((r_rand, w_rand), (r_heur, w_heur)):
        assert r.shape == (16,) and np.all(np.asarray(r) >= 0) and np.all(np.asarray(r) <= 2.0 + 1e-4)
        # a won episode earned the win bonus (1) plus all enemy health (1)
        assert np.all(np.asarray(r)[np.asarray(w)] > 1.9)
    assert float(r_heur.mean()) > float(r_rand.mean()) + 0.3
    assert bool(w_heur.any())

    # a dead ally may only stop; a living one may always stop and move
    es, obs, legal, state = env.reset(jax.random.PRNGKey(3))
    assert bool(legal[:, 4].all()) and bool(legal[:, :4].all())
    dead = es.replace(state=es.state.replace(unit_alive=es.state.unit_alive.at[0].set(False)))
    avail = env.env.get_avail_actions(dead)
    assert np.asarray(avail["ally_0"]).tolist() == [0, 0, 0, 0, 1, 0, 0, 0]


# ---- MaMuJoCo -------------------------------------------------------------------------------------
def test_mamujoco_pads_uneven_observations_and_reads_global_state():
    spec = mamujoco.spec_of("3-hopper")
    assert (spec.n_agents, spec.obs_dim, spec.state_dim, spec.action_dim, spec.episode_length) == (3, 9, 11, 1, 1000)
    env = mamujoco.MaMuJoCoBatch("3-hopper", 2, seed=0)
    raw = mamujoco.make_raw("3-hopper")
    obs, legal, state = env.reset()
    ref_obs, _ = raw.reset(seed=0)
    sizes = [len(ref_obs[a]) for a in raw.possible_agents]
    assert sizes == [8, 9, 8]
    for i, a in enumerate(raw.possible_agents):
        np.testing.assert_allclose(obs[0, i, :sizes[i]], ref_obs[a], rtol=1e-6)
        assert np.all(obs[0, i, sizes[i]:] == 0)  # zero padding at the end
    np.testing.assert_allclose(state[0], raw.state(), rtol=1e-6)
    assert legal.shape == (2, 3, 1) and legal.all()
    steps = 0
    while True:  # a falling hopper terminates well before the time limit
        obs, legal, state, r, done, _ = env.step(np.ones((2, 3, 1)))
        steps += 1
        if done.all():
            break
    assert steps < 1000 and env.terminated.all()


def test_missing_mujoco_gives_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mujoco" else real(name, *a))
    why = mamujoco.missing()
    assert "pip install" in why and "mujoco==4.0.0" in why
    with pytest.raises(DependencyError, match="pip install"):
        mamujoco.make_raw("3-hopper")
    from benchmarks.tasks import get_suite

    suite = get_suite("mamujoco-gen")
    assert "pip install" in suite.available()
    with pytest.raises(DependencyError, match="mamujoco-gen/3-hopper-expert cannot run here.*pip install"):
        suite.tasks["3-hopper-expert"].__wrapped__()


def test_evalbench_measures_batched_and_single_episode_throughput():
    from benchmarks.perf.evalbench import bench_task
    from benchmarks.tasks import get_task

    r = bench_task(get_task("mpe-gen/spread-expert"), "bc", episodes=3, repeats=1, overrides={"hidden": "32,32"})
    assert r["kind"] == "python" and r["batched"]["episodes_run"] == 3 and r["single"]["episodes_run"] == 3
    for mode in ("batched", "single"):
        # every Spread episode lasts 25 steps, so the counted steps are 25 per episode
        assert r[mode]["steps_per_s"] == pytest.approx(25 * r[mode]["episodes_per_s"], rel=1e-6)
    assert r["speedup"] > 0
