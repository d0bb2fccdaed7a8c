"""OMIGA: offline MARL with implicit global-to-local value regularisation (Wang et al. 2023; card 7).

Linear state-dependent decomposition Q_tot = sum_i w_i(s) Q_i(o_i, a_i) + b(s), V_tot = sum_i w_i(s)
V_i(o_i) + b(s) with w = |MLP(s)| (mixer embedding 128), which turns the global behaviour-regularised
objective into local, in-sample updates (alpha = 10):
* Q (twin heads, shared mixer): sum_k E[(Q_tot^k(s, a) - (r + gamma (1 - d) V_tot_tgt(s')))^2], V_tot_tgt
  from the target V-network and the target mixer.
* z_i = clip(w_tgt,i(s) (Q_tgt,i(o_i, a_i) - V_i(o_i)) / alpha, -10, 10), Q_tgt,i the min of the
  target heads.
* V: E[exp(z_i - m) + exp(-m) w_tgt,i(s) V_i(o_i) / alpha], m = max(max_batch z, -1) (stop-gradient).
* Policy (advantage-weighted regression): -E[min(exp(z_i), 100) log pi_i(a_i | o_i)].
Polyak tau = 0.005 for Q, V and the mixer; gradient-norm clipping 1.0. Continuous: tanh-Gaussian
policy (log-std in [-5, 2]), log-density at atanh(a); execution tanh(mean). Discrete (OMIGA's SMAC
branch): Q_i(o_i, .) in R^A, softmax policy over legal actions, execution legal argmax.

Paper (MAC-Flow F.1): twin Q combined by the mixer, separate V, AWR policy, tau 0.005, [512]x4 MLPs,
mixer embedding 128, alpha 10, gradient clip 1.0, policy weights clipped at 100 (OMIGA code: z capped
at 10, i.e. weights up to e^10; ``weight_clip`` switch). Where MAC-Flow is silent: the min of the twin
target heads inside z; one gradient step on the sum of the three losses per batch (OMIGA code: three
sequential steps, policy then Q then V, on the same batch); MAC-Flow's Adam 3e-4 (OMIGA: 5e-4) and
gamma 0.995 (OMIGA: 0.99).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import register
from .base import Algorithm, Cost, State
from .nets import polyak, with_agent_id
from .value import (check_choice, gather, gaussian, global_state, greedy_policy_action, init_opt, masked_log_softmax,
                    mixer, mlp, state_dim, step_nets, tanh_log_prob, to_unit, twin_critic)


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # Q, V, actor MLP widths, paper [512]x4 (MAC-Flow App. F.1; OMIGA code 2x256)
    layer_norm: bool = True  # LayerNorm in every MLP, True (MAC-Flow App. G.4 default; F.1 silent)
    policy_lr: float = 3e-4  # actor Adam lr, 3e-4 (MAC-Flow App. G.4 default; OMIGA code 5e-4)
    value_lr: float = 3e-4  # Q, V and mixer Adam lr, 3e-4 (MAC-Flow App. G.4 default; OMIGA code 5e-4)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4 default; OMIGA code 0.99)
    tau: float = 0.005  # Polyak rate of Q, V and mixer targets, paper 0.005 (MAC-Flow App. F.1)
    alpha: float = 10.0  # regularisation / advantage scale alpha, paper 10 (MAC-Flow App. F.1; OMIGA code)
    z_clip: float = 10.0  # clip of z_i to [-10, 10], 10 (OMIGA code; paper silent)
    weight_clip: float = 100.0  # cap on the policy weight exp(z_i), paper 100 (MAC-Flow App. F.1)
    grad_clip: float = 1.0  # gradient-norm clip, paper 1.0 (MAC-Flow App. F.1; OMIGA code 1.0)
    # value mixer: OMIGA's state-dependent linear w(s), b(s) (MAC-Flow F.1; OMIGA code MixNet) | mean | vdn
    mixer: str = "omiga"
    mixer_embed: int = 128  # mixer hidden width, paper 128 (MAC-Flow App. F.1; OMIGA code 64)
    mixer_hyper: int = 64  # QMIX/ICQ hypernetwork width; unused by the omiga, mean and vdn mixers (harness)


def _nets(spec, cfg):
    a = spec.action_dim
    return {"q": twin_critic(cfg, a if spec.discrete else 1), "v": mlp(cfg, 1),
            "actor": mlp(cfg, a if spec.discrete else 2 * a), "mix": mixer(cfg, spec)}


@register
class OMIGA(Algorithm):
    name = "omiga"
    Config = Config
    paper = "OMIGA (Wang et al., NeurIPS 2023), as in MAC-Flow App. F.1"

    @staticmethod
    def init(key, spec, cfg):
        check_choice("omiga", "mixer", cfg.mixer, ("omiga", "mean", "vdn"))
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        kq, kv, ka, km = jax.random.split(key, 4)
        q_in = oid if spec.discrete else jnp.concatenate([oid, jnp.zeros((1, n, a))], -1)
        params = {"q": nets["q"].init(kq, q_in), "v": nets["v"].init(kv, oid), "actor": nets["actor"].init(ka, oid),
                  "mix": nets["mix"].init(km, jnp.zeros((1, n)), jnp.zeros((1, state_dim(spec))))}
        return State(params=params, opt=init_opt(params, OMIGA._lrs(cfg), cfg.grad_clip),
                     step=jnp.zeros((), jnp.int32), target={k: params[k] for k in ("q", "v", "mix")},
                     spec=spec, cfg=cfg)

    @staticmethod
    def _lrs(cfg):
        return {"q": cfg.value_lr, "v": cfg.value_lr, "mix": cfg.value_lr, "actor": cfg.policy_lr}

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        s, s2 = global_state(batch.state, batch.obs), global_state(batch.next_state, batch.next_obs)
        weights = lambda p, st: nets["mix"].apply(p, st, method="weights")
        tp = state.target

        def q_data(p):  # [2, B, N]
            if spec.discrete:
                return gather(nets["q"].apply(p, oid), batch.actions)
            return nets["q"].apply(p, jnp.concatenate([oid, to_unit(spec, batch.actions)], -1))[..., 0]

        w2, b2 = weights(tp["mix"], s2)
        v_tot_next = jnp.sum(w2 * nets["v"].apply(tp["v"], noid)[..., 0], -1) + b2
        y = jax.lax.stop_gradient(batch.reward + cfg.discount * (1.0 - batch.terminal) * v_tot_next)
        w_t, _ = weights(tp["mix"], s)
        wq_t = jax.lax.stop_gradient(w_t * q_data(tp["q"]).min(0))  # [B, N]

        def loss_fn(params):
            w, b = weights(params["mix"], s)
            q_tot = jnp.sum(w * q_data(params["q"]), -1) + b  # [2, B]
            q_loss = jnp.sum(jnp.mean((q_tot - y) ** 2, -1))
            v = nets["v"].apply(params["v"], oid)[..., 0]  # [B, N]
            z = jnp.clip((wq_t - w_t * v) / cfg.alpha, -cfg.z_clip, cfg.z_clip)
            m = jax.lax.stop_gradient(jnp.maximum(z.max(), -1.0))
            v_loss = jnp.mean(jnp.exp(z - m) + jnp.exp(-m) * w_t * v / cfg.alpha)
            out = nets["actor"].apply(params["actor"], oid)
            if spec.discrete:
                logp = gather(masked_log_softmax(out, batch.legal), batch.actions)
            else:
                logp = tanh_log_prob(*gaussian(out), to_unit(spec, batch.actions))
            weight = jax.lax.stop_gradient(jnp.minimum(jnp.exp(z), cfg.weight_clip))
            policy_loss = -jnp.mean(weight * logp)
            return q_loss + v_loss + policy_loss, {"q_loss": q_loss, "v_loss": v_loss, "policy_loss": policy_loss,
                                                   "q": q_tot.mean(), "weight": weight.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = step_nets(state.params, state.opt, grads, OMIGA._lrs(cfg), cfg.grad_clip)
        target = polyak(tp, {k: params[k] for k in tp}, cfg.tau)
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        out = _nets(spec, cfg)["actor"].apply(state.params["actor"], with_agent_id(obs))
        return greedy_policy_action(spec, out, legal)

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one shared policy pass")
