"""Shared machinery of the learning tests: a plugin's seeds and its broken variant trained in ONE program.

A learning test trains a plugin at its Config defaults (only the network width and the number of steps
shrink, named in the test) and a broken variant of the same plugin that must fail the same threshold. Where
the broken variant differs from the plugin only in its data (no bootstrapping: every transition terminal,
which zeroes the TD target's gamma (1 - d) Q' term exactly as discount 0 does; no rewards; observations
shuffled across rows), both train in one jitted, vmapped program (variants x seeds): one compilation and one
batched run instead of two of each.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import algorithms
from benchmarks.data.transitions import to_transitions, to_windows
from benchmarks.training.evaluate import make_evaluator
from algorithms.nets import count_matmul_flops
from benchmarks.training.train import auto_seed_batching, init_states, sample_batch

TINY = {"hidden": (32, 32)}  # the network width of the learning tests (paper: [512] x 4)


def arrays(cls, cfg, ds) -> dict:
    """The plugin's training rows of ``ds`` (transitions, or windows for sequence models) as device arrays."""
    rtg = cls.rtg_discount(cfg)
    past, length = cls.window(cfg)
    rows = to_transitions(ds, rtg) if length == 1 else to_windows(ds, length, rtg, past=past)
    return {k: jnp.asarray(v) for k, v in rows.items()}


def no_bootstrap(data: dict) -> dict:
    """The same rows with every transition terminal: the TD target is the reward alone (as at discount 0)."""
    return {**data, "terminal": jnp.ones_like(data["terminal"])}


def shuffled_obs(data: dict) -> dict:
    """The same rows with the observations permuted across rows: each action is paired with another row's
    observation, so nothing in an observation tells which action the data took there."""
    perm = jax.random.permutation(jax.random.PRNGKey(0), data["obs"].shape[0])
    return {**data, "obs": data["obs"][perm]}


def negated_reward(data: dict) -> dict:
    """The same rows with their rewards negated: a value-guided plugin's guidance points away from the optimum."""
    return {**data, "reward": -data["reward"]}


VARIANTS = {"default": lambda d: d, "no_bootstrap": no_bootstrap, "shuffled_obs": shuffled_obs,
            "negated_reward": negated_reward}


def check_finite(name, states) -> None:
    """A non-finite parameter is a crash, not a learning result: raised as FloatingPointError, so a strict xfail
    (which expects the failed threshold's AssertionError) does not count it as the known failure."""
    bad = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_leaves_with_path(states.params)
           if not np.all(np.isfinite(np.asarray(x)))]
    if bad:
        raise FloatingPointError(f"{name}: non-finite parameters after training: {', '.join(bad[:5])}")


def train_variants(name, spec, ds, variants=("default",), overrides=None, seeds=(0, 1), steps=1000, batch_size=64,
                   reward_scale=1.0, allow_cost_override=False):
    """Train ``seeds`` copies of plugin ``name`` on dataset ``ds`` for every data variant (``VARIANTS``) in one
    program, with the rewards times ``reward_scale``. Returns (cls, {variant: states with a leading seed axis})."""
    cls = algorithms.get(name)
    cls.check_spec(spec)
    cfg = cls.make_config({**TINY, **(overrides or {})}, allow_cost_override=allow_cost_override)
    base = arrays(cls, cfg, ds)
    base["reward"] = base["reward"] * reward_scale
    data = jax.tree.map(lambda *x: jnp.stack(x), *[VARIANTS[v](base) for v in variants])
    n_var, n_seed = len(variants), len(seeds)
    # one item per (variant, seed), variant-major: the same initial states and batch keys in every variant
    states = jax.tree.map(lambda x: jnp.concatenate([x] * n_var), init_states(cls, spec, cfg, tuple(seeds)))
    keys = jnp.stack([jax.random.PRNGKey(10_000 + s) for s in seeds] * n_var)
    which = jnp.repeat(jnp.arange(n_var), n_seed)

    def one_step(state, k, data):
        kb, ku = jax.random.split(k)
        return cls.update(state, sample_batch(data, kb, batch_size), ku)

    def one_item(state, key, v):
        mine = jax.tree.map(lambda x: x[v], data)
        return jax.lax.scan(lambda st, k: (one_step(st, k, mine)[0], None), state, jax.random.split(key, steps))[0]

    # as the trainer: the items one after another inside the program where a CPU runs batched products of large
    # updates slower than plain ones (OMAR's CEM and CQL terms; auto_seed_batching), vmapped otherwise
    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), (states, keys))
    mode = auto_seed_batching(states.params, n_var * n_seed, lambda: count_matmul_flops(
        one_step, *one, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), data)))
    if mode == "map":
        program = jax.jit(lambda st, ks, ws: jax.lax.map(lambda a: one_item(*a), (st, ks, ws)))
    else:
        program = jax.jit(jax.vmap(one_item))
    out = program(states, keys, which)
    check_finite(name, out)
    return cls, {v: jax.tree.map(lambda x, i=i: x[i * n_seed:(i + 1) * n_seed], out) for i, v in enumerate(variants)}


def mean_returns(env, cls, states: dict, episodes=16) -> dict:
    """Roll every variant's seeds out in ``env`` with one compiled evaluator: {variant: mean return per seed}."""
    names = list(states)
    flat = jax.tree.map(lambda *x: jnp.concatenate(x), *[states[n] for n in names])
    n = jax.tree.leaves(flat)[0].shape[0]
    returns, _ = make_evaluator(env, cls, episodes)(flat, jnp.stack([jax.random.PRNGKey(900 + i) for i in range(n)]))
    per = np.asarray(returns).mean(-1).reshape(len(names), -1)
    return {v: per[i] for i, v in enumerate(names)}


def xor_stats(a) -> dict:
    """Joint actions a [M, 2] on games/xor (data modes (-0.9, 0.9) and (0.9, -0.9), std 0.05)."""
    from benchmarks.envs.games import XOR_MODES

    near = lambda m: np.linalg.norm(a - m, axis=-1) < 0.3
    modes = [near(m).mean() for m in XOR_MODES]
    return {"anti_aligned": float(sum(modes)), "mode_fractions": [float(m) for m in modes],
            "marginal_far_from_0": [float((np.abs(a[:, i]) > 0.5).mean()) for i in range(2)],
            "marginal_median_abs": [float(np.median(np.abs(a[:, i]))) for i in range(2)],
            "marginal_positive": [float((a[:, i] > 0).mean()) for i in range(2)],
            "same_sign": float((np.sign(a[:, 0]) == np.sign(a[:, 1])).mean())}


def factorised_on_xor(st: dict) -> list:
    """What an agent-by-agent policy must give on xor, as failed checks (empty: all hold): each agent's marginal
    has its mass near the data's modes +-0.9 (not at the mean 0, not at the action bounds) on both sides, and the
    agents are independent (no anti-alignment beyond chance)."""
    bad = []
    for i in range(2):
        if st["marginal_far_from_0"][i] <= 0.8:
            bad.append(f"agent {i}: {st['marginal_far_from_0'][i]:.2f} of its mass beyond 0.5 (needs > 0.8)")
        if abs(st["marginal_median_abs"][i] - 0.9) >= 0.06:
            bad.append(f"agent {i}: median |a| {st['marginal_median_abs'][i]:.3f}, not the data's 0.9")
        if not 0.25 < st["marginal_positive"][i] < 0.75:
            bad.append(f"agent {i}: {st['marginal_positive'][i]:.2f} of its actions positive (both modes needed)")
    if not 0.35 < st["same_sign"] < 0.65:
        bad.append(f"same sign {st['same_sign']:.2f}: the agents are not independent")
    return bad
