"""MA-FQL: the fully decentralised multi-agent extension of Flow Q-Learning (MAC-Flow App. H.1, Fig. 10;
FQL, Park et al. 2025; card 13).

"A fully decentralized version of MAC-Flow, especially in decentralized Q without IGM and flow
decentralized policy" [MF App. H.1]. Every agent is an FQL learner on (o_i, a_i, r, o'_i):
* a per-agent flow-matching BC policy v(t, o_i, x) (flows.py), M = 10 Euler steps as the teacher;
* a one-step policy mu(o_i, z) trained with alpha * ||mu(o_i, z) - flow(o_i, z)||^2 (same noise,
  frozen teacher) minus the agent's own Q;
* a twin critic Q(o_i, a_i) (mean of the heads in the target), regressed to
  y_i = r + gamma (1 - d) Q'(o'_i, a'_i) with a'_i from the one-step policy (FQL); no mixer, no IGM.
Execution: one pass of the one-step policy per agent (1 NFE).

Hyper-parameters: the paper gives none for MA-FQL; as the decentralised MAC-Flow we take MAC-Flow's
(App. G.4): MLP 4 x 512 with LayerNorm, lr 3e-4, gamma 0.995, tau 0.005, alpha 3.0, 10 flow steps,
Q term scaled by 1/mean|Q| (MAC-Flow code). FQL's own defaults (alpha 10, gamma 0.99, no Q
normalisation, actor without LayerNorm) are overrides. Networks shared across agents with a one-hot
id (the MAC-Flow code base); ``next_action="flow"`` takes TD next actions from the flow instead.
Discrete actions as in MAC-Flow: one-hot flow targets, the one-step head's logits distilled by
cross-entropy to the teacher's legal argmax, Q term = expected Q under the masked softmax.

Distillation noise: the student mu(o_i, z) and the frozen teacher flow(o_i, z) see the SAME noise z
in both action kinds (FQL: ``distill_loss`` feeds one ``noises`` draw to both). ``student_noise=
"zero"`` is this harness's earlier discrete variant (discrete only: student at z = 0, teacher at a
random z; continuous keeps the same z): it distils the teacher's random-z argmax into one point, i.e.
the teacher's action marginal, not its noise-to-action map; kept only to reproduce old runs. Discrete execution feeds
z = 0 (as MAC-Flow App. E: "argmax with temperature"); continuous execution samples z ~ N(0, I) (FQL's
evaluation; ``act_noise="zero"`` deploys z = 0: on games/stitch-cont, hidden (32, 32), 3 000 steps, team return
23.75, 19.4 sampled and 40, 40 at z = 0, the same training).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from algorithms.errors import ConfigError

from . import register
from .base import Algorithm, Cost, State, mask_logits
from .flows import euler, flow_matching_loss, onestep_noise
from .meanflow import as_vector
from .nets import MLP, Ensemble, adam, apply_grads, polyak, sinusoidal, with_agent_id


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # MLP widths, [512]x4 (MAC-Flow App. G.4; no MA-FQL values in the paper)
    lr: float = 3e-4  # Adam learning rate, 3e-4 (MAC-Flow App. G.4; FQL code 3e-4)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4; FQL code 0.99)
    tau: float = 0.005  # Polyak rate of the target critic, 0.005 (MAC-Flow App. G.4; FQL code 0.005)
    alpha: float = 3.0  # distillation coefficient, 3.0 (MAC-Flow App. G.4; FQL code 10, tuned per task)
    flow_steps: int = 10  # Euler steps M of the flow teacher (training only), 10 (MAC-Flow App. G.4; FQL code 10)
    normalize_q: bool = True  # Q term scaled by 1/mean|Q|, True (MAC-Flow released code; FQL code False)
    layer_norm: bool = True  # LayerNorm in the critic, True (MAC-Flow App. G.4; FQL code True)
    actor_layer_norm: bool = True  # LayerNorm in the flow and one-step policy, True (MAC-Flow App. E; FQL code False)
    next_action: str = "onestep"  # TD next actions: "onestep" (FQL code) | "flow"; paper silent
    # discrete execution temperature, 0 = legal argmax (as MAC-Flow App. E); paper silent for MA-FQL
    temperature: float = 0.0
    # continuous execution noise: "sample" a fresh z ~ N(0, I) per decision (FQL's evaluation) | "zero" (z = 0)
    act_noise: str = "sample"
    # student's noise in the distillation: "same" z as the teacher (FQL code, MAC-Flow Eq. 9) | "zero" (old, discrete only)
    student_noise: str = "same"


def _nets(spec, cfg):
    a = spec.action_dim
    return {"flow": MLP(cfg.hidden, a, cfg.actor_layer_norm), "actor": MLP(cfg.hidden, a, cfg.actor_layer_norm),
            "critic": Ensemble(cfg.hidden, 1, 2, cfg.layer_norm)}


def _velocity(nets, params, oid):
    return lambda x, t: nets["flow"].apply(params["flow"], jnp.concatenate([oid, x, sinusoidal(t)], -1))


def _q(nets, params, oid, avec):
    return nets["critic"].apply(params, jnp.concatenate([oid, avec], -1))[..., 0]  # [2, .., N]


def _onestep(nets, params, spec, cfg, oid, z, legal, key=None):
    out = nets["actor"].apply(params["actor"], jnp.concatenate([oid, z], -1))
    if spec.discrete:
        logits = mask_logits(out, legal)
        if cfg.temperature > 0 and key is not None:
            return jax.random.categorical(key, logits / cfg.temperature, axis=-1)
        return jnp.argmax(logits, -1)
    return jnp.clip(out, spec.action_low, spec.action_high)


@register
class MAFQL(Algorithm):
    name = "mafql"
    Config = Config
    cost_defining = ("flow_steps",)
    paper = "MA-FQL, MAC-Flow App. H.1 / FQL"

    @staticmethod
    def init(key, spec, cfg):
        if cfg.next_action not in ("onestep", "flow"):
            raise ConfigError(f"mafql: next_action must be 'onestep' or 'flow', got {cfg.next_action!r}")
        if cfg.student_noise not in ("same", "zero"):
            raise ConfigError(f"mafql: student_noise must be 'same' or 'zero', got {cfg.student_noise!r}")
        if cfg.act_noise not in ("sample", "zero"):
            raise ConfigError(f"mafql: act_noise must be 'sample' or 'zero', got {cfg.act_noise!r}")
        nets = _nets(spec, cfg)
        oid = with_agent_id(jnp.zeros((1, spec.n_agents, spec.obs_dim)))
        x = jnp.zeros((1, spec.n_agents, spec.action_dim))
        kf, ka, kc = jax.random.split(key, 3)
        params = {"flow": nets["flow"].init(kf, jnp.concatenate([oid, x, sinusoidal(x[..., :1])], -1)),
                  "actor": nets["actor"].init(ka, jnp.concatenate([oid, x], -1)),
                  "critic": nets["critic"].init(kc, jnp.concatenate([oid, x], -1))}
        return State(params=params, opt=adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32),
                     target={"critic": params["critic"]}, spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        avec = as_vector(spec, batch.actions)
        k_flow, k_next, k_z = jax.random.split(key, 3)
        zn = jax.random.normal(k_next, avec.shape)
        if cfg.next_action == "flow":
            xn = euler(_velocity(nets, state.params, noid), zn, cfg.flow_steps)
            a_next = jnp.argmax(mask_logits(xn, batch.next_legal), -1) if spec.discrete else jnp.clip(xn, spec.action_low, spec.action_high)
        else:
            z_next = onestep_noise(spec.discrete, "sample", k_next, avec.shape)
            a_next = _onestep(nets, state.params, spec, cfg, noid, z_next, batch.next_legal)
        q_next = _q(nets, state.target["critic"], noid, as_vector(spec, a_next)).mean(0)  # [B, N]
        y = jax.lax.stop_gradient(batch.reward[:, None] + cfg.discount * (1.0 - batch.terminal[:, None]) * q_next)

        z = jax.random.normal(k_z, avec.shape)
        teacher = jax.lax.stop_gradient(euler(_velocity(nets, state.params, oid), z, cfg.flow_steps))
        # FQL: the student sees the teacher's own z; "zero" reproduces the old discrete variant
        z_student = jnp.zeros_like(z) if spec.discrete and cfg.student_noise == "zero" else z

        def loss_fn(params):
            flow_loss = flow_matching_loss(_velocity(nets, params, oid), avec, k_flow) * spec.n_agents
            critic_loss = jnp.mean((_q(nets, params["critic"], oid, avec) - y) ** 2)
            critic = jax.lax.stop_gradient(params["critic"])
            out = nets["actor"].apply(params["actor"], jnp.concatenate([oid, z_student], -1))
            if spec.discrete:
                label = jnp.argmax(mask_logits(teacher, batch.legal), -1)
                logits = mask_logits(out, batch.legal)
                distill = optax.softmax_cross_entropy_with_integer_labels(logits, label).sum(-1).mean()
                a = spec.action_dim
                eye = jnp.broadcast_to(jnp.eye(a), oid.shape[:-1] + (a, a))
                o_all = jnp.broadcast_to(oid[..., None, :], oid.shape[:-1] + (a, oid.shape[-1]))
                q_pi = jnp.sum(jax.nn.softmax(logits, -1) * _q(nets, critic, o_all, eye).mean(0), -1)
            else:
                distill = jnp.sum((out - jnp.clip(teacher, spec.action_low, spec.action_high)) ** 2, axis=(-1, -2)).mean()
                q_pi = _q(nets, critic, oid, jnp.clip(out, spec.action_low, spec.action_high)).mean(0)
            lam = jax.lax.stop_gradient(1.0 / (jnp.abs(q_pi).mean() + 1e-6)) if cfg.normalize_q else 1.0
            actor_loss = -lam * q_pi.mean() + cfg.alpha * distill
            total = flow_loss + critic_loss + actor_loss
            return total, {"flow_loss": flow_loss, "critic_loss": critic_loss, "distill": distill, "q": q_pi.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = apply_grads(adam(cfg.lr), state.params, state.opt, grads)
        target = {"critic": polyak(state.target["critic"], params["critic"], cfg.tau)}
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        kz, ks = jax.random.split(key)
        z = onestep_noise(spec.discrete, cfg.act_noise, kz, obs.shape[:-1] + (spec.action_dim,))
        return _onestep(_nets(spec, cfg), state.params, spec, cfg, with_agent_id(obs), z, legal, ks)

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one pass of the distilled one-step policy")
