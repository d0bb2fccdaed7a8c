"""MeanFlow (Geng et al., 2025) shared by VGM2P and OM2P: average velocities and one-step sampling.

Convention (VGM2P Sec. 2.3, the MeanFlow paper): time 0 is data, time 1 is noise.

    z_t = (1 - t) x + t eps,   v = eps - x            (the conditional velocity, dz/dt)
    u(z_t, r, t) = 1/(t - r) * int_r^t v(z_tau, tau) dtau          (average velocity over [r, t])
    MeanFlow identity:  u = v - (t - r) d/dt u,  d/dt u = v . d_z u + d_t u     (VGM2P Eq. 3-5)
    one-step sample:    x = eps - u(eps, 0, 1)                                  (VGM2P Sec. 2.3, Eq. 12)

The total derivative d/dt u is the directional derivative of u along the tangent (v, 0, 1) of
(z, r, t). Two estimates:

* ``"jvp"``: exact, one forward-mode pass ``jax.jvp(u, (z, r, t), (v, 0, 1))``. The primal output is
  the prediction the loss is taken on, as in the MeanFlow reference recipe.
* ``"fd"``: derivative-free (OM2P), a backward difference along the same path,
  [u(z, r, t) - u(z - h v, r, t - h)] / h, one extra forward pass without gradient. The step h is the
  one float32 actually realises, h = t - fl(t - delta): with delta = 1e-12 (the OM2P code's default)
  fl(t - delta) == t for every t in (0.5, 1], the difference is exactly zero and the MeanFlow
  correction silently vanishes, so steps below ``MIN_FD_STEP`` are refused.

The target is always under ``stop_gradient``. This module also holds the MeanFlow network wrapper
(observation, condition, noisy action, two times -> average velocity) and the timestep sampler with
the generalised (Beta) distribution used by OM2P.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from algorithms.errors import ConfigError

from .nets import MLP

DERIVATIVES = ("jvp", "fd")
# float32 spacing next to 1.0 is 6e-8 (below) / 1.2e-7 (above); a step of 1e-6 keeps >= 8 ulps of
# resolution at every t in [0, 1] and a relative cancellation error of ~1e-7/1e-6 in the difference.
MIN_FD_STEP = 1e-6


# ---- derivative and target ------------------------------------------------------------------------
def dudt_jvp(u_fn: Callable, z, r, t, v):
    """(u(z, r, t), d/dt u) with one forward-mode pass; tangents (v, 0, 1)."""
    return jax.jvp(u_fn, (z, r, t), (v, jnp.zeros_like(r), jnp.ones_like(t)))


def fd_step(t, delta: float):
    """The step float32 really takes: t - fl(t - delta) (>= delta up to rounding, never 0 for delta >= MIN_FD_STEP)."""
    return t - (t - delta)


def dudt_fd(u_fn: Callable, z, r, t, v, delta: float, u=None):
    """(u(z, r, t), backward-difference estimate of d/dt u along (v, 0, 1)); ``u`` reuses a computed value."""
    check_fd_step(delta)
    t_back = t - delta
    h = t - t_back
    u = u_fn(z, r, t) if u is None else u
    u_back = u_fn(z - h * v, r, t_back)
    return u, (u - u_back) / h


def check_fd_step(delta: float) -> None:
    if not delta >= MIN_FD_STEP:
        raise ConfigError(
            f"finite-difference step {delta!r} is below {MIN_FD_STEP:g}: in float32, t - step rounds to t near "
            f"t = 1 and the MeanFlow derivative becomes exactly zero. Use e.g. --set fd_step=1e-3, or "
            f"--set derivative=jvp for the exact derivative."
        )


def meanflow_target(u_fn: Callable, z, r, t, v, derivative: str = "jvp", delta: float = 1e-3, tangent=None):
    """Prediction u (with gradient) and the stop-gradient MeanFlow target v - (t - r) d/dt u.

    ``tangent`` is the velocity used as the z-tangent of d/dt u (defaults to v; VGM2P's CFG target
    passes its guided field here and as v).
    """
    tangent = v if tangent is None else tangent
    if derivative == "jvp":
        u, dudt = dudt_jvp(u_fn, z, r, t, tangent)
    elif derivative == "fd":
        u = u_fn(z, r, t)
        _, dudt = dudt_fd(u_fn, z, r, t, tangent, delta, u=jax.lax.stop_gradient(u))
    else:
        raise ConfigError(f"derivative must be one of {', '.join(DERIVATIVES)}, got {derivative!r}")
    return u, jax.lax.stop_gradient(v - (t - r) * dudt)


def one_step(u_fn: Callable, eps):
    """x = eps - u(eps, 0, 1): one network evaluation."""
    return sample(u_fn, eps, 1)


def sample(u_fn: Callable, eps, steps: int = 1, euler: bool = False):
    """From t = 1 to 0 in ``steps`` jumps z_r = z_t - (t - r) u(z_t, r, t) (VGM2P Eq. 12); ``steps`` evaluations.
    ``euler``: Euler steps of the instantaneous velocity u(z_t, t, t) instead (a flow-matching model, r = t)."""

    def body(m, z):
        t = jnp.full(z.shape[:-1] + (1,), 1.0 - m / steps, z.dtype)
        r = jnp.full(z.shape[:-1] + (1,), 1.0 - (m + 1) / steps, z.dtype)
        return z - (t - r) * u_fn(z, t if euler else r, t)

    return jax.lax.fori_loop(0, steps, body, eps)


def interpolate(x, eps, t):
    return (1.0 - t) * x + t * eps


# ---- timesteps --------------------------------------------------------------------------------------
def _time(key, shape, a: float, b: float):
    if a == 0 and b == 0:
        return jax.random.uniform(key, shape)
    if a <= 0 or b <= 0:
        raise ConfigError(f"timestep Beta parameters must both be positive (or both 0 for uniform), got ({a}, {b})")
    return jax.random.beta(key, a, b, shape)


def sample_times(key, shape, xi: Sequence[float] = (0, 0, 0, 0), sort: bool = False, equal_fraction: float = 0.0):
    """(r, t), each of ``shape``, from the generalised timestep distribution.

    xi = (a_r, b_r, a_t, b_t): r ~ Beta(a_r, b_r) and t ~ Beta(a_t, b_t), a (0, 0) pair meaning U[0, 1]
    (so xi = (0, 0, 0, 0) is the uniform MeanFlow default). ``sort`` orders them so that r <= t (the
    MeanFlow reference); ``equal_fraction`` of the samples get r = t (plain flow matching rows).
    """
    if len(xi) != 4:
        raise ConfigError(f"xi must have 4 numbers (a_r, b_r, a_t, b_t), got {tuple(xi)}")
    kr, kt, ke = jax.random.split(key, 3)
    r = _time(kr, shape, float(xi[0]), float(xi[1]))
    t = _time(kt, shape, float(xi[2]), float(xi[3]))
    if sort:
        r, t = jnp.minimum(r, t), jnp.maximum(r, t)
    if equal_fraction > 0:
        r = jnp.where(jax.random.uniform(ke, shape) < equal_fraction, t, r)
    return r, t


# ---- networks ---------------------------------------------------------------------------------------
def time_features(r, t):
    """Raw (t, t - r) scalars (MeanFlow's (t, t - r) conditioning). Sinusoidal features would make
    d/dt u stiff (d/dt sin(2^k pi t) grows like 2^k) and the MeanFlow target with it."""
    return jnp.concatenate([t, t - r], -1)


class AgentMLP(nn.Module):
    """An MLP applied along the agent axis (-2): shared weights, or one set per agent (``n_agents`` > 0).

    One marked network evaluation either way (the per-agent copies run as one vmapped pass).
    """

    hidden: Sequence[int]
    out: int
    layer_norm: bool = True
    n_agents: int = 0
    ensemble: int = 0  # > 0: that many independent heads, stacked on a leading axis

    @nn.compact
    def __call__(self, x):
        if self.ensemble:
            make = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None,
                           out_axes=0, axis_size=self.ensemble)
        else:
            make = MLP
        if self.n_agents:
            make = nn.vmap(make, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=-2,
                           out_axes=-2, axis_size=self.n_agents)
        return make(self.hidden, self.out, self.layer_norm)(x)


def mean_velocity_fn(net: nn.Module, params, obs, cond=None) -> Callable:
    """u(z, r, t) for fixed observations [.., N, O'] (and an optional condition [.., N, C])."""
    ctx = obs if cond is None else jnp.concatenate([obs, cond], -1)

    def u(z, r, t):
        return net.apply(params, jnp.concatenate([ctx, z, time_features(r, t)], -1))

    return u


def as_vector(spec, actions):
    """Dataset actions as the vectors the generative model sees: one-hot (discrete) or as is."""
    return jax.nn.one_hot(actions, spec.action_dim) if spec.discrete else actions


def decode(spec, x, legal):
    """Model output -> actions: legal argmax (discrete) or clipped vector (continuous)."""
    from .base import mask_logits

    if spec.discrete:
        return jnp.argmax(mask_logits(x, legal), axis=-1)
    return jnp.clip(x, spec.action_low, spec.action_high)
