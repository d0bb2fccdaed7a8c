"""Flow matching (rectified flow) shared by Flow BC, MAC-Flow and MA-FQL.

Linear interpolation x_t = (1 - t) x0 + t x1 with x0 ~ N(0, I), t ~ U[0, 1], target velocity
x1 - x0 (MAC-Flow Eq. 5/6); sampling integrates dx/dt = v(x, t) with M Euler steps from x0 = z
(MAC-Flow Alg. 2).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def flow_matching_loss(velocity: Callable, x1: jax.Array, key: jax.Array, weight: jax.Array | None = None):
    """E || v(x_t, t) - (x1 - x0) ||^2, summed over the last axis, averaged over the rest.

    velocity(x_t, t) receives t shaped [..., 1]. ``weight`` (shape x1.shape[:-1]) masks padded rows.
    """
    k0, kt = jax.random.split(key)
    x0 = jax.random.normal(k0, x1.shape, x1.dtype)
    t = jax.random.uniform(kt, x1.shape[:-1] + (1,), x1.dtype)
    xt = (1.0 - t) * x0 + t * x1
    err = jnp.sum((velocity(xt, t) - (x1 - x0)) ** 2, axis=-1)
    if weight is None:
        return err.mean()
    return (err * weight).sum() / jnp.maximum(weight.sum(), 1.0)


def euler(velocity: Callable, z: jax.Array, steps: int) -> jax.Array:
    """Integrate from t=0 to t=1 in ``steps`` Euler steps: x <- x + v(x, m/M) / M (one network call each)."""

    def body(m, x):
        t = jnp.full(x.shape[:-1] + (1,), m / steps, x.dtype)
        return x + velocity(x, t) / steps

    return jax.lax.fori_loop(0, steps, body, z)


def onestep_noise(discrete: bool, mode: str, key: jax.Array, shape: tuple) -> jax.Array:
    """The noise z a one-step policy mu(o, z) acts with: 0 for discrete actions (the legal argmax of the
    logits at z = 0) or when ``mode == "zero"`` (an ``act_noise`` switch); otherwise (``"sample"``) a fresh
    z ~ N(0, I) per decision."""
    if discrete or mode == "zero":
        return jnp.zeros(shape)
    return jax.random.normal(key, shape)
