"""Oryx: Sable's retention model trained offline with a sequential form of ICQ (Formanek et al., NeurIPS 2025,
arXiv 2505.22151; og-marl's ``baselines/jax_systems/offline/discrete_oryx.py`` and ``cont_oryx.py``).

Network (algorithms/retention.py): an encoder of full retention over the agents' observations (one-hot agent
id appended) and a decoder of causal retention over the actions chosen before each agent, both over windows
of ``sample_sequence_length`` = 20 steps of all N agents (T N tokens, memory across the window's timesteps).
The decoder's token for agent i at step t reads agent i-1's action of step t (agent 0: a start token), so its
two heads give, for agent i, pi_i(. | tau, a_<i) and Q(tau, a_<i, .).

Training, one loss and one Adam (clip 10) over all parameters; every update shuffles the agents' order:
* critic (ICQ's in-sample SARSA target): Q(t, i) <- r_t + gamma (1 - d_t) w Q'(t + 1, i), with the target
  network's Q' at the data's next actions and w = B softmax_batch(Q' / beta_Q) (per token position);
* actor (advantage-weighted, in-sample): A_i = Q(tau, a_<i, a_i) - E_{a ~ pi_i} Q(tau, a_<i, a) (the exact sum
  over legal actions when discrete: the code's "COMA" baseline), L_pi = -E[B softmax_batch(A_i / beta) log pi_i(a_i)];
* target network: Polyak tau = 0.005 every update.
Execution (``act_step``): per timestep the retention states decay once, the encoder reads the N observations,
then the decoder runs N times, each agent sampling its action after seeing the actions sampled before it: N + 1
network passes per decision, work per decision that grows with N, and not decentralised (the encoder reads
every agent's observation; ``centralised_execution``). The acting carry holds the retention states and the
step count across an episode; ``act`` is one decision from a fresh carry.

The paper's text was not reachable when this was written (only its abstract), so the defaults are the released
code's (configs ``system/oryx/oryx.yaml`` discrete, ``cont_oryx.yaml`` continuous, ``network/rec_retention.yaml``).
Where the harness or a switch departs from that code:
* Windows (the harness's indexed windows, shared with the planners) start at a sampled transition and stop at
  its episode's end (padding masked); the code's trajectory buffer samples 20 consecutive steps of the stream
  across episode boundaries (the decay reset by its done flags). A truncated episode's last step is not
  bootstrapped from the next episode's first (the code bootstraps across truncations: it reads terminals only);
  a terminal step at a window's end trains the critic (the code leaves every window's last step out).
* Execution samples each agent's action from its policy (``execution="sample"``), as the discrete code does;
  the continuous code executes the tanh-Gaussian's mode (``execution="greedy"``). One rule for both kinds, the
  sampled one: a greedy first agent cannot keep two joint modes (games/xor: its mode is the data's mean).
* Continuous critic (``continuous_critic``): "own" (default) evaluates Q(tau, a_<i, a_i) on the agent's own
  action and takes the discrete code's counterfactual baseline E_{a ~ pi_i} Q over ``n_value_samples`` = 10
  policy samples; "code" is cont_oryx.py: the critic head reads the previous agent's action (so it is
  V(tau, a_<i), blind to a_i) and the actor's advantage is Q - Q_target at the same token.
* SwiGLU feed-forward initialised as any dense layer (``ffn_init="normal"``); the code's all-zero
  initialisation (``"zeros"``) gives its three weight matrices zero gradients, a feed-forward that stays zero.
* The discrete and continuous scripts set different temperatures, critic weights and timestep encodings:
  they are separate fields (``beta`` / ``beta_cont`` ...), each with its script's value.
* ``autoregressive=False`` gives every agent the start token (no agent sees another's action): the paper's
  "Oryx w/o autoregressive actions" ablation (as its abstract and table caption name it; the broken variant of
  tests/test_oryx.py).
Not implemented: the code's learning-rate schedule hook (``make_learning_rate``; a constant rate in both configs)
and its absolute-metric evaluation of the best checkpoint (the harness's score rule is declared in reports).
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax

from . import register
from .base import Algorithm, Cost, State, check_choice, mask_logits
from .errors import ConfigError
from .nets import adam, apply_grads, polyak, with_agent_id
from .retention import Sable, decay, decays, timestep_encoding
from .value import batch_softmax_weights, from_unit, gather, masked_log_softmax, tanh_log_prob, to_unit


@dataclasses.dataclass(frozen=True)
class Config:
    embed_dim: int = 128  # retention width E, 128 (og-marl network/rec_retention.yaml net_config.embed_dim)
    n_head: int = 4  # retention heads, 4 (rec_retention.yaml n_head)
    n_block: int = 1  # encoder and decoder blocks, 1 (rec_retention.yaml n_block)
    decay_scaling: float = 0.5  # kappa_h multiplier, 0.5 (rec_retention.yaml memory_config.decay_scaling_factor)
    sample_sequence_length: int = 20  # window of T steps per sample, 20 (system/oryx/oryx.yaml, cont_oryx.yaml)
    # timesteps per retention chunk in training, 0 = the whole window (rec_retention.yaml timestep_chunk_size: ~)
    chunk: int = 0
    lr: float = 3e-4  # Adam learning rate, 3e-4 (oryx.yaml, cont_oryx.yaml lr)
    adam_eps: float = 1e-8  # Adam epsilon, 1e-8 (discrete_oryx.py / cont_oryx.py optax.adam(lr, eps=1e-8))
    max_grad_norm: float = 10.0  # global gradient-norm clip, 10 (oryx.yaml max_grad_norm)
    discount: float = 0.99  # gamma, 0.99 (oryx.yaml, cont_oryx.yaml gamma)
    tau: float = 0.005  # Polyak rate of the target network per update, 0.005 (oryx.yaml tau)
    beta: float = 0.1  # actor temperature, discrete, 0.1 (oryx.yaml policy_temperature)
    beta_cont: float = 1.0  # actor temperature, continuous, 1.0 (cont_oryx.yaml policy_temperature)
    beta_q: float = 1000.0  # critic importance-weight temperature, discrete, 1000 (oryx.yaml value_temperature)
    beta_q_cont: float = 10000.0  # the same, continuous, 10000 (cont_oryx.yaml value_temperature)
    critic_coef: float = 1.0  # weight of the TD loss, discrete, 1 (oryx.yaml critic_coef)
    critic_coef_cont: float = 0.5  # the same, continuous, 0.5 (cont_oryx.yaml critic_coef)
    timestep_encoding: bool = False  # sinusoidal step encoding in retention, discrete: off (rec_retention.yaml)
    timestep_encoding_cont: bool = True  # the same, continuous: on (cont_oryx.py sets it True)
    shuffle_agents: bool = True  # a random agent order per update (both scripts' agent_perm)
    autoregressive: bool = True  # decoder reads the earlier agents' actions; False: the paper's ablation
    # acting: "sample" each agent's action (discrete code) | "greedy" (argmax / tanh of the mean: continuous code)
    execution: str = "sample"
    # continuous critic: "own" = Q on the agent's own action + sampled baseline | "code" (see the docstring)
    continuous_critic: str = "own"
    n_value_samples: int = 10  # continuous "own": policy samples of the baseline E_pi Q; harness choice
    ffn_init: str = "normal"  # SwiGLU init: "normal" (dense default) | "zeros" (the code's; see the docstring)

    def __post_init__(self):  # a bad value is a one-line ConfigError when the run is planned, before anything runs
        check_choice("oryx", "execution", self.execution, ("sample", "greedy"))
        check_choice("oryx", "continuous_critic", self.continuous_critic, ("own", "code"))
        check_choice("oryx", "ffn_init", self.ffn_init, ("normal", "zeros"))
        if self.embed_dim % (self.n_head * self.n_head) or self.embed_dim <= 0:
            raise ConfigError(f"oryx: embed_dim must be a positive multiple of n_head^2 = {self.n_head ** 2} (each "
                              f"head's output is normalised in n_head groups), got {self.embed_dim}")
        if self.chunk < 0 or (self.chunk and self.sample_sequence_length % self.chunk):
            raise ConfigError(f"oryx: chunk must divide sample_sequence_length = {self.sample_sequence_length} "
                              f"(0: the whole window), got {self.chunk}")


def _kind(cfg, spec, name):
    """The discrete field or its ``_cont`` twin, by the task's action kind."""
    return getattr(cfg, name if spec.discrete else name + "_cont")


def _net(spec, cfg) -> Sable:
    a = spec.action_dim
    return Sable(cfg.embed_dim, cfg.n_head, cfg.n_block, decays(cfg.n_head, cfg.decay_scaling), spec.n_agents,
                 policy_out=a, value_out=a if spec.discrete else 1, chunk=cfg.chunk,
                 action_bias=not spec.discrete, ffn_init=cfg.ffn_init)


def _token(spec, a):
    """The decoder's input for an action: one-hot over A + 1 (index 0 the start token) or the unit action."""
    return jax.nn.one_hot(a + 1, spec.action_dim + 1) if spec.discrete else to_unit(spec, a)


def _start(spec, shape):
    return jnp.zeros(shape + (spec.action_dim + 1 if spec.discrete else spec.action_dim,)).at[..., 0].set(
        1.0 if spec.discrete else 0.0)


def _decoder_inputs(spec, cfg, actions):
    """[B, T, N, F]: agent i reads agent i-1's action of the same step; agent 0 (every agent when not
    autoregressive) the start token."""
    start = _start(spec, actions.shape[:2] + (1,))
    if not cfg.autoregressive:
        return jnp.broadcast_to(start, actions.shape[:3] + start.shape[-1:])
    return jnp.concatenate([start, _token(spec, actions[:, :, :-1])], 2)


def _pe(spec, cfg, step, shape):
    if not _kind(cfg, spec, "timestep_encoding"):
        return None
    step = jnp.zeros(shape, jnp.int32) if step is None else step
    return timestep_encoding(step, cfg.embed_dim)


@register
class Oryx(Algorithm):
    name = "oryx"
    Config = Config
    sequence_length = 20
    centralised_execution = True
    paper = "Oryx (Formanek et al., NeurIPS 2025, arXiv 2505.22151)"
    # contract-test size: two heads of 8 channels (normalised in groups of 4) over windows of 4 steps (the contract
    # does not depend on the window's length; 20 steps of 3 agents are 3 840 tokens a batch)
    tiny = {"embed_dim": 16, "n_head": 2, "sample_sequence_length": 4}
    # the didactic games (the paper never ran them; E = 128 is ~16x the work): E = 32 in two heads, whose outputs are
    # still normalised in groups of 8 channels as at the paper's size (32 in four heads would normalise pairs)
    suite_presets = {"games": {"embed_dim": 32, "n_head": 2}}

    @classmethod
    def window(cls, cfg):
        return 0, cfg.sample_sequence_length

    @staticmethod
    def init(key, spec, cfg):
        net = _net(spec, cfg)
        n, t = spec.n_agents, 2
        obs = jnp.zeros((1, t * n, spec.obs_dim + n))
        act_in = jnp.zeros((1, t * n, spec.action_dim + 1 if spec.discrete else spec.action_dim))
        params = net.init(key, obs, act_in, method=Sable.init_all)
        tx = adam(cfg.lr, cfg.adam_eps, cfg.max_grad_norm)
        return State(params=params, opt=tx.init(params), step=jnp.zeros((), jnp.int32), target=params,
                     spec=spec, cfg=cfg)

    @staticmethod
    def update(state, batch, key):
        spec, cfg = state.spec, state.cfg
        net = _net(spec, cfg)
        B, T, N = batch.obs.shape[:3]
        k_perm, k_base = jax.random.split(key)
        perm = jax.random.permutation(k_perm, N) if cfg.shuffle_agents else jnp.arange(N)
        agents = lambda x: jnp.take(x, perm, axis=2)
        obs, actions, legal = agents(with_agent_id(batch.obs)), agents(batch.actions), agents(batch.legal)
        flat = lambda x: x.reshape((B, T * N) + x.shape[3:])
        act_in = _decoder_inputs(spec, cfg, actions)
        pe = _pe(spec, cfg, batch.step, (B, T))
        pe = None if pe is None else flat(jnp.broadcast_to(pe[:, :, None], (B, T, N, cfg.embed_dim)))
        feats = lambda p: net.apply(p, flat(obs), flat(act_in), pe, method=Sable.features).reshape(B, T, N, -1)
        a_unit = None if spec.discrete else jnp.clip(to_unit(spec, actions), -1 + 1e-6, 1 - 1e-6)
        own = spec.discrete or cfg.continuous_critic == "own"

        def q_data(p, x):
            """Q at the data's actions [B, T, N] (continuous "code": at the previous agent's action)."""
            if spec.discrete:
                return gather(net.apply(p, x, method=Sable.value), actions)
            return net.apply(p, x, a_unit if own else act_in, method=Sable.value)[..., 0]

        # the critic's target: r_t + gamma (1 - d_t) w Q'(t + 1, i) at the data's next actions (ICQ's SARSA form)
        valid, term = batch.valid, batch.terminal
        nxt = jnp.concatenate([valid[:, 1:], jnp.zeros((B, 1))], 1) * (1.0 - term)  # bootstrapped from step t+1
        keep = (valid * jnp.maximum(nxt, term))[..., None]  # tokens whose target is known
        q_tgt = jax.lax.stop_gradient(q_data(state.target, feats(state.target)))
        q_next = jnp.concatenate([q_tgt[:, 1:], jnp.zeros_like(q_tgt[:, :1])], 1)
        w_q = batch_softmax_weights(q_next, _kind(cfg, spec, "beta_q"), nxt)
        y = jax.lax.stop_gradient(batch.reward[..., None] + cfg.discount * nxt[..., None] * w_q * q_next)

        def loss_fn(params):
            x = feats(params)
            out = net.apply(params, x, method=Sable.policy)
            if spec.discrete:
                logp_all = masked_log_softmax(out, legal)
                logp = gather(logp_all, actions)
                q_all = net.apply(params, x, method=Sable.value)
                q = gather(q_all, actions)
                baseline = jnp.sum(jnp.where(legal, jnp.exp(logp_all) * q_all, 0.0), -1)
            else:
                q = q_data(params, x)
                log_std = jnp.log(net.apply(params, method=Sable.std))
                logp = tanh_log_prob(out, log_std, a_unit)
                if own:  # E_{a ~ pi_i} Q(tau, a_<i, a) over policy samples, through the value head only
                    def q_at(k):
                        u = out + jnp.exp(log_std) * jax.random.normal(k, out.shape)
                        return net.apply(params, x, jnp.tanh(u), method=Sable.value)[..., 0]

                    baseline = jax.vmap(q_at)(jax.random.split(k_base, cfg.n_value_samples)).mean(0)
                else:  # cont_oryx.py: Q at the same token of the target network
                    baseline = q_tgt
            critic = 0.5 * jnp.sum(keep * (y - q) ** 2) / jnp.maximum(keep.sum() * N, 1.0)
            w = batch_softmax_weights(jax.lax.stop_gradient(q - baseline), _kind(cfg, spec, "beta"), valid)
            actor = -jnp.sum(valid[..., None] * w * logp) / jnp.maximum(valid.sum() * N, 1.0)
            loss = _kind(cfg, spec, "critic_coef") * critic + actor
            return loss, {"critic_loss": critic, "actor_loss": actor, "q": jnp.sum(valid[..., None] * q) /
                          jnp.maximum(valid.sum() * N, 1.0)}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        params, opt = apply_grads(adam(cfg.lr, cfg.adam_eps, cfg.max_grad_norm), state.params, state.opt, grads)
        return (state.replace(params=params, opt=opt, step=state.step + 1, target=polyak(state.target, params, cfg.tau)),
                {"loss": loss, **metrics})

    # ---- acting: recurrent retention, one agent after another ---------------------------------------------
    @staticmethod
    def act_carry_init(state, obs, legal):
        cfg = state.cfg
        d = cfg.embed_dim // cfg.n_head
        zeros = jnp.zeros(obs.shape[:-2] + (cfg.n_block, cfg.n_head, d, d))
        return {"enc": zeros, "self": zeros, "cross": zeros, "t": jnp.zeros(obs.shape[:-2], jnp.int32)}

    @staticmethod
    def act_step(state, carry, obs, legal, key):
        spec, cfg = state.spec, state.cfg
        net, params = _net(spec, cfg), state.params
        lead, n = obs.shape[:-2], spec.n_agents
        m = math.prod(lead)
        flat = lambda x: x.reshape((m,) + x.shape[len(lead):])
        kappa = decays(cfg.n_head, cfg.decay_scaling)
        h = {k: decay(flat(v), kappa) for k, v in carry.items() if k != "t"}
        pe = _pe(spec, cfg, flat(carry["t"])[:, None], (m, 1))
        rep, h_enc = net.apply(params, with_agent_id(flat(obs)), h["enc"], pe, method=Sable.encode_step)
        std = None if spec.discrete else net.apply(params, method=Sable.std)

        def agent(c, xs):
            (h1, h2), a_in = c
            rep_i, legal_i, k = xs
            x, (h1, h2) = net.apply(params, a_in, rep_i, (h1, h2), pe, method=Sable.decode_step)
            out = net.apply(params, x, method=Sable.policy)[:, 0]
            if spec.discrete:
                logits = mask_logits(out, legal_i)
                a = jax.random.categorical(k, logits) if cfg.execution == "sample" else jnp.argmax(logits, -1)
            else:
                u = out + (std * jax.random.normal(k, out.shape) if cfg.execution == "sample" else 0.0)
                a = jnp.tanh(u)
            nxt = _token(spec, a) if spec.discrete else a
            a_in = nxt[:, None] if cfg.autoregressive else a_in
            return ((h1, h2), a_in), a

        swap = lambda x: jnp.swapaxes(x, 0, 1)
        xs = (swap(rep)[:, :, None], swap(flat(legal)), jax.random.split(key, n))
        ((h1, h2), _), acts = jax.lax.scan(agent, ((h["self"], h["cross"]), _start(spec, (m, 1))), xs)
        acts = swap(acts)
        acts = acts if spec.discrete else from_unit(spec, acts)
        new = {"enc": h_enc, "self": h1, "cross": h2, "t": flat(carry["t"]) + 1}
        return acts.reshape(lead + acts.shape[1:]), {k: v.reshape(lead + v.shape[1:]) for k, v in new.items()}

    @staticmethod
    def act(state, obs, legal, key):
        return Oryx.act_step(state, Oryx.act_carry_init(state, obs, legal), obs, legal, key)[0]

    @staticmethod
    def cost(spec, cfg):
        n = spec.n_agents
        return Cost(nfe=1 + n, per_agent="O(1), sequential", centralised=True,
                    note=f"one encoder pass over the {n} agents' observations, then {n} decoder passes, one agent "
                         "after another, each seeing the actions chosen before it")
