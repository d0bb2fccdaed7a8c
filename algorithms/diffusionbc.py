"""Diffusion BC: decentralised behaviour cloning with a per-agent DDPM policy (MAC-Flow App. F.1; card 8).

Noise model eps_theta(x_k, k, o_i + id_i): an MLP [512]x4 (LayerNorm, the code base's MLP) on the
concatenation of the noisy action, the observation with a one-hot agent id, and a sinusoidal timestep
embedding passed through Dense(4d) -> Mish -> Dense(d) (the MAC-Flow diffusion helper's time MLP,
d = ``time_dim``). One network, shared across agents (the code base's convention; the paper is silent).
K = 200 DDPM steps (paper), scaled linear beta schedule and x0 clipping to [-1, 1] (MAC-Flow helper; the
paper only says "Gaussian diffusion scheduler"). Execution: x_K ~ N(0, I), K ancestral steps with
independent noise per agent, clip to the action bounds. 200 network evaluations per decision.

Discrete actions: the target is the one-hot vector rescaled to {-1, +1} (so x0 clipping keeps it in
range; argmax is unchanged), and the action is the argmax of the denoised vector over legal entries.
Actions are diffused in [-1, 1]: continuous actions are mapped from [low, high] and back.

Per-agent noise means the joint samples are the product of the agents' marginals: each agent's
action distribution is multi-modal, but agents cannot coordinate on a joint mode (see the tests).
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from . import register
from .base import Algorithm, Cost, State, mask_logits
from .diffusion import ddpm_loss, ddpm_sample, make_schedule
from .nets import MLP, adam, apply_grads, timestep_embedding, with_agent_id


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # noise-MLP hidden widths, paper [512]x4 (MAC-Flow App. F.1 "Diffusion BC")
    lr: float = 3e-4  # Adam learning rate, 3e-4 (MAC-Flow App. G.4 default; F.1 silent)
    layer_norm: bool = True  # LayerNorm in the noise MLP, True (MAC-Flow App. G.4 default; F.1 silent)
    diffusion_steps: int = 200  # DDPM steps K, paper 200 (MAC-Flow App. F.1); cost-defining: K NFE per decision
    # beta schedule: the MAC-Flow helper's scaled linear; paper silent ("Gaussian diffusion scheduler", card 8)
    schedule: str = "linear"
    clip_sample: bool = True  # clip predicted x0 to [-1, 1] when sampling, True (MAC-Flow helper; paper silent, card 8)
    # timestep-embedding width d (sinusoid -> Dense(4d) -> Mish -> Dense(d)); harness choice: paper silent
    time_dim: int = 16


class NoiseMLP(nn.Module):
    """eps_theta(x_k, k, cond): time embedding MLP, then one marked MLP evaluation."""

    hidden: tuple
    out: int
    layer_norm: bool = True
    time_dim: int = 16

    @nn.compact
    def __call__(self, x, k, cond):
        emb = timestep_embedding(k, self.time_dim)
        emb = nn.Dense(self.time_dim)(jax.nn.mish(nn.Dense(4 * self.time_dim)(emb)))
        emb = jnp.broadcast_to(emb, x.shape[:-1] + emb.shape[-1:])
        return MLP(self.hidden, self.out, self.layer_norm)(jnp.concatenate([x, emb, cond], -1))


def _net(spec, cfg):
    return NoiseMLP(tuple(cfg.hidden), spec.action_dim, cfg.layer_norm, cfg.time_dim)


def _to_unit(spec, actions):
    if spec.discrete:
        return 2.0 * jax.nn.one_hot(actions, spec.action_dim) - 1.0
    return 2.0 * (actions - spec.action_low) / (spec.action_high - spec.action_low) - 1.0


def _decode(spec, x, legal):
    if spec.discrete:
        return jnp.argmax(mask_logits(x, legal), axis=-1)
    a = spec.action_low + (jnp.clip(x, -1.0, 1.0) + 1.0) * 0.5 * (spec.action_high - spec.action_low)
    return jnp.clip(a, spec.action_low, spec.action_high)


@register
class DiffusionBC(Algorithm):
    name = "diffusionbc"
    Config = Config
    cost_defining = ("diffusion_steps",)
    paper = "Diffusion BC, MAC-Flow App. F.1 (DDPM, 200 steps)"

    @staticmethod
    def init(key, spec, cfg):
        make_schedule(cfg.schedule, cfg.diffusion_steps)  # validates the schedule name and step count
        obs = with_agent_id(jnp.zeros((1, spec.n_agents, spec.obs_dim)))
        x = jnp.zeros((1, spec.n_agents, spec.action_dim))
        params = _net(spec, cfg).init(key, x, jnp.zeros((1, spec.n_agents), jnp.int32), obs)
        return State(params=params, opt=adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32), spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        net, sched = _net(spec, cfg), make_schedule(cfg.schedule, cfg.diffusion_steps)
        obs = with_agent_id(batch.obs)
        x0 = _to_unit(spec, batch.actions)

        def loss_fn(params):
            eps = lambda x, k: net.apply(params, x, k, obs)
            # one diffusion step per (sample, agent); summed over action entries like the flow losses
            return ddpm_loss(eps, x0, key, sched, batch_dims=2) * spec.action_dim

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        params, opt = apply_grads(adam(cfg.lr), state.params, state.opt, grads)
        return state.replace(params=params, opt=opt, step=state.step + 1), {"loss": loss}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        net, sched = _net(spec, cfg), make_schedule(cfg.schedule, cfg.diffusion_steps)
        o = with_agent_id(obs)
        eps = lambda x, k: net.apply(state.params, x, jnp.broadcast_to(k, x.shape[:-1]), o)
        x_init = jax.random.normal(jax.random.fold_in(key, 0), obs.shape[:-1] + (spec.action_dim,))
        x = ddpm_sample(eps, sched, x_init, jax.random.fold_in(key, 1), clip=1.0 if cfg.clip_sample else None)
        return _decode(spec, x, legal)

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=cfg.diffusion_steps, per_agent="O(K)",
                    note=f"{cfg.diffusion_steps} DDPM denoising passes of the per-agent noise MLP")
