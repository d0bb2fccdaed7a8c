"""OM2P: Offline Multi-Agent Mean-Flow Policy (Li et al., arXiv 2508.06269, AAMAS 2026; card 15).

Per agent: a one-step mean-flow policy a = eps - u(eps, 0, 1 | o_i) trained with a mean-flow matching
(BC) loss plus Q-function supervision ("reward-aware optimisation"), a generalised (Beta) timestep
distribution, and either the exact MeanFlow time derivative (``derivative="jvp"``) or the
derivative-free finite-difference estimate (``derivative="fd"``); critics are per-agent twin Q
networks trained by TD without a mixer. Execution: one network evaluation per agent, decentralised.

Only the abstract and figure captions of the paper are public; every choice they leave open, and
where it comes from:
* Loss: L_actor = L_MF + eta * L_Q with L_MF = E ||u(z_t, r, t | o) - sg(v - (t - r) d/dt u)||^2 and
  L_Q = -mean_k Q^k(o, a_pi), a_pi = clip(eps - u(eps, 0, 1 | o)) (differentiated through u);
  eta = ``q_weight`` = 1.0 and no Q normalisation (released code's defaults; Fig. 3's coefficient eta
  read as this weight). Measured on games/landmarks (1000 steps, 2 seeds): eta = 1 scores 55 normalised
  at step 500, then collapses (-27 at 1000, still -27 at 3000) while the critic's value at the policy's
  actions turns positive although every reward is negative (Q exploited out of distribution);
  ``--set q_weight=0.1`` scores 90, ``normalize_q=true`` (lambda = 1/mean|Q|) -70. eta is per task, as
  the paper's Fig. 3 sensitivity study implies; the default stays the released code's.
  The MeanFlow identity is the canonical one (meanflow.py: data at t = 0, noise at 1, sample =
  eps - u(eps, 0, 1)); the released code's interpolation puts data at 1, writes the correction with the
  opposite sign and uses the raw network output as the action (card 15, pitfall 2).
* Timesteps: xi = (a_r, b_r, a_t, b_t), r ~ Beta(a_r, b_r), t ~ Beta(a_t, b_t), a (0, 0) pair = U[0, 1];
  default (5, 5, 0, 0), the setting Fig. 2 shows beating uniform (0, 0, 0, 0); which time the first
  pair belongs to is our reading. r and t are not sorted and r = t is not forced (released code).
* Derivative-free step: ``fd_step`` = 1e-3 with the realised float32 step (meanflow.py). The paper's
  Delta r <= 1e-8 and the code's 1e-12 round to a zero difference in float32 (card 15, pitfall 1);
  steps below 1e-6 are refused. The exact path is a jvp (O(B) memory), not the code's full
  batch-by-batch Jacobian, so measured savings are against the efficient exact path.
* Critic: twin Q with LayerNorm, y = r + gamma (1 - d) mean_k Q'^k(o', clip(sample(o'))), Polyak 0.005,
  gamma 0.99, lr 3e-4, MLP 4 x 512, actor without LayerNorm (released code's defaults).
* Parameters: one network per agent without id (``shared=False``, the released code's independent
  learners) by default; ``shared=True`` shares weights and appends a one-hot id.
* Discrete actions (not in the paper): one-hot vectors, legal argmax at execution; the Q term is the
  expected Q under the masked softmax of the sampled vector (as MAC-Flow), so it has a gradient.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from algorithms.errors import ConfigError

from . import register
from .base import Algorithm, Cost, State, mask_logits
from .meanflow import (DERIVATIVES, AgentMLP, as_vector, check_fd_step, decode, interpolate, mean_velocity_fn,
                       meanflow_target, sample, sample_times)
from .nets import adam, apply_grads, polyak, with_agent_id


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # actor and critic MLP widths, [512]x4 (released code; paper text not public)
    lr: float = 3e-4  # Adam learning rate, 3e-4 (released code; its README MPE example 1e-3)
    discount: float = 0.99  # discount gamma, 0.99 (released code; paper text not public)
    tau: float = 0.005  # Polyak rate of the target critic, 0.005 (released code)
    q_weight: float = 1.0  # weight eta of the Q term (paper Fig. 3 coefficient; value not public), 1.0 (released code)
    normalize_q: bool = False  # Q term scaled by 1/mean|Q|, False (released code)
    # Beta parameters (a_r, b_r, a_t, b_t) of r and t, (0, 0) = U[0, 1]; (5, 5, 0, 0) as paper Fig. 2 (pairing: ours)
    xi: tuple = (5, 5, 0, 0)
    derivative: str = "fd"  # MeanFlow d/dt u: "fd" derivative-free (paper abstract, Fig. 2) | "jvp" exact
    # finite-difference step; paper: <= 1e-8 (Fig. 2), code 1e-12; kept 1e-3 because those are 0 in float32 (card 15)
    fd_step: float = 1e-3
    shared: bool = False  # one network per agent, no id, False (released code); True shares weights + one-hot id
    layer_norm: bool = True  # LayerNorm in the critics, True (released code)
    actor_layer_norm: bool = False  # LayerNorm in the actor, False (released code)
    sampling_steps: int = 1  # mean-flow jumps at execution, 1 (paper abstract: one-step); > 1 is a cost override


def _nets(spec, cfg):
    n = 0 if cfg.shared else spec.n_agents
    return (AgentMLP(cfg.hidden, spec.action_dim, cfg.actor_layer_norm, n),
            AgentMLP(cfg.hidden, 1, cfg.layer_norm, n, ensemble=2))


def _obs(cfg, obs):
    return with_agent_id(obs) if cfg.shared else obs


def _q(critic, params, o, avec):
    return critic.apply(params, jnp.concatenate([o, avec], -1))[..., 0]  # [2, .., N]


@register
class OM2P(Algorithm):
    name = "om2p"
    Config = Config
    cost_defining = ("sampling_steps",)
    paper = "OM2P, arXiv 2508.06269"

    @staticmethod
    def init(key, spec, cfg):
        if cfg.derivative not in DERIVATIVES:
            raise ConfigError(f"om2p: derivative must be one of {', '.join(DERIVATIVES)}, got {cfg.derivative!r}")
        if cfg.derivative == "fd":
            check_fd_step(cfg.fd_step)
        if len(cfg.xi) != 4 or cfg.sampling_steps < 1:
            raise ConfigError(f"om2p: xi needs 4 numbers (a_r,b_r,a_t,b_t) and sampling_steps >= 1; got xi={cfg.xi}, "
                              f"sampling_steps={cfg.sampling_steps} (e.g. --set xi=5,5,0,0)")
        actor, critic = _nets(spec, cfg)
        o = _obs(cfg, jnp.zeros((1, spec.n_agents, spec.obs_dim)))
        x = jnp.zeros((1, spec.n_agents, spec.action_dim))
        ka, kc = jax.random.split(key)
        params = {"actor": actor.init(ka, jnp.concatenate([o, x, x[..., :1], x[..., :1]], -1)),
                  "critic": critic.init(kc, jnp.concatenate([o, x], -1))}
        return State(params=params, opt=adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32),
                     target={"critic": params["critic"]}, spec=spec, cfg=cfg)

    @staticmethod
    def _sample(actor, params, spec, cfg, o, eps):
        return sample(mean_velocity_fn(actor, params, o), eps, cfg.sampling_steps)

    @staticmethod
    def mf_loss(actor_params, spec, cfg, o, x, key):
        """The mean-flow matching (BC) loss, with the exact or finite-difference derivative."""
        k_eps, k_time = jax.random.split(key)
        eps = jax.random.normal(k_eps, x.shape)
        r, t = sample_times(k_time, x.shape[:-1] + (1,), cfg.xi)
        z = interpolate(x, eps, t)
        u_fn = mean_velocity_fn(_nets(spec, cfg)[0], actor_params, o)
        u, u_tgt = meanflow_target(u_fn, z, r, t, eps - x, cfg.derivative, cfg.fd_step)
        return jnp.sum((u - u_tgt) ** 2, -1).mean()

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        actor, critic = _nets(spec, cfg)
        o, no = _obs(cfg, batch.obs), _obs(cfg, batch.next_obs)
        x = as_vector(spec, batch.actions)
        k_next, k_eps, k_pi = jax.random.split(key, 3)

        x_next = OM2P._sample(actor, state.params["actor"], spec, cfg, no, jax.random.normal(k_next, x.shape))
        a_next = as_vector(spec, decode(spec, x_next, batch.next_legal))
        q_next = _q(critic, state.target["critic"], no, a_next).mean(0)
        y = jax.lax.stop_gradient(batch.reward[:, None] + cfg.discount * (1.0 - batch.terminal[:, None]) * q_next)

        eps_pi = jax.random.normal(k_pi, x.shape)

        def loss_fn(params):
            critic_loss = jnp.mean((_q(critic, params["critic"], o, x) - y) ** 2)
            mf_loss = OM2P.mf_loss(params["actor"], spec, cfg, o, x, k_eps)
            x_pi = OM2P._sample(actor, params["actor"], spec, cfg, o, eps_pi)
            frozen = jax.lax.stop_gradient(params["critic"])
            if spec.discrete:
                probs = jax.nn.softmax(mask_logits(x_pi, batch.legal), -1)
                eye = jnp.broadcast_to(jnp.eye(spec.action_dim), x.shape + (spec.action_dim,))
                o_all = jnp.broadcast_to(o[..., None, :], o.shape[:-1] + (spec.action_dim, o.shape[-1]))
                q_all = _q(critic, frozen, jnp.swapaxes(o_all, -2, -3), jnp.swapaxes(eye, -2, -3)).mean(0)
                q_pi = jnp.sum(probs * jnp.swapaxes(q_all, -1, -2), -1)
            else:
                q_pi = _q(critic, frozen, o, jnp.clip(x_pi, spec.action_low, spec.action_high)).mean(0)
            lam = jax.lax.stop_gradient(1.0 / (jnp.abs(q_pi).mean() + 1e-6)) if cfg.normalize_q else 1.0
            q_loss = -lam * q_pi.mean()
            actor_loss = mf_loss + cfg.q_weight * q_loss
            return critic_loss + actor_loss, {"critic_loss": critic_loss, "mf_loss": mf_loss, "q": q_pi.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = apply_grads(adam(cfg.lr), state.params, state.opt, grads)
        target = {"critic": polyak(state.target["critic"], params["critic"], cfg.tau)}
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        actor, _ = _nets(spec, cfg)
        eps = jax.random.normal(key, obs.shape[:-1] + (spec.action_dim,))
        return decode(spec, OM2P._sample(actor, state.params["actor"], spec, cfg, _obs(cfg, obs), eps), legal)

    @staticmethod
    def cost(spec, cfg):
        if cfg.sampling_steps == 1:
            return Cost(nfe=1, per_agent="O(1)", note="one mean-flow pass u(eps, 0, 1 | o)")
        return Cost(nfe=cfg.sampling_steps, per_agent="O(M)", note=f"{cfg.sampling_steps} mean-flow jumps")
