"""Batched rollouts of a learned policy.

JAX environments roll out inside ``jit``: all episodes of one seed step together (``vmap`` over the
environment, one ``act`` call per step for the whole batch) and seeds are a leading ``vmap`` axis.
The score of an episode is the sum over time of the team reward.

A plugin with an acting carry (``act_carry_init`` / ``act_step``, algorithms/base.py; e.g. MADiff's observation
history) gets it built from the episodes' first observations and threaded through the episode, on both paths.
Every episode of a batch starts at step 0 together and a finished episode is masked out of the returns (its
environment keeps stepping), so the carry is never reset inside a batch.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from algorithms.base import acting


def rollout(env, policy: Callable, key, n_episodes: int, carry_init: Callable | None = None):
    """policy(obs [E,N,O], legal [E,N,L], key) -> actions. Returns (returns [E], won [E] or None).

    With ``carry_init(obs, legal) -> carry`` the policy is ``policy(carry, obs, legal, key) -> (actions, carry)``:
    the carry starts from the reset observations and runs through the episode."""
    k_reset, k_run = jax.random.split(key)
    env_state, obs, legal, _ = jax.vmap(env.reset)(jax.random.split(k_reset, n_episodes))
    if carry_init is None:
        step = lambda c, o, l, k: (policy(o, l, k), c)
        pcarry = ()
    else:
        step, pcarry = policy, carry_init(obs, legal)

    def body(carry, k):
        env_state, obs, legal, ret, alive, won, pcarry = carry
        ka, ks = jax.random.split(k)
        actions, pcarry = step(pcarry, obs, legal, ka)
        env_state, obs, legal, _, reward, done, info = jax.vmap(env.step)(
            env_state, actions, jax.random.split(ks, n_episodes))
        ret = ret + reward * alive
        if "won" in info:
            won = jnp.where(alive & done, info["won"], won)
        alive = alive & ~done
        return (env_state, obs, legal, ret, alive, won, pcarry), None

    init = (env_state, obs, legal, jnp.zeros(n_episodes), jnp.ones(n_episodes, bool), jnp.zeros(n_episodes, bool),
            pcarry)
    (_, _, _, ret, _, won, _), _ = jax.lax.scan(body, init, jax.random.split(k_run, env.spec.episode_length))
    return ret, won


def make_evaluator(env, algo, n_episodes: int):
    """A jitted function (states with a leading seed axis, keys [S]) -> (returns [S,E], won [S,E])."""
    init, step = acting(algo)

    def one(state, key):
        return rollout(env, lambda c, o, l, k: step(state, c, o, l, k), key, n_episodes,
                       carry_init=lambda o, l: init(state, o, l))

    return jax.jit(jax.vmap(one))


def make_python_evaluator(env_maker, algo, n_episodes: int):
    """Evaluator for a Python environment (benchmarks/envs/__init__.py: ``batch(n_envs, seed)``).

    The S seeds x E episodes step together as one batch of S*E environments; each step makes one
    jitted call of ``act`` (``act_step`` with a carry) vmapped over seeds. Same signature and outputs as :func:`make_evaluator`:
    (states with a leading seed axis, keys [S]) -> (returns [S,E], won [S,E]) as numpy arrays.
    """
    import numpy as np

    init, step = acting(algo)
    init_all = jax.jit(jax.vmap(init))
    act_all = jax.jit(jax.vmap(step))

    def evaluate(states, keys):
        keys = jnp.asarray(keys)
        n_seeds = keys.shape[0]
        env_seed = int(jax.random.randint(keys[0], (), 0, 2 ** 30))
        env = env_maker.batch(n_seeds * n_episodes, env_seed)
        try:
            obs, legal, _ = env.reset()
            total = np.zeros(n_seeds * n_episodes)
            won = np.zeros(n_seeds * n_episodes, bool)
            alive = np.ones(n_seeds * n_episodes, bool)
            shape = (n_seeds, n_episodes)
            seeded = lambda x: jnp.asarray(x).reshape(shape + x.shape[1:])
            carry = init_all(states, seeded(obs), seeded(legal))
            for t in range(env_maker.spec.episode_length):
                step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
                actions, carry = act_all(states, carry, seeded(obs), seeded(legal), step_keys)
                actions = np.asarray(actions).reshape((n_seeds * n_episodes,) + actions.shape[2:])
                obs, legal, _, reward, done, info = env.step(actions)
                total += np.where(alive, reward, 0.0)
                if "won" in info:
                    won = np.where(alive & done, np.asarray(info["won"], bool), won)
                alive &= ~np.asarray(done, bool)
                if not alive.any():
                    break
        finally:
            env.close()
        return total.reshape(n_seeds, n_episodes), won.reshape(n_seeds, n_episodes)

    return evaluate
