"""Shared pieces of the value-based and Gaussian baselines (MABCQ, MACQL, MATD3BC, ICQ, OMAR, OMIGA).

Twin per-agent critics, the mixer (``nets.StateMixer``) with its global-state input, target updates,
CQL log-sum-exp penalties, tanh-Gaussian and masked-softmax policies, batch-softmax weights, and a
per-network Adam step. Everything works on the agent axis [..., N, ...] with parameters shared across
agents and a one-hot agent id appended to the observation (the MAC-Flow code-base convention).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp


from .base import check_choice, mask_logits  # noqa: F401  (check_choice re-exported for the value plugins)
from .nets import MLP, Ensemble, StateMixer, adam, apply_grads, polyak

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


# ---- networks ---------------------------------------------------------------------------------------
def twin_critic(cfg, out: int) -> Ensemble:
    """Two independent per-agent critics evaluated in one pass: output [2, ..., out]."""
    return Ensemble(cfg.hidden, out, 2, cfg.layer_norm)


def mlp(cfg, out: int) -> MLP:
    return MLP(cfg.hidden, out, cfg.layer_norm)


def mixer(cfg, spec) -> StateMixer:
    return StateMixer(cfg.mixer, spec.n_agents, cfg.mixer_embed, cfg.mixer_hyper)


def global_state(state, obs):
    """The mixer's input: the global state [..., S], or the joint observation when a task has none."""
    return state if state.shape[-1] > 0 else obs.reshape(obs.shape[:-2] + (-1,))


def state_dim(spec) -> int:
    return spec.state_dim if spec.state_dim > 0 else spec.n_agents * spec.obs_dim


def one_hot(spec, actions):
    return jax.nn.one_hot(actions, spec.action_dim)


def gather(q_all, actions):
    """q_all [..., A], integer actions [...] -> [...]."""
    shape = jnp.broadcast_shapes(q_all.shape[:-1], actions.shape)
    q_all = jnp.broadcast_to(q_all, shape + q_all.shape[-1:])
    return jnp.take_along_axis(q_all, jnp.broadcast_to(actions, shape)[..., None], -1)[..., 0]


# ---- continuous actions live in [-1, 1] inside the plugins -----------------------------------------
def to_unit(spec, a):
    return 2.0 * (a - spec.action_low) / (spec.action_high - spec.action_low) - 1.0


def from_unit(spec, u):
    return jnp.clip(spec.action_low + (u + 1.0) * 0.5 * (spec.action_high - spec.action_low),
                    spec.action_low, spec.action_high)


# ---- targets ----------------------------------------------------------------------------------------
def update_target(target, online, step, period: int = 0, tau: float = 0.005):
    """Hard copy every ``period`` steps (period > 0; ``step`` counts updates done) or Polyak with ``tau``."""
    if period > 0:
        copy = (step % period) == 0
        return jax.tree.map(lambda t, o: jnp.where(copy, o, t), target, online)
    return polyak(target, online, tau)


def bootstrap(reward, terminal, discount, q_next, independent: bool):
    """y = r + gamma (1 - d) q_next; q_next [..., B] mixed, or [..., B, N] per agent (team reward to each)."""
    if independent:
        reward, terminal = reward[..., None], terminal[..., None]
    return jax.lax.stop_gradient(reward + discount * (1.0 - terminal) * q_next)


def masked_mean(x, valid):
    """Mean of x [B, ...] over everything, counting only rows with valid [B] = 1."""
    v = valid.reshape(valid.shape + (1,) * (x.ndim - valid.ndim))
    return jnp.sum(x * v) / jnp.maximum(jnp.sum(jnp.broadcast_to(v, x.shape)), 1.0)


# ---- conservative penalties -------------------------------------------------------------------------
def cql_discrete(q_all, actions, legal):
    """Per agent: logsumexp over *legal* actions of Q minus Q at the dataset action; [..., A] -> [...]."""
    return jax.nn.logsumexp(mask_logits(q_all, legal), -1) - gather(q_all, actions)


def cql_sampled(q_cand, log_p, q_data, temperature: float = 1.0):
    """CQL(H) with importance-sampled candidates: T logsumexp_k((Q_k - log p_k) / T) - Q_data.

    q_cand, log_p [K, ...] (candidate axis first); q_data [...]. ``log K`` is subtracted so the value
    estimates log E_p[exp(Q) / p]; a constant shift, so gradients equal the CQL code's.
    """
    k = q_cand.shape[0]
    lse = temperature * (jax.nn.logsumexp((q_cand - log_p) / temperature, 0) - math.log(k))
    return lse - q_data


def uniform_actions(key, shape):
    """Uniform actions in [-1, 1]^d with their log density d log(1/2)."""
    a = jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    return a, jnp.full(shape[:-1], shape[-1] * math.log(0.5))


# ---- policies ---------------------------------------------------------------------------------------
def gaussian(out):
    """Split an actor output [..., 2A] into mean and clipped log-std."""
    mean, log_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def greedy_policy_action(spec, out, legal):
    """The deterministic action of a policy head: the legal argmax of the logits (discrete), or the
    tanh of the Gaussian mean mapped to the action box (continuous)."""
    if spec.discrete:
        return jnp.argmax(mask_logits(out, legal), -1)
    return from_unit(spec, jnp.tanh(gaussian(out)[0]))


def _normal_logp(u, mean, log_std):
    return jnp.sum(-0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi), -1)


def tanh_sample(mean, log_std, key):
    """Reparameterised tanh-Gaussian sample in (-1, 1) and its log density (with the tanh Jacobian)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    a = jnp.tanh(u)
    return a, _normal_logp(u, mean, log_std) - jnp.sum(jnp.log(1.0 - a**2 + 1e-6), -1)


def tanh_log_prob(mean, log_std, a):
    """Log density of a dataset action a in [-1, 1] under the tanh-Gaussian (evaluated at atanh(a))."""
    a = jnp.clip(a, -1.0 + 1e-6, 1.0 - 1e-6)
    return _normal_logp(jnp.arctanh(a), mean, log_std) - jnp.sum(jnp.log(1.0 - a**2 + 1e-6), -1)


def masked_log_softmax(logits, legal):
    return jax.nn.log_softmax(mask_logits(logits, legal), -1)


def batch_softmax_weights(x, temperature, valid=None):
    """B * softmax over the batch axis (axis 0) of x / temperature: self-normalised weights (ICQ), for every
    position of the other axes; ``valid`` (x's leading axes, [B] or more) leaves rows out, and B counts the
    rows left at each position."""
    if valid is None:
        valid = jnp.ones(x.shape[:1])
    v = jnp.broadcast_to(valid.reshape(valid.shape + (1,) * (x.ndim - valid.ndim)) > 0, x.shape)
    w = jax.nn.softmax(jnp.where(v, x / temperature, -jnp.inf), axis=0)
    return jax.lax.stop_gradient(jnp.where(v, w, 0.0) * v.sum(0))


# ---- optimisation -----------------------------------------------------------------------------------
def init_opt(params: dict, lrs: dict, clip=None) -> dict:
    return {k: adam(lrs[k], clip=clip).init(params[k]) for k in params}


def step_nets(params: dict, opt: dict, grads: dict, lrs: dict, clip=None, active: dict | None = None):
    """One Adam step per network (own optimiser each). ``active[k]`` (a traced bool) skips net k."""
    new_p, new_o = dict(params), dict(opt)
    for k in params:
        p, o = apply_grads(adam(lrs[k], clip=clip), params[k], opt[k], grads[k])
        if active is not None and k in active:
            p = jax.tree.map(lambda a, b: jnp.where(active[k], a, b), p, params[k])
            o = jax.tree.map(lambda a, b: jnp.where(active[k], a, b), o, opt[k])
        new_p[k], new_o[k] = p, o
    return new_p, new_o
