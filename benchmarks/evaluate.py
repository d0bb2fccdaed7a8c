"""Batched rollouts of a learned policy.

JAX environments roll out inside ``jit``: all episodes of one seed step together (``vmap`` over the
environment, one ``act`` call per step for the whole batch) and seeds are a leading ``vmap`` axis.
The score of an episode is the sum over time of the team reward.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def rollout(env, policy: Callable, key, n_episodes: int):
    """policy(obs [E,N,O], legal [E,N,L], key) -> actions. Returns (returns [E], won [E] or None)."""
    k_reset, k_run = jax.random.split(key)
    env_state, obs, legal, _ = jax.vmap(env.reset)(jax.random.split(k_reset, n_episodes))

    def body(carry, k):
        env_state, obs, legal, ret, alive, won = carry
        ka, ks = jax.random.split(k)
        actions = policy(obs, legal, ka)
        env_state, obs, legal, _, reward, done, info = jax.vmap(env.step)(
            env_state, actions, jax.random.split(ks, n_episodes))
        ret = ret + reward * alive
        if "won" in info:
            won = jnp.where(alive & done, info["won"], won)
        alive = alive & ~done
        return (env_state, obs, legal, ret, alive, won), None

    init = (env_state, obs, legal, jnp.zeros(n_episodes), jnp.ones(n_episodes, bool), jnp.zeros(n_episodes, bool))
    (_, _, _, ret, _, won), _ = jax.lax.scan(body, init, jax.random.split(k_run, env.spec.episode_length))
    return ret, won


def make_evaluator(env, algo, n_episodes: int):
    """A jitted function (states with a leading seed axis, keys [S]) -> (returns [S,E], won [S,E])."""

    def one(state, key):
        return rollout(env, lambda o, l, k: algo.act(state, o, l, k), key, n_episodes)

    return jax.jit(jax.vmap(one))
