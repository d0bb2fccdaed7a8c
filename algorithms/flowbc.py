"""Flow BC: decentralised behaviour cloning with per-agent flow-matching policies (MAC-Flow App. F.1,
Eq. 5, Alg. 2; algorithm card 11).

Velocity field v(t, o_i + id_i, x) : MLP [512]x4 + LayerNorm, shared across agents with a one-hot id.
Execution integrates M = 10 Euler steps from z ~ N(0, I) (10 network evaluations per decision).
Discrete actions: the flow models one-hot vectors and the action is the argmax over legal entries.

Paper vs released code: the released ``flowbc.py`` also trains a one-step distilled network and
acts with it ("FQL without Q"). We follow the paper (multi-step flow at execution); the code's
variant is ``--set act_with=onestep`` (distillation weight ``alpha``, the code's 3.0), which changes
the cost and is therefore a cost override.
Time input: 8-frequency sinusoidal features (the discrete MAC-Flow code's choice) for both kinds.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import register
from .base import GAMES_NETS, Algorithm, Cost, State, check_choice, mask_logits
from .flows import euler, flow_matching_loss
from .nets import MLP, adam, apply_grads, sinusoidal, with_agent_id


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # velocity-MLP hidden widths, paper [512]x4 (MAC-Flow App. F.1 "Flow BC")
    lr: float = 3e-4  # Adam learning rate, 3e-4 (MAC-Flow App. G.4 default; F.1 silent)
    layer_norm: bool = True  # LayerNorm in the MLPs, True (MAC-Flow App. G.4 default; F.1 silent)
    flow_steps: int = 10  # Euler steps M at execution, paper 10 (MAC-Flow App. F.1, Alg. 2); cost-defining
    act_with: str = "flow"  # "flow": M-step flow (paper, App. F.1) | "onestep": distilled net (released flowbc.py)
    alpha: float = 3.0  # distillation weight, used only with act_with=onestep; 3.0 (released flowbc.py, card 11)


def _nets(spec, cfg):
    return MLP(cfg.hidden, spec.action_dim, cfg.layer_norm), MLP(cfg.hidden, spec.action_dim, cfg.layer_norm)


def _velocity(net, params, obs):
    return lambda x, t: net.apply(params, jnp.concatenate([obs, x, sinusoidal(t)], -1))


def _targets(spec, actions):
    return jax.nn.one_hot(actions, spec.action_dim) if spec.discrete else actions


def _decode(spec, x, legal):
    if spec.discrete:
        return jnp.argmax(mask_logits(x, legal), axis=-1)
    return jnp.clip(x, spec.action_low, spec.action_high)


@register
class FlowBC(Algorithm):
    name = "flowbc"
    Config = Config
    cost_defining = ("flow_steps", "act_with")
    paper = "Flow BC, MAC-Flow App. F.1"
    suite_presets = {"games": GAMES_NETS}  # the default's small networks (algorithms/base.py)

    @staticmethod
    def init(key, spec, cfg):
        check_choice("flowbc", "act_with", cfg.act_with, ("flow", "onestep"))
        flow, onestep = _nets(spec, cfg)
        obs = with_agent_id(jnp.zeros((1, spec.n_agents, spec.obs_dim)))
        x = jnp.zeros((1, spec.n_agents, spec.action_dim))
        k1, k2 = jax.random.split(key)
        params = {"flow": flow.init(k1, jnp.concatenate([obs, x, sinusoidal(x[..., :1])], -1))}
        if cfg.act_with == "onestep":
            params["onestep"] = onestep.init(k2, jnp.concatenate([obs, x], -1))
        return State(params=params, opt=adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32), spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        flow, onestep = _nets(spec, cfg)
        obs = with_agent_id(batch.obs)
        x1 = _targets(spec, batch.actions)
        kf, kz = jax.random.split(key)

        def loss_fn(params):
            loss = flow_matching_loss(_velocity(flow, params["flow"], obs), x1, kf)
            metrics = {"flow_loss": loss}
            if cfg.act_with == "onestep":
                z = jax.random.normal(kz, x1.shape)
                teacher = jax.lax.stop_gradient(euler(_velocity(flow, params["flow"], obs), z, cfg.flow_steps))
                student = onestep.apply(params["onestep"], jnp.concatenate([obs, z], -1))
                distill = jnp.sum((student - teacher) ** 2, axis=(-1, -2)).mean()
                metrics["distill"] = distill
                loss = loss + cfg.alpha * distill
            return loss, metrics

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = apply_grads(adam(cfg.lr), state.params, state.opt, grads)
        return state.replace(params=params, opt=opt, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        flow, onestep = _nets(spec, cfg)
        o = with_agent_id(obs)
        z = jax.random.normal(key, obs.shape[:-1] + (spec.action_dim,))
        if cfg.act_with == "onestep":
            x = onestep.apply(state.params["onestep"], jnp.concatenate([o, z], -1))
        else:
            x = euler(_velocity(flow, state.params["flow"], o), z, cfg.flow_steps)
        return _decode(spec, x, legal)

    @staticmethod
    def cost(spec, cfg):
        if cfg.act_with == "onestep":
            return Cost(nfe=1, per_agent="O(1)", note="one-step distilled network (released-code variant)")
        return Cost(nfe=cfg.flow_steps, per_agent="O(M)", note=f"{cfg.flow_steps} Euler steps of the velocity field")
