"""BC: per-agent behaviour cloning (MAC-Flow paper App. F.1; algorithm card 1).

Continuous: a Gaussian N(mu(o_i), I) with unit, unlearned std, so the negative log-likelihood is
0.5 ||a_i - mu||^2. Discrete: a categorical softmax(logits(o_i)), cross-entropy on dataset actions.
One MLP [512]x4 with LayerNorm shared across agents, input o_i plus a one-hot agent id (the MAC-Flow
code base's convention; the paper does not say).

Choices where the paper is silent: execution uses the mean (continuous; sampling with std 1 would
swamp the action) or the legal-masked argmax (discrete). Training is unmasked, as og-marl's BC
(``mask_in_loss=True`` masks illegal logits in the cross-entropy too).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from algorithms import register  # absolute imports: a copy of this file works in another package too
from algorithms.base import GAMES_NETS, Algorithm, Cost, State, mask_logits
from algorithms.nets import MLP, adam, apply_grads, with_agent_id


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # MLP hidden widths, paper [512]x4 (MAC-Flow App. F.1 "BC")
    lr: float = 3e-4  # Adam learning rate, 3e-4 (MAC-Flow App. G.4 default; F.1 silent for BC)
    layer_norm: bool = True  # LayerNorm in the MLP, True (MAC-Flow App. G.4 default; F.1 silent for BC)
    # discrete: mask illegal logits in the cross-entropy too; paper silent, False = og-marl's unmasked BC (card 1)
    mask_in_loss: bool = False


def _net(spec, cfg):
    return MLP(cfg.hidden, spec.action_dim, cfg.layer_norm)


@register
class BC(Algorithm):
    name = "bc"
    Config = Config
    paper = "Behaviour cloning, as in MAC-Flow App. F.1"
    suite_presets = {"games": GAMES_NETS}  # the default's small networks (algorithms/base.py)

    @staticmethod
    def init(key, spec, cfg):
        obs = with_agent_id(jnp.zeros((1, spec.n_agents, spec.obs_dim)))
        params = _net(spec, cfg).init(key, obs)
        return State(params=params, opt=adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32), spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        net = _net(spec, cfg)
        obs = with_agent_id(batch.obs)

        def loss_fn(params):
            out = net.apply(params, obs)
            if spec.discrete:
                logits = mask_logits(out, batch.legal) if cfg.mask_in_loss else out
                return optax.softmax_cross_entropy_with_integer_labels(logits, batch.actions).sum(-1).mean()
            return 0.5 * jnp.sum((out - batch.actions) ** 2, axis=(-1, -2)).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        params, opt = apply_grads(adam(cfg.lr), state.params, state.opt, grads)
        return state.replace(params=params, opt=opt, step=state.step + 1), {"loss": loss}

    @staticmethod
    def act(state, obs, legal, key):
        spec = state.spec
        out = _net(spec, state.cfg).apply(state.params, with_agent_id(obs))
        if spec.discrete:
            return jnp.argmax(mask_logits(out, legal), axis=-1)
        return jnp.clip(out, spec.action_low, spec.action_high)

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one shared MLP pass for all agents")
