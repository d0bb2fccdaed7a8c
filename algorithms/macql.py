"""MACQL: multi-agent conservative Q-learning (Kumar et al. 2020; MAC-Flow App. F.1; card 3).

Twin per-agent critics, mixed by a value mixer, trained with the TD loss plus a conservative penalty
(weight 3.0) that lowers Q on sampled out-of-distribution actions through a log-sum-exp and raises
it on dataset actions; 10 sampled actions per state (MAC-Flow F.1).

Discrete: Q_i^{1,2}(o_i, .) in R^A; TD target with the legal greedy action of the online critic
(min over heads), evaluated by the target critic (and mixer, when one is used; min over heads); hard
target copy every 200 steps (tau = 1). Default (MAC-Flow App. H.2: "CQL is implemented with
independent Q learning in discrete control"): no mixer, each agent regresses the team reward, and
penalty ``cql="agent"``: exact logsumexp over each agent's legal actions of Q_i minus Q_i(a_i) (og-marl
iql_cql, whose weight 3.0 and target period 200 F.1 quotes). The mixed variant (``mixer="qmix"``):
penalty ``cql="joint"``: 10 uniformly random *legal* joint actions a^j per state,
logsumexp_j {Mix(Q(o, a^j), s), Mix(Q(o, a_data), s)} - Mix(Q(o, a_data), s) on each head (og-marl
qmix_cql). Execution: legal argmax of min_k Q_i^k.

Continuous: tanh-Gaussian actor per agent (SAC with automatic entropy tuning, target entropy -|A|
per agent); CQL(H) penalty per agent and head with importance-sampled candidates (10 uniform, 10
from pi(o), 10 from pi(o'), as the CQL code's ``min_q_version=3``, temperature 1); mixed TD loss,
Polyak 0.005; actor maximises min_k Mix(Q^k(o, a ~ pi), s) - alpha sum_i log pi_i. Execution:
tanh(mean).

[CONFLICT] MAC-Flow F.1 says a mixer is used; its App. H.2 says discrete CQL is independent
Q-learning "unlike continuous control". The defaults are ``mixer="auto"`` and ``cql="auto"``, resolved
by action kind: discrete -> mixer "none", penalty "agent" (H.2; og-marl iql_cql); continuous -> mixer
"qmix" (F.1 "we employ the mixer", type silent) with the per-agent CQL(H) penalty. ``cql="auto"`` is
"agent" without a mixer and "joint" with one, so ``--set mixer=qmix`` on a discrete task is og-marl's
qmix_cql (this harness's earlier discrete default); ``mixer=none`` on a continuous task gives
independent SAC+CQL learners.
Choices where the paper is silent: QMIX as the mixer; min over twin heads for selection and targets;
penalty per agent in the continuous case; no entropy term in the TD target (CQL code default); no
BC warm-up of the actor (``bc_steps``, CQL code: 40 000); MAC-Flow's Adam 3e-4 / gamma 0.995.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import register
from .base import Algorithm, Cost, State
from .nets import with_agent_id
from .value import (bootstrap, check_choice, cql_discrete, cql_sampled, from_unit, gather, gaussian, global_state,
                    init_opt, mixer, mlp, state_dim, step_nets, tanh_log_prob, tanh_sample, to_unit, twin_critic,
                    uniform_actions, update_target)


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # actor and critic MLP widths, paper [512]x4 (MAC-Flow App. F.1)
    layer_norm: bool = True  # LayerNorm in every MLP, True (MAC-Flow App. G.4 default; F.1 silent)
    # continuous actor and entropy-temperature Adam lr, 3e-4 (MAC-Flow App. G.4 default; F.1 silent; CQL code 1e-4)
    policy_lr: float = 3e-4
    value_lr: float = 3e-4  # critic and mixer Adam lr, 3e-4 (MAC-Flow App. G.4 default; CQL code 3e-4)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4 default; F.1 silent; CQL code, og-marl 0.99)
    # value mixer, "auto": discrete "none" (MAC-Flow App. H.2 independent CQL), continuous "qmix" (F.1, type silent)
    mixer: str = "auto"
    mixer_embed: int = 32  # QMIX embedding width, 32 (og-marl QMIX; card 2)
    mixer_hyper: int = 64  # QMIX hypernetwork width, 64 (og-marl QMIX; card 2)
    cql_weight: float = 3.0  # conservative penalty weight, paper 3.0 (MAC-Flow App. F.1)
    # sampled actions per state in the penalty, paper 10 (MAC-Flow App. F.1); og-marl qmix_cql samples 20 joint actions
    n_samples: int = 10
    # discrete penalty, "auto": "agent" (exact per agent, og-marl iql_cql; H.2) without a mixer, "joint" (qmix_cql) with one
    cql: str = "auto"
    temperature: float = 1.0  # continuous CQL(H) log-sum-exp temperature T, 1 (CQL code; paper silent)
    target_period: int = 200  # discrete: hard target copy every 200 steps, tau = 1 (MAC-Flow App. F.1)
    tau: float = 0.005  # continuous: Polyak rate of the targets, paper 0.005 (MAC-Flow App. F.1)
    bc_steps: int = 0  # continuous: actor BC warm-up steps; harness choice 0, paper silent (CQL code 40 000)


def resolve(spec, cfg):
    """The config with ``mixer`` / ``cql`` "auto" resolved by action kind (see the module docstring)."""
    mix = cfg.mixer if cfg.mixer != "auto" else ("none" if spec.discrete else "qmix")
    cql = cfg.cql if cfg.cql != "auto" else ("agent" if mix == "none" else "joint")
    return dataclasses.replace(cfg, mixer=mix, cql=cql)


def _nets(spec, cfg):
    if spec.discrete:
        return {"q": twin_critic(cfg, spec.action_dim), "mix": mixer(cfg, spec)}
    return {"q": twin_critic(cfg, 1), "mix": mixer(cfg, spec), "actor": mlp(cfg, 2 * spec.action_dim)}


def _legal_greedy(q_all, legal):
    return jnp.argmax(jnp.where(legal, q_all, -jnp.inf), -1)


@register
class MACQL(Algorithm):
    name = "macql"
    Config = Config
    paper = "CQL (Kumar et al., 2020): independent in discrete control (MAC-Flow App. H.2), mixed in continuous (F.1)"

    @staticmethod
    def init(key, spec, cfg):
        state_cfg = cfg  # the state keeps the config as given ("auto"); the functions resolve it
        check_choice("macql", "mixer", cfg.mixer, ("auto", "qmix", "mean", "vdn", "none"))
        check_choice("macql", "cql", cfg.cql, ("auto", "joint", "agent"))
        cfg = resolve(spec, cfg)
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        ks = jax.random.split(key, 3)
        params = {"mix": nets["mix"].init(ks[0], jnp.zeros((2, 1, n)), jnp.zeros((1, state_dim(spec))))}
        if spec.discrete:
            params["q"] = nets["q"].init(ks[1], oid)
            lrs = {"q": cfg.value_lr, "mix": cfg.value_lr}
        else:
            params["q"] = nets["q"].init(ks[1], jnp.concatenate([oid, jnp.zeros((1, n, a))], -1))
            params["actor"] = nets["actor"].init(ks[2], oid)
            params["log_alpha"] = jnp.zeros(())
            lrs = {"q": cfg.value_lr, "mix": cfg.value_lr, "actor": cfg.policy_lr, "log_alpha": cfg.policy_lr}
        return State(params=params, opt=init_opt(params, lrs), step=jnp.zeros((), jnp.int32),
                     target={"q": params["q"], "mix": params["mix"]}, spec=spec, cfg=state_cfg)

    @staticmethod
    def _lrs(cfg, params):
        return {k: (cfg.value_lr if k in ("q", "mix") else cfg.policy_lr) for k in params}

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, resolve(state.spec, state.cfg)
        nets = _nets(spec, cfg)
        indep = cfg.mixer == "none"
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        s, s2 = global_state(batch.state, batch.obs), global_state(batch.next_state, batch.next_obs)
        mix = lambda p, q, st: nets["mix"].apply(p, q, st)
        tp, K = state.target, cfg.n_samples
        k_rand, k_next, k_pi, k_pi2, k_new = jax.random.split(key, 5)
        if spec.discrete:
            a_star = _legal_greedy(nets["q"].apply(state.params["q"], noid).min(0), batch.next_legal)
            q_next = mix(tp["mix"], gather(nets["q"].apply(tp["q"], noid), a_star), s2).min(0)
            rand = jax.random.categorical(k_rand, jnp.where(batch.legal, 0.0, -jnp.inf), axis=-1,
                                          shape=(K,) + batch.actions.shape)  # [K, B, N] legal joint actions
        else:
            mean, log_std = gaussian(nets["actor"].apply(state.params["actor"], noid))
            a_next, _ = tanh_sample(mean, log_std, k_next)
            q_next = nets["q"].apply(tp["q"], jnp.concatenate([noid, a_next], -1))[..., 0]
            q_next = mix(tp["mix"], q_next, s2).min(0)
            a_data = to_unit(spec, batch.actions)
        y = bootstrap(batch.reward, batch.terminal, cfg.discount, q_next, indep)

        def loss_fn(params):
            out = {}
            if spec.discrete:
                q_all = nets["q"].apply(params["q"], oid)  # [2, B, N, A]
                q_data = gather(q_all, batch.actions)
                q_tot = mix(params["mix"], q_data, s)
                if cfg.cql == "agent":
                    pen = cql_discrete(q_all, batch.actions, batch.legal).sum(-1)
                else:
                    q_rand = mix(params["mix"], gather(q_all[:, None], rand), s)  # [2, K, B(, N)]
                    both = jnp.concatenate([q_rand, q_tot[:, None]], 1)
                    pen = jax.nn.logsumexp(both, 1) - q_tot
                    pen = pen.sum(-1) if indep else pen
                policy_loss = 0.0
            else:
                q_fn = lambda p, a: nets["q"].apply(p, jnp.concatenate([oid, a], -1))[..., 0]
                q_tot = mix(params["mix"], q_fn(params["q"], a_data), s)
                actor = lambda o, k: tanh_sample(*gaussian(nets["actor"].apply(params["actor"], o)), k)
                frozen_actor = jax.lax.stop_gradient(params["actor"])
                cand_pi = jax.vmap(lambda k: tanh_sample(*gaussian(nets["actor"].apply(frozen_actor, oid)), k))(
                    jax.random.split(k_pi, K))
                cand_pi2 = jax.vmap(lambda k: tanh_sample(*gaussian(nets["actor"].apply(frozen_actor, noid)), k))(
                    jax.random.split(k_pi2, K))
                unif = uniform_actions(k_rand, (K,) + a_data.shape)
                cand = jnp.concatenate([unif[0], cand_pi[0], cand_pi2[0]], 0)  # [3K, B, N, A]
                log_p = jax.lax.stop_gradient(jnp.concatenate([unif[1], cand_pi[1], cand_pi2[1]], 0))
                q_cand = jax.vmap(lambda a: q_fn(params["q"], a), out_axes=1)(cand)  # [2, 3K, B, N]
                q_data_i = q_fn(params["q"], a_data)
                pen = jax.vmap(cql_sampled, in_axes=(0, None, 0, None))(q_cand, log_p, q_data_i, cfg.temperature)
                pen = pen.sum(-1)
                # actor: SAC objective on the mixed, frozen critic; optional BC warm-up
                a_pi, logp = actor(oid, k_new)
                critic = jax.lax.stop_gradient({"q": params["q"], "mix": params["mix"]})
                q_pi = mix(critic["mix"], q_fn(critic["q"], a_pi), s).min(0)
                # independent critics ([B, N]): the shared actor's objective sums the agents' own terms, as the entropy
                # and BC terms below do (each agent's action gets the gradient of its own Q_i only)
                q_pi = q_pi.sum(-1) if indep else q_pi
                alpha = jnp.exp(jax.lax.stop_gradient(params["log_alpha"]))
                log_data = tanh_log_prob(*gaussian(nets["actor"].apply(params["actor"], oid)), a_data).sum(-1)
                improve = jnp.where(state.step < cfg.bc_steps, log_data, q_pi)
                out["actor_loss"] = jnp.mean(alpha * logp.sum(-1) - improve)
                target_entropy = -float(spec.action_dim)
                out["alpha_loss"] = -jnp.mean(params["log_alpha"] * jax.lax.stop_gradient(logp + target_entropy))
                policy_loss = out["actor_loss"] + out["alpha_loss"]
            out["td_loss"] = 0.5 * jnp.sum(jnp.mean((q_tot - y) ** 2, axis=tuple(range(1, q_tot.ndim))))
            out["cql_penalty"] = jnp.sum(jnp.mean(pen, axis=tuple(range(1, pen.ndim))))
            out["q"] = q_tot.mean()
            return out["td_loss"] + cfg.cql_weight * out["cql_penalty"] + policy_loss, out

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = step_nets(state.params, state.opt, grads, MACQL._lrs(cfg, grads))
        step = state.step + 1
        online = {"q": params["q"], "mix": params["mix"]}
        target = (update_target(tp, online, step, period=cfg.target_period) if spec.discrete
                  else update_target(tp, online, step, tau=cfg.tau))
        return state.replace(params=params, opt=opt, target=target, step=step), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, resolve(state.spec, state.cfg)
        nets = _nets(spec, cfg)
        oid = with_agent_id(obs)
        if spec.discrete:
            return _legal_greedy(nets["q"].apply(state.params["q"], oid).min(0), legal)
        mean, _ = gaussian(nets["actor"].apply(state.params["actor"], oid))
        return from_unit(spec, jnp.tanh(mean))

    @staticmethod
    def cost(spec, cfg):
        what = "twin-Q pass (greedy)" if spec.discrete else "actor pass (tanh of the Gaussian mean)"
        return Cost(nfe=1, per_agent="O(1)", note=f"one shared {what}")
