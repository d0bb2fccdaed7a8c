"""VGM2P: Value-Guidance Multi-agent MeanFlow Policy (Pang et al., arXiv 2604.08174; card 14).

Optimal-policy learning as conditional behaviour cloning (Alg. 1), all parameters shared across agents:

1. Critics: per-agent Q(o_i, a_i), one network, decomposed by VDN and trained by the global TD error
   (Eq. 13) with a slowly updated target; next actions a'_i = one-step MeanFlow samples with c = 1.
2. Labels: a_hat_i = eps_i - u(eps_i, 0, 1 | o_i, c=1) (current policy), A_i = Q_i(o_i, a_i) - Q_i(o_i, a_hat_i),
   c_i = 1 if A_i >= 0 else 0 (Sec. 3.1/3.3; Alg. 1 line 9's "A >= V(o)" read as the typo it is).
3. Policy: conditional MeanFlow BC with classifier-free guidance (Eq. 11):
   v_cfg = omega (eps - a) + (1 - omega) u(a_k, k, k | o, c=1),
   u_tgt = v_cfg - (k - r) d/dk u(a_k, r, k | o, c) with v_cfg as the jvp tangent, L = ||u - sg(u_tgt)||^2.
Execution (Alg. 2): a_i = eps_i - u(eps_i, 0, 1 | o_i, 1): one network evaluation, decentralised
(``sampling_steps`` > 1, the multi-step form of Eq. 12, is a cost override).

Paper defaults (App. A, Table 3): MLP 4 x 512, Adam 3e-4, batch 64, gamma 0.995, omega in {3,5,10,20}
(we take 3, the smallest listed; Fig. 3 reports insensitivity). Choices where the paper is silent:
* Eq. 13 is implemented as written: sum_i (Q_i - (r + gamma Q'_i)), which counts the team reward N
  times; it equals the usual VDN loss with every Q_i scaled by N, so the labels c (signs of
  advantages) are unchanged. ``td="vdn"`` gives the usual (sum_i Q_i - r - gamma sum_i Q'_i)^2.
* Terminal masking (1 - d) in the target; Polyak tau 0.005 for the target critic (MAC-Flow default).
* (r, k): two U[0, 1] draws sorted so r <= k, a fraction 0.75 with r = k (the MeanFlow reference's
  25% r != k), ``equal_fraction``.
* Condition c and one-hot agent id appended to the observation; times enter as raw (k, k - r).
* LayerNorm and GELU in every MLP (the harness MLP; the MAC-Flow code base's choice).
* d/dk u by jax.jvp (MeanFlow); ``derivative="fd"`` uses meanflow.py's finite difference instead.
* ``td="independent"``: each agent's Q_i regressed on its own to r + gamma Q'_i (Eq. 6), the independent training
  Fig. 2 compares IGM's joint training with.
* ``generator="flow"``: VGM2P (FM), the flow-matching version Fig. 4 times (Sec. 5.4: "10-step sampling"): every
  training row has r = k (the MeanFlow loss is then flow matching with the same CFG target), and execution takes
  ``sampling_steps`` Euler steps z <- z - h u(z, t, t); ``vgm2p[generator=flow;sampling_steps=10]`` with
  --allow-cost-override (the 10 steps are a cost-defining setting).
* Discrete actions: one-hot vectors, legal argmax of the one-step sample (as MAC-Flow).
Note: for c = 1 rows the guided target's fixed point is the c = 1 conditional velocity itself
(u = omega v + (1 - omega) u), so omega shapes only the c = 0 field; execution uses c = 1.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from algorithms.errors import ConfigError

from . import register
from .base import Algorithm, Cost, State
from .meanflow import (DERIVATIVES, AgentMLP, as_vector, check_fd_step, decode, interpolate, mean_velocity_fn,
                       meanflow_target, sample, sample_times)
from .nets import MLP, adam, apply_grads, polyak, with_agent_id


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # actor and critic MLP widths, paper 4 x 512 (VGM2P App. A, Table 3)
    lr: float = 3e-4  # Adam learning rate, paper 3e-4 (VGM2P Table 3)
    discount: float = 0.995  # discount gamma, paper 0.995 (VGM2P Table 3)
    tau: float = 0.005  # Polyak rate of the "slowly updated" target critic (Eq. 13); paper silent, MAC-Flow's 0.005
    omega: float = 3.0  # CFG guidance weight, paper one of {3, 5, 10, 20} (Table 3); 3 = smallest (Fig. 3: insensitive)
    # fraction of (r, k) draws with r = k; paper silent, 0.75 as the MeanFlow reference (25% r != k; card 14)
    equal_fraction: float = 0.75
    # critic loss: "paper" (Eq. 13 as written) | "vdn" (standard VDN target) | "independent" (each agent's own TD
    # error on the team reward, Eq. 6: the "w/o IGM" arm of Fig. 2); see docstring
    td: str = "paper"
    derivative: str = "jvp"  # d/dk u: "jvp" (MeanFlow JVP, VGM2P Eq. 5) | "fd" (finite difference)
    fd_step: float = 1e-3  # finite-difference step, only with derivative="fd"; harness choice (float32-safe)
    layer_norm: bool = True  # LayerNorm in every MLP, True; harness choice: paper silent (MAC-Flow code base)
    sampling_steps: int = 1  # MeanFlow jumps at execution, paper 1 (Alg. 2; Eq. 12); > 1 is a cost override
    # the generative model: "meanflow" (the paper's method) | "flow": VGM2P (FM), the flow-matching version Sec. 5.4
    # compares running times with (r = k in every training row, the CFG target without the MeanFlow correction,
    # and sampling_steps Euler steps of u(z, t, t) at execution: 10 in the paper, a cost override)
    generator: str = "meanflow"


TD_LOSSES = ("paper", "vdn", "independent")
GENERATORS = ("meanflow", "flow")


def _nets(spec, cfg):
    return AgentMLP(cfg.hidden, spec.action_dim, cfg.layer_norm), MLP(cfg.hidden, 1, cfg.layer_norm)


def _policy(net, params, oid, c, eps, legal, spec, steps=1, euler=False):
    return decode(spec, sample(mean_velocity_fn(net, params, oid, c), eps, steps, euler), legal)


@register
class VGM2P(Algorithm):
    name = "vgm2p"
    Config = Config
    cost_defining = ("sampling_steps",)
    paper = "VGM2P, arXiv 2604.08174"

    @staticmethod
    def init(key, spec, cfg):
        if cfg.td not in TD_LOSSES or cfg.derivative not in DERIVATIVES or cfg.generator not in GENERATORS:
            raise ConfigError(f"vgm2p: td must be one of {', '.join(TD_LOSSES)}, derivative one of {DERIVATIVES} and "
                              f"generator one of {', '.join(GENERATORS)}; got {cfg.td!r}, {cfg.derivative!r}, "
                              f"{cfg.generator!r}")
        if cfg.sampling_steps < 1:
            raise ConfigError(f"vgm2p: sampling_steps must be >= 1 (paper: 1), got {cfg.sampling_steps}")
        if cfg.derivative == "fd":
            check_fd_step(cfg.fd_step)
        actor, critic = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        x = jnp.zeros((1, n, a))
        ka, kc = jax.random.split(key)
        params = {"actor": actor.init(ka, jnp.concatenate([oid, jnp.zeros((1, n, 1)), x, jnp.zeros((1, n, 2))], -1)),
                  "critic": critic.init(kc, jnp.concatenate([oid, x], -1))}
        return State(params=params, opt=adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32),
                     target={"critic": params["critic"]}, spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        actor, critic = _nets(spec, cfg)
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        x = as_vector(spec, batch.actions)
        ones = jnp.ones(x.shape[:-1] + (1,))
        k_next, k_hat, k_eps, k_time = jax.random.split(key, 4)
        q = lambda p, o, av: critic.apply(p, jnp.concatenate([o, av], -1))[..., 0]  # [B, N]
        sg = jax.lax.stop_gradient(state.params)

        flow = cfg.generator == "flow"
        steps = cfg.sampling_steps if flow else 1
        # TD target with next actions from the c = 1 policy (Alg. 1 l. 5; one step, or VGM2P (FM)'s Euler steps)
        a_next = _policy(actor, sg["actor"], noid, ones, jax.random.normal(k_next, x.shape), batch.next_legal, spec,
                         steps, flow)
        q_next = q(state.target["critic"], noid, as_vector(spec, a_next))
        live = cfg.discount * (1.0 - batch.terminal)
        # advantage labels with the current policy's action (Alg. 1 l. 8-9)
        a_hat = _policy(actor, sg["actor"], oid, ones, jax.random.normal(k_hat, x.shape), batch.legal, spec, steps, flow)
        adv = q(sg["critic"], oid, x) - q(sg["critic"], oid, as_vector(spec, a_hat))
        c = (adv >= 0).astype(jnp.float32)[..., None]

        eps = jax.random.normal(k_eps, x.shape)
        r, t = sample_times(k_time, x.shape[:-1] + (1,), sort=True, equal_fraction=1.0 if flow else cfg.equal_fraction)
        z = interpolate(x, eps, t)

        def loss_fn(params):
            qs = q(params["critic"], oid, x)
            if cfg.td == "paper":
                critic_loss = jnp.mean(jnp.sum(qs - (batch.reward[:, None] + live[:, None] * q_next), -1) ** 2)
            elif cfg.td == "vdn":
                critic_loss = jnp.mean((qs.sum(-1) - (batch.reward + live * q_next.sum(-1))) ** 2)
            else:  # Eq. 6 per agent
                critic_loss = jnp.mean(jnp.sum((qs - (batch.reward[:, None] + live[:, None] * q_next)) ** 2, -1))
            u_c = mean_velocity_fn(actor, params["actor"], oid, c)
            u_1 = mean_velocity_fn(actor, jax.lax.stop_gradient(params["actor"]), oid, ones)
            v_cfg = cfg.omega * (eps - x) + (1.0 - cfg.omega) * jax.lax.stop_gradient(u_1(z, t, t))
            if flow:  # r = k: the average velocity is the instantaneous one and the target is v_cfg itself
                u, u_tgt = u_c(z, t, t), jax.lax.stop_gradient(v_cfg)
            else:
                u, u_tgt = meanflow_target(u_c, z, r, t, v_cfg, cfg.derivative, cfg.fd_step)
            policy_loss = jnp.sum((u - u_tgt) ** 2, -1).mean()
            return critic_loss + policy_loss, {"critic_loss": critic_loss, "policy_loss": policy_loss,
                                               "c_rate": c.mean(), "q": qs.sum(-1).mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = apply_grads(adam(cfg.lr), state.params, state.opt, grads)
        target = {"critic": polyak(state.target["critic"], params["critic"], cfg.tau)}
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        actor, _ = _nets(spec, cfg)
        eps = jax.random.normal(key, obs.shape[:-1] + (spec.action_dim,))
        ones = jnp.ones(obs.shape[:-1] + (1,))
        return _policy(actor, state.params["actor"], with_agent_id(obs), ones, eps, legal, spec, cfg.sampling_steps,
                       cfg.generator == "flow")

    @staticmethod
    def cost(spec, cfg):
        if cfg.generator == "flow":
            return Cost(nfe=cfg.sampling_steps, per_agent="O(M)", note=f"VGM2P (FM): {cfg.sampling_steps} Euler steps")
        if cfg.sampling_steps == 1:
            return Cost(nfe=1, per_agent="O(1)", note="one MeanFlow pass u(eps, 0, 1 | o, c=1)")
        return Cost(nfe=cfg.sampling_steps, per_agent="O(M)", note=f"{cfg.sampling_steps} MeanFlow jumps (Eq. 12)")
