"""MATD3BC: multi-agent TD3+BC (Fujimoto & Gu 2021; MAC-Flow App. F.1; card 4). Continuous only.

Deterministic per-agent actor pi(o_i) = tanh(MLP), twin per-agent critics Q_i^{1,2}(o_i, a_i) mixed by
a value mixer, clipped double-Q target with TD3's target-policy smoothing:
    a'_i = clip(pi_tgt(o'_i) + clip(N(0, 0.2^2), -0.5, 0.5), -1, 1)
    y = r + gamma (1 - d) min_k Mix_tgt(Q_tgt^k(o', a'), s')
Every ``policy_freq`` = 2 critic steps, the actor minimises
    -lambda mean Mix(Q^1(o, pi(o)), s) + mean_{b,i,d} (pi(o_i) - a_i)^2,  lambda = alpha / mean|Q|, alpha = 2.5
and the targets (actor, critics, mixer) move by Polyak tau = 0.005. Execution: pi(o_i), one pass.

Paper (F.1): alpha 2.5, clipped double Q, Polyak 0.005, a mixer, [512]x4 MLPs. Where it is silent:
TD3+BC code defaults for delayed updates (2), target noise (0.2, clip 0.5); the mixer type is not
given, so the average (the MAC-Flow code base's own mixer, card 4) is the default, shared by the twin
heads (``mixer`` switch: qmix / vdn / none); lambda normalised by the mixed Q, which with the average
matches the single-agent scale (card 4 pitfall). With QMIX, lambda = alpha / mean|Q_tot| no longer
bounds the actor's per-agent gradient (the hypernetwork weights scale it): measured on generated
mpe-gen/spread-medium-replay ([128]x2, 2 seeds), one seed of two drove the agents off the map (normalised
-149 after 2k steps, -35 after 20k) where the average gives 28.8 / 34.3 and no mixer 27.4 / 28.4.
MAC-Flow's Adam 3e-4 / gamma 0.995.
TD3+BC's observation normalisation with dataset statistics is not applied (the contract gives a
plugin no dataset statistics; the harness' observations are used as they are).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import register
from .base import CONTINUOUS, Algorithm, Cost, State
from .nets import polyak, with_agent_id
from .value import (bootstrap, check_choice, from_unit, global_state, init_opt, mixer, mlp, state_dim, step_nets,
                    to_unit, twin_critic)


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # actor and critic MLP widths, paper [512]x4 (MAC-Flow App. F.1; TD3+BC 2x256)
    layer_norm: bool = True  # LayerNorm in every MLP, True (MAC-Flow App. G.4 default; F.1 silent)
    policy_lr: float = 3e-4  # actor Adam lr, 3e-4 (MAC-Flow App. G.4 default; TD3+BC code 3e-4)
    value_lr: float = 3e-4  # critic and mixer Adam lr, 3e-4 (MAC-Flow App. G.4 default; TD3+BC code 3e-4)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4 default; F.1 silent; TD3+BC code 0.99)
    tau: float = 0.005  # Polyak rate of actor, critic and mixer targets, paper 0.005 (MAC-Flow App. F.1)
    alpha: float = 2.5  # BC parameter: lambda = alpha / mean|Q|, paper 2.5 (MAC-Flow App. F.1; TD3+BC)
    policy_noise: float = 0.2  # target-policy smoothing noise std, 0.2 (TD3+BC code; paper silent)
    noise_clip: float = 0.5  # clip of the smoothing noise, 0.5 (TD3+BC code; paper silent)
    policy_freq: int = 2  # critic steps per actor and target update, 2 (TD3+BC code; paper silent)
    # value mixer: F.1 "we employ the mixer" (type silent); average = MAC-Flow code base's (card 4) | qmix | vdn | none
    mixer: str = "mean"
    mixer_embed: int = 32  # QMIX embedding width, only with mixer="qmix", 32 (og-marl QMIX)
    mixer_hyper: int = 64  # QMIX hypernetwork width, only with mixer="qmix", 64 (og-marl QMIX)


def _nets(spec, cfg):
    return {"actor": mlp(cfg, spec.action_dim), "q": twin_critic(cfg, 1), "mix": mixer(cfg, spec)}


def _pi(nets, params, oid):
    return jnp.tanh(nets["actor"].apply(params, oid))


@register
class MATD3BC(Algorithm):
    name = "matd3bc"
    Config = Config
    supports = frozenset({CONTINUOUS})
    paper = "TD3+BC (Fujimoto & Gu, 2021) with a value mixer, as in MAC-Flow App. F.1"

    @staticmethod
    def init(key, spec, cfg):
        MATD3BC.check_spec(spec)
        check_choice("matd3bc", "mixer", cfg.mixer, ("mean", "qmix", "vdn", "none"))
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        ka, kq, km = jax.random.split(key, 3)
        params = {"actor": nets["actor"].init(ka, oid),
                  "q": nets["q"].init(kq, jnp.concatenate([oid, jnp.zeros((1, n, a))], -1)),
                  "mix": nets["mix"].init(km, jnp.zeros((2, 1, n)), jnp.zeros((1, state_dim(spec))))}
        return State(params=params, opt=init_opt(params, MATD3BC._lrs(cfg)), step=jnp.zeros((), jnp.int32),
                     target=dict(params), spec=spec, cfg=cfg)

    @staticmethod
    def _lrs(cfg):
        return {"actor": cfg.policy_lr, "q": cfg.value_lr, "mix": cfg.value_lr}

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        s, s2 = global_state(batch.state, batch.obs), global_state(batch.next_state, batch.next_obs)
        mix = lambda p, q, st: nets["mix"].apply(p, q, st)
        q_fn = lambda p, o, a: nets["q"].apply(p, jnp.concatenate([o, a], -1))[..., 0]
        tp = state.target
        a_data = to_unit(spec, batch.actions)

        noise = jnp.clip(cfg.policy_noise * jax.random.normal(key, a_data.shape), -cfg.noise_clip, cfg.noise_clip)
        a_next = jnp.clip(_pi(nets, tp["actor"], noid) + noise, -1.0, 1.0)
        q_next = mix(tp["mix"], q_fn(tp["q"], noid, a_next), s2).min(0)
        y = bootstrap(batch.reward, batch.terminal, cfg.discount, q_next, cfg.mixer == "none")

        def loss_fn(params):
            q_tot = mix(params["mix"], q_fn(params["q"], oid, a_data), s)  # [2, B(, N)]
            critic_loss = jnp.sum(jnp.mean((q_tot - y) ** 2, axis=tuple(range(1, q_tot.ndim))))
            critic = jax.lax.stop_gradient({"q": params["q"], "mix": params["mix"]})
            a_pi = _pi(nets, params["actor"], oid)
            q_pi = mix(critic["mix"], q_fn(critic["q"], oid, a_pi)[0], s)
            lam = jax.lax.stop_gradient(cfg.alpha / (jnp.abs(q_pi).mean() + 1e-6))
            bc = jnp.mean((a_pi - a_data) ** 2)
            actor_loss = -lam * q_pi.mean() + bc
            return critic_loss + actor_loss, {"critic_loss": critic_loss, "actor_loss": actor_loss, "bc": bc,
                                              "q": q_tot.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        do_actor = (state.step % cfg.policy_freq) == 0
        params, opt = step_nets(state.params, state.opt, grads, MATD3BC._lrs(cfg), active={"actor": do_actor})
        target = jax.tree.map(lambda new, old: jnp.where(do_actor, new, old), polyak(tp, params, cfg.tau), tp)
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        nets = _nets(state.spec, state.cfg)
        return from_unit(state.spec, _pi(nets, state.params["actor"], with_agent_id(obs)))

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one shared deterministic actor pass")
