"""A compact, configurable temporal U-Net for multi-agent trajectory diffusion (MADiff / DoF).

Input x [B, N, H, F]: B samples, N agents, H steps, F features per step. The same 1-D U-Net (shared
weights) runs on every agent's sequence: levels of channels ``dim * m`` for m in ``dim_mults``, each
with two residual temporal blocks (Conv1d(k) -> GroupNorm(8) -> Mish, the conditioning embedding
added after the first conv, 1x1 residual projection) and a stride-2 down-sampling except at the last
level; two middle blocks; a mirrored up path (two blocks, then a transposed-conv up-sampling) that
concatenates the skip features; a final conv block and a 1x1 conv to F (Janner et al.'s Diffuser
U-Net, as MADiff's ``TemporalUnet``).

With ``attention=True`` (MADiff's ``SharedConvAttentionDeconv``) the bottleneck and every skip feature
map pass through cross-agent self-attention before they are used: per agent, 1x1-conv queries, keys
and values plus projections of the agent's conditioning embedding, ``heads`` heads with query/key width
C/16 and value width C/4 per head, attention weights across the agent axis on the flattened
(time x channel) features, and a residual x + gamma * out with gamma initialised to 0. With
``attention=False`` agents never interact (DoF's per-agent noise models).

Conditioning embedding (per agent): MLP(sinusoidal(k)) [d -> 4d -> d, Mish] concatenated with
MLP(R) [1 -> d -> 4d -> d, Mish] times ``ret_on`` (0 drops the return condition, for classifier-free
guidance). The whole forward pass is one marked network evaluation (``nfe_tag``).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from .nets import nfe_tag, timestep_embedding


def _groups(c: int) -> int:
    return math.gcd(8, c)


def conv1d(x, kernel, pad, stride: int = 1, dilate: int = 1):
    """1-D convolution [M, L, C] * [k, C, O] as one matmul over the k shifted windows (im2col).

    Same arithmetic as ``lax.conv_general_dilated`` (``dilate`` inserts zeros between inputs, as its
    ``lhs_dilation``; ``pad`` = (left, right)), but XLA's CPU convolution is ~100x slower than a matmul
    when the sequence is shorter than the kernel (the U-Net's bottleneck has length 2 for a kernel of 5):
    measured 114 ms vs 1 ms for [8, 2, 1024] -> 1024 channels, which made a 200-step DoF decision take
    minutes. On accelerators the matmul form costs the same as the convolution.
    """
    if dilate > 1:
        M, L, C = x.shape
        x = jnp.zeros((M, (L - 1) * dilate + 1, C), x.dtype).at[:, ::dilate].set(x)
    k, L = kernel.shape[0], x.shape[1]
    out_len = (L + pad[0] + pad[1] - k) // stride + 1
    # taps that only ever meet padding (a kernel longer than the sequence) are left out: exact, and
    # 2/5 of the bottleneck's multiply-adds
    lo = max(0, pad[0] - (out_len - 1) * stride)
    hi = min(k, pad[0] + L)
    x = jnp.pad(x, ((0, 0), pad, (0, 0)))
    span = (out_len - 1) * stride + 1
    cols = jnp.concatenate([x[:, j:j + span:stride] for j in range(lo, hi)], -1)
    return cols @ kernel[lo:hi].reshape(-1, kernel.shape[-1])


class Conv(nn.Module):
    """``nn.Conv`` for [M, L, C] (same parameters and initialisation) computed by :func:`conv1d`.
    ``padding`` is "SAME" or (left, right); ``transpose`` makes it ``nn.ConvTranspose`` with "SAME"
    padding (zeros inserted between inputs, ``lax.conv_transpose``'s padding rule)."""

    features: int
    kernel_size: int
    stride: int = 1
    padding: object = "SAME"
    transpose: bool = False

    @nn.compact
    def __call__(self, x):
        k, s = self.kernel_size, self.stride
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.transpose:
            total = k + s - 2
            left = k - 1 if s > k - 1 else -(-total // 2)
            return conv1d(x, kernel, (left, total - left), dilate=s) + bias
        if self.padding == "SAME":
            total = max((-(-x.shape[1] // s) - 1) * s + k - x.shape[1], 0)
            pad = (total // 2, total - total // 2)
        else:
            pad = tuple(self.padding)
        return conv1d(x, kernel, pad, stride=s) + bias


class ConvBlock(nn.Module):
    out: int
    kernel: int = 5

    @nn.compact
    def __call__(self, x):  # [M, L, C]
        x = Conv(self.out, self.kernel)(x)
        return jax.nn.mish(nn.GroupNorm(num_groups=_groups(self.out))(x))


class ResBlock(nn.Module):
    out: int
    kernel: int = 5

    @nn.compact
    def __call__(self, x, emb):  # x [M, L, C], emb [M, E]
        h = ConvBlock(self.out, self.kernel)(x)
        h = h + nn.Dense(self.out)(jax.nn.mish(emb))[:, None, :]
        h = ConvBlock(self.out, self.kernel)(h)
        res = Conv(self.out, 1)(x) if x.shape[-1] != self.out else x
        return h + res


class AgentAttention(nn.Module):
    """Self-attention across the agent axis on whole (time x channel) feature maps; residual, gamma = 0."""

    heads: int = 4

    @nn.compact
    def __call__(self, x, emb):  # x [B, N, L, C], emb [B, N, E]
        B, N, L, C = x.shape
        qk, vd, h = max(C // 16, 1), max(C // 4, 1), self.heads

        def proj(width, name):
            p = Conv(h * width, 1, name=f"{name}_conv")(x.reshape(B * N, L, C)).reshape(B, N, L, h * width)
            p = p + nn.Dense(h * width, name=f"{name}_emb")(jax.nn.mish(emb))[:, :, None, :]
            return p.reshape(B, N, L, h, width).transpose(0, 3, 1, 2, 4).reshape(B, h, N, L * width)

        q, k, v = proj(qk, "q"), proj(qk, "k"), proj(vd, "v")
        w = jax.nn.softmax(jnp.einsum("bhnd,bhmd->bhnm", q, k) / math.sqrt(L * qk), axis=-1)
        out = jnp.einsum("bhnm,bhmd->bhnd", w, v).reshape(B, h, N, L, vd).transpose(0, 2, 3, 1, 4)
        out = Conv(C, 1, name="out")(out.reshape(B * N, L, h * vd)).reshape(B, N, L, C)
        gamma = self.param("gamma", nn.initializers.zeros, (1,))
        return x + gamma * out


class TemporalUNet(nn.Module):
    out_dim: int
    dim: int = 128
    dim_mults: tuple = (1, 4, 8)
    kernel: int = 5
    attention: bool = True
    heads: int = 4

    @nn.compact
    def __call__(self, x, k, ret, ret_on):
        """x [B,N,H,F]; k int [] or [B]; ret [B,N] (normalised return); ret_on [B] in {0,1}."""
        B, N, H, F = x.shape
        d = self.dim
        t = timestep_embedding(jnp.asarray(k), d)
        t = nn.Dense(d)(jax.nn.mish(nn.Dense(4 * d)(t)))
        t = jnp.broadcast_to(t[None, None] if t.ndim == 1 else t[:, None], (B, N, d))
        r = jax.nn.mish(nn.Dense(d)(ret[..., None]))
        r = nn.Dense(d)(jax.nn.mish(nn.Dense(4 * d)(r))) * ret_on[:, None, None]
        emb = jnp.concatenate([t, r], -1)  # [B, N, 2d]
        flat_emb = emb.reshape(B * N, -1)

        def mix(h):  # cross-agent attention on a feature map [B*N, L, C]
            if not self.attention:
                return h
            L, C = h.shape[1:]
            return AgentAttention(self.heads)(h.reshape(B, N, L, C), emb).reshape(B * N, L, C)

        chans = [d * m for m in self.dim_mults]
        h = x.reshape(B * N, H, F)
        skips = []
        for i, c in enumerate(chans):
            h = ResBlock(c, self.kernel)(h, flat_emb)
            h = ResBlock(c, self.kernel)(h, flat_emb)
            skips.append(h)
            if i < len(chans) - 1:
                h = Conv(c, 3, stride=2, padding=(1, 1))(h)
        h = ResBlock(chans[-1], self.kernel)(h, flat_emb)
        h = ResBlock(chans[-1], self.kernel)(h, flat_emb)
        h = mix(h)
        for c_in in reversed(chans[:-1]):
            h = jnp.concatenate([h, mix(skips.pop())], -1)
            h = ResBlock(c_in, self.kernel)(h, flat_emb)
            h = ResBlock(c_in, self.kernel)(h, flat_emb)
            h = Conv(c_in, 4, stride=2, transpose=True)(h)
        h = ConvBlock(d, self.kernel)(h)
        h = Conv(self.out_dim, 1)(h)
        return nfe_tag(h.reshape(B, N, H, self.out_dim))
