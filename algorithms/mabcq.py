"""MABCQ: multi-agent batch-constrained Q-learning (Fujimoto et al. 2019; MAC-Flow App. F.1; card 2).

Discrete (MAC-Flow F.1): a softmax behaviour network G(a | o_i) trained by cross-entropy on dataset
actions; twin per-agent Q-networks Q_i^{1,2}(o_i, .) in R^A mixed by a value mixer; only actions
whose (legal-renormalised) behaviour probability is at least ``threshold`` (0.4) times the most
probable one are admissible, both in the TD target and at execution:
    a_i* = argmax_{a in adm(o'_i)} min_k Q_i^k(o'_i, a),
    y = r + gamma (1 - d) min_k Mix_tgt([Q_tgt,i^k(o'_i, a_i*)], s')
and each head regresses Mix(Q^k(o, a), s) to y. Hard target copy every 200 steps.

Continuous (not in the paper; card 2b, single-agent BCQ lifted to teams): a conditional VAE over
a_i given o_i, a perturbation actor xi(o_i, a) = phi * tanh(.) with phi = 0.05, twin critics, mixer.
Target: 10 decoded + perturbed candidates per next observation (latents clipped to [-0.5, 0.5]),
soft clipped double-Q lambda * min + (1 - lambda) * max with lambda = 0.75, the best candidate per
agent, then the target mixer. Actor: -Mix(Q^1(o, xi(o, Dec(o, z)))). Polyak 0.005 for all targets.
Execution: 100 candidates per agent, the one with the highest Q^1 (card 1.1: 3 network passes).
VAE loss as the BCQ code computes it: the squared error averaged over action dimensions plus 0.5 x the KL
averaged over the 2|A| latent dimensions (``vae_reduce="mean"``). Summing both instead (``"sum"``, the
formula ||a - a_hat||^2 + 0.5 KL read literally) doubles the KL's weight relative to the reconstruction
(2|A| latent terms against |A| squared errors), and the VAE collapses onto the conditional mean action:
measured on games/stitch-cont (hidden (32, 32), 3 000 steps, seeds 0, 1), with "sum" every decoded
candidate at (M, t=1) lay in [-0.18, -0.10] (the data's mean between its moves +-0.5), so no perturbed
candidate could reach N although Q ranked it first: team return 0, 0 (BC's path). With "mean" 34-35% of
the candidates lie on N's side and MABCQ stitches: 40, 40.
The latent clip (``latent_clip`` = 0.5, BCQ code) decodes only the prior's central 38%: a mode holding 20%
of the data sits in the prior's tail and is never a candidate (tests/test_value_baselines.py's continuous
bandit: 1.05-1.15 at the clip 0.5, 1.80-1.99 at 3; BC 0.73, optimum 2).

Choices where the paper is silent (card 2): mixer = QMIX (og-marl's qmix_bcq, the likely origin of
MAC-Flow's discrete baselines; ``mixer`` switch: mean / vdn / none); twin heads combined by min for
action selection and targets, one mixer shared by the two heads; execution applies the BC filter
(BCQ semantics; og-marl's argmax over legal actions only is ``filter_at_execution=False``);
MAC-Flow's optimiser / discount defaults (Adam 3e-4, eps 1e-5, gamma 0.995) and [512]x4 LayerNorm
MLPs for every network, including the VAE (BCQ code: 750x2, lr 1e-3, gamma 0.99).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from . import register
from .base import Algorithm, Cost, State, mask_logits
from .nets import with_agent_id
from .value import (bootstrap, check_choice, from_unit, gather, global_state, init_opt, mixer, mlp, state_dim,
                    step_nets, to_unit, twin_critic, update_target)


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # widths of every MLP (Q, BC net, VAE, actor), paper [512]x4 (MAC-Flow F.1)
    layer_norm: bool = True  # LayerNorm in every MLP, True (MAC-Flow App. G.4 default; F.1 silent)
    lr: float = 3e-4  # Adam lr of all networks, 3e-4 (MAC-Flow App. G.4 default; F.1 silent; BCQ code 1e-3 continuous)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4 default; F.1 silent; og-marl, BCQ code 0.99)
    # value mixer: paper "we employ the mixer", type silent; QMIX as og-marl's qmix_bcq (card 2) | mean | vdn | none
    mixer: str = "qmix"
    mixer_embed: int = 32  # QMIX embedding width, 32 (og-marl qmix_bcq; card 2)
    mixer_hyper: int = 64  # QMIX hypernetwork width, 64 (og-marl qmix_bcq; card 2)
    threshold: float = 0.4  # discrete BC threshold: admissible if p(a)/max p >= 0.4 (MAC-Flow App. F.1; og-marl)
    target_period: int = 200  # discrete: hard target copy every 200 steps (MAC-Flow App. F.1)
    # discrete: apply the BC filter at execution too, True (MAC-Flow F.1: max Q among admissible actions); og-marl False
    filter_at_execution: bool = True
    tau: float = 0.005  # continuous: Polyak rate of every target, 0.005 (BCQ code; continuous MABCQ not in the paper)
    phi: float = 0.05  # continuous: perturbation range Phi, 0.05 (BCQ code; card 2b)
    lmbda: float = 0.75  # continuous: soft clipped double-Q weight lambda, 0.75 (BCQ code; card 2b)
    n_target_samples: int = 10  # continuous: decoded candidates per next observation in the target, 10 (BCQ code)
    n_act_samples: int = 100  # continuous: candidates per agent at execution, 100 (BCQ code select_action)
    # continuous: VAE loss = mean over dims of (a - a_hat)^2 + 0.5 x mean over latent dims of KL (BCQ code) | "sum"
    vae_reduce: str = "mean"
    # continuous: decoded latents z ~ N(0, I) clipped to [-latent_clip, latent_clip], 0.5 (BCQ code VAE.decode)
    latent_clip: float = 0.5


def _nets(spec, cfg):
    a = spec.action_dim
    nets = {"q": twin_critic(cfg, a if spec.discrete else 1), "mix": mixer(cfg, spec)}
    if spec.discrete:
        nets["bc"] = mlp(cfg, a)
    else:
        nets.update(enc=mlp(cfg, 4 * a), dec=mlp(cfg, a), actor=mlp(cfg, a))
    return nets


def admissible(nets, bc_params, cfg, oid, legal):
    """BCQ filter: legal actions with p(a) / max_b p(b) >= threshold under the masked behaviour softmax."""
    p = jax.nn.softmax(mask_logits(nets["bc"].apply(bc_params, oid), legal), -1)
    return legal & (p >= cfg.threshold * p.max(-1, keepdims=True))


def _greedy(q_min, adm):
    return jnp.argmax(jnp.where(adm, q_min, -jnp.inf), -1)


def _decode(nets, params, spec, cfg, oid, key, k=None):
    """Decoded behaviour actions in [-1, 1] (latent N(0, I) clipped to +-latent_clip); k candidates first."""
    a_dim = spec.action_dim
    if k is not None:
        oid = jnp.broadcast_to(oid, (k,) + oid.shape)
    z = jnp.clip(jax.random.normal(key, oid.shape[:-1] + (2 * a_dim,)), -cfg.latent_clip, cfg.latent_clip)
    return jnp.tanh(nets["dec"].apply(params["dec"], jnp.concatenate([oid, z], -1))), oid


def vae_loss(recon, a, mu, log_std, reduce="mean"):
    """Per-sample BCQ VAE loss: (a - a_hat)^2 + 0.5 KL(N(mu, exp(log_std)^2) || N(0, I)), each term averaged
    (BCQ code) or summed over its last axis."""
    red = jnp.mean if reduce == "mean" else jnp.sum
    kl = -0.5 * red(1 + 2 * log_std - mu**2 - jnp.exp(2 * log_std), -1)
    return red((recon - a) ** 2, -1) + 0.5 * kl


def _perturb(nets, actor_params, cfg, oid, a):
    xi = cfg.phi * jnp.tanh(nets["actor"].apply(actor_params, jnp.concatenate([oid, a], -1)))
    return jnp.clip(a + xi, -1.0, 1.0)


@register
class MABCQ(Algorithm):
    name = "mabcq"
    Config = Config
    paper = "BCQ (Fujimoto et al., 2019) with a value mixer, as in MAC-Flow App. F.1"

    @staticmethod
    def init(key, spec, cfg):
        check_choice("mabcq", "mixer", cfg.mixer, ("qmix", "mean", "vdn", "none"))
        check_choice("mabcq", "vae_reduce", cfg.vae_reduce, ("mean", "sum"))
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        av = jnp.zeros((1, n, a))
        ks = jax.random.split(key, 5)
        params = {"mix": nets["mix"].init(ks[0], jnp.zeros((2, 1, n)), jnp.zeros((1, state_dim(spec))))}
        if spec.discrete:
            params.update(q=nets["q"].init(ks[1], oid), bc=nets["bc"].init(ks[2], oid))
        else:
            params.update(q=nets["q"].init(ks[1], jnp.concatenate([oid, av], -1)),
                          enc=nets["enc"].init(ks[2], jnp.concatenate([oid, av], -1)),
                          dec=nets["dec"].init(ks[3], jnp.concatenate([oid, jnp.zeros((1, n, 2 * a))], -1)),
                          actor=nets["actor"].init(ks[4], jnp.concatenate([oid, av], -1)))
        target = {k: params[k] for k in (("q", "mix") if spec.discrete else ("q", "mix", "actor"))}
        return State(params=params, opt=init_opt(params, {k: cfg.lr for k in params}), step=jnp.zeros((), jnp.int32),
                     target=target, spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        indep = cfg.mixer == "none"
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        s, s2 = global_state(batch.state, batch.obs), global_state(batch.next_state, batch.next_obs)
        mix = lambda p, q, st: nets["mix"].apply(p, q, st)
        tp = state.target
        if spec.discrete:
            adm = admissible(nets, state.params["bc"], cfg, noid, batch.next_legal)
            a_star = _greedy(nets["q"].apply(state.params["q"], noid).min(0), adm)
            q_next = gather(nets["q"].apply(tp["q"], noid), a_star)  # [2, B, N]
            y = bootstrap(batch.reward, batch.terminal, cfg.discount, mix(tp["mix"], q_next, s2).min(0), indep)
        else:
            k_dec, k_vae, k_act = jax.random.split(key, 3)
            cand, o_rep = _decode(nets, state.params, spec, cfg, noid, k_dec, cfg.n_target_samples)
            cand = _perturb(nets, tp["actor"], cfg, o_rep, cand)  # [K, B, N, A]
            qc = nets["q"].apply(tp["q"], jnp.concatenate([o_rep, cand], -1))[..., 0]  # [2, K, B, N]
            qc = cfg.lmbda * qc.min(0) + (1.0 - cfg.lmbda) * qc.max(0)
            y = bootstrap(batch.reward, batch.terminal, cfg.discount, mix(tp["mix"], qc.max(0), s2), indep)
            a_data = to_unit(spec, batch.actions)

        def loss_fn(params):
            out = {}
            if spec.discrete:
                q_data = gather(nets["q"].apply(params["q"], oid), batch.actions)
                out["bc_loss"] = optax.softmax_cross_entropy_with_integer_labels(
                    nets["bc"].apply(params["bc"], oid), batch.actions).sum(-1).mean()
                total = out["bc_loss"]
            else:
                q_data = nets["q"].apply(params["q"], jnp.concatenate([oid, a_data], -1))[..., 0]
                h = nets["enc"].apply(params["enc"], jnp.concatenate([oid, a_data], -1))
                mu, log_std = jnp.split(h, 2, -1)
                log_std = jnp.clip(log_std, -4.0, 15.0)
                z = mu + jnp.exp(log_std) * jax.random.normal(k_vae, mu.shape)
                recon = jnp.tanh(nets["dec"].apply(params["dec"], jnp.concatenate([oid, z], -1)))
                out["vae_loss"] = vae_loss(recon, a_data, mu, log_std, cfg.vae_reduce).sum(-1).mean()
                a_b, _ = _decode(nets, jax.lax.stop_gradient(params), spec, cfg, oid, k_act)
                a_pi = _perturb(nets, params["actor"], cfg, oid, a_b)
                frozen = jax.lax.stop_gradient(params)
                q_pi = nets["q"].apply(frozen["q"], jnp.concatenate([oid, a_pi], -1))[0, ..., 0]
                q_pi = mix(frozen["mix"], q_pi, s)
                out["actor_loss"] = -q_pi.mean()
                total = out["vae_loss"] + out["actor_loss"]
            q_tot = mix(params["mix"], q_data, s)
            out["critic_loss"] = 0.5 * jnp.sum(jnp.mean((q_tot - y) ** 2, axis=tuple(range(1, q_tot.ndim))))
            out["q"] = q_tot.mean()
            return total + out["critic_loss"], out

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = step_nets(state.params, state.opt, grads, {k: cfg.lr for k in grads})
        step = state.step + 1
        if spec.discrete:
            target = update_target(tp, {k: params[k] for k in tp}, step, period=cfg.target_period)
        else:
            target = update_target(tp, {k: params[k] for k in tp}, step, tau=cfg.tau)
        return state.replace(params=params, opt=opt, target=target, step=step), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        oid = with_agent_id(obs)
        if spec.discrete:
            adm = admissible(nets, state.params["bc"], cfg, oid, legal) if cfg.filter_at_execution else legal
            return _greedy(nets["q"].apply(state.params["q"], oid).min(0), adm)
        k = cfg.n_act_samples
        cand, o_rep = _decode(nets, state.params, spec, cfg, oid, key, k)
        cand = _perturb(nets, state.params["actor"], cfg, o_rep, cand)  # [K, ..., N, A]
        q1 = nets["q"].apply(state.params["q"], jnp.concatenate([o_rep, cand], -1))[0, ..., 0]  # [K, ..., N]
        best = jnp.argmax(q1, 0)
        a = jnp.take_along_axis(cand, best[None, ..., None], 0)[0]
        return from_unit(spec, a)

    @staticmethod
    def cost(spec, cfg):
        if spec.discrete:
            return Cost(nfe=2, per_agent="O(1)", note="one twin-Q pass and one behaviour-net pass (BCQ filter)")
        return Cost(nfe=3, per_agent="O(1)",
                    note=f"decoder, perturbation and Q passes on {cfg.n_act_samples} candidates")
