"""Shared network building blocks: LayerNorm MLPs, ensembles, time embeddings, mixers, optimisers.

Every network forward pass goes through :func:`nfe_tag`, an identity marker that appears in the
jaxpr (and costs nothing after XLA compilation). :func:`count_nfe` walks the jaxpr of a function and
counts those markers, multiplying by ``scan`` trip counts, so a plugin's declared ``Cost.nfe`` can be
checked against what its ``act`` actually executes; :func:`count_matmul_flops` walks the same way for the
FLOPs of matrix multiplies (``bench perf throughput``'s fraction of the matmul peak).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


def _bench_nfe(x):
    return x


_NFE_MARK = jax.jit(_bench_nfe, inline=False)
_NFE_NAME = "_bench_nfe"


def nfe_tag(x):
    """Mark one network evaluation (identity)."""
    return _NFE_MARK(x)


def _walk_jaxpr(jaxpr, leaf: Callable, what: str) -> float:
    """Sum ``leaf(eqn)`` over a jaxpr's equations and every sub-jaxpr (jit, custom derivatives, remat),
    multiplying a ``scan`` body by its trip count and taking a ``cond``'s most expensive branch. A
    ``while_loop`` has no static trip count: one whose body counts anything is an error."""
    total = 0.0
    for eqn in jaxpr.eqns:
        own = leaf(eqn)
        if own:
            total += own
            continue
        name = eqn.primitive.name
        if name == "while":
            if _walk_jaxpr(eqn.params["body_jaxpr"].jaxpr, leaf, what):
                raise ValueError(f"{what}: a while_loop has no static trip count (use lax.scan or fori_loop "
                                 "with Python bounds)")
            continue
        if name == "cond":
            total += max(_walk_jaxpr(b.jaxpr, leaf, what) for b in eqn.params["branches"])
            continue
        mult = eqn.params["length"] if name == "scan" else 1
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                if hasattr(sub, "jaxpr") and hasattr(sub, "consts"):
                    total += mult * _walk_jaxpr(sub.jaxpr, leaf, what)
                elif hasattr(sub, "eqns"):
                    total += mult * _walk_jaxpr(sub, leaf, what)
    return total


def count_nfe(fn: Callable, *args) -> int:
    """Number of network evaluations ``fn(*args)`` executes, counted from its jaxpr.

    Loops must have static trip counts (``lax.scan`` / ``fori_loop`` with Python bounds). A ``cond``
    counts its most expensive branch.
    """
    leaf = lambda eqn: 1 if eqn.params.get("name") == _NFE_NAME else 0
    return int(_walk_jaxpr(jax.make_jaxpr(fn)(*args).jaxpr, leaf, "count_nfe"))


def _matmul_flops(eqn) -> float:
    """2 x multiply-adds of a dot_general or a convolution; 0 for any other equation."""
    name = eqn.primitive.name
    if name == "dot_general":
        (contracting, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contracting)
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        dn = eqn.params["dimension_numbers"]
        out_features = rhs[dn.rhs_spec[0]]
        per_output = math.prod(rhs) / out_features  # kernel window x input features of one group
        return 2.0 * math.prod(eqn.outvars[0].aval.shape) * per_output
    return 0.0


def count_matmul_flops(fn: Callable, *args) -> float:
    """FLOPs of the matrix multiplies and convolutions ``fn(*args)`` executes (2 per multiply-add), counted
    from its jaxpr with loop bodies multiplied by their trip counts (gradients included, as they appear in
    a differentiated function's jaxpr). XLA's own cost analysis counts a loop body once, which under-counts
    a 10-step Euler teacher or a 200-step denoiser by its trip count."""
    return _walk_jaxpr(jax.make_jaxpr(fn)(*args).jaxpr, _matmul_flops, "count_matmul_flops")


class MLP(nn.Module):
    """[Dense -> (LayerNorm) -> activation] x len(hidden) -> Dense(out). One marked evaluation."""

    hidden: Sequence[int]
    out: int
    layer_norm: bool = True
    activation: Callable = nn.gelu
    final_init_scale: float | None = None

    @nn.compact
    def __call__(self, x):
        for h in self.hidden:
            x = nn.Dense(h)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = self.activation(x)
        kinit = (
            nn.initializers.variance_scaling(self.final_init_scale, "fan_avg", "uniform")
            if self.final_init_scale
            else nn.initializers.lecun_normal()
        )
        return nfe_tag(nn.Dense(self.out, kernel_init=kinit)(x))


class Ensemble(nn.Module):
    """``n`` independent copies of an MLP evaluated in one pass (leading ensemble axis on the output)."""

    hidden: Sequence[int]
    out: int
    n: int = 2
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x):
        vm = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.n,
        )
        return vm(self.hidden, self.out, self.layer_norm)(x)


def with_agent_id(obs: jax.Array) -> jax.Array:
    """Append a one-hot agent id to per-agent observations [..., N, O] -> [..., N, O + N]."""
    n = obs.shape[-2]
    eye = jnp.broadcast_to(jnp.eye(n, dtype=obs.dtype), obs.shape[:-2] + (n, n))
    return jnp.concatenate([obs, eye], axis=-1)


def sinusoidal(t: jax.Array, n_freq: int = 8) -> jax.Array:
    """Time features [sin(2^k pi t), cos(2^k pi t)]_{k < n_freq} for t in [0, 1]; t has shape [..., 1]."""
    freqs = (2.0 ** jnp.arange(n_freq)) * math.pi
    ang = t * freqs
    return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1)


def timestep_embedding(k: jax.Array, dim: int = 32, max_period: float = 10_000.0) -> jax.Array:
    """Transformer-style sinusoidal embedding of integer diffusion steps k [...,] -> [..., dim]."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half) / half)
    ang = k[..., None].astype(jnp.float32) * freqs
    return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1)


# ---- mixers --------------------------------------------------------------------------------------
def mean_mixer(q: jax.Array) -> jax.Array:
    """Average mixer Q_tot = (1/I) sum_i Q_i over the agent axis (last axis)."""
    return q.mean(axis=-1)


def vdn_mixer(q: jax.Array) -> jax.Array:
    """VDN: Q_tot = sum_i Q_i."""
    return q.sum(axis=-1)


MIXERS = {"mean": mean_mixer, "vdn": vdn_mixer}


# ---- optimisation ------------------------------------------------------------------------------
def adam(lr: float, eps: float = 1e-5, clip: float | None = None) -> optax.GradientTransformation:
    """Adam as in MAC-Flow App. G.4 (eps 1e-5, no weight decay), optional global-norm clipping."""
    tx = optax.adam(lr, eps=eps)
    return optax.chain(optax.clip_by_global_norm(clip), tx) if clip else tx


def polyak(target, online, tau: float):
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def apply_grads(tx, params, opt_state, grads):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


# ---- state-dependent mixers (QMIX, OMIGA, ICQ) -----------------------------------------------------
def _torch_bias(fan_in: int):
    """PyTorch's default bias init U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as in the PyMARL/ICQ/OMIGA mixers.

    With Flax's zero biases a hypernetwork fed a constant (e.g. all-zero) state outputs zero weights, so
    Q_tot starts flat in every Q_i and learns only through its biases.
    """
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class TorchDense(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.features, bias_init=_torch_bias(x.shape[-1]))(x)


def _hyper(width: int, out: int, name: str) -> nn.Module:
    return nn.Sequential([TorchDense(width), nn.relu, TorchDense(out)], name=name)


class StateMixer(nn.Module):
    """Q_tot = mix(q [..., N], s [..., S]); q may carry extra leading axes (e.g. twin heads) over s's.

    kind: "none" (independent learners, returns q), "mean", "vdn", "qmix" (monotonic hypernetwork
    mixer: |W1(s)|, b1(s), ELU, |W2(s)|, V(s); embed/hyper widths as og-marl's QMIXer), "omiga"
    (linear Q_tot = sum_i w_i(s) q_i + b(s), w = |MLP(s)|, OMIGA's MixNet), "icq" (ICQ-MA's normalised
    linear k(s) = |W1(s)| |W2(s)| / sum, no bias). ``weights(s) -> (w [..., N], b [...])`` for the
    linear kinds, which OMIGA's and ICQ's policy losses need.
    """

    kind: str
    n_agents: int
    embed: int = 32
    hyper: int = 64

    KINDS = ("none", "mean", "vdn", "qmix", "omiga", "icq")

    def setup(self):
        n, e, h = self.n_agents, self.embed, self.hyper
        if self.kind == "qmix":
            self.w1, self.w2, self.v = _hyper(h, n * e, "w1"), _hyper(h, e, "w2"), _hyper(e, 1, "v")
            self.b1 = TorchDense(e, name="b1")
        elif self.kind == "omiga":
            self.w, self.b = _hyper(e, n, "w"), _hyper(e, 1, "b")
        elif self.kind == "icq":
            self.w1, self.w2 = _hyper(h, n * e, "w1"), _hyper(h, e, "w2")

    def weights(self, s):
        n = self.n_agents
        if self.kind == "omiga":
            return jnp.abs(self.w(s)), self.b(s)[..., 0]
        if self.kind == "icq":
            w1 = jnp.abs(self.w1(s)).reshape(s.shape[:-1] + (n, self.embed))
            k = jnp.sum(w1 * jnp.abs(self.w2(s))[..., None, :], -1)
            return k / (k.sum(-1, keepdims=True) + 1e-8), jnp.zeros(s.shape[:-1])
        if self.kind in ("mean", "vdn"):
            w = jnp.full(s.shape[:-1] + (n,), 1.0 / n if self.kind == "mean" else 1.0)
            return w, jnp.zeros(s.shape[:-1])
        raise ValueError(f"mixer '{self.kind}' is not linear")

    def __call__(self, q, s):
        if self.kind == "none":
            return q
        if self.kind == "qmix":
            n, e = self.n_agents, self.embed
            w1 = jnp.abs(self.w1(s)).reshape(s.shape[:-1] + (n, e))
            h = nn.elu(jnp.sum(q[..., None] * w1, -2) + self.b1(s))
            return jnp.sum(h * jnp.abs(self.w2(s)), -1) + self.v(s)[..., 0]
        w, b = self.weights(s)
        return jnp.sum(q * w, -1) + b
