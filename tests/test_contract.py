"""Registry-driven contract tests: every registered plugin, for every action kind it supports."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
from algorithms.base import Batch, EnvSpec
from algorithms.nets import count_nfe
from benchmarks.data.transitions import to_transitions, to_windows
from benchmarks.tasks import get_task
from benchmarks.training.train import sample_batch
from tests.conftest import tiny_overrides

TASK_OF_KIND = {"discrete": "games/coordination", "continuous": "games/landmarks"}
CASES = [(name, kind) for name, cls in sorted(algorithms.all_algorithms().items()) for kind in sorted(cls.supports)
         if kind in TASK_OF_KIND]


@functools.lru_cache(maxsize=None)
def _setup(name, kind):
    """The plugin at its test size on its kind's game, with its data and one jitted ``update`` and ``act``
    shared by every test of (name, kind) (conftest keeps those tests on one xdist worker): the tests differ
    in what they check, not in what they compile. Every act call here uses a batch of ``B`` observations."""
    cls = algorithms.get(name)
    task = get_task(TASK_OF_KIND[kind])
    cfg = cls.make_config(tiny_overrides(cls), allow_cost_override=True)
    ds = task.make_dataset(0)
    rtg = cls.rtg_discount(cfg)
    past, length = cls.window(cfg)  # madiff / dof: windows with an observation history (history = 20 by default)
    arrays = to_transitions(ds, rtg) if length == 1 else to_windows(ds, length, rtg, past=past)
    data = {k: jnp.asarray(v) for k, v in arrays.items()}
    return cls, task, cfg, data, jax.jit(cls.update), jax.jit(cls.act)


B = 16  # observations per act call (the DDPM planners run 200 U-Net passes per call: 0.9 s at 16, 2.8 s at 64)


def _obs(spec, key, batch=()):
    return jax.random.normal(key, batch + (spec.n_agents, spec.obs_dim))


@pytest.mark.parametrize("name,kind", CASES)
def test_update_trains_every_network_and_its_loss_falls_on_a_fixed_batch(name, kind):
    """Finite metrics; the loss falls on a fixed batch; every network of ``params`` (flow, actor, critic, mixer,
    ...) moves, so none is left out of the gradient step (a falling total loss alone passes with a network
    cut off, e.g. an actor whose gradient is stopped); and what the update learns depends on the batch."""
    cls, task, cfg, data, update, _ = _setup(name, kind)
    init = cls.init(jax.random.PRNGKey(0), task.spec, cfg)
    batch = sample_batch(data, jax.random.PRNGKey(1), 64)
    state, losses = init, []
    for k in jax.random.split(jax.random.PRNGKey(2), 150):
        state, m = update(state, batch, k)
        assert all(np.all(np.isfinite(np.asarray(v))) for v in m.values()), f"{name}: non-finite metrics {m}"
        losses.append(m["loss"])
    losses = np.asarray(jnp.stack(losses))
    assert losses[-15:].mean() < losses[:15].mean(), f"{name}: loss did not fall ({losses[:15].mean()} -> {losses[-15:].mean()})"
    moved = lambda a, b: max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    for net in init.params:
        if jax.tree.leaves(init.params[net]):  # (a parameter-free mixer, e.g. "none", has nothing to move)
            assert moved(init.params[net], state.params[net]) > 0.0, f"{name}: network {net!r} never changed"
    other, _ = update(init, sample_batch(data, jax.random.PRNGKey(9), 64), jax.random.PRNGKey(2))
    first, _ = update(init, batch, jax.random.PRNGKey(2))
    assert moved(first.params, other.params) > 0.0, f"{name}: one update gives the same parameters for another batch"


@pytest.mark.parametrize("name,kind", CASES)
def test_acts_legally(name, kind):
    cls, task, cfg, _, _, act = _setup(name, kind)
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    if spec.discrete:
        # random legal masks with at least one legal action per agent, over 4 batches of observations
        for i in range(4):
            obs = _obs(spec, jax.random.PRNGKey(30 + i), (B,))
            legal = jax.random.bernoulli(jax.random.PRNGKey(40 + i), 0.5, (B, spec.n_agents, spec.action_dim))
            legal = legal.at[..., 0].set(~legal[..., 1:].any(-1) | legal[..., 0])
            a = np.asarray(act(state, obs, legal, jax.random.PRNGKey(5 + i)))
            assert a.shape == (B, spec.n_agents)
            assert np.take_along_axis(np.asarray(legal), a[..., None], -1).all(), "an illegal action was chosen"
    else:
        obs = _obs(spec, jax.random.PRNGKey(3), (B,))
        legal = jnp.ones((B, spec.n_agents, 1), bool)
        a = np.asarray(act(state, obs, legal, jax.random.PRNGKey(5)))
        assert a.shape == (B, spec.n_agents, spec.action_dim)
        assert np.isfinite(a).all()
        assert (a >= spec.action_low).all() and (a <= spec.action_high).all()


@pytest.mark.parametrize("name,kind", CASES)
def test_decentralised_execution(name, kind):
    cls, task, cfg, data, update, act = _setup(name, kind)
    if cls.centralised_execution:
        pytest.skip(f"{name} declares centralised execution")
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    # a little training so the policy is not constant
    for i in range(20):
        state, _ = update(state, sample_batch(data, jax.random.PRNGKey(100 + i), 64), jax.random.PRNGKey(i))
    obs = _obs(spec, jax.random.PRNGKey(6), (B,))
    legal = jnp.ones((B, spec.n_agents, spec.legal_dim), bool)
    key = jax.random.PRNGKey(7)
    a0 = np.asarray(act(state, obs, legal, key))
    j = spec.n_agents - 1
    obs2 = obs.at[:, j].set(_obs(spec, jax.random.PRNGKey(8), (B,))[:, j] * 3.0)
    a1 = np.asarray(act(state, obs2, legal, key))
    np.testing.assert_allclose(a0[:, :j], a1[:, :j], atol=1e-5,
                               err_msg=f"{name}: agent actions depend on agent {j}'s observation")


@pytest.mark.parametrize("name,kind", CASES)
def test_deterministic_given_seed(name, kind):
    cls, task, cfg, data, update, act = _setup(name, kind)
    spec = task.spec
    s1 = cls.init(jax.random.PRNGKey(0), spec, cfg)
    s2 = cls.init(jax.random.PRNGKey(0), spec, cfg)
    for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    batch = sample_batch(data, jax.random.PRNGKey(1), 64)
    s1, _ = update(s1, batch, jax.random.PRNGKey(2))
    s2, _ = update(s2, batch, jax.random.PRNGKey(2))
    obs = _obs(spec, jax.random.PRNGKey(3), (B,))
    legal = jnp.ones((B, spec.n_agents, spec.legal_dim), bool)
    a1 = act(s1, obs, legal, jax.random.PRNGKey(4))
    a2 = act(s2, obs, legal, jax.random.PRNGKey(4))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))


@pytest.mark.parametrize("name,kind", CASES)
def test_declared_cost_matches_network_evaluations(name, kind):
    cls, task, cfg, _, _, _ = _setup(name, kind)
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    obs = _obs(spec, jax.random.PRNGKey(3))
    legal = jnp.ones((spec.n_agents, spec.legal_dim), bool)
    counted = count_nfe(cls.act, state, obs, legal, jax.random.PRNGKey(0))
    assert counted == cls.cost(spec, cfg).nfe, f"{name}: declared {cls.cost(spec, cfg).nfe}, act runs {counted}"


@pytest.mark.parametrize("name", sorted(algorithms.all_algorithms()))
def test_paper_defaults_are_not_cut(name):
    """Cost-defining settings can only change through an explicit override."""
    from algorithms.errors import ConfigError

    cls = algorithms.get(name)
    for field in cls.cost_defining:
        default = getattr(cls.Config(), field)
        # any other value: half an integer count (1 -> 2 for one-step settings), another string (flowbc's act_with)
        other = {int: lambda d: d // 2 if d > 1 else d + 1, float: lambda d: d / 2, bool: lambda d: not d,
                 str: lambda d: d + "-other"}[type(default)](default)
        with pytest.raises(ConfigError, match="allow-cost-override"):
            cls.make_config({field: other})
        cfg = cls.make_config({field: other}, allow_cost_override=True)
        assert getattr(cfg, field) == other
    if name == "flowbc":  # the string setting changes the declared cost: 10 Euler steps -> one distilled pass
        spec = get_task("games/xor").spec
        assert cls.cost(spec, cls.make_config({"act_with": "onestep"}, allow_cost_override=True)).nfe == 1
        assert cls.cost(spec, cls.Config()).nfe == 10


def test_builtin_plugins_follow_the_naming_rule_and_live_in_their_methods_file():
    import importlib

    for module in algorithms._BUILTIN:
        registered = [cls for cls in algorithms.all_algorithms().values() if cls.__module__ == f"algorithms.{module}"]
        assert registered, f"algorithms/{module}.py registers no plugin"
        for cls in registered:
            assert algorithms.NAME_RULE.match(cls.name), cls.name
            assert cls.name.split("-")[0] == module, f"{cls.name} lives in algorithms/{module}.py"
        importlib.import_module(f"algorithms.{module}")
    for old, new in algorithms.ALIASES.items():
        assert algorithms.get(old) is algorithms.get(new)


def test_every_config_field_says_what_it_is():
    """One comment per Config field (same line or the line above): what it is, its value and its source."""
    import ast
    import inspect

    for name, cls in sorted(algorithms.all_algorithms().items()):
        lines, start = inspect.getsourcelines(cls.Config)
        tree = ast.parse("".join(lines).replace("\n    ", "\n", 0))
        for node in ast.walk(tree):
            if isinstance(node, ast.AnnAssign):
                here = lines[node.lineno - 1]
                above = lines[node.lineno - 2] if node.lineno >= 2 else ""
                assert "#" in here or above.strip().startswith("#"), \
                    f"{name}: Config.{node.target.id} has no comment ({inspect.getsourcefile(cls.Config)}:{start + node.lineno - 1})"
