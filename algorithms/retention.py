"""Sable's retention network (Mahjoub et al., 2025) as Oryx uses it: an encoder over the agents' observations and
a decoder over the actions chosen before each agent, both made of multi-scale retention.

Tokens are (timestep, agent) pairs laid out time-major, agent-minor: a window of T steps of N agents is a
sequence of L = T N tokens. Retention is linear attention with a decay: head h of a layer answers token
(t, i) with sum over the tokens (t', j) it may see of kappa_h^(t - t') (q_(t,i) . k_(t',j)) v_(t',j). The decay
counts timesteps only, so the agents of one timestep see each other undecayed; the encoder sees every agent
of its own and earlier timesteps, the decoder (``causal``) only the agents before it in its own timestep.

Two forms compute the same numbers (tests/test_oryx.py checks they agree):
* training, chunkwise-parallel: a window is cut into chunks of ``chunk`` timesteps; inside a chunk one masked
  product ((Q K^T) * D) V, across chunks a state S = sum kappa^(age) K^T V carried by ``lax.scan`` (one chunk,
  the whole window, by default: the released code's default);
* acting, recurrent: per timestep the state decays once, S <- kappa S, then every new token adds k^T v and
  reads q S; the encoder adds all N agents at once, the decoder one agent at a time.

The layers follow the released og-marl code (``networks/retention.py``, ``oryx_network.py``, ``torsos.py``):
per-head decays kappa_h = (1 - exp(linspace(log 1/32, log 1/512, H))) x ``decay_scaling``; projections
initialised N(0, 1/E^2); a group norm of each head's output in H groups of d/H channels (the code's
``GroupNorm(num_groups=H)`` applied to rows of one head); output (swish(x W_g) * retention) W_o; RMSNorm
residual blocks with a SwiGLU feed-forward; an optional sinusoidal timestep encoding added to keys,
queries and values. ``ffn_init="zeros"`` is the code's SwiGLU initialisation, under which all three of its
weight matrices get zero gradients, so its feed-forward stays zero for ever; the default initialises them as
any dense layer (LeCun normal), so the blocks have the feed-forward the architecture describes.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.initializers import orthogonal

from .nets import nfe_tag


def decays(heads: int, scaling: float) -> tuple:
    """kappa per head (the code's ``decay_kappas``)."""
    return tuple(float(k) for k in (1.0 - np.exp(np.linspace(math.log(1 / 32), math.log(1 / 512), heads))) * scaling)


def decay(state, kappa):
    """A recurrent state [..., H, d, d] one timestep older (every layer's state decays once per timestep)."""
    return state * jnp.asarray(kappa)[:, None, None]


def timestep_encoding(step, dim: int):
    """Sinusoidal encoding of integer timesteps [...] -> [..., dim] (sin on even, cos on odd channels)."""
    div = jnp.exp(jnp.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    ang = step[..., None].astype(jnp.float32) * div
    return jnp.stack([jnp.sin(ang), jnp.cos(ang)], -1).reshape(step.shape + (-1,))[..., :dim]


class Retention(nn.Module):
    """Multi-scale retention: ``__call__`` the chunkwise form over [B, L, E], ``step`` the recurrent one."""

    embed: int
    heads: int
    kappa: tuple
    n_agents: int
    causal: bool
    chunk: int = 0  # timesteps per chunk in the parallel form; 0: the whole sequence

    def setup(self):
        e, d = self.embed, self.embed // self.heads
        init = nn.initializers.normal(1.0 / e)
        self.w_q, self.w_k, self.w_v, self.w_g, self.w_o = (self.param(n, init, (e, e))
                                                            for n in ("w_q", "w_k", "w_v", "w_g", "w_o"))
        self.gn_scale = self.param("gn_scale", nn.initializers.ones, (d,))
        self.gn_bias = self.param("gn_bias", nn.initializers.zeros, (d,))

    def _project(self, key, query, value, pe):
        if pe is not None:
            key, query, value = key + pe, query + pe, value + pe
        split = lambda x: x.reshape(x.shape[:-1] + (self.heads, self.embed // self.heads))
        return key, split(query @ self.w_q), split(key @ self.w_k), split(value @ self.w_v)

    def _output(self, x, ret):
        """Group norm of each head ([..., H, d] in H groups of d / H channels), gate, output projection."""
        h, d = self.heads, self.embed // self.heads
        g = ret.reshape(ret.shape[:-1] + (h, d // h))
        g = (g - g.mean(-1, keepdims=True)) * jax.lax.rsqrt(g.var(-1, keepdims=True) + 1e-6)
        ret = (g.reshape(ret.shape) * self.gn_scale + self.gn_bias).reshape(ret.shape[:-2] + (self.embed,))
        return (jax.nn.swish(x @ self.w_g) * ret) @ self.w_o

    def __call__(self, key, query, value, pe=None):
        b, length, _ = query.shape
        n = self.n_agents
        t_all = length // n
        c = self.chunk or t_all
        if t_all % c:
            raise ValueError(f"the window's {t_all} timesteps do not split into chunks of {c}")
        key, q, k, v = self._project(key, query, value, pe)
        kap = jnp.asarray(self.kappa)
        tok = jnp.arange(c * n)
        t = tok // n
        dt = t[:, None] - t[None, :]
        seen = (dt > 0) | ((dt == 0) & ((tok[:, None] >= tok[None, :]) if self.causal else True))
        dmat = jnp.where(seen, kap[:, None, None] ** jnp.maximum(dt, 0), 0.0)  # [H, CN, CN]

        def inner(qc, kc, vc):
            return jnp.einsum("bhqk,bkhd->bqhd", jnp.einsum("bqhd,bkhd->bhqk", qc, kc) * dmat, vc)

        if c == t_all:  # one chunk: the parallel form (the state before it is zero)
            ret = inner(q, k, v)
        else:
            xi = kap[:, None] ** (t + 1)  # [H, CN]: the carried state's age at each query's timestep
            age = kap[:, None] ** (c - 1 - t)  # [H, CN]: each key's age when the chunk's state is passed on
            chunks = lambda x: jnp.moveaxis(x.reshape((b, t_all // c, c * n) + x.shape[2:]), 1, 0)

            def body(s, xs):
                qc, kc, vc = xs
                r = inner(qc, kc, vc) + jnp.einsum("bqhd,bhde->bqhe", qc, s) * xi.T[None, :, :, None]
                s = s * (kap ** c)[:, None, None] + jnp.einsum("bkhd,bkhe,hk->bhde", kc, vc, age)
                return s, r

            d = self.embed // self.heads
            _, ret = jax.lax.scan(body, jnp.zeros((b, self.heads, d, d), q.dtype), (chunks(q), chunks(k), chunks(v)))
            ret = jnp.moveaxis(ret, 0, 1).reshape(q.shape)
        return self._output(key, ret)

    def step(self, key, query, value, state, pe=None):
        """Tokens [B, M, E] of the current timestep added to the (already decayed) state [B, H, d, d]."""
        key, q, k, v = self._project(key, query, value, pe)
        state = state + jnp.einsum("bmhd,bmhe->bhde", k, v)
        return self._output(key, jnp.einsum("bmhd,bhde->bmhe", q, state)), state


class SwiGLU(nn.Module):
    embed: int
    init: str = "normal"  # "zeros": the released code's initialisation (see the module docstring)

    @nn.compact
    def __call__(self, x):
        init = nn.initializers.zeros if self.init == "zeros" else nn.initializers.lecun_normal()
        w = lambda name: self.param(name, init, (self.embed, self.embed))
        w_lin, w_gate, w_out = w("W_linear"), w("W_gate"), w("W_output")
        return (jax.nn.swish(x @ w_gate) * (x @ w_lin)) @ w_out


class Head(nn.Module):
    """Dense(E) -> gelu -> RMSNorm -> Dense(out) (the code's policy and value heads). With an action ``a`` (the
    continuous critic) the first layer reads [a, x] as two products, so that many actions against one x (a
    vmapped policy-sample baseline) multiply x once."""

    embed: int
    out: int

    @nn.compact
    def __call__(self, x, a=None):
        h = nn.Dense(self.embed, kernel_init=orthogonal(math.sqrt(2)), name="x")(x)
        if a is not None:
            h = h + nn.Dense(self.embed, use_bias=False, kernel_init=orthogonal(math.sqrt(2)), name="a")(a)
        return nn.Dense(self.out, kernel_init=orthogonal(0.01), name="out")(nn.RMSNorm()(nn.gelu(h)))


class Sable(nn.Module):
    """Encoder (``n_block`` blocks of full retention over the observations), decoder (blocks of causal
    self-retention over the shifted actions, then cross-retention from the observations' encoding), a policy
    head and a value head. Methods: ``features`` (training, parallel), ``encode_step`` / ``decode_step``
    (acting, recurrent), ``policy`` and ``value`` (the heads); ``init_all`` touches every parameter."""

    embed: int
    heads: int
    blocks: int
    kappa: tuple
    n_agents: int
    policy_out: int
    value_out: int
    chunk: int = 0
    action_bias: bool = False
    ffn_init: str = "normal"

    def setup(self):
        ret = lambda causal: Retention(self.embed, self.heads, self.kappa, self.n_agents, causal, self.chunk)
        rms = nn.RMSNorm
        self.obs_norm, self.enc_ln, self.dec_ln = rms(), rms(), rms()
        self.obs_in = nn.Dense(self.embed, use_bias=False, kernel_init=orthogonal(math.sqrt(2)))
        self.act_in = nn.Dense(self.embed, use_bias=self.action_bias, kernel_init=orthogonal(math.sqrt(2)))
        self.enc = [(ret(False), rms(), rms(), SwiGLU(self.embed, self.ffn_init)) for _ in range(self.blocks)]
        self.dec = [(ret(True), ret(True), rms(), rms(), rms(), SwiGLU(self.embed, self.ffn_init))
                    for _ in range(self.blocks)]
        self.policy_head = Head(self.embed, self.policy_out)
        self.value_head = Head(self.embed, self.value_out)
        if self.action_bias:  # continuous actions: a state-independent log-std per action dimension (the code's)
            self.log_std = self.param("log_std", nn.initializers.zeros, (self.policy_out,))

    # ---- blocks --------------------------------------------------------------------------------------------
    def _enc_block(self, blk, x, pe, state=None):
        retn, ln1, ln2, ffn = blk
        r, state = (retn(x, x, x, pe), None) if state is None else retn.step(x, x, x, state, pe)
        x = ln1(x + r)
        return ln2(x + ffn(x)), state

    def _dec_block(self, blk, x, rep, pe, states=None):
        retn1, retn2, ln1, ln2, ln3, ffn = blk
        if states is None:
            r = ln1(x + retn1(x, x, x, pe))
            y = ln2(rep + retn2(r, rep, r, pe))
        else:
            s1, s2 = states
            r, s1 = retn1.step(x, x, x, s1, pe)
            r = ln1(x + r)
            r2, s2 = retn2.step(r, rep, r, s2, pe)
            y, states = ln2(rep + r2), (s1, s2)
        return ln3(y + ffn(y)), states

    # ---- training ------------------------------------------------------------------------------------------
    def encode(self, obs, pe=None):
        x = nn.gelu(self.obs_in(self.obs_norm(obs)))
        for blk in self.enc:
            x, _ = self._enc_block(blk, self.enc_ln(x), pe)
        return nfe_tag(x)

    def features(self, obs, act_in, pe=None):
        """obs [B, L, O], decoder inputs [B, L, F] -> the decoder's features [B, L, E] (L = T N tokens)."""
        rep = self.encode(obs, pe)
        x = self.dec_ln(nn.gelu(self.act_in(act_in)))
        for blk in self.dec:
            x, _ = self._dec_block(blk, x, rep, pe)
        return x

    # ---- acting --------------------------------------------------------------------------------------------
    def encode_step(self, obs, states, pe=None):
        """One timestep's N observations [B, N, O] against the decayed states [B, blocks, H, d, d]."""
        x = nn.gelu(self.obs_in(self.obs_norm(obs)))
        out = []
        for i, blk in enumerate(self.enc):
            x, s = self._enc_block(blk, self.enc_ln(x), pe, states[:, i])
            out.append(s)
        return nfe_tag(x), jnp.stack(out, 1)

    def decode_step(self, act_in, rep, states, pe=None):
        """One agent: its decoder input [B, 1, F] and encoding [B, 1, E]; states (self, cross) [B, blocks, ...]."""
        x = self.dec_ln(nn.gelu(self.act_in(act_in)))
        s1, s2 = [], []
        for i, blk in enumerate(self.dec):
            x, (a, c) = self._dec_block(blk, x, rep, pe, (states[0][:, i], states[1][:, i]))
            s1.append(a)
            s2.append(c)
        return x, (jnp.stack(s1, 1), jnp.stack(s2, 1))

    # ---- heads ---------------------------------------------------------------------------------------------
    def policy(self, x):
        return nfe_tag(self.policy_head(x))

    def value(self, x, a=None):
        return self.value_head(x, a)

    def std(self):
        """The continuous policy's scale: softplus(log_std) + 1e-3 (the code's ``_MIN_SCALE``)."""
        return jax.nn.softplus(self.log_std) + 1e-3

    def init_all(self, obs, act_in, pe=None):
        x = self.features(obs, act_in, pe)
        if not self.action_bias:
            return self.policy(x), self.value(x)
        self.std()
        return self.policy(x), self.value(x, act_in)
