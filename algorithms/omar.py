"""OMAR: offline multi-agent RL with actor rectification (Pan et al. 2022; MAC-Flow App. F.1; card 6).

Independent TD3-style learners (no mixer; each agent's critic regresses the team reward), continuous
actions only. Per agent i, with a deterministic actor pi(o_i) = tanh(MLP) and twin critics Q^{1,2}:
* Critic: y_i = r + gamma (1 - d) min_k Q_tgt^k(o'_i, pi_tgt(o'_i)); loss sum_k MSE(Q^k(o_i, a_i), y_i)
  plus the CQL penalty alpha * sum_k [T logsumexp_j((Q^k(o_i, x_j) - log p(x_j)) / T) - Q^k(o_i, a_i)]
  over 10 uniform out-of-distribution actions x_j (alpha = 3.0, T = 1).
* Actor rectification: a CEM search on Q^1(o_i, .) (3 iterations of 10 Gaussian samples, the best 10
  of new samples and carried-over elites refit mu, sigma; sigma_0 = 2) finds a high-value action;
  a_hat is the better (by Q^1) of it and pi(o_i), and
      L_pi = c mean_d (pi(o_i) - a_hat)_d^2 - (1 - c) Q^1(o_i, pi(o_i)) + 1e-3 mean_d pi(o_i)_d^2,  c = 0.7,
  the imitation and L2 terms averaged over the action dimensions d as the official code does
  (``F.mse_loss`` and ``(pi ** 2).mean()``; og-marl's omar.py the same). The MAC-Flow paper (F.1) only
  says "imitate the best-Q candidate ... via a small L2 penalty", and the OMAR paper is not among the
  sources we could read (card 6 writes a norm, taken from the code), so the code's mean is the default;
  ``action_reduce="sum"`` sums over d (this harness's earlier reading: the imitation weight then grows
  with |A| against the Q term: x4 per agent on 2-Ant, x1 on 6-HalfCheetah).
* Polyak tau = 0.005 for actor and critic targets. Execution: pi(o_i), one pass (CEM is training only).

Paper (F.1): tau 0.005, CQL with 10 OOD samples and alpha 3.0, CEM 3 iterations / 10 samples / 10
elites, mixing coefficient 0.7, [512]x4 MLPs. Choices where the paper is silent: networks shared
across agents with a one-hot id (MAC-Flow code base; OMAR code: one network per agent, no id); the
elite-carrying CEM of OMAR's MA-MuJoCo code (its MPE code refits with softmax(Q) weights); uniform
OOD samples only (``policy_samples=True`` adds OMAR's MA-MuJoCo noisy-policy samples at o and o');
no gradient-norm clipping (OMAR code: 0.5 on the critic); MAC-Flow's Adam 3e-4 and gamma 0.995.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import register
from .base import CONTINUOUS, Algorithm, Cost, State
from .nets import polyak, with_agent_id
from .value import bootstrap, check_choice, cql_sampled, from_unit, init_opt, mlp, step_nets, to_unit, twin_critic, uniform_actions


@dataclasses.dataclass(frozen=True)
class Config:
    # actor and critic MLP widths, paper [512]x4 (MAC-Flow App. F.1); OMAR code 64 (MPE) / 256 (MA-MuJoCo)
    hidden: tuple = (512, 512, 512, 512)
    layer_norm: bool = True  # LayerNorm in every MLP, True (MAC-Flow App. G.4 default; F.1 silent)
    policy_lr: float = 3e-4  # actor Adam lr, 3e-4 (MAC-Flow App. G.4 default; OMAR code 0.01 MPE / 3e-4 MA-MuJoCo)
    value_lr: float = 3e-4  # critic Adam lr, 3e-4 (MAC-Flow App. G.4 default; OMAR code as policy_lr)
    discount: float = 0.995  # discount gamma, 0.995 (MAC-Flow App. G.4 default; OMAR code 0.95 MPE / 0.99 MA-MuJoCo)
    tau: float = 0.005  # Polyak rate of actor and critic targets, paper 0.005 (MAC-Flow App. F.1)
    cql_weight: float = 3.0  # CQL penalty weight alpha, paper 3.0 (MAC-Flow App. F.1; OMAR code tunes per dataset)
    n_ood: int = 10  # uniform OOD actions per state in the CQL penalty, paper 10 (MAC-Flow App. F.1)
    temperature: float = 1.0  # CQL log-sum-exp temperature T, 1 (OMAR code; paper silent)
    # add noisy-policy CQL candidates at o and o' (OMAR MA-MuJoCo code); harness False, paper silent
    policy_samples: bool = False
    policy_noise: float = 0.2  # noise std of those policy candidates, 0.2 (OMAR code); only with policy_samples
    cem_iters: int = 3  # CEM iterations, paper 3 (MAC-Flow App. F.1)
    cem_samples: int = 10  # CEM Gaussian samples per iteration, paper 10 (MAC-Flow App. F.1)
    cem_elites: int = 10  # CEM elites per iteration, paper 10 (MAC-Flow App. F.1)
    cem_sigma: float = 2.0  # initial CEM std sigma_0, 2.0 (OMAR code; paper silent)
    omar_coe: float = 0.7  # mixing coefficient c (imitate a_hat vs maximise Q), paper 0.7 (MAC-Flow App. F.1)
    action_reg: float = 1e-3  # L2 penalty on pi(o_i), 1e-3 (OMAR code; MAC-Flow F.1 "small L2 penalty")
    # imitation and L2 terms over action dims: "mean" (OMAR code F.mse_loss; paper silent) | "sum" (old)
    action_reduce: str = "mean"


def _nets(spec, cfg):
    return {"actor": mlp(cfg, spec.action_dim), "q": twin_critic(cfg, 1)}


def _pi(nets, params, oid):
    return jnp.tanh(nets["actor"].apply(params, oid))


def _top(pool, q, e):
    idx = jnp.argsort(-q, axis=0)[:e]
    return jnp.take_along_axis(pool, idx[..., None], 0), jnp.take_along_axis(q, idx, 0)


def cem(q1, shape, key, cfg):
    """Elite-carrying CEM maximising q1(a [M, ...shape]) -> [M, ...]; returns the best action and its value."""
    mu, sigma = jnp.zeros(shape), jnp.full(shape, cfg.cem_sigma)
    elites = q_el = None
    for k in jax.random.split(key, cfg.cem_iters):
        x = jnp.clip(mu + sigma * jax.random.normal(k, (cfg.cem_samples,) + shape), -1.0, 1.0)
        qx = q1(x)
        if elites is not None:
            x, qx = jnp.concatenate([x, elites], 0), jnp.concatenate([qx, q_el], 0)
        elites, q_el = _top(x, qx, cfg.cem_elites)
        mu, sigma = elites.mean(0), elites.std(0) + 1e-6
    return elites[0], q_el[0]


@register
class OMAR(Algorithm):
    name = "omar"
    Config = Config
    supports = frozenset({CONTINUOUS})
    paper = "OMAR (Pan et al., ICML 2022), as in MAC-Flow App. F.1"

    @staticmethod
    def init(key, spec, cfg):
        OMAR.check_spec(spec)
        check_choice("omar", "action_reduce", cfg.action_reduce, ("mean", "sum"))
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        oid = with_agent_id(jnp.zeros((1, n, spec.obs_dim)))
        ka, kq = jax.random.split(key)
        params = {"actor": nets["actor"].init(ka, oid),
                  "q": nets["q"].init(kq, jnp.concatenate([oid, jnp.zeros((1, n, a))], -1))}
        return State(params=params, opt=init_opt(params, OMAR._lrs(cfg)), step=jnp.zeros((), jnp.int32),
                     target=dict(params), spec=spec, cfg=cfg)

    @staticmethod
    def _lrs(cfg):
        return {"actor": cfg.policy_lr, "q": cfg.value_lr}

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        tp = state.target
        a_data = to_unit(spec, batch.actions)
        def q_fn(p, o, a):
            o = jnp.broadcast_to(o, a.shape[:-1] + o.shape[-1:])
            return nets["q"].apply(p, jnp.concatenate([o, a], -1))[..., 0]

        k_ood, k_cem, k_pol = jax.random.split(key, 3)

        q_next = q_fn(tp["q"], noid, _pi(nets, tp["actor"], noid)).min(0)  # [B, N]
        y = bootstrap(batch.reward, batch.terminal, cfg.discount, q_next, True)
        cand, log_p = uniform_actions(k_ood, (cfg.n_ood,) + a_data.shape)
        if cfg.policy_samples:
            cand_o, lp_o = OMAR._noisy_policy(nets, state.params["actor"], cfg, oid, k_pol, a_data.shape)
            cand_n, lp_n = OMAR._noisy_policy(nets, state.params["actor"], cfg, noid, k_cem, a_data.shape)
            cand, log_p = jnp.concatenate([cand, cand_o, cand_n], 0), jnp.concatenate([log_p, lp_o, lp_n], 0)

        # actor rectification target: CEM on Q^1 of the current critic, compared with pi(o)
        q1 = lambda a: q_fn(state.params["q"], oid, a)[0]
        best, q_best = cem(q1, a_data.shape, k_cem, cfg)
        a_pi_now = _pi(nets, state.params["actor"], oid)
        a_hat = jax.lax.stop_gradient(jnp.where((q_best > q1(a_pi_now))[..., None], best, a_pi_now))

        def loss_fn(params):
            q_data = q_fn(params["q"], oid, a_data)  # [2, B, N]
            td = jnp.sum(jnp.mean((q_data - y) ** 2, axis=(1, 2)))
            q_cand = jax.vmap(lambda a: q_fn(params["q"], oid, a), out_axes=1)(cand)  # [2, K, B, N]
            pen = jax.vmap(cql_sampled, in_axes=(0, None, 0, None))(q_cand, log_p, q_data, cfg.temperature)
            penalty = jnp.sum(jnp.mean(pen, axis=(1, 2)))
            a_pi = _pi(nets, params["actor"], oid)
            q_pi = q_fn(jax.lax.stop_gradient(params["q"]), oid, a_pi)[0]
            reduce = jnp.mean if cfg.action_reduce == "mean" else jnp.sum
            actor_loss = jnp.mean(cfg.omar_coe * reduce((a_pi - a_hat) ** 2, -1) - (1.0 - cfg.omar_coe) * q_pi
                                  + cfg.action_reg * reduce(a_pi**2, -1))
            total = td + cfg.cql_weight * penalty + actor_loss
            return total, {"td_loss": td, "cql_penalty": penalty, "actor_loss": actor_loss, "q": q_data.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = step_nets(state.params, state.opt, grads, OMAR._lrs(cfg))
        target = polyak(tp, params, cfg.tau)
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def _noisy_policy(nets, actor, cfg, oid, key, shape):
        """OMAR's MA-MuJoCo candidates: pi(o) + N(0, sigma^2) clipped, with their Gaussian log density."""
        eps = cfg.policy_noise * jax.random.normal(key, (cfg.n_ood,) + shape)
        a = jnp.clip(jax.lax.stop_gradient(_pi(nets, actor, oid)) + eps, -1.0, 1.0)
        log_p = jnp.sum(-0.5 * (eps / cfg.policy_noise) ** 2 - jnp.log(cfg.policy_noise) - 0.9189385, -1)
        return a, log_p

    @staticmethod
    def act(state, obs, legal, key):
        nets = _nets(state.spec, state.cfg)
        return from_unit(state.spec, _pi(nets, state.params["actor"], with_agent_id(obs)))

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one shared actor pass (CEM runs in training only)")
