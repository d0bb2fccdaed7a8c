"""DDPM (denoising diffusion, epsilon prediction) shared by Diffusion BC, MADiff and DoF.

Forward process x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps, k in {0..K-1}, eps ~ N(0, I); loss
E || eps - eps_theta(x_k, k) ||^2 (Ho et al. 2020). Ancestral sampling runs the K posterior steps
x_{k-1} = mean(x_k, x0_hat) + sigma_k xi with the "fixed small" posterior variance and no noise at the
last step, as the ``diffusers`` DDPM scheduler that MADiff and DoF use, with x0_hat optionally clipped
to [-1, 1] (``clip_sample``). The loop is a ``lax.fori_loop`` with Python bounds (a ``scan`` with a
static trip count), so :func:`algorithms.nets.count_nfe` counts K network evaluations.

Schedules: ``"linear"`` is the scaled linear schedule of the MAC-Flow code base's diffusion helper
(beta from 1e-4 * 1000/K to 0.02 * 1000/K, the Diffusion BC default); ``"cosine"`` is the
``squaredcos_cap_v2`` schedule of Nichol & Dhariwal (beta capped at 0.999) used by MADiff and DoF.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from algorithms.errors import ConfigError

SCHEDULES = ("linear", "cosine")


@flax.struct.dataclass
class Schedule:
    """Per-step constants of a K-step DDPM (arrays of length K, index k = 0..K-1)."""

    betas: jax.Array
    abar: jax.Array
    abar_prev: jax.Array

    @property
    def steps(self) -> int:
        return self.betas.shape[0]


def make_schedule(kind: str, steps: int) -> Schedule:
    if steps < 1:
        raise ConfigError(f"diffusion_steps must be >= 1, got {steps}")
    if kind == "linear":
        scale = 1000.0 / steps
        betas = np.linspace(1e-4 * scale, 0.02 * scale, steps, dtype=np.float64)
        betas = np.clip(betas, 0.0, 0.999)
    elif kind == "cosine":
        f = lambda t: math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = np.array([min(1.0 - f(k + 1) / f(k), 0.999) for k in range(steps)], np.float64)
    else:
        raise ConfigError(f"beta schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    abar = np.cumprod(1.0 - betas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    return Schedule(betas=f32(betas), abar=f32(abar), abar_prev=f32(abar_prev))


def q_sample(sched: Schedule, x0: jax.Array, k: jax.Array, noise: jax.Array) -> jax.Array:
    """Noised x_k; k has the shape of x0 without its trailing feature axes (broadcast on the right)."""
    ab = sched.abar[k]
    ab = ab.reshape(ab.shape + (1,) * (x0.ndim - ab.ndim))
    return jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * noise


def ddpm_loss(eps_fn: Callable, x0: jax.Array, key: jax.Array, sched: Schedule, *, batch_dims: int = 1,
              mask: Optional[jax.Array] = None, inpaint: Optional[Callable] = None) -> jax.Array:
    """Masked mean of (eps_theta(x_k, k) - eps)^2 over elements.

    One diffusion step k per sample of the leading ``batch_dims`` axes. ``inpaint(x)`` overwrites the
    conditioned entries of the noised sample (MADiff's ``apply_conditioning``); ``mask`` (broadcastable
    to x0) selects the entries that count in the loss.
    """
    kk, kn = jax.random.split(key)
    k = jax.random.randint(kk, x0.shape[:batch_dims], 0, sched.steps)
    noise = jax.random.normal(kn, x0.shape, x0.dtype)
    xk = q_sample(sched, x0, k, noise)
    if inpaint is not None:
        xk = inpaint(xk)
    err = (eps_fn(xk, k) - noise) ** 2
    if mask is None:
        return err.mean()
    mask = jnp.broadcast_to(mask, err.shape)
    return (err * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def ddpm_step(sched: Schedule, x: jax.Array, eps: jax.Array, k, noise: jax.Array, clip: Optional[float]) -> jax.Array:
    """One ancestral step x_k -> x_{k-1} (posterior mean of the clipped x0 estimate plus noise if k > 0)."""
    ab, ab_prev, beta = sched.abar[k], sched.abar_prev[k], sched.betas[k]
    x0 = (x - jnp.sqrt(1.0 - ab) * eps) / jnp.sqrt(ab)
    if clip is not None:
        x0 = jnp.clip(x0, -clip, clip)
    mean = (jnp.sqrt(ab_prev) * beta / (1.0 - ab)) * x0 + (jnp.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)) * x
    var = jnp.maximum(beta * (1.0 - ab_prev) / (1.0 - ab), 1e-20)
    return mean + jnp.where(k > 0, jnp.sqrt(var), 0.0) * noise


def ddpm_sample(eps_fn: Callable, sched: Schedule, x_init: jax.Array, key: jax.Array, *,
                clip: Optional[float] = 1.0, inpaint: Optional[Callable] = None) -> jax.Array:
    """K ancestral steps from x_K = ``x_init``; ``eps_fn(x, k)`` gets k as a scalar int32 (one call per step).

    ``inpaint`` (if given) re-imposes the conditioned entries before every network call and at the end.
    """
    K = sched.steps
    inpaint = inpaint or (lambda x: x)

    def body(i, x):
        k = K - 1 - i
        x = inpaint(x)
        eps = eps_fn(x, jnp.asarray(k, jnp.int32))
        noise = jax.random.normal(jax.random.fold_in(key, i), x.shape, x.dtype)
        return ddpm_step(sched, x, eps, k, noise, clip)

    return inpaint(jax.lax.fori_loop(0, K, body, x_init))


def guided(eps_fn: Callable, weight: float) -> Callable:
    """Classifier-free guidance in ONE network call: ``eps_fn(x2, k, cond_on)`` is evaluated on the batch
    [x; x] with the condition switched on for the first half and dropped for the second, and the result
    is eps_u + w (eps_c - eps_u). One call per denoising step, so a K-step chain costs K evaluations.
    """

    def fn(x, k):
        b = x.shape[0]
        on = jnp.concatenate([jnp.ones((b,)), jnp.zeros((b,))])
        out = eps_fn(jnp.concatenate([x, x], 0), k, on)
        cond, uncond = out[:b], out[b:]
        return uncond + weight * (cond - uncond)

    return fn
