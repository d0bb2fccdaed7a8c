"""MAC-Flow: Multi-agent Coordination via Flow Matching (Lee, Lee & Zhang, arXiv 2511.05005; card 12).

Stage I: a joint flow v_phi(t, o, x) over all agents' actions, conditioned on the joint observation
(Eq. 6), sampled with M = 10 Euler steps (Alg. 2). Critics: per-agent Q(o_i, a_i) with two heads,
mean of the heads in the target (not min, App. E), mixed by the average mixer (IGM); TD next actions
from the joint flow (Alg. 1, Sec. 4.4). Stage II: per-agent one-step policies mu_w(o_i, z_i) trained
with -Q_tot + alpha * sum_i ||mu_w(o_i, z_i) - [mu_phi(o, z)]_i||^2, the same noise z for student and
frozen teacher (Eq. 7, 9), alpha = 3.0. All three are updated on every batch (Alg. 1). Execution: one
pass of the one-step policy per decision, fully decentralised.

Where the paper and the released code differ (defaults follow the paper; the code's choice is a switch):
* joint flow (paper Eq. 6) vs per-agent flow on local obs (code):   ``flow="joint" | "individual"``
* TD next action from the flow (paper) vs the one-step policy (code): ``next_action="flow" | "onestep"``
* alpha 3.0 (paper App. G.4) vs 1.0 (code):                          ``alpha``
* LayerNorm on every network (paper App. E) vs critics only (code):  ``actor_layer_norm``
* mixer: average (paper) vs VDN sum (discrete code):                 ``mixer="mean" | "vdn"``
* distillation summed (paper Eq. 7, 9) vs element-wise mean (code):   ``distill_reduce="sum" | "mean"``
Ablation switch (paper App. H.1 / Sec. 5; not in the released code): ``critic``:
* ``"igm"`` (default, the paper's method): per-agent Q(o_i, a_i) mixed by ``mixer`` and regressed to the team TD
  target (IGM, App. E);
* ``"independent"``: "w/o IGM" (Fig. 7, Fig. 14 (d)): the same per-agent Q, each regressed on its own to the
  team reward's TD target (no mixer, independent learners); the Q term maximises the agents' mean Q;
* ``"central"``: the centralised critic of Fig. 8: one Q(o_1..o_N, a_1..a_N) on the concatenated joint
  observation and joint action (two heads, mean in the target). For discrete actions its Q term evaluates
  Q at the agents' softmax probabilities (a relaxed joint one-hot; the exact expectation needs A^N
  evaluations); the paper does not say how its centralised variant handled this.
Where the paper is silent: Q-term scale 1/mean|Q_tot| (``normalize_q``, the code's default, True);
critics and policies share parameters across agents with a one-hot id (code base convention).

Continuous execution noise (``act_noise``). The paper's one-step policy is stochastic (a = mu_w(o_i, z_i),
z_i ~ N(0, I), Sec. 3-4), and FQL's evaluation draws a fresh z per decision: the default, "sample". The
released code passes the same key at every step, i.e. one fixed z per agent for the whole evaluation (a
deterministic policy at a random z); "zero" deploys z = 0, deterministic, as the discrete execution does.
Measured (hidden (32, 32), 3 000 steps, same training): games/stitch-cont team return 25.0, 21.9 with
"sample" and 40, 40 with "zero" (the z = 0 point stitches; the sampled z keeps the data's modes at S and M);
games/credit-cont 25.0, 21.9, 23.8, 17.5 with "sample" and 30, 20, 20, 20 with "zero"; games/landmarks
(games preset, seeds 0, 1) normalised 93.0, 93.8 with "sample" and 95.0, 95.9 with "zero" (docs/games.md).

Sum or mean in the distillation term. Eq. 7/9 write sum_i ||.||^2 (the joint squared distance with
which Prop. 4.2 bounds W2); the released code (macflow.py: ``jnp.mean((actor - target) ** 2)``;
discrete_macflow.py: the mean of the per-agent cross-entropies), like FQL, averages over agents and
action dimensions, so the sum is alpha x N (discrete) or alpha x N x |A| (continuous) on the code's
scale. Default: the paper's sum. Measured with the mean at alpha = 3 (``distill_reduce="mean"``):
games/landmarks ([64, 64], 3 000 steps, seeds 0, 1) returns -13.6, the random policy's level (-13.7;
data -1.76), where the sum passes its test: the Q term runs the policies off the data.

The discrete bandit games (games suite preset: alpha = 0.15 on games/coordination and games/payoff-*,
with the sum over N = 2 agents exactly the loss of alpha = 0.3 on the mean, measured below).
The paper gives no hyper-parameters for its didactic games (App. H.5, H.7), and FQL-style methods tune
alpha per task ({0.03, ..., 10}, FQL README). At alpha = 3 the Q term cannot change the deployed
action: measured on games/coordination (hidden [64, 64], 1 000 steps, seeds 0 and 1, mean reduction,
i.e. sum at alpha = 1.5),
the joint teacher evaluated at z_i = 0 (the deterministic execution noise) with the other agent's noise
random labels action 1 with probability 0.33 / 0.38 for agent 0 and 0.57 / 0.50 for agent 1 (the joint
flow breaks the symmetry towards the (0,1) mode), and the one-step student's p(a_i = 1 | z_i = 0) is
that plus the Q term's tilt, 0.47 / 0.53 and 0.74 / 0.63: ``act`` plays (0,1) on seed 0 and (1,1) on
seed 1 (with Eq. 9's sum at alpha = 3, tilt halved: (0,1) on both). On payoff-0.5 the teacher's label at z_i = 0 is
action 1 with probability 0.03 and 0.13 (seed 0), which no tilt of that size flips: (0,0), return 0.
At alpha = 0.3 on the mean (0.15 on the sum) both games give (1,1) on both seeds (student p1(z_i = 0) 0.76-0.91), and the one-step
push-forward puts all its mass on (1,1). ``bench run --paper-size`` ignores the preset (alpha = 3).

Discrete actions: the flow models one-hot vectors; the one-step head emits logits, distilled by
cross-entropy to the legal argmax of the teacher; the Q term is the expectation of Q under the
masked softmax policy, which has a gradient (the released code's argmax version has none).
Execution: zero noise, legal mask, argmax (or a softmax sample if ``temperature`` > 0), as the
released code (App. E: "argmax with temperature"); ``sample_onestep`` is the push-forward of z ~ N(0, I).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from . import register
from .base import GAMES_NETS, Algorithm, Cost, State, check_choice, mask_logits
from .estimators import ksg_mutual_information
from .flows import euler, flow_matching_loss, onestep_noise
from .nets import MIXERS, MLP, Ensemble, adam, polyak, sinusoidal, with_agent_id


# the diagnostics hook's point-wise and mutual-information estimates (Fig. 3 (b), (d)): fixed observations of the
# evaluation batch, and noises drawn at each
DIAG_OBS = 8
DIAG_SAMPLES = 256
# agent-rows of every estimate that differentiates the critic (its backward pass keeps [512]x4 activations per agent:
# 1 024 transitions of the 40-agent landmark game planned 15 GiB); up to 8 agents keep all 1 024 transitions
DIAG_ROWS = 8192


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple = (512, 512, 512, 512)  # flow, one-step and critic MLP widths, paper [512]x4 (MAC-Flow App. E, G.4)
    policy_lr: float = 3e-4  # Adam lr of the flow and one-step policy, paper 3e-4 (MAC-Flow App. G.4)
    value_lr: float = 3e-4  # Adam lr of the critics, paper 3e-4 (MAC-Flow App. G.4)
    discount: float = 0.995  # discount factor gamma, paper 0.995 (MAC-Flow App. G.4)
    tau: float = 0.005  # Polyak rate of the target critic, paper 0.005 (MAC-Flow App. G.4)
    # BC/distillation coefficient of stage II, paper 3.0 (MAC-Flow App. E, G.4); released code 1.0;
    # games preset 0.15 on the discrete bandit games (no paper value; module docstring)
    alpha: float = 3.0
    flow_steps: int = 10  # Euler steps M of the stage-I flow, paper 10 (MAC-Flow App. E, G.4, Alg. 2)
    layer_norm: bool = True  # LayerNorm in the critics, paper True (MAC-Flow App. E, G.4)
    # LayerNorm in the flow and one-step policy, paper True (MAC-Flow App. E: all networks); released code False
    actor_layer_norm: bool = True
    # Q term scaled by 1/mean|Q_tot|, True: paper's "optional normalization" (App. E), on in the released code
    normalize_q: bool = True
    # weight of the -Q_tot term of Eq. 9, paper 1; 0 gives the "w/o Q-maximisation" ablation (MAC-Flow Fig. 6)
    q_weight: float = 1.0
    mixer: str = "mean"  # value mixer: average, paper (MAC-Flow App. E) | "vdn" sum (released discrete code)
    flow: str = "joint"  # stage-I flow: "joint" on the joint obs (paper Eq. 6) | "individual" (released code)
    next_action: str = "flow"  # TD next actions from the flow (paper Sec. 4.4, Alg. 1) | "onestep" (released code)
    # discrete execution temperature, 0 = legal argmax (MAC-Flow App. E "argmax with temperature"; released code 0)
    temperature: float = 0.0
    # distillation summed over agents and action dims, "sum" (paper Eq. 7, 9) | "mean" (released code; alpha
    # then weighs N x |A| times less); see the module docstring
    distill_reduce: str = "sum"
    # critic: "igm" per-agent Q under IGM, paper (MAC-Flow Sec. 4.2, App. E) | "independent" (w/o IGM, Fig. 7)
    # | "central" Q(joint obs, joint action) (centralised-critic ablation, App. H.1 Fig. 8); not in the code
    critic: str = "igm"
    # continuous execution noise of the one-step policies: "sample" a fresh z ~ N(0, I) per decision (the paper's
    # stochastic policy, Sec. 3; FQL's evaluation) | "zero" (z = 0, deterministic, as discrete execution)
    act_noise: str = "sample"
    # the diagnostics hook also estimates Fig. 3 (b) and (d)'s mutual information and point-wise gaps at every
    # evaluation (seconds each, tens of seconds of compilation on a CPU); off: the batch-level quantities only.
    # Harness setting (no effect on training); the games figures' 3-agent landmark run turns it on
    fig3_diagnostics: bool = False


def _nets(spec, cfg):
    a = spec.action_dim
    out_flow = spec.n_agents * a if cfg.flow == "joint" else a
    return {
        "flow": MLP(cfg.hidden, out_flow, cfg.actor_layer_norm),
        "actor": MLP(cfg.hidden, a, cfg.actor_layer_norm),
        "critic": Ensemble(cfg.hidden, 1, 2, cfg.layer_norm),
    }


def _qvals(nets, critic_params, spec, cfg, obs, oid, avec):
    """Both heads of the critic: per agent [2, .., N] ("igm", "independent") or the joint Q [2, ..] ("central")."""
    if cfg.critic != "central":
        return _q(nets, critic_params, oid, avec)
    lead = obs.shape[:-2]
    joint = jnp.concatenate([obs.reshape(lead + (-1,)), avec.reshape(lead + (-1,))], -1)
    return nets["critic"].apply(critic_params, joint)[..., 0]


def _team(cfg, q):
    """The team value of ``_qvals``' output (head axis kept): mixed (IGM), the agents' mean, or the joint Q."""
    if cfg.critic == "igm":
        return MIXERS[cfg.mixer](q)
    return q.mean(-1) if cfg.critic == "independent" else q


def _check(cfg):
    check_choice("macflow", "mixer", cfg.mixer, tuple(MIXERS))
    check_choice("macflow", "flow", cfg.flow, ("joint", "individual"))
    check_choice("macflow", "next_action", cfg.next_action, ("flow", "onestep"))
    check_choice("macflow", "distill_reduce", cfg.distill_reduce, ("mean", "sum"))
    check_choice("macflow", "critic", cfg.critic, ("igm", "independent", "central"))
    check_choice("macflow", "act_noise", cfg.act_noise, ("sample", "zero"))


def _as_vec(spec, actions):
    return jax.nn.one_hot(actions, spec.action_dim) if spec.discrete else actions


def flow_sample(nets, params, spec, cfg, obs, z):
    """The stage-I flow policy: M Euler steps from z [.., N, A]; returns the raw vectors [.., N, A]."""
    n, a = spec.n_agents, spec.action_dim
    if cfg.flow == "joint":
        cond = obs.reshape(obs.shape[:-2] + (n * obs.shape[-1],))
        v = lambda x, t: nets["flow"].apply(params["flow"], jnp.concatenate([cond, x, sinusoidal(t)], -1))
        x = euler(v, z.reshape(z.shape[:-2] + (n * a,)), cfg.flow_steps)
        return x.reshape(z.shape)
    o = with_agent_id(obs)
    v = lambda x, t: nets["flow"].apply(params["flow"], jnp.concatenate([o, x, sinusoidal(t)], -1))
    return euler(v, z, cfg.flow_steps)


def _flow_loss(nets, params, spec, cfg, obs, x1, key):
    n, a = spec.n_agents, spec.action_dim
    if cfg.flow == "joint":
        cond = obs.reshape(obs.shape[:-2] + (n * obs.shape[-1],))
        v = lambda x, t: nets["flow"].apply(params["flow"], jnp.concatenate([cond, x, sinusoidal(t)], -1))
        return flow_matching_loss(v, x1.reshape(x1.shape[:-2] + (n * a,)), key)
    o = with_agent_id(obs)
    v = lambda x, t: nets["flow"].apply(params["flow"], jnp.concatenate([o, x, sinusoidal(t)], -1))
    return flow_matching_loss(v, x1, key) * n  # per-agent sum, same scale as the joint loss


def _q(nets, params, obs_id, avec):
    """Per-agent Q of both heads: [2, .., N]."""
    return nets["critic"].apply(params, jnp.concatenate([obs_id, avec], -1))[..., 0]


def _policy_actions(spec, cfg, teacher_x, legal):
    if spec.discrete:
        return jnp.argmax(mask_logits(teacher_x, legal), axis=-1)
    return jnp.clip(teacher_x, spec.action_low, spec.action_high)


def _reduce(cfg, err):
    """The distillation error [B, N, A] reduced to a scalar: summed over agents and action dimensions and
    averaged over the batch (Eq. 7, 9 as written), or averaged over every element (released code)."""
    if cfg.distill_reduce == "sum":
        return jnp.sum(err, axis=(-1, -2)).mean()
    return jnp.mean(err)


def _student(nets, params, obs_id, z):
    return nets["actor"].apply(params["actor"], jnp.concatenate([obs_id, z], -1))


@register
class MACFlow(Algorithm):
    name = "macflow"
    Config = Config
    cost_defining = ("flow_steps",)
    paper = "MAC-Flow, arXiv 2511.05005"
    # the paper gives no alpha for its discrete didactic games; at alpha = 3 the deployed action stays the
    # teacher's near-tie at z = 0 (measured, module docstring), so these games use alpha from FQL's grid
    suite_presets = {"games": GAMES_NETS,  # the default's small networks (algorithms/base.py)
                     "games/coordination": {"alpha": 0.15}, "games/payoff-*": {"alpha": 0.15}}

    @staticmethod
    def init(key, spec, cfg):
        _check(cfg)
        nets = _nets(spec, cfg)
        n, a = spec.n_agents, spec.action_dim
        obs = jnp.zeros((1, n, spec.obs_dim))
        oid = with_agent_id(obs)
        x = jnp.zeros((1, n, a))
        kf, ka, kc = jax.random.split(key, 3)
        critic_in = jnp.concatenate([oid, x], -1)
        if cfg.critic == "central":
            critic_in = jnp.zeros((1, n * spec.obs_dim + n * a))
        if cfg.flow == "joint":
            flow_in = jnp.zeros((1, n * spec.obs_dim + n * a + 16))
        else:
            flow_in = jnp.concatenate([oid, x, sinusoidal(x[..., :1])], -1)
        params = {
            "flow": nets["flow"].init(kf, flow_in),
            "actor": nets["actor"].init(ka, jnp.concatenate([oid, x], -1)),
            "critic": nets["critic"].init(kc, critic_in),
        }
        tx = MACFlow.optimizer(cfg)
        return State(params=params, opt=tx.init(params), step=jnp.zeros((), jnp.int32),
                     target={"critic": params["critic"]}, spec=spec, cfg=cfg)

    @staticmethod
    def optimizer(cfg):
        return optax.multi_transform(
            {"policy": adam(cfg.policy_lr), "value": adam(cfg.value_lr)},
            {"flow": "policy", "actor": "policy", "critic": "value"},
        )

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        oid, noid = with_agent_id(batch.obs), with_agent_id(batch.next_obs)
        avec = _as_vec(spec, batch.actions)
        shape = batch.obs.shape[:-1] + (spec.action_dim,)
        k_flow, k_next, k_z = jax.random.split(key, 3)

        # TD target (no gradient): next actions from the joint flow (paper) or the one-step policy (code).
        zn = jax.random.normal(k_next, shape)
        if cfg.next_action == "flow":
            a_next = _policy_actions(spec, cfg, flow_sample(nets, state.params, spec, cfg, batch.next_obs, zn), batch.next_legal)
        else:
            a_next = MACFlow._onestep_actions(nets, state.params, spec, cfg, noid, zn, batch.next_legal)
        # mean of the two heads
        q_next = _qvals(nets, state.target["critic"], spec, cfg, batch.next_obs, noid, _as_vec(spec, a_next)).mean(0)
        if cfg.critic == "independent":  # each agent's own TD target on the team reward: [B, N]
            y = batch.reward[..., None] + cfg.discount * (1.0 - batch.terminal)[..., None] * q_next
        else:
            y = batch.reward + cfg.discount * (1.0 - batch.terminal) * _team(cfg, q_next)
        y = jax.lax.stop_gradient(y)

        z = jax.random.normal(k_z, shape)
        teacher = jax.lax.stop_gradient(flow_sample(nets, state.params, spec, cfg, batch.obs, z))

        def loss_fn(params):
            flow_loss = _flow_loss(nets, params, spec, cfg, batch.obs, avec, k_flow)
            q_data = _qvals(nets, params["critic"], spec, cfg, batch.obs, oid, avec)
            q_tot = q_data if cfg.critic == "independent" else _team(cfg, q_data)  # [2, B(, N)], like y
            critic_loss = jnp.mean((q_tot - y) ** 2)

            critic = jax.lax.stop_gradient(params["critic"])
            out = _student(nets, params, oid, z)
            if spec.discrete:
                label = jnp.argmax(mask_logits(teacher, batch.legal), -1)
                logits = mask_logits(out, batch.legal)
                distill = _reduce(cfg, optax.softmax_cross_entropy_with_integer_labels(logits, label)[..., None])
                probs = jax.nn.softmax(logits, -1)
                if cfg.critic == "central":  # Q at the relaxed joint one-hot (the softmax probabilities)
                    q_pi = _qvals(nets, critic, spec, cfg, batch.obs, oid, probs).mean(0)
                else:
                    q_all = MACFlow._q_all_actions(nets, critic, oid, spec)  # [B, N, A]
                    q_pi = _team(cfg, jnp.sum(probs * q_all, -1))
            else:
                a_t = jnp.clip(teacher, spec.action_low, spec.action_high)
                distill = _reduce(cfg, (out - a_t) ** 2)
                a_pi = jnp.clip(out, spec.action_low, spec.action_high)
                q_pi = _team(cfg, _qvals(nets, critic, spec, cfg, batch.obs, oid, a_pi).mean(0))
            lam = jax.lax.stop_gradient(1.0 / (jnp.abs(q_pi).mean() + 1e-6)) if cfg.normalize_q else 1.0
            q_loss = -cfg.q_weight * lam * q_pi.mean()
            actor_loss = q_loss + cfg.alpha * distill
            total = flow_loss + critic_loss + actor_loss
            return total, {"flow_loss": flow_loss, "critic_loss": critic_loss, "actor_loss": actor_loss,
                           "distill": distill, "q": q_pi.mean()}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        tx = MACFlow.optimizer(cfg)
        updates, opt = tx.update(grads, state.opt, state.params)
        params = optax.apply_updates(state.params, updates)
        target = {"critic": polyak(state.target["critic"], params["critic"], cfg.tau)}
        return state.replace(params=params, opt=opt, target=target, step=state.step + 1), {"loss": loss, **metrics}

    @staticmethod
    def _q_all_actions(nets, critic_params, oid, spec):
        a = spec.action_dim
        eye = jnp.broadcast_to(jnp.eye(a), oid.shape[:-1] + (a, a))
        o = jnp.broadcast_to(oid[..., None, :], oid.shape[:-1] + (a, oid.shape[-1]))
        return _q(nets, critic_params, o, eye).mean(0)

    @staticmethod
    def _onestep_actions(nets, params, spec, cfg, oid, z, legal, key=None):
        out = _student(nets, params, oid, z)
        if spec.discrete:
            logits = mask_logits(out, legal)
            if cfg.temperature > 0 and key is not None:
                return jax.random.categorical(key, logits / cfg.temperature, axis=-1)
            return jnp.argmax(logits, -1)
        return jnp.clip(out, spec.action_low, spec.action_high)

    @staticmethod
    def act(state, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        kz, ks = jax.random.split(key)
        shape = obs.shape[:-1] + (spec.action_dim,)
        z = onestep_noise(spec.discrete, cfg.act_noise, kz, shape)
        return MACFlow._onestep_actions(_nets(spec, cfg), state.params, spec, cfg, with_agent_id(obs), z, legal, ks)

    @staticmethod
    def sample_onestep(state, obs, legal, key):
        """The factorised policy as a push-forward of z ~ N(0, I) (Prop. 4.2); for analysis. For discrete
        actions ``act`` uses z = 0 instead."""
        spec, cfg = state.spec, state.cfg
        z = jax.random.normal(key, obs.shape[:-1] + (spec.action_dim,))
        return MACFlow._onestep_actions(_nets(spec, cfg), state.params, spec, cfg, with_agent_id(obs), z, legal)

    @staticmethod
    def sample_joint(state, obs, legal, key):
        """Actions of the stage-I flow policy (centralised; for analysis, not for execution)."""
        spec, cfg = state.spec, state.cfg
        z = jax.random.normal(key, obs.shape[:-1] + (spec.action_dim,))
        return _policy_actions(spec, cfg, flow_sample(_nets(spec, cfg), state.params, spec, cfg, obs, z), legal)

    @staticmethod
    def diagnostics(state, batch, key):
        """Figure 3 quantities (Sec. 4.3, Prop. 4.2-4.3) at an evaluation.

        On the batch: the distillation loss E||mu_w - mu_phi||^2 and value gap |E_z Q_tot(o, mu_w) -
        E_z Q_tot(o, mu_phi)| with the same noise z for both, L_Q (the largest action-gradient norm of Q_tot
        seen), w2_bound = sqrt(distill) (the coupling's W2 upper bound, Eq. 10) and gap_bound = L_Q * w2_bound.

        With ``fig3_diagnostics``, also the following two. Point-wise (Fig. 3 (d); Prop. 4.3 fixes one joint
        observation): for each of ``DIAG_OBS`` observations of the batch, ``DIAG_SAMPLES`` noises z give
        pw_gap_k, pw_w2_k and pw_lq_k, the same three quantities for that observation alone. The estimates through the critic's gradient see at most ``DIAG_ROWS`` agent-rows
        (all 1 024 transitions and 256 noises up to 8 agents, 204 of each at 40), so 40 agents fit in memory.

        Mutual information (Fig. 3 (b); continuous actions): at each of those observations, the KSG estimate
        (algorithms/estimators.py) of MI(a^i, a^j) between the 2-D actions of two agents over the
        ``DIAG_SAMPLES`` samples, averaged over the observations and the agent pairs among the first three
        agents: ``mi_joint`` for the joint flow, ``mi_onestep`` for the one-step policies. Conditioned on the
        observation, the factorised policy's agents draw independent noises, so its MI is 0 up to the
        estimator's bias; the joint flow's is not, where it is unsure how agents split the landmarks.
        """
        spec, cfg = state.spec, state.cfg
        nets = _nets(spec, cfg)
        k_batch, k_pw, k_mi = jax.random.split(key, 3)

        def actions(obs, legal, z):
            """(a_w, a_phi) as the vectors Q_tot takes (one-hot for discrete, with z = 0 as executed)."""
            oid = with_agent_id(obs)
            if spec.discrete:
                z = jnp.zeros_like(z)
                hot = lambda x: jax.nn.one_hot(jnp.argmax(mask_logits(x, legal), -1), spec.action_dim)
                return (hot(_student(nets, state.params, oid, z)),
                        hot(flow_sample(nets, state.params, spec, cfg, obs, z)))
            clip = lambda x: jnp.clip(x, spec.action_low, spec.action_high)
            return clip(_student(nets, state.params, oid, z)), clip(flow_sample(nets, state.params, spec, cfg, obs, z))

        def gap_terms(obs, legal, z):
            oid = with_agent_id(obs)
            a_w, a_phi = actions(obs, legal, z)
            qtot = lambda av: _team(cfg, _qvals(nets, state.params["critic"], spec, cfg, obs, oid, av).mean(0))
            distill = jnp.sum((a_w - a_phi) ** 2, axis=(-1, -2)).mean()
            gap = jnp.abs(qtot(a_w).mean() - qtot(a_phi).mean())
            grads = jax.grad(lambda av: qtot(av).sum())(a_w)
            l_q = jnp.sqrt(jnp.sum(grads**2, axis=(-1, -2))).max()
            return distill, gap, l_q, a_w, a_phi

        rows = max(1, min(batch.obs.shape[0], DIAG_ROWS // spec.n_agents))
        obs, legal = batch.obs[:rows], batch.legal[:rows]
        distill, gap, l_q, _, _ = gap_terms(obs, legal, jax.random.normal(k_batch, obs.shape[:-1] + (spec.action_dim,)))
        w2 = jnp.sqrt(distill)
        out = {"distill": distill, "value_gap": gap, "w2_bound": w2, "lipschitz_q": l_q, "gap_bound": l_q * w2}
        if not cfg.fig3_diagnostics:
            return out

        # point-wise: noises at each of DIAG_OBS fixed observations (the first DIAG_ROWS / N of DIAG_SAMPLES for the
        # gap terms, one observation at a time)
        n_obs = min(DIAG_OBS, batch.obs.shape[0])
        rep = lambda x: jnp.broadcast_to(x[:n_obs, None], (n_obs, DIAG_SAMPLES) + x.shape[1:])
        obs, legal = rep(batch.obs), rep(batch.legal)
        z = jax.random.normal(k_pw, obs.shape[:-1] + (spec.action_dim,))
        m = max(1, min(DIAG_SAMPLES, DIAG_ROWS // spec.n_agents))
        pw = jax.lax.map(lambda x: gap_terms(*x)[:3], (obs[:, :m], legal[:, :m], z[:, :m]))
        for k in range(n_obs):
            out[f"pw_gap_{k}"], out[f"pw_w2_{k}"], out[f"pw_lq_{k}"] = pw[1][k], jnp.sqrt(pw[0][k]), pw[2][k]
        if not spec.discrete:
            k = min(3, spec.n_agents)  # the agents whose pairs are measured: only their one-step actions are needed

            def first_actions(o, z_):
                clip = lambda x: jnp.clip(x, spec.action_low, spec.action_high)
                a_w = clip(_student(nets, state.params, with_agent_id(o)[..., :k, :], z_[..., :k, :]))
                return a_w, clip(flow_sample(nets, state.params, spec, cfg, o, z_))[..., :k, :]

            a_w, a_phi = jax.vmap(first_actions)(obs, z)  # [n_obs, DIAG_SAMPLES, k, A]
            jitter = 1e-5 * jax.random.normal(k_mi, (2,) + a_w.shape)  # breaks ties of actions clipped to the box
            pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]

            def mi(a):
                per_obs = jax.vmap(lambda s: jnp.mean(jnp.stack([ksg_mutual_information(s[:, i], s[:, j])
                                                                 for i, j in pairs])))
                return per_obs(a).mean()

            out["mi_joint"], out["mi_onestep"] = mi(a_phi + jitter[1]), mi(a_w + jitter[0])
        return out

    @staticmethod
    def cost(spec, cfg):
        return Cost(nfe=1, per_agent="O(1)", note="one pass of the distilled one-step policy")
