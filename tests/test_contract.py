"""Registry-driven contract tests: every registered plugin, for every action kind it supports."""
from __future__ import annotations

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


def _setup(name, kind, **over):
    cls = algorithms.get(name)
    task = get_task(TASK_OF_KIND[kind])
    cfg = cls.make_config({**tiny_overrides(cls), **over}, allow_cost_override=True)
    ds = task.make_dataset(0)
    rtg = cls.rtg_discount(cfg)
    arrays = to_transitions(ds, rtg) if cls.sequence_length == 1 else to_windows(ds, cls.sequence_length, rtg)
    data = {k: jnp.asarray(v) for k, v in arrays.items()}
    return cls, task, cfg, data


def _obs(spec, key, batch=()):
    return jax.random.normal(key, batch + (spec.n_agents, spec.obs_dim))


@pytest.mark.parametrize("name,kind", CASES)
def test_update_is_finite_and_loss_falls_on_a_fixed_batch(name, kind):
    cls, task, cfg, data = _setup(name, kind)
    state = cls.init(jax.random.PRNGKey(0), task.spec, cfg)
    batch = sample_batch(data, jax.random.PRNGKey(1), 64)
    update = jax.jit(cls.update)

    def body(s, k):
        s, m = update(s, batch, k)
        return s, m["loss"]

    _, losses = jax.lax.scan(body, state, jax.random.split(jax.random.PRNGKey(2), 150))
    losses = np.asarray(losses)
    assert np.all(np.isfinite(losses))
    assert losses[-15:].mean() < losses[:15].mean(), f"{name}: loss did not fall ({losses[:15].mean()} -> {losses[-15:].mean()})"


@pytest.mark.parametrize("name,kind", CASES)
def test_acts_legally(name, kind):
    cls, task, cfg, _ = _setup(name, kind)
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    obs = _obs(spec, jax.random.PRNGKey(3), (256,))
    if spec.discrete:
        # random legal masks with at least one legal action per agent
        legal = jax.random.bernoulli(jax.random.PRNGKey(4), 0.5, (256, spec.n_agents, spec.action_dim))
        legal = legal.at[..., 0].set(~legal[..., 1:].any(-1) | legal[..., 0])
        a = np.asarray(jax.jit(cls.act)(state, obs, legal, jax.random.PRNGKey(5)))
        assert a.shape == (256, spec.n_agents)
        assert np.take_along_axis(np.asarray(legal), a[..., None], -1).all(), "an illegal action was chosen"
    else:
        legal = jnp.ones((256, spec.n_agents, 1), bool)
        a = np.asarray(jax.jit(cls.act)(state, obs, legal, jax.random.PRNGKey(5)))
        assert a.shape == (256, spec.n_agents, spec.action_dim)
        assert np.isfinite(a).all()
        assert (a >= spec.action_low).all() and (a <= spec.action_high).all()


@pytest.mark.parametrize("name,kind", CASES)
def test_decentralised_execution(name, kind):
    cls, task, cfg, data = _setup(name, kind)
    if cls.centralised_execution:
        pytest.skip(f"{name} declares centralised execution")
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    # a little training so the policy is not constant
    update = jax.jit(cls.update)
    for i in range(20):
        state, _ = update(state, sample_batch(data, jax.random.PRNGKey(100 + i), 64), jax.random.PRNGKey(i))
    obs = _obs(spec, jax.random.PRNGKey(6), (32,))
    legal = jnp.ones((32, spec.n_agents, spec.legal_dim), bool)
    key = jax.random.PRNGKey(7)
    act = jax.jit(cls.act)
    a0 = np.asarray(act(state, obs, legal, key))
    j = spec.n_agents - 1
    obs2 = obs.at[:, j].set(_obs(spec, jax.random.PRNGKey(8), (32,))[:, j] * 3.0)
    a1 = np.asarray(act(state, obs2, legal, key))
    np.testing.assert_allclose(a0[:, :j], a1[:, :j], atol=1e-5,
                               err_msg=f"{name}: agent actions depend on agent {j}'s observation")


@pytest.mark.parametrize("name,kind", CASES)
def test_deterministic_given_seed(name, kind):
    cls, task, cfg, data = _setup(name, kind)
    spec = task.spec
    s1 = cls.init(jax.random.PRNGKey(0), spec, cfg)
    s2 = cls.init(jax.random.PRNGKey(0), spec, cfg)
    for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    batch = sample_batch(data, jax.random.PRNGKey(1), 64)
    s1, _ = jax.jit(cls.update)(s1, batch, jax.random.PRNGKey(2))
    s2, _ = jax.jit(cls.update)(s2, batch, jax.random.PRNGKey(2))
    obs = _obs(spec, jax.random.PRNGKey(3), (8,))
    legal = jnp.ones((8, spec.n_agents, spec.legal_dim), bool)
    a1 = jax.jit(cls.act)(s1, obs, legal, jax.random.PRNGKey(4))
    a2 = jax.jit(cls.act)(s2, obs, legal, jax.random.PRNGKey(4))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))


@pytest.mark.parametrize("name,kind", CASES)
def test_declared_cost_matches_network_evaluations(name, kind):
    cls, task, cfg, _ = _setup(name, kind)
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
        bad = default // 2 if isinstance(default, int) and default > 1 else ("x" if isinstance(default, str) else None)
        if bad is None or isinstance(default, str):
            continue
        with pytest.raises(ConfigError, match="allow-cost-override"):
            cls.make_config({field: bad})
        cfg = cls.make_config({field: bad}, allow_cost_override=True)
        assert getattr(cfg, field) == bad


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
