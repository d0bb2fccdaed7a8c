"""Behaviour policies for the MaMuJoCo datasets, trained online by the harness (compact JAX TD3).

TD3 (Fujimoto et al. 2018) on the *global* problem: the actor maps the global state ``env.state()`` to
the joint action (all agents' joints), the twin critics score (state, joint action). Defaults are
the paper's: 256-256 ReLU networks, Adam 3e-4, gamma 0.99, tau 0.005, target policy noise 0.2
clipped at 0.5, actor and targets updated every 2 critic steps, exploration noise 0.1, uniform
random actions for the first steps, batch 256, one gradient step per environment step (done in
jitted chunks: collect C steps, then C updates in one ``lax.scan``).

Datasets, as D4RL and OMIGA built theirs (qualities relative to the run's own returns):

* Expert: the best snapshot of the run (greedy evaluation return).
* Medium: the snapshot whose return is closest to 40% of the way from random to expert (a third to a
  half of the expert, D4RL's "about 1/3"), never the expert itself.
* Medium-Replay: the replay buffer of the run up to the step at which the Medium snapshot was taken
  (cut at its last complete episode).
* Medium-Expert: the union of Medium and Expert.

Expert and Medium roll out their snapshot with Gaussian action noise 0.1. References stored on the
cards: random = uniform random actions, expert = the Expert snapshot without noise.

Budgets (environment steps of training / transitions per dataset): tiny 2k / 1k (tests only; the
"expert" is then barely trained), small 100k / 100k, full 1M / 1M.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

BUDGET = {  # train steps, transitions per dataset, snapshot every, eval episodes, reference episodes, start steps
    "tiny": dict(train_steps=2_000, transitions=1_000, snapshot_every=500, eval_episodes=1, ref_episodes=2,
                 start_steps=500, chunk=250),
    "small": dict(train_steps=100_000, transitions=100_000, snapshot_every=5_000, eval_episodes=3, ref_episodes=10,
                  start_steps=10_000, chunk=1_000),
    "full": dict(train_steps=1_000_000, transitions=1_000_000, snapshot_every=20_000, eval_episodes=5,
                 ref_episodes=20, start_steps=25_000, chunk=1_000),
}
MEDIUM_FRACTION = 0.4
DATA_NOISE = 0.1


@dataclasses.dataclass(frozen=True)
class TD3Config:
    hidden: tuple = (256, 256)
    lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2
    explore_noise: float = 0.1
    batch_size: int = 256


class _MLP(nn.Module):
    hidden: tuple
    out: int

    @nn.compact
    def __call__(self, x):
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
        return nn.Dense(self.out)(x)


class _Critics(nn.Module):
    hidden: tuple

    @nn.compact
    def __call__(self, s, a):
        x = jnp.concatenate([s, a], -1)
        return _MLP(self.hidden, 1)(x)[..., 0], _MLP(self.hidden, 1)(x)[..., 0]


def make_td3(state_dim: int, act_dim: int, cfg: TD3Config = TD3Config()):
    actor, critic = _MLP(cfg.hidden, act_dim), _Critics(cfg.hidden)
    opt = optax.adam(cfg.lr)

    def pi(params, s):
        return jnp.tanh(actor.apply(params, s))

    def init(key):
        ka, kc = jax.random.split(key)
        ap = actor.init(ka, jnp.zeros((1, state_dim)))
        cp = critic.init(kc, jnp.zeros((1, state_dim)), jnp.zeros((1, act_dim)))
        st = {"actor": ap, "critic": cp, "actor_t": ap, "critic_t": cp, "opt_a": opt.init(ap),
              "opt_c": opt.init(cp), "step": jnp.zeros((), jnp.int32)}
        return jax.tree.map(jnp.copy, st)  # targets start equal but must not share (donated) buffers

    def update(st, b, key):
        noise = jnp.clip(cfg.policy_noise * jax.random.normal(key, b["a"].shape), -cfg.noise_clip, cfg.noise_clip)
        a2 = jnp.clip(pi(st["actor_t"], b["s2"]) + noise, -1.0, 1.0)
        q1t, q2t = critic.apply(st["critic_t"], b["s2"], a2)
        target = b["r"] + cfg.gamma * (1.0 - b["d"]) * jnp.minimum(q1t, q2t)

        def critic_loss(cp):
            q1, q2 = critic.apply(cp, b["s"], b["a"])
            return ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()

        lc, g = jax.value_and_grad(critic_loss)(st["critic"])
        upd, opt_c = opt.update(g, st["opt_c"], st["critic"])
        cp = optax.apply_updates(st["critic"], upd)

        def actor_loss(ap):
            return -critic.apply(cp, b["s"], pi(ap, b["s"]))[0].mean()

        la, ga = jax.value_and_grad(actor_loss)(st["actor"])
        upd_a, opt_a = opt.update(ga, st["opt_a"], st["actor"])
        delayed = (st["step"] % cfg.policy_delay) == 0
        ap = jax.tree.map(lambda new, old: jnp.where(delayed, new, old), optax.apply_updates(st["actor"], upd_a),
                          st["actor"])
        opt_a = jax.tree.map(lambda new, old: jnp.where(delayed, new, old), opt_a, st["opt_a"])
        soft = lambda t, o: jax.tree.map(lambda x, y: jnp.where(delayed, (1 - cfg.tau) * x + cfg.tau * y, x), t, o)
        return {"actor": ap, "critic": cp, "actor_t": soft(st["actor_t"], ap), "critic_t": soft(st["critic_t"], cp),
                "opt_a": opt_a, "opt_c": opt_c, "step": st["step"] + 1}, (lc, la)

    @functools.partial(jax.jit, static_argnums=3, donate_argnums=0)
    def train_chunk(st, buf, key, n, size):
        def body(st, k):
            ki, kn = jax.random.split(k)
            idx = jax.random.randint(ki, (cfg.batch_size,), 0, size)
            return update(st, {f: v[idx] for f, v in buf.items()}, kn)

        st, (lc, la) = jax.lax.scan(body, st, jax.random.split(key, n))
        return st, lc.mean(), la.mean()

    return init, jax.jit(pi), train_chunk


@functools.partial(jax.jit, donate_argnums=0)
def _insert(buf, rows, start):
    return {k: jax.lax.dynamic_update_slice_in_dim(buf[k], rows[k].astype(buf[k].dtype), start, 0) for k in buf}


def rollout(scenario: str, policy, episodes: int, seed: int, noise: float = 0.0, max_transitions: int | None = None):
    """Roll ``policy(states [E,S]) -> joint actions [E,N*A]`` (None: uniform random) in E batched envs.

    Returns (list of episode dicts in og-marl row form, returns array).
    """
    from benchmarks.envs.mamujoco import MaMuJoCoBatch

    rng = np.random.default_rng(seed)
    env = MaMuJoCoBatch(scenario, episodes, seed)
    spec = env.spec
    obs, legal, state = env.reset()
    rec = {k: [] for k in ("obs", "actions", "reward", "legal", "state", "done", "terminated", "alive")}
    alive = np.ones(episodes, bool)
    for _ in range(spec.episode_length):
        if policy is None:
            a = rng.uniform(-1, 1, (episodes, spec.n_agents * spec.action_dim))
        else:
            a = np.asarray(policy(state)) + noise * rng.standard_normal((episodes, spec.n_agents * spec.action_dim))
        a = np.clip(a, -1, 1).astype(np.float32).reshape(episodes, spec.n_agents, spec.action_dim)
        for k, v in (("obs", obs), ("legal", legal), ("state", state), ("actions", a), ("alive", alive.copy())):
            rec[k].append(v)
        obs, legal, state, r, done, _ = env.step(a)
        rec["reward"].append(r)
        rec["done"].append(done.copy())
        rec["terminated"].append(env.terminated.copy())
        alive = ~done
        if done.all() or (max_transitions and sum(x.sum() for x in rec["alive"]) >= max_transitions):
            break
    env.close()
    arr = {k: np.stack(v, 1) for k, v in rec.items()}
    eps, rets = [], []
    for e in range(episodes):
        n = int(arr["alive"][e].sum())
        ep = {k: arr[k][e, :n] for k in ("obs", "actions", "reward", "legal", "state")}
        ended = bool(arr["done"][e, n - 1])
        ep["terminal"] = np.zeros(n, bool)
        ep["truncation"] = np.zeros(n, bool)
        ep["terminal"][-1] = ended and bool(arr["terminated"][e, n - 1])
        ep["truncation"][-1] = not ep["terminal"][-1]  # the time limit (or the transition budget) cut it
        eps.append(ep)
        rets.append(float(ep["reward"].sum()))
    return eps, np.asarray(rets)


def _collect(scenario, policy, transitions, seed, noise, spec):
    """Episodes of ``policy`` until ``transitions`` rows (the last episode may be cut: truncation)."""
    episodes, total, k = [], 0, 0
    per = max(1, min(16, transitions // spec.episode_length + 1))
    while total < transitions:
        eps, _ = rollout(scenario, policy, per, seed + 7919 * k, noise, max_transitions=transitions - total)
        for ep in eps:
            if total >= transitions:
                break
            episodes.append(ep)
            total += len(ep["reward"])
        k += 1
    return episodes


def train_td3(scenario: str, budget: str, seed: int, log=print):
    """One TD3 run; returns (snapshots [(step, params, eval return)], replay stream dict, spec)."""
    from benchmarks.envs.mamujoco import make_raw, spec_of

    b = BUDGET[budget]
    spec = spec_of(scenario)
    A = spec.n_agents * spec.action_dim
    cfg = TD3Config()
    init, pi, train_chunk = make_td3(spec.state_dim, A, cfg)
    key = jax.random.PRNGKey(seed)
    key, k0 = jax.random.split(key)
    st = init(k0)
    cap = b["train_steps"]
    buf = {"s": jnp.zeros((cap, spec.state_dim)), "a": jnp.zeros((cap, A)), "r": jnp.zeros((cap,)),
           "s2": jnp.zeros((cap, spec.state_dim)), "d": jnp.zeros((cap,))}
    stream = {k: [] for k in ("obs", "actions", "reward", "legal", "state", "terminal", "truncation")}
    env = make_raw(scenario)
    agents = list(env.possible_agents)
    rng = np.random.default_rng(seed)

    def observe(obs):
        out = np.zeros((spec.n_agents, spec.obs_dim), np.float32)
        for i, a in enumerate(agents):
            v = np.asarray(obs[a], np.float32)
            out[i, :len(v)] = v
        return out

    obs, _ = env.reset(seed=seed)
    s = np.asarray(env.state(), np.float32)
    pending = {k: [] for k in buf}
    snapshots = []
    for t in range(cap):
        if t < b["start_steps"]:
            a = rng.uniform(-1, 1, A)
        else:
            a = np.asarray(pi(st["actor"], s[None]))[0] + cfg.explore_noise * rng.standard_normal(A)
        a = np.clip(a, -1, 1).astype(np.float32)
        acts = a.reshape(spec.n_agents, spec.action_dim)
        obs2, rew, term, trunc, _ = env.step({ag: acts[i] for i, ag in enumerate(agents)})
        r = float(np.mean([rew[ag] for ag in agents]))
        terminated, truncated = any(term.values()), any(trunc.values())
        s2 = np.asarray(env.state(), np.float32)
        for k, v in (("s", s), ("a", a), ("r", r), ("s2", s2), ("d", float(terminated))):
            pending[k].append(v)
        for k, v in (("obs", observe(obs)), ("actions", acts), ("reward", r),
                     ("legal", np.ones((spec.n_agents, 1), bool)), ("state", s), ("terminal", terminated), ("truncation", truncated and not terminated)):
            stream[k].append(v)
        obs, s = obs2, s2
        if terminated or truncated:
            obs, _ = env.reset(seed=int(rng.integers(2 ** 31)))
            s = np.asarray(env.state(), np.float32)
        if (t + 1) % b["chunk"] == 0:
            start = t + 1 - b["chunk"]
            buf = _insert(buf, {k: jnp.asarray(np.asarray(v)) for k, v in pending.items()}, start)
            pending = {k: [] for k in buf}
            if t + 1 > b["start_steps"] // 2:
                key, sub = jax.random.split(key)
                st, lc, la = train_chunk(st, buf, sub, b["chunk"], t + 1)
        if (t + 1) % b["snapshot_every"] == 0 or t + 1 == cap:
            params = jax.device_get(st["actor"])
            _, rets = rollout(scenario, lambda x, p=params: pi(p, x), b["eval_episodes"], 10_000 + t)
            snapshots.append((t + 1, params, float(rets.mean())))
            log(f"[td3 {scenario}] step {t + 1}: eval return {rets.mean():.1f}")
    env.close()
    stream = {k: np.asarray(v) for k, v in stream.items()}
    return snapshots, stream, spec, pi


def mamujoco_datasets(scenario: str, budget: str, seed: int, log=print) -> dict:
    """{Quality: Dataset} for Expert, Medium, Medium-Replay and Medium-Expert from one TD3 run."""
    from benchmarks.data.transitions import from_episodes

    b = BUDGET[budget]
    snapshots, stream, spec, pi = train_td3(scenario, budget, seed, log)
    _, rand = rollout(scenario, None, b["ref_episodes"], 20_000 + seed)
    expert_i = int(np.argmax([r for _, _, r in snapshots]))
    e_step, e_params, _ = snapshots[expert_i]
    _, exp_rets = rollout(scenario, lambda x: pi(e_params, x), b["ref_episodes"], 30_000 + seed)
    refs = {"random": float(rand.mean()), "expert": float(exp_rets.mean()), "episodes": b["ref_episodes"],
            "random_policy": "uniform random actions", "expert_policy": f"TD3 snapshot at step {e_step} (greedy)"}
    target = refs["random"] + MEDIUM_FRACTION * (refs["expert"] - refs["random"])
    candidates = [i for i in range(len(snapshots)) if i != expert_i] or [expert_i]
    medium_i = min(candidates, key=lambda i: abs(snapshots[i][2] - target))
    m_step, m_params, m_ret = snapshots[medium_i]
    log(f"[td3 {scenario}] expert: step {e_step} return {refs['expert']:.1f}; medium: step {m_step} "
        f"(eval {m_ret:.1f}, target {target:.1f}); random {refs['random']:.1f}")
    base = {"seed": seed, "refs": refs, "td3_train_steps": b["train_steps"]}
    expert_eps = _collect(scenario, lambda x: pi(e_params, x), b["transitions"], seed * 10 + 1, DATA_NOISE, spec)
    medium_eps = _collect(scenario, lambda x: pi(m_params, x), b["transitions"], seed * 10 + 2, DATA_NOISE, spec)
    out = {
        "Expert": from_episodes(expert_eps, {**base, "generator": f"TD3 snapshot at step {e_step}, noise {DATA_NOISE}"}),
        "Medium": from_episodes(medium_eps, {**base, "generator": f"TD3 snapshot at step {m_step}, noise {DATA_NOISE}"}),
        "Medium-Expert": from_episodes(medium_eps + expert_eps, {**base, "generator": "union of Medium and Expert"}),
    }
    ends = np.flatnonzero(stream["terminal"][:m_step] | stream["truncation"][:m_step])
    cut = int(ends[-1]) + 1 if len(ends) else m_step
    if not len(ends):  # no complete episode yet: close the partial one with a truncation
        stream["truncation"][cut - 1] = True
    replay = {k: v[:cut] for k, v in stream.items()}
    out["Medium-Replay"] = from_episodes([replay], {**base, "generator": f"TD3 replay buffer, steps 0..{cut} (up to Medium)"})
    for q, ds in out.items():
        ds.card["quality"] = q
    return out
