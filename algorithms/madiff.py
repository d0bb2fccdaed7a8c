"""MADiff: return-conditioned multi-agent trajectory diffusion (Zhu et al., NeurIPS 2024; card 9).

A DDPM (K = 200 steps, cosine schedule, clipped x0, epsilon prediction) over windows of per-agent
observations [B, N, T, O], T = ``history`` past steps + a planned horizon of H = 8 (see below), denoised
by the temporal U-Net with cross-agent attention (:mod:`algorithms.temporal`, shared across agents). The
observation history and the current observation are imposed by inpainting before every denoising step;
actions come from a shared inverse-dynamics MLP a_t = f(o_t, o_{t+1})
(2 x 256 ReLU) applied to the agent's own generated next observation. Loss 1/2 (L_diff + L_inv).
Return conditioning with classifier-free guidance: the return embedding is dropped with probability
0.25 during training (one mask for all agents) and sampling uses eps_u + w (eps_c - eps_u), w = 1.2,
with both branches evaluated in ONE network call on the concatenated batch [x; x], so a decision costs
K = 200 U-Net calls plus 1 inverse-dynamics call (Cost.nfe = 201; card 1.1 counts the two branches
as 2K). Sampling starts from x_K ~ 0.5 N(0, I) (low temperature). EMA 0.995 of the parameters every 10
steps from step 2000 (copied before), used at execution. Adam, lr 2e-4.

* madiff-c (centralised): every agent's history and current observation are imposed; one chain for the team.
* madiff-d (decentralised): training imposes one random agent's history and observation per window, the
  others' history as zeros and their present and future imagined (official ``mask_generator``); at
  execution each agent runs its own chain over the joint N-agent trajectory from its own observations
  only and keeps its own slice, so its work grows with N (O(IK) per agent).

Observation history (``history``, the official ``history_horizon``). A training window spans the
``history`` steps before its transition, the transition and the planned steps after it, gathered by index
(``window(cfg)`` -> the data layer's ``past``); steps before the episode's start repeat its first step (the
official dataset's padding with ``use_zero_padding=False``, every official config). The history steps are
imposed, never a diffusion target (official ``loss_masks``). At execution the plugin's acting carry
(``act_carry_init`` / ``act_step``, threaded by both evaluators) holds the last ``history`` observations, at
an episode's start ``history`` copies of its first one (the official evaluator's queue); ``act`` alone is one
decision with such a fresh history (latency and contract tests). The official configs: SMAC 20 (3m, 5m6m,
8m; 2s3z 8), MA-MuJoCo 18, MPE 0. The Config default is 20, the SMAC value: MAC-Flow's MADiff comparison
and its latency figures are on SMAC, and ``bench latency`` times the Config default. ``history`` is not in
``cost_defining``, as the U-Net's width is not: it leaves the number of network calls per decision (201)
as it is and changes what one call costs, (history + H) / H = 3.5 times the U-Net work of history 0 (the
same kind of change as ``dim``, which the games preset shrinks). That lets the per-suite values be
``suite_presets``: mpe and mpe-gen 0, mamujoco and mamujoco-gen 18, games 0 (one-step bandits and 25-step
landmarks; MADiff was never run on them). ``history`` is a ``paper_preset_keys`` entry: ``bench run
--paper-size``, which drops the networks' presets, keeps these per-suite values, the official configs' own.

Choices the harness forces (documented deviations from the official code):
* No return-to-go update between steps (the official SMAC evaluator's R <- (R - r_t) / gamma): the acting
  carry holds the observation history only, and the evaluators do not pass rewards to the policy.
* The planned horizon is the smallest H >= 8 that makes history + H divisible by the U-Net's
  down-sampling factor (4 at the paper size): 8 on SMAC (20 + 8; the official configs use 20 + 4), 10 on
  MA-MuJoCo (18 + 10, the official pair), 8 on MPE (official 24).
* The official attention masks (history steps of invisible agents left out of the cross-agent attention)
  are not applied: our U-Net attends over every step.
* With ``inv_dyn=False`` (actions diffused) the history imposes the observations only; the official
  ``action_visible`` would also impose the past actions. The official history configs all use inverse
  dynamics.
* Return condition (``return_condition="episode"``, the paper's): R = sum_{t' >= t} gamma^(t' - t) r_t',
  the discounted (gamma 0.99) team reward-to-go from the window's first step to its episode's end,
  as the official ``sequence.py``. The data layer computes it once per dataset row (``rtg_discount``
  hook -> ``Batch.rtg``; one float per step, the one-copy design kept). It is normalised to [0, 1] by
  the running min/max over training batches (the official code divides by a per-environment
  ``returns_scale``, which the games and generated suites do not have); the test-time target is
  ``test_ret`` = 0.9 of that range (the official MA-MuJoCo/MPE value). ``return_condition="window"`` is
  this harness's earlier choice: the discounted return of the H = 8 steps of the window only.
* Observations are scaled to [-1, 1] by running per-dimension limits (the official limits normaliser
  uses dataset limits); out-of-range observations at execution are clipped to [-5, 5].
* Steps past the episode end (windows repeat the last step there) are kept in the diffusion loss
  (the official switch ``pred_future_padding``, False in its code): otherwise they are never trained,
  yet at sampling they are generated and feed the current step through the convolutions, which ruins
  one-step episodes such as the bandit games. ``--set pred_future_padding=false`` gives the code's choice.
* ``inv_dyn=False`` is the official code's other mode: actions are diffused with the observations
  ([a, o] per step; discrete actions as one-hot vectors in {-1, 1}) and read from the generated current
  step, with no inverse-dynamics pass (nfe = 200). The bandit games need it: their observations are
  constant, so an inverse-dynamics model cannot see the action.

Games preset (``suite_presets``; ``bench run --paper-size`` turns it off). Neither MADiff nor DoF was run
on the MAC-Flow paper's didactic games. Their paper-size U-Net (dim 128, mults (1, 4, 8): 60M
parameters, ~1 GFLOP per sequence per call) makes ``bench run --suite games`` a GPU job: one 200-step
decision takes 2.5 s on the 2-core CPU the harness is tested on, an evaluation of 100 landmarks
episodes hours. On the games, ``bench run`` therefore uses dim 32, mults (1, 2) (the K = 200 steps and
everything else as above), and on the bandit games it diffuses the actions with the observations
(``inv_dyn=False``): their observations are constant, so an inverse-dynamics model cannot see the
action. Landmarks keeps inverse dynamics (measured, DoF, 2 seeds, step 500: normalised 55 / 62 with it,
5 / 19 with action diffusion).
``bench latency`` always times the paper-size network.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax

from . import register
from .base import Algorithm, Cost, State, mask_logits
from .diffusion import ddpm_loss, ddpm_sample, guided, make_schedule
from .nets import MLP, apply_grads, polyak
from .temporal import TemporalUNet

HORIZON = 8


@dataclasses.dataclass(frozen=True)
class Config:
    dim: int = 128  # U-Net base channels, 128 (MADiff code; MAC-Flow F.1 keeps MADiff's setup); games preset 32
    dim_mults: tuple = (1, 4, 8)  # U-Net channel multipliers per level, (1, 4, 8) (MADiff code); games preset (1, 2)
    kernel_size: int = 5  # temporal conv kernel width, 5 (MADiff code temporal.py; card 9)
    heads: int = 4  # cross-agent attention heads, 4 (MADiff code ma_temporal.py); unused without attention (DoF)
    lr: float = 2e-4  # Adam learning rate, 2e-4 (MADiff and DoF configs)
    diffusion_steps: int = 200  # DDPM steps K, paper 200 (MAC-Flow App. C, F.1); cost-defining: K + 1 NFE
    schedule: str = "cosine"  # beta schedule, cosine (MADiff and DoF code, squaredcos_cap_v2)
    clip_sample: bool = True  # clip predicted x0 to [-1, 1] when sampling, True (MADiff configs clip_denoised)
    init_scale: float = 0.5  # std of the initial x_K ("low temperature"), 0.5 (MADiff and DoF code; card 9)
    returns_condition: bool = True  # condition on the return with classifier-free guidance, True (MADiff configs)
    condition_dropout: float = 0.25  # return-embedding drop probability in training, 0.25 (MADiff configs)
    guidance_w: float = 1.2  # classifier-free guidance weight w, 1.2 (MADiff and DoF configs)
    test_ret: float = 0.9  # normalised return target at execution, 0.9 (MADiff MA-MuJoCo/MPE configs; SMAC 1.0)
    discount: float = 0.99  # gamma of the return used as the condition, 0.99 (MADiff configs)
    # return condition: "episode" = reward-to-go to the episode's end (MADiff sequence.py) | "window" (old: 8 steps)
    return_condition: str = "episode"
    # past observations imposed by inpainting before the current one, 20 (MADiff SMAC configs 3m/5m6m/8m
    # history_horizon; MA-MuJoCo 18 and MPE 0 are suite presets; games preset 0); see the module docstring
    history: int = 20
    inv_dyn: bool = True  # actions by inverse dynamics f(o_t, o_t+1), True (MADiff code, card 9); False diffuses [a, o]
    # keep steps past the episode end in the diffusion loss, True (MADiff configs; see module docstring)
    pred_future_padding: bool = True
    inv_hidden: tuple = (256, 256)  # inverse-dynamics MLP widths, 2 x 256 ReLU (MADiff configs hidden_dim)
    ema_decay: float = 0.995  # EMA decay of the execution parameters, 0.995 (MADiff and DoF configs)
    ema_start: int = 2000  # step from which the EMA is updated (copied before), 2000 (MADiff trainer default)
    ema_every: int = 10  # EMA update period in steps, 10 (MADiff trainer default)


def _unit_actions(spec, actions):
    if spec.discrete:
        return 2.0 * jax.nn.one_hot(actions, spec.action_dim) - 1.0
    return 2.0 * (actions - spec.action_low) / (spec.action_high - spec.action_low) - 1.0


def _decode(spec, x, legal):
    if spec.discrete:
        return jnp.argmax(mask_logits(x, legal), axis=-1)
    a = spec.action_low + (jnp.clip(x, -1.0, 1.0) + 1.0) * 0.5 * (spec.action_high - spec.action_low)
    return jnp.clip(a, spec.action_low, spec.action_high)


class Planner(Algorithm):
    """The MADiff pipeline; subclasses choose the denoiser and how execution is split across agents."""

    Config = Config
    sequence_length = HORIZON
    cost_defining = ("diffusion_steps",)
    cannot_fine_tune = ("it is a trajectory planner conditioned on returns of the offline data's windows, and the "
                        "online replay buffer holds single transitions, not windows")
    attention = True          # cross-agent attention in the U-Net
    train_visible = "all"     # whose current observation is imposed in training: "all" | "one"
    chains = "team"           # execution: "team" (one chain) | "per_agent" (one joint chain per agent)
    # contract-test size (one U-Net level keeps compilation cheap; tests/test_diffusion_plugins.py runs two)
    # and a 2-step observation history, so the contract tests run the history's inpainting at a near-flat cost
    tiny = {"dim": 8, "dim_mults": (1,), "inv_hidden": (32, 32), "history": 2}
    paper_preset_keys = ("history",)  # per-suite values of the official configs: --paper-size keeps them
    suite_presets = {"games": {"dim": 32, "dim_mults": (1, 2), "inv_dyn": False, "history": 0},  # see the module docstring
                     "games/landmarks*": {"inv_dyn": True},
                     "mpe": {"history": 0},  # MADiff's MPE configs: history_horizon 0
                     "mpe-gen": {"history": 0},
                     "mamujoco": {"history": 18},  # MADiff's MA-MuJoCo configs: history_horizon 18
                     "mamujoco-gen": {"history": 18}}

    def __init_subclass__(cls, **kw):
        # the contract's entry points are plain static functions bound to the variant once, so that
        # ``jax.jit(cls.update)`` sees the same function object every time (a classmethod would give a
        # new bound method per attribute access and defeat jit's trace cache)
        super().__init_subclass__(**kw)
        for fn in ("init", "update", "act", "cost", "act_carry_init", "act_step"):
            impl = getattr(Planner, "_" + fn).__func__

            def bound(*args, _impl=impl, _cls=cls):
                return _impl(_cls, *args)

            bound.__name__ = bound.__qualname__ = f"{cls.__name__}.{fn}"
            setattr(cls, fn, staticmethod(bound))

    # ---- windows: history + planned horizon ------------------------------------------------------
    @staticmethod
    def _length(cfg):
        """T: the U-Net's sequence, ``history`` past steps then the planned horizon, which is the smallest
        number >= HORIZON making T divisible by the U-Net's down-sampling factor."""
        factor = 2 ** (len(cfg.dim_mults) - 1)
        return -(-(cfg.history + HORIZON) // factor) * factor

    @classmethod
    def window(cls, cfg):
        return cfg.history, cls._length(cfg)

    # ---- networks ----------------------------------------------------------------------------
    @classmethod
    def _nets(cls, spec, cfg):
        feat = spec.obs_dim if cfg.inv_dyn else spec.action_dim + spec.obs_dim
        unet = TemporalUNet(feat, cfg.dim, tuple(cfg.dim_mults), cfg.kernel_size, cls.attention, cfg.heads)
        inv = MLP(tuple(cfg.inv_hidden), spec.action_dim, layer_norm=False, activation=jax.nn.relu)
        return unet, inv

    @classmethod
    def _eps(cls, spec, cfg, params, x, k, ret, ret_on):
        eps = cls._nets(spec, cfg)[0].apply(params["unet"], x, k, ret, ret_on)
        if getattr(cfg, "w_concat", False):  # DoF's W-concat: eps_i <- w_i eps_i / mean_j w_j (normalised so w = 1 is identity)
            w = params["agent_w"]
            eps = eps * (w / jnp.mean(w))[:, None, None]
        return eps

    @classmethod
    def _check(cls, cfg):
        from algorithms.errors import ConfigError

        make_schedule(cfg.schedule, cfg.diffusion_steps)
        if cfg.return_condition not in ("episode", "window"):
            raise ConfigError(f"{cls.name}: return_condition must be 'episode' or 'window', got {cfg.return_condition!r}")
        if cfg.history < 0:
            raise ConfigError(f"{cls.name}: history must be >= 0 (past observations imposed), got {cfg.history}")

    @classmethod
    def _init(cls, key, spec, cfg):
        cls._check(cfg)
        unet, inv = cls._nets(spec, cfg)
        n, o = spec.n_agents, spec.obs_dim
        feat = o if cfg.inv_dyn else spec.action_dim + o
        ku, ki = jax.random.split(key)
        params = {"unet": unet.init(ku, jnp.zeros((1, n, cls._length(cfg), feat)), jnp.zeros((1,), jnp.int32),
                                    jnp.zeros((1, n)), jnp.ones((1,)))}
        if cfg.inv_dyn:
            params["inv"] = inv.init(ki, jnp.zeros((1, n, 2 * o)))
        if getattr(cfg, "w_concat", False):
            params["agent_w"] = jnp.ones((n,))
        extra = {"obs_lo": -jnp.ones((o,)), "obs_hi": jnp.ones((o,)), "ret_lo": jnp.zeros(()), "ret_hi": jnp.ones(())}
        return State(params=params, opt=optax.adam(cfg.lr).init(params), step=jnp.zeros((), jnp.int32),
                     target={"ema": params}, extra=extra, spec=spec, cfg=cfg)

    # ---- normalisation -------------------------------------------------------------------------
    @staticmethod
    def _norm_obs(extra, obs):
        span = jnp.maximum(extra["obs_hi"] - extra["obs_lo"], 1e-6)
        return jnp.clip(2.0 * (obs - extra["obs_lo"]) / span - 1.0, -5.0, 5.0)

    @staticmethod
    def rtg_discount(cfg):
        """The data layer precomputes the reward-to-go (``Batch.rtg``) when the condition is the episode's."""
        return cfg.discount if cfg.return_condition == "episode" else None

    @staticmethod
    def _return(cfg, batch):
        """[B]: the return each window is conditioned on (see ``return_condition``), from the window's
        current step (step ``history``; the steps before it are the observation history)."""
        P = cfg.history
        if cfg.return_condition == "episode":
            if batch.rtg is None:
                from algorithms.errors import ConfigError

                raise ConfigError("madiff: the batch carries no reward-to-go; build the data with "
                                  "rtg_discount=<plugin>.rtg_discount(cfg) (the trainer's load_data does), or "
                                  "--set return_condition=window")
            return batch.rtg[:, P]
        disc = cfg.discount ** jnp.arange(batch.reward.shape[1] - P)
        return jnp.sum(batch.reward[:, P:] * batch.valid[:, P:] * disc, axis=1)

    @classmethod
    def _stats(cls, state, batch):
        ex, first = state.extra, state.step == 0
        o = batch.obs.reshape(-1, batch.obs.shape[-1])
        r = cls._return(state.cfg, batch)
        upd = lambda old, new, f: jnp.where(first, new, f(old, new))
        return {"obs_lo": upd(ex["obs_lo"], o.min(0), jnp.minimum), "obs_hi": upd(ex["obs_hi"], o.max(0), jnp.maximum),
                "ret_lo": upd(ex["ret_lo"], r.min(), jnp.minimum), "ret_hi": upd(ex["ret_hi"], r.max(), jnp.maximum)}

    # ---- training ------------------------------------------------------------------------------
    @classmethod
    def _update(cls, state, batch, key):
        spec, cfg = state.spec, state.cfg
        extra = cls._stats(state, batch)
        B, H, N = batch.obs.shape[:3]
        tr = lambda a: jnp.swapaxes(a, 1, 2)  # [B, H, N, ...] -> [B, N, H, ...]
        obs_n, next_n = tr(cls._norm_obs(extra, batch.obs)), tr(cls._norm_obs(extra, batch.next_obs))
        a_unit = tr(_unit_actions(spec, batch.actions))
        x0 = obs_n if cfg.inv_dyn else jnp.concatenate([a_unit, obs_n], -1)
        A = 0 if cfg.inv_dyn else spec.action_dim
        k_vis, k_drop, k_diff = jax.random.split(key, 3)
        if cls.train_visible == "one":
            visible = jax.nn.one_hot(jax.random.randint(k_vis, (B,), 0, N), N) > 0
        else:
            visible = jnp.ones((B, N), bool)
        # inpainting (official mask_generator): a visible agent's history and current observation, an
        # invisible agent's history as zeros (MADiff-D); step P = cfg.history is the current one
        P = cfg.history
        feat_is_obs = jnp.arange(x0.shape[-1]) >= A
        steps = jnp.arange(H)[None, None, :, None]
        cond = ((visible[:, :, None, None] & (steps <= P)) | (steps < P)) & feat_is_obs
        cond_val = jnp.where(visible[:, :, None, None], x0, 0.0)
        inpaint = lambda x: jnp.where(cond, cond_val, x)
        step_mask = jnp.ones_like(batch.valid) if cfg.pred_future_padding else batch.valid
        mask = (~cond) * step_mask[:, None, :, None] * (steps >= P)  # the history is never a target (official loss_masks)
        r = cls._return(cfg, batch)
        ret = jnp.broadcast_to(((r - extra["ret_lo"]) / jnp.maximum(extra["ret_hi"] - extra["ret_lo"], 1e-6))[:, None], (B, N))
        if cfg.returns_condition:
            ret_on = jax.random.bernoulli(k_drop, 1.0 - cfg.condition_dropout, (B,)).astype(jnp.float32)
        else:
            ret_on = jnp.zeros((B,))
        inv = cls._nets(spec, cfg)[1]
        sched = make_schedule(cfg.schedule, cfg.diffusion_steps)

        def loss_fn(params):
            eps = lambda x, k: cls._eps(spec, cfg, params, x, k, ret, ret_on)
            l_diff = ddpm_loss(eps, x0, k_diff, sched, batch_dims=1, mask=mask, inpaint=inpaint)
            if not cfg.inv_dyn:
                return l_diff, {"diffusion_loss": l_diff}
            out = inv.apply(params["inv"], jnp.concatenate([obs_n, next_n], -1))  # [B, N, H, A]
            valid = batch.valid[:, None, :]
            if spec.discrete:
                ce = optax.softmax_cross_entropy_with_integer_labels(mask_logits(out, tr(batch.legal)), tr(batch.actions))
                l_inv = (ce * valid).sum() / jnp.maximum(valid.sum() * N, 1.0)
            else:
                l_inv = (((out - a_unit) ** 2).mean(-1) * valid).sum() / jnp.maximum(valid.sum() * N, 1.0)
            return 0.5 * (l_diff + l_inv), {"diffusion_loss": l_diff, "inv_loss": l_inv}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = apply_grads(optax.adam(cfg.lr), state.params, state.opt, grads)
        step = state.step + 1
        ema = jax.lax.cond(step < cfg.ema_start, lambda: params,
                           lambda: jax.lax.cond(step % cfg.ema_every == 0,
                                                lambda: polyak(state.target["ema"], params, 1.0 - cfg.ema_decay),
                                                lambda: state.target["ema"]))
        return state.replace(params=params, opt=opt, step=step, target={"ema": ema}, extra=extra), {"loss": loss, **metrics}

    # ---- execution -----------------------------------------------------------------------------
    @classmethod
    def plan(cls, state, hist, obs, key):
        """Denoised windows [B, N, T - history, F] (normalised units, from the current step on) for the past
        observations hist [B, N, history, O] and the current obs [B, N, O]; per_agent chains return agent
        i's slice of agent i's own chain (which imposes agent i's history and observation, and zeros for
        the others' history, as the official evaluator)."""
        spec, cfg = state.spec, state.cfg
        params = state.target["ema"]
        B, N, O = obs.shape
        P, T = cfg.history, cls._length(cfg)
        seq_n = cls._norm_obs(state.extra, jnp.concatenate([hist, obs[:, :, None]], 2))  # [B, N, P + 1, O]
        A = 0 if cfg.inv_dyn else spec.action_dim
        F = A + O
        if cls.chains == "per_agent":  # chain c (rows c*B..) imposes only agent c's observations
            vis = jnp.repeat(jnp.eye(N, dtype=bool), B, axis=0)  # [N*B, N]
            cond_seq = jnp.where(vis[..., None, None], jnp.tile(seq_n, (N, 1, 1, 1)), 0.0)
        else:
            vis, cond_seq = jnp.ones((B, N), bool), seq_n
        M = vis.shape[0]
        cond_val = jnp.zeros((M, N, T, F)).at[:, :, :P + 1, A:].set(cond_seq)
        steps = jnp.arange(T)[None, None, :, None]
        cond = ((vis[:, :, None, None] & (steps <= P)) | (steps < P)) & (jnp.arange(F) >= A)
        inpaint = lambda x: jnp.where(cond, cond_val, x)
        ret = jnp.full((M, N), cfg.test_ret)
        if cfg.returns_condition:
            eps = guided(lambda x, k, on: cls._eps(spec, cfg, params, x, k, jnp.concatenate([ret, ret]), on),
                         cfg.guidance_w)
        else:
            eps = lambda x, k: cls._eps(spec, cfg, params, x, k, ret, jnp.zeros((M,)))
        kx, ks = jax.random.split(key)
        x = cfg.init_scale * jax.random.normal(kx, (M, N, T, F))
        x = ddpm_sample(eps, make_schedule(cfg.schedule, cfg.diffusion_steps), x, ks,
                        clip=1.0 if cfg.clip_sample else None, inpaint=inpaint)[:, :, P:]
        if cls.chains == "per_agent":
            x = x.reshape(N, B, N, T - P, F)[jnp.arange(N), :, jnp.arange(N)]  # [N, B, T - P, F]
            x = jnp.swapaxes(x, 0, 1)
        return x

    @classmethod
    def _act_carry_init(cls, state, obs, legal):
        """The observation history at an episode's first step: ``history`` copies of its first observation
        [..., N, history, O] (the official evaluator's padding with use_zero_padding=False)."""
        return jnp.repeat(obs[..., None, :], state.cfg.history, axis=-2)

    @classmethod
    def _act_step(cls, state, carry, obs, legal, key):
        """One decision from the history ``carry`` and the current obs; the carry moves on by one step."""
        spec, cfg = state.spec, state.cfg
        lead = obs.shape[:-2]
        flat = lambda x: x.reshape((math.prod(lead),) + x.shape[len(lead):])  # not -1: history 0 is an empty axis
        o, hist, lg = flat(obs), flat(carry), flat(legal)
        x = cls.plan(state, hist, o, key)
        if cfg.inv_dyn:
            inv = cls._nets(spec, cfg)[1]
            pair = jnp.concatenate([cls._norm_obs(state.extra, o), x[:, :, 1]], -1)
            out = inv.apply(state.target["ema"]["inv"], pair)
        else:
            out = x[:, :, 0, :spec.action_dim]
        a = _decode(spec, out, lg)
        carry = jnp.concatenate([carry, obs[..., None, :]], -2)[..., 1:, :]
        return a.reshape(lead + a.shape[1:]), carry

    @classmethod
    def _act(cls, state, obs, legal, key):
        """One decision with a fresh history (``act_carry_init`` of this observation): what ``act`` means for
        a single step (latency, contract tests); the evaluators thread the real history (``act_step``)."""
        return cls._act_step(state, cls._act_carry_init(state, obs, legal), obs, legal, key)[0]

    @classmethod
    def _cost(cls, spec, cfg):
        k = cfg.diffusion_steps
        inv = 1 if cfg.inv_dyn else 0
        what = {"team": "one chain over the joint trajectory for the team",
                "per_agent": "each agent runs a chain over the joint N-agent trajectory"}[cls.chains]
        per_agent = "O(K)" if not cls.attention else "O(IK)"
        return Cost(nfe=k + inv, per_agent=per_agent, centralised=cls.centralised_execution,
                    note=f"{k} DDPM steps (classifier-free guidance in one batched call each) over {cfg.history} "
                         f"past + {cls._length(cfg) - cfg.history} planned steps + {inv} inverse-dynamics pass; {what}")


@register
class MADiffC(Planner):
    name = "madiff-c"
    centralised_execution = True
    train_visible = "all"
    chains = "team"
    paper = "MADiff (Zhu et al., NeurIPS 2024), centralised variant"


@register
class MADiffD(Planner):
    name = "madiff-d"
    train_visible = "one"
    chains = "per_agent"
    paper = "MADiff-D (Zhu et al., NeurIPS 2024) as run in MAC-Flow App. C/F.1 (200 DDPM steps)"
