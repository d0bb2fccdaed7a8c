"""ICQ: implicit constraint Q-learning, multi-agent version ICQ-MA (Yang et al. 2021; card 5).

Everything uses dataset actions only (no out-of-distribution action is ever evaluated by the critic):
* Critic (SARSA-style, importance-weighted): per-agent Q_i(s, o_i, a_i) mixed by ICQ's normalised
  linear mixer Q_tot = sum_i k_i(s) Q_i with k(s) = |W1(s)||W2(s)| / sum. With the dataset's next joint
  action a', Q'_tot = Mix_tgt(Q_tgt(s', o', a'), s') and
      y = r + gamma (1 - d) w_Q Q'_tot,  w_Q = B softmax_batch(Q'_tot / beta_Q),  beta_Q = 1000.
* Actor (advantage-weighted, in-sample): A_i = Q_i(a_i) - E_{a ~ pi_i} Q_i(a) (exact sum over legal
  actions when discrete; the mean over ``n_value_samples`` = 10 policy samples when continuous),
      L_pi = -E[ k_i(s) * B softmax_batch(A_i / beta) * log pi_i(a_i | o_i) ],  beta = 0.1.
  The softmax runs over the batch axis (self-normalised weights), for each agent.
Execution: legal argmax of the policy logits (discrete) or tanh of the Gaussian mean (continuous).

The plugin reads windows of two steps (``sequence_length = 2``) to get the dataset's next action; a
transition whose episode was truncated after it has no next action and is left out of the critic
loss (a terminal one bootstraps nothing and is kept).

MAC-Flow lists ICQ (Table 2) but does not describe its implementation (card 5, App. C item 4).
Choices: beta, beta_Q, the mixer, the critic's global-state input follow the ICQ-MA code
(``critic_state``: False gives og-marl's o_i-only critic); a one-step importance-weighted target
(og-marl) rather than ICQ-MA's TD(lambda = 0.8) over whole episodes (the harness samples
transitions); hard target copy every 200 steps (og-marl; ICQ-MA: 600); MAC-Flow's Adam 3e-4, gamma
0.995 and [512]x4 LayerNorm MLPs (ICQ-MA: RMSprop, actor 5e-4 / critic 1e-4, RNN actor). Continuous
ICQ is not specified anywhere: a tanh-Gaussian actor with the sampled value baseline above (card 5).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import register
from .base import Algorithm, Cost, State
from .nets import MLP, with_agent_id
from .value import (batch_softmax_weights, check_choice, gather, gaussian, global_state, greedy_policy_action,
                    init_opt, masked_log_softmax, mixer, mlp, state_dim, step_nets, tanh_log_prob, tanh_sample,
                    to_unit, update_target)


@dataclasses.dataclass(frozen=True)
class Config:
    # MLP widths of actor and critic, [512]x4 (MAC-Flow App. F.1 baselines; ICQ's setup is not described there, card 5)
    hidden: tuple = (512, 512, 512, 512)
    layer_norm: bool = True  # LayerNorm in every MLP, True (MAC-Flow App. G.4 default; harness choice for ICQ)
    policy_lr: float = 3e-4  # actor Adam lr, 3e-4 (MAC-Flow App. G.4 default; ICQ-MA: RMSprop 5e-4)
    value_lr: float = 3e-4  # critic and mixer Adam lr, 3e-4 (MAC-Flow App. G.4 default; ICQ-MA: RMSprop 1e-4)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4 default; og-marl maicq 0.99)
    beta: float = 0.1  # actor temperature beta of the batch-softmax advantage weights, 0.1 (ICQ-MA code, og-marl)
    beta_q: float = 1000.0  # critic importance-weight temperature beta_Q, 1000 (ICQ-MA code, og-marl; card 5)
    mixer: str = "icq"  # value mixer: ICQ-MA's normalised linear k(s) (released code; card 5) | omiga | mean | vdn
    mixer_embed: int = 32  # mixer embedding width, 32 (ICQ-MA offpg_smac.yaml mixing_embed_dim)
    # hypernetwork hidden width, 64: harness choice (og-marl's QMIX width); ICQ-MA's hypernets are single linear layers
    mixer_hyper: int = 64
    target_period: int = 200  # hard target copy every 200 steps (og-marl maicq; ICQ-MA: 600); paper silent
    critic_state: bool = True  # critic input o_i plus global state (ICQ-MA code); False = og-marl's o_i-only critic
    # continuous: policy samples for the value baseline E_pi[Q_i]; harness choice, continuous ICQ unspecified (card 5)
    n_value_samples: int = 10


def _nets(spec, cfg):
    a = spec.action_dim
    return {"q": MLP(cfg.hidden, a if spec.discrete else 1, cfg.layer_norm),
            "actor": mlp(cfg, a if spec.discrete else 2 * a), "mix": mixer(cfg, spec)}


def _critic_in(spec, cfg, oid, s, a=None):
    x = [oid]
    if cfg.critic_state:
        x.append(jnp.broadcast_to(s[..., None, :], oid.shape[:-1] + s.shape[-1:]))
    if a is not None:
        x.append(a)
    return jnp.concatenate(x, -1)


@register
class ICQ(Algorithm):
    name = "icq"
    Config = Config
    sequence_length = 2
    paper = "ICQ (Yang et al., 2021), ICQ-MA"

    @staticmethod
    def init(key, spec, cfg):
        check_choice("icq", "mixer", cfg.mixer, ("icq", "omiga", "mean", "vdn"))
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        s = jnp.zeros((1, state_dim(spec)))
        kq, ka, km = jax.random.split(key, 3)
        q_in = _critic_in(spec, cfg, oid, s, None if spec.discrete else jnp.zeros((1, n, a)))
        params = {"q": nets["q"].init(kq, q_in), "actor": nets["actor"].init(ka, oid),
                  "mix": nets["mix"].init(km, jnp.zeros((1, n)), s)}
        return State(params=params, opt=init_opt(params, ICQ._lrs(cfg)), step=jnp.zeros((), jnp.int32),
                     target={"q": params["q"], "mix": params["mix"]}, spec=spec, cfg=cfg)

    @staticmethod
    def _lrs(cfg):
        return {"q": cfg.value_lr, "mix": cfg.value_lr, "actor": cfg.policy_lr}

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        now = jax.tree.map(lambda x: x[:, 0], batch)
        a_next = batch.actions[:, 1]
        has_next = batch.valid[:, 1] * (1.0 - now.terminal)  # bootstrapped with a dataset next action
        keep = jnp.maximum(has_next, now.terminal) * batch.valid[:, 0]  # rows used by the critic
        oid, noid = with_agent_id(now.obs), with_agent_id(now.next_obs)
        s, s2 = global_state(now.state, now.obs), global_state(now.next_state, now.next_obs)
        mix = lambda p, q, st: nets["mix"].apply(p, q, st)
        tp = state.target

        def q_fn(p, o, st, a):
            if spec.discrete:
                return gather(nets["q"].apply(p, _critic_in(spec, cfg, o, st)), a)
            return nets["q"].apply(p, _critic_in(spec, cfg, o, st, to_unit(spec, a)))[..., 0]

        q_next = mix(tp["mix"], q_fn(tp["q"], noid, s2, a_next), s2)  # [B]
        w_q = batch_softmax_weights(q_next, cfg.beta_q, has_next)
        y = jax.lax.stop_gradient(now.reward + cfg.discount * has_next * w_q * q_next)

        def loss_fn(params):
            if spec.discrete:
                q_all = nets["q"].apply(params["q"], _critic_in(spec, cfg, oid, s))  # [B, N, A]
                q_data = gather(q_all, now.actions)
                logp_all = masked_log_softmax(nets["actor"].apply(params["actor"], oid), now.legal)
                logp = gather(logp_all, now.actions)
                baseline = jnp.sum(jnp.exp(logp_all) * q_all, -1)
            else:
                a_data = to_unit(spec, now.actions)
                q_in = lambda a: _critic_in(spec, cfg, oid, s, a)
                q_data = nets["q"].apply(params["q"], q_in(a_data))[..., 0]
                mean, log_std = gaussian(nets["actor"].apply(params["actor"], oid))
                logp = tanh_log_prob(mean, log_std, a_data)
                samples, _ = jax.vmap(lambda k: tanh_sample(mean, log_std, k))(
                    jax.random.split(key, cfg.n_value_samples))
                baseline = jax.vmap(lambda a: nets["q"].apply(params["q"], q_in(a))[..., 0])(samples).mean(0)
            q_tot = mix(params["mix"], q_data, s)
            critic_loss = 0.5 * jnp.sum(keep * (q_tot - y) ** 2) / jnp.maximum(keep.sum(), 1.0)
            adv = jax.lax.stop_gradient(q_data - baseline)  # [B, N]
            w = batch_softmax_weights(adv, cfg.beta, batch.valid[:, 0])
            k, _ = nets["mix"].apply(jax.lax.stop_gradient(params["mix"]), s, method="weights")
            actor_loss = -jnp.sum(jax.lax.stop_gradient(k) * w * logp, -1).mean()
            return critic_loss + actor_loss, {"critic_loss": critic_loss, "actor_loss": actor_loss, "q": q_tot.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = step_nets(state.params, state.opt, grads, ICQ._lrs(cfg))
        step = state.step + 1
        target = update_target(tp, {"q": params["q"], "mix": params["mix"]}, step, period=cfg.target_period)
        return state.replace(params=params, opt=opt, target=target, step=step), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        out = _nets(spec, cfg)["actor"].apply(state.params["actor"], with_agent_id(obs))
        return greedy_policy_action(spec, out, legal)

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one shared actor pass")
