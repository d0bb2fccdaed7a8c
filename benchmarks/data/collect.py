"""Generated datasets (``bench data collect``): behaviour policies of graded quality -> og-marl vaults.

Every dataset is written as ``<root>/generated/<suite>/<scenario>.vlt/<Quality>`` (``generated-seed<N>``
for a data seed N != 0) with a dataset card: episodes, transitions, return mean/std/min/max,
generator, seed, budget, the normalisation references measured at generation time (``refs``:
random and expert returns, each from 100+ episodes with a fixed seed, so all qualities of a scenario
share them), the dataset's own normalised return and, for SMAX, the win rate. The suites of these data are
named so (``mpe-gen``, ``mamujoco-gen``, and ``smax``, which has no other data) and are never set beside a
paper's published numbers (benchmarks/tasks/generated.py).

* mpe-gen / Spread (mpe2): Expert = the scripted optimal-assignment expert (benchmarks/envs/mpe.py) with
  Gaussian action noise 0.1; Random = uniform actions in [-1,1]^2; Medium = a per-step, per-agent
  mixture of the expert with uniform random actions, eps = 0.8 random, which scores ~40 on the
  normalised scale (between a third and a half of the expert, the D4RL/OMAR notion of "medium");
  Medium-Replay = what a learner's replay buffer holds on its way from random to medium: episodes
  whose eps falls linearly from 1 (random) to 0.8 (medium), in that order.
  References: random = uniform actions, expert = the noiseless scripted expert.
* smax (JaxMARL SMAX vs the heuristic enemy): the built-in heuristic for our side, each agent taking a
  uniformly random *legal* action instead with probability eps (where the heuristic picks a masked
  action, e.g. a dead unit moving, it stops instead: every recorded action is legal): Good eps=0.05 (og-marl's
  epsilon), Medium eps=0.25, Poor eps=0.6. References: random = eps 1, expert = the pure heuristic.
* mamujoco-gen: see benchmarks/data/mamujoco.py (TD3 trained online by the harness; Expert, Medium,
  Medium-Replay, Medium-Expert as D4RL / OMIGA define them).

Budgets: ``tiny`` (tests, seconds), ``small`` (minutes; what ``bench run`` generates on first use),
``full`` (the papers' dataset sizes, ~1M transitions).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.data.transitions import Dataset, from_episodes
from algorithms.errors import BenchError, ConfigError, unknown

BUDGETS = ("tiny", "small", "full")
QUALITIES = {
    "mpe-gen": ("Expert", "Medium", "Medium-Replay", "Random"),
    "mamujoco-gen": ("Expert", "Medium", "Medium-Replay", "Medium-Expert"),
    "smax": ("Good", "Medium", "Poor"),
}
SCENARIOS = {
    "mpe-gen": ("spread",),
    "mamujoco-gen": ("6-halfcheetah", "3-hopper", "2-ant"),
    "smax": ("3m", "8m", "2s3z", "5m_vs_6m"),
}
EPISODES = {  # episodes per dataset
    "mpe-gen": {"tiny": 40, "small": 400, "full": 40_000},
    "smax": {"tiny": 64, "small": 1024, "full": 16_384},
}
MPE_MEDIUM_EPS = 0.8
MPE_EXPERT_NOISE = 0.1
SMAX_EPS = {"Good": 0.05, "Medium": 0.25, "Poor": 0.6}
REF_EPISODES = 128
REF_SEED = 2 ** 20 + 7


def budget_default() -> str:
    """Budget of first-use generation (``bench run`` on a task whose data is missing)."""
    b = os.environ.get("BENCH_COLLECT_BUDGET", "small")
    if b not in BUDGETS:
        raise ConfigError(f"BENCH_COLLECT_BUDGET must be one of {', '.join(BUDGETS)}, got '{b}'")
    return b


def source_dir(root: Path, seed: int) -> Path:
    return Path(root) / ("generated" if seed == 0 else f"generated-seed{seed}")


def vault_path(root: Path, suite: str, scenario: str, quality: str, seed: int = 0) -> Path:
    return source_dir(root, seed) / suite / f"{scenario}.vlt" / quality


def task_name(scenario: str, quality: str) -> str:
    return f"{scenario}-{quality.lower()}"


def split_task(suite: str, task: str) -> tuple[str, Optional[str]]:
    """'spread-medium-replay' -> ('spread', 'Medium-Replay'); a bare scenario -> (scenario, None)."""
    if suite not in SCENARIOS:
        raise unknown("suite with generated data", suite, SCENARIOS)
    if task in SCENARIOS[suite]:
        return task, None
    for sc in SCENARIOS[suite]:
        for q in QUALITIES[suite]:
            if task == task_name(sc, q):
                return sc, q
    names = [task_name(sc, q) for sc in SCENARIOS[suite] for q in QUALITIES[suite]] + list(SCENARIOS[suite])
    raise unknown(f"task of suite '{suite}'", task, names)


def collect(suite: str, task: Optional[str], out_dir: Path, budget: str, seed: int) -> list[Path]:
    """Generate the datasets of ``suite`` (one task, one scenario, or all) under ``out_dir``; returns their paths."""
    from benchmarks.data.vault import write_dataset

    if budget not in BUDGETS:
        raise ConfigError(f"budget must be one of {', '.join(BUDGETS)}, got '{budget}'")
    jobs = []
    if task is None:
        jobs = [(sc, None) for sc in SCENARIOS.get(suite, ())]
        if suite not in SCENARIOS:
            split_task(suite, "")  # raises the unknown-suite error
    else:
        jobs = [split_task(suite, task)]
    paths = []
    for scenario, quality in jobs:
        for q, ds in generate(suite, scenario, quality, budget, seed).items():
            paths.append(write_dataset(ds, vault_path(out_dir, suite, scenario, q, seed), overwrite=True))
    return paths


def generate(suite: str, scenario: str, quality: Optional[str], budget: str, seed: int) -> dict:
    """{Quality: Dataset} for one scenario (all qualities when ``quality`` is None)."""
    qualities = QUALITIES[suite] if quality is None else (quality,)
    t0 = time.time()
    if suite == "mpe-gen":
        out = {q: mpe_dataset(q, EPISODES["mpe-gen"][budget], seed) for q in qualities}
    elif suite == "smax":
        out = smax_datasets(scenario, qualities, EPISODES["smax"][budget], seed)
    elif suite == "mamujoco-gen":
        from benchmarks.data.mamujoco import mamujoco_datasets

        out = mamujoco_datasets(scenario, budget, seed)  # one training run yields every quality
        out = {q: out[q] for q in qualities} if quality is not None else out
    else:
        raise unknown("suite with generated data", suite, SCENARIOS)
    for ds in out.values():
        ds.card.update({"suite": suite, "scenario": scenario, "generated_for": f"{suite}/{scenario}", "budget": budget,
                        "seed": seed,
                        "generation_seconds": round(time.time() - t0, 1)})
        ds.card.update(ds.summary())
        lo, hi = ds.card["refs"]["random"], ds.card["refs"]["expert"]
        ds.card["normalised_return"] = 100.0 * (ds.card["return_mean"] - lo) / (hi - lo)
    return out


# ---- first use ------------------------------------------------------------------------------------
_MEMORY: dict = {}


def load_or_generate(suite: str, scenario: str, quality: str, seed: int = 0) -> Dataset:
    """The task's generated dataset: read from the data directory, or generated there on first use."""
    from benchmarks.data.vault import data_dir, read_dataset, write_dataset

    key = (str(data_dir()), suite, scenario, quality, seed)
    if key in _MEMORY:
        return _MEMORY[key]
    path = vault_path(data_dir(), suite, scenario, quality, seed)
    if not path.exists():
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        # concurrent jobs (Ray workers) wanting the same missing data: one generates, the others wait
        with open(path.parent / f".{quality}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                budget = budget_default()
                print(f"[bench] generating {suite}/{task_name(scenario, quality)} (budget {budget}, seed {seed}) "
                      f"into {path} (first use; `bench data collect --suite {suite}` makes them all)", flush=True)
                for q, ds in generate(suite, scenario, quality, budget, seed).items():
                    dest = vault_path(data_dir(), suite, scenario, q, seed)
                    if q == quality or not dest.exists():
                        write_dataset(ds, dest, overwrite=True)
    ds = read_dataset(path)
    made_for = ds.card.get("generated_for", f"{suite}/{scenario}")
    if made_for != f"{suite}/{scenario}":
        raise BenchError(f"{path} holds data generated for {made_for}, not {suite}/{scenario}; delete it and run "
                         f"`bench data collect --suite {suite} --task {task_name(scenario, quality)}`")
    _MEMORY[key] = ds
    return ds


def refs_of(ds: Dataset) -> tuple:
    r = ds.card.get("refs")
    if not r:
        raise BenchError(f"the dataset card of {ds.card.get('path', 'this dataset')} has no normalisation "
                         "references ('refs'); regenerate it with `bench data collect`")
    return float(r["random"]), float(r["expert"])


# ---- helpers -------------------------------------------------------------------------------------
# ---- MPE Spread ----------------------------------------------------------------------------------
def mpe_rollouts(eps_per_episode: np.ndarray, noise: float, seed: int, chunk: int = 200) -> list[dict]:
    """Episodes of the eps-mixture of the scripted expert (eps=1: uniform random), one per entry."""
    from benchmarks.envs.mpe import EPISODE_LENGTH, SpreadBatch, expert_action

    rng = np.random.default_rng(seed)
    episodes = []
    for start in range(0, len(eps_per_episode), chunk):
        eps = np.asarray(eps_per_episode[start:start + chunk], np.float64)
        E = len(eps)
        env = SpreadBatch(E, seed * 1_000_003 + start)
        obs, legal, state = env.reset()
        rec = {k: [] for k in ("obs", "actions", "reward", "legal", "state")}
        for _ in range(EPISODE_LENGTH):
            a = expert_action(obs)
            a = np.clip(a + noise * rng.standard_normal(a.shape), -1, 1)
            rand = rng.random(a.shape[:-1]) < eps[:, None]
            a = np.where(rand[..., None], rng.uniform(-1, 1, a.shape), a).astype(np.float32)
            rec["obs"].append(obs)
            rec["legal"].append(legal)
            rec["state"].append(state)
            rec["actions"].append(a)
            obs, legal, state, reward, _, _ = env.step(a)
            rec["reward"].append(reward)
        env.close()
        arr = {k: np.stack(v, 1) for k, v in rec.items()}  # [E, T, ...]
        for e in range(E):
            ep = {k: v[e] for k, v in arr.items()}
            ep["terminal"] = np.zeros(EPISODE_LENGTH, bool)
            ep["truncation"] = np.zeros(EPISODE_LENGTH, bool)
            ep["truncation"][-1] = True  # the 25-step time limit
            episodes.append(ep)
    return episodes


def mpe_refs() -> dict:
    def ret(eps):
        return float(np.mean([e["reward"].sum() for e in mpe_rollouts(np.full(REF_EPISODES, eps), 0.0, REF_SEED)]))

    return {"random": ret(1.0), "expert": ret(0.0), "episodes": REF_EPISODES,
            "random_policy": "uniform actions in [-1,1]^2", "expert_policy": "scripted optimal-assignment expert"}


def mpe_dataset(quality: str, episodes: int, seed: int) -> Dataset:
    spec = {
        "Expert": (np.zeros(episodes), MPE_EXPERT_NOISE,
                   f"scripted optimal-assignment expert, action noise {MPE_EXPERT_NOISE}"),
        "Medium": (np.full(episodes, MPE_MEDIUM_EPS), MPE_EXPERT_NOISE,
                   f"expert mixed with uniform random actions, eps={MPE_MEDIUM_EPS}"),
        "Medium-Replay": (np.linspace(1.0, MPE_MEDIUM_EPS, episodes), MPE_EXPERT_NOISE,
                          f"learning-run replay: eps falling linearly from 1 to {MPE_MEDIUM_EPS}"),
        "Random": (np.ones(episodes), 0.0, "uniform random actions in [-1,1]^2"),
    }
    eps, noise, text = spec[quality]
    q_seed = seed * 10 + QUALITIES["mpe-gen"].index(quality)
    ds = from_episodes(mpe_rollouts(eps, noise, q_seed), {"generator": f"mpe2 simple_spread_v3: {text}", "seed": seed,
                                                     "quality": quality})
    ds.card["refs"] = mpe_refs()
    return ds


# ---- SMAX ----------------------------------------------------------------------------------------
def _smax_rollout_fn(env):
    """jit(vmap over episodes) of one eps-heuristic episode recorded for T = episode_length steps."""
    import jax
    import jax.numpy as jnp

    init, heuristic = env.heuristic()
    T = env.spec.episode_length

    def episode(key, eps):
        k0, k1 = jax.random.split(key)
        es, o, legal, s = env.reset(k0)

        def body(c, k):
            es, o, legal, s, ps, alive = c
            ka, kr, ke, ks = jax.random.split(k, 4)
            a_h, ps = heuristic(ps, o, legal, ka)
            a_r = jax.random.categorical(kr, jnp.where(legal, 0.0, -1e9))
            a = jnp.where(jax.random.uniform(ke, (env.n,)) < eps, a_r, a_h).astype(jnp.int32)
            es2, o2, legal2, s2, r, d, info = env.step(es, a, ks)
            rec = {"obs": o, "actions": a, "legal": legal, "state": s, "reward": r, "alive": alive,
                   "done": d, "won": info["won"], "time_limit": info["time_limit"]}
            return (es2, o2, legal2, s2, ps, alive & ~d), rec

        _, rec = jax.lax.scan(body, (es, o, legal, s, init(), jnp.ones((), bool)), jax.random.split(k1, T))
        return rec

    return jax.jit(jax.vmap(episode, in_axes=(0, None)))


def smax_rollouts(env, fn, n: int, eps: float, seed: int, chunk: int = 256) -> tuple[list[dict], np.ndarray]:
    import jax

    episodes, won = [], []
    key = jax.random.PRNGKey(seed)
    for start in range(0, n, chunk):
        key, sub = jax.random.split(key)
        rec = jax.device_get(fn(jax.random.split(sub, min(chunk, n - start)), eps))
        for e in range(len(rec["reward"])):
            last = int(np.argmax(rec["done"][e]))  # the episode's final step (the time limit makes one)
            ep = {k: rec[k][e, :last + 1] for k in ("obs", "actions", "legal", "state", "reward")}
            ep["terminal"] = np.zeros(last + 1, bool)
            ep["truncation"] = np.zeros(last + 1, bool)
            limit = bool(rec["time_limit"][e, last])
            ep["truncation"][-1] = limit
            ep["terminal"][-1] = not limit
            episodes.append(ep)
            won.append(bool(rec["won"][e, last]))
    return episodes, np.asarray(won)


def smax_datasets(scenario: str, qualities, episodes: int, seed: int) -> dict:
    from benchmarks.envs.smax import SMAX

    env = SMAX(scenario)
    fn = _smax_rollout_fn(env)
    ref_r, _ = smax_rollouts(env, fn, REF_EPISODES * 2, 1.0, REF_SEED)
    ref_e, won_e = smax_rollouts(env, fn, REF_EPISODES * 2, 0.0, REF_SEED)
    refs = {"random": float(np.mean([e["reward"].sum() for e in ref_r])),
            "expert": float(np.mean([e["reward"].sum() for e in ref_e])), "episodes": REF_EPISODES * 2,
            "random_policy": "uniform random legal actions", "expert_policy": "JaxMARL SMAX heuristic",
            "expert_win_rate": float(won_e.mean())}
    out = {}
    for q in qualities:
        eps = SMAX_EPS[q]
        eps_list, won = smax_rollouts(env, fn, episodes, eps, seed * 10 + QUALITIES["smax"].index(q))
        ds = from_episodes(eps_list, {"generator": f"JaxMARL SMAX {scenario} heuristic, random legal action w.p. {eps}",
                                "seed": seed, "quality": q, "epsilon": eps})
        ds.card["win_rate"] = float(won.mean())
        ds.card["refs"] = refs
        out[q] = ds
    return out
