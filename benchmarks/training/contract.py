"""The plugin contract, checked on any registered plugin: built-in, or installed by another package.

``bench test-plugin NAME`` runs these checks from anywhere (no checkout of this repository, no pytest, and
the compilation cache in the user's cache directory, ``$BENCH_JAX_CACHE``); ``tests/test_contract.py`` runs
the same functions on every registered plugin. Each check raises ``ContractViolation`` (an AssertionError)
with what went wrong, or returns a note when it does not apply (e.g. decentralised execution for a plugin
that declares centralised execution).

Per action kind the plugin supports (discrete on games/coordination, continuous on games/landmarks), at its
test size (``TEST_SIZE`` plus the plugin's own ``tiny`` overrides; cost-defining settings stay at the
paper's, so the declared cost is checked as the method really runs):

- update: 150 gradient steps on one fixed batch are finite and the loss falls;
- legal actions: actions have the declared shape, are legal under random masks (discrete) and inside the
  action box (continuous);
- decentralised execution: changing agent j's observation leaves the other agents' actions unchanged;
- determinism: the same seed gives the same parameters, update and actions;
- declared cost: ``cost().nfe`` equals the network evaluations ``act`` performs (counted from its jaxpr).

Per plugin: its name follows the naming rule (``algorithms.NAME_RULE``), its cost-defining settings change
only with ``allow_cost_override``, and every field of its Config has a comment.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

TASK_OF_KIND = {"discrete": "games/coordination", "continuous": "games/landmarks"}
TEST_SIZE = {"hidden": (32, 32)}  # small networks; a plugin's ``tiny`` adds what else makes it small
B = 16  # observations per act call (the DDPM planners run 200 U-Net passes per call: 0.9 s at 16, 2.8 s at 64)


class ContractViolation(AssertionError):
    """A plugin does not do what the contract (algorithms/base.py) asks."""


def _require(ok, message: str) -> None:
    if not ok:
        raise ContractViolation(message)


def small_overrides(cls) -> dict:
    """The overrides that make ``cls`` small for the checks: TEST_SIZE's keys it has, then its ``tiny``."""
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    over = {k: v for k, v in TEST_SIZE.items() if k in fields}
    over.update(cls.tiny)
    return over


def kinds(name: str) -> list[str]:
    """The action kinds of plugin ``name`` that the checks cover."""
    import algorithms

    return [k for k in sorted(algorithms.get(name).supports) if k in TASK_OF_KIND]


@functools.lru_cache(maxsize=None)
def setup(name: str, kind: str):
    """The plugin at its test size on its kind's game, with its data and one jitted ``update`` and ``act``
    shared by every check of (name, kind): the checks differ in what they check, not in what they compile."""
    import jax
    import jax.numpy as jnp

    import algorithms
    from benchmarks.data.transitions import to_transitions, to_windows
    from benchmarks.tasks import get_task

    cls = algorithms.get(name)
    task = get_task(TASK_OF_KIND[kind])
    cfg = cls.make_config(small_overrides(cls), allow_cost_override=True)
    ds = task.make_dataset(0)
    rtg = cls.rtg_discount(cfg)
    past, length = cls.window(cfg)  # madiff / dof: windows with an observation history
    arrays = to_transitions(ds, rtg) if length == 1 else to_windows(ds, length, rtg, past=past)
    data = {k: jnp.asarray(v) for k, v in arrays.items()}
    return cls, task, cfg, data, jax.jit(cls.update), jax.jit(cls.act)


def _obs(spec, key, batch=()):
    import jax

    return jax.random.normal(key, batch + (spec.n_agents, spec.obs_dim))


def check_update(name: str, kind: str) -> None:
    """150 updates on a fixed batch: every metric finite, the last 15 losses below the first 15 on average; every
    network of ``params`` (flow, actor, critic, mixer, ...) moves, so none is left out of the gradient step (a
    falling total loss alone passes with a network cut off, e.g. an actor whose gradient is stopped); and one update
    on another batch gives other parameters (what the update learns depends on the batch)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.training.train import sample_batch

    cls, task, cfg, data, update, _ = setup(name, kind)
    init = cls.init(jax.random.PRNGKey(0), task.spec, cfg)
    batch = sample_batch(data, jax.random.PRNGKey(1), 64)
    state, losses = init, []
    for k in jax.random.split(jax.random.PRNGKey(2), 150):
        state, m = update(state, batch, k)
        _require(all(np.all(np.isfinite(np.asarray(v))) for v in m.values()),
                 f"{name}: a metric is not finite within 150 updates on one batch: {m}")
        losses.append(m["loss"])
    losses = np.asarray(jnp.stack(losses))
    _require(losses[-15:].mean() < losses[:15].mean(),
             f"{name}: the loss did not fall on a fixed batch ({losses[:15].mean()} -> {losses[-15:].mean()})")

    def moved(a, b):
        return max((float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))), default=0.0)

    if isinstance(init.params, dict):
        for net in init.params:
            if jax.tree.leaves(init.params[net]):  # (a parameter-free mixer, e.g. "none", has nothing to move)
                _require(moved(init.params[net], state.params[net]) > 0.0,
                         f"{name}: network {net!r} never changed in 150 updates (is it left out of the loss?)")
    first, _ = update(init, batch, jax.random.PRNGKey(2))
    other, _ = update(init, sample_batch(data, jax.random.PRNGKey(9), 64), jax.random.PRNGKey(2))
    _require(moved(first.params, other.params) > 0.0,
             f"{name}: one update gives the same parameters for another batch (does the loss read the batch?)")


def check_legal_actions(name: str, kind: str) -> None:
    """Actions of the declared shape, legal under random masks (discrete), inside the action box (continuous)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    cls, task, cfg, _, _, act = setup(name, kind)
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    if spec.discrete:
        # random legal masks with at least one legal action per agent, over 4 batches of observations
        for i in range(4):
            obs = _obs(spec, jax.random.PRNGKey(30 + i), (B,))
            legal = jax.random.bernoulli(jax.random.PRNGKey(40 + i), 0.5, (B, spec.n_agents, spec.action_dim))
            legal = legal.at[..., 0].set(~legal[..., 1:].any(-1) | legal[..., 0])
            a = np.asarray(act(state, obs, legal, jax.random.PRNGKey(5 + i)))
            _require(a.shape == (B, spec.n_agents), f"{name}: actions of shape {a.shape}, expected {(B, spec.n_agents)}")
            _require(np.take_along_axis(np.asarray(legal), a[..., None], -1).all(), f"{name}: an illegal action was chosen")
    else:
        obs = _obs(spec, jax.random.PRNGKey(3), (B,))
        legal = jnp.ones((B, spec.n_agents, 1), bool)
        a = np.asarray(act(state, obs, legal, jax.random.PRNGKey(5)))
        want = (B, spec.n_agents, spec.action_dim)
        _require(a.shape == want, f"{name}: actions of shape {a.shape}, expected {want}")
        _require(np.isfinite(a).all(), f"{name}: an action is not finite")
        _require((a >= spec.action_low).all() and (a <= spec.action_high).all(),
                 f"{name}: an action is outside the action box [{spec.action_low}, {spec.action_high}]")


def check_decentralised(name: str, kind: str) -> Optional[str]:
    """Changing the last agent's observation leaves every other agent's action unchanged (same key)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.training.train import sample_batch

    cls, task, cfg, data, update, act = setup(name, kind)
    if cls.centralised_execution:
        return f"{name} declares centralised execution"
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    for i in range(20):  # a little training so the policy is not constant
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
    return None


def check_deterministic(name: str, kind: str) -> None:
    """The same seed gives the same parameters, the same update and the same actions."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.training.train import sample_batch

    cls, task, cfg, data, update, act = setup(name, kind)
    spec = task.spec
    s1 = cls.init(jax.random.PRNGKey(0), spec, cfg)
    s2 = cls.init(jax.random.PRNGKey(0), spec, cfg)
    for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name}: init is not deterministic")
    batch = sample_batch(data, jax.random.PRNGKey(1), 64)
    s1, _ = update(s1, batch, jax.random.PRNGKey(2))
    s2, _ = update(s2, batch, jax.random.PRNGKey(2))
    obs = _obs(spec, jax.random.PRNGKey(3), (B,))
    legal = jnp.ones((B, spec.n_agents, spec.legal_dim), bool)
    a1 = act(s1, obs, legal, jax.random.PRNGKey(4))
    a2 = act(s2, obs, legal, jax.random.PRNGKey(4))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2),
                                  err_msg=f"{name}: the same seed gave different actions")


def check_cost(name: str, kind: str) -> None:
    """``cost(spec, cfg).nfe`` equals the network evaluations of one ``act`` call (jaxpr count, loops included;
    networks are seen through ``algorithms.nets.MLP`` or ``nets.nfe_tag``)."""
    import jax
    import jax.numpy as jnp

    from algorithms.nets import count_nfe

    cls, task, cfg, _, _, _ = setup(name, kind)
    spec = task.spec
    state = cls.init(jax.random.PRNGKey(0), spec, cfg)
    obs = _obs(spec, jax.random.PRNGKey(3))
    legal = jnp.ones((spec.n_agents, spec.legal_dim), bool)
    counted = count_nfe(cls.act, state, obs, legal, jax.random.PRNGKey(0))
    declared = cls.cost(spec, cfg).nfe
    _require(counted == declared, f"{name}: cost() declares {declared} network evaluations, act runs {counted}")


def check_name(name: str) -> None:
    """The naming rule: lower-case letters and digits as users type them, ``-<variant>`` for a variant."""
    import algorithms

    cls = algorithms.get(name)
    _require(algorithms.NAME_RULE.match(cls.name),
             f"'{cls.name}' breaks the naming rule: {algorithms.NAME_RULE_TEXT}")


def check_paper_defaults_kept(name: str) -> None:
    """Each cost-defining setting (a count, a float, a switch or a string) changes only with ``allow_cost_override``
    (then it does change)."""
    import algorithms
    from algorithms.errors import ConfigError

    cls = algorithms.get(name)
    # any other value: half an integer count (1 -> 2 for one-step settings), another switch or string
    other_of = {int: lambda d: d // 2 if d > 1 else d + 1, float: lambda d: d / 2, bool: lambda d: not d,
                str: lambda d: d + "-other"}
    for field in cls.cost_defining:
        default = getattr(cls.Config(), field)
        if type(default) not in other_of:
            continue
        bad = other_of[type(default)](default)
        try:
            cls.make_config({field: bad})
        except ConfigError as exc:
            _require("allow-cost-override" in str(exc), f"{name}: the refusal of {field}={bad} does not name "
                                                        f"--allow-cost-override: {exc}")
        else:
            raise ContractViolation(f"{name}: {field}={bad!r} (paper default {default!r}) was accepted without "
                                    "allow_cost_override")
        cfg = cls.make_config({field: bad}, allow_cost_override=True)
        _require(getattr(cfg, field) == bad, f"{name}: {field}={bad!r} with allow_cost_override did not take")


def check_config_comments(name: str) -> None:
    """One comment per Config field (same line or the line above): what it is, its value and its source."""
    import ast
    import inspect

    import algorithms

    cls = algorithms.get(name)
    lines, start = inspect.getsourcelines(cls.Config)
    tree = ast.parse("".join(lines).replace("\n    ", "\n", 0))
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno >= 2 else ""
            _require("#" in here or above.strip().startswith("#"),
                     f"{name}: Config.{node.target.id} has no comment "
                     f"({inspect.getsourcefile(cls.Config)}:{start + node.lineno - 1})")


# (what it checks, function, per action kind)
CHECKS: tuple = (
    ("name follows the naming rule", check_name, False),
    ("cost-defining settings need allow_cost_override", check_paper_defaults_kept, False),
    ("every Config field has a comment", check_config_comments, False),
    ("update is finite and the loss falls on a fixed batch", check_update, True),
    ("acts legally", check_legal_actions, True),
    ("decentralised execution", check_decentralised, True),
    ("deterministic given the seed", check_deterministic, True),
    ("declared cost equals act's network evaluations", check_cost, True),
)


def run(name: str, only_kinds=None, say: Callable[[str], None] = print) -> int:
    """Every check on plugin ``name`` (per action kind: ``only_kinds`` or all it supports); one line per check
    (``ok``, ``n/a`` with why, or ``FAIL`` with the violation). Returns the number of failed checks."""
    import algorithms
    from algorithms.errors import BenchError

    cls = algorithms.get(name)
    mine = kinds(name)
    chosen = mine if not only_kinds else [k for k in only_kinds if k in mine]
    bad = [k for k in (only_kinds or ()) if k not in mine]
    if bad:
        raise BenchError(f"plugin '{cls.name}' does not support {', '.join(bad)} actions; it supports: "
                         f"{', '.join(sorted(cls.supports))}")
    failed = 0
    for title, fn, per_kind in CHECKS:
        for kind in (chosen if per_kind else [None]):
            what = f"{title} ({kind})" if kind else title
            try:
                note = fn(cls.name, kind) if kind else fn(cls.name)
            except AssertionError as exc:  # ContractViolation, and numpy's assert_* helpers
                failed += 1
                lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:2]  # numpy's: tolerance, then ours
                say(f"FAIL  {what}: {'; '.join(lines) or type(exc).__name__}")
                continue
            say(f"n/a   {what}: {note}" if note else f"ok    {what}")
    return failed
