"""What a set of planned jobs will cost on this device, before any of them starts (``bench figures --regenerate``).

Training: a job's gradient steps x the matrix-multiply FLOPs of one update of its plugin on its task (counted from
the update's jaxpr, loops by their trip counts: :func:`algorithms.nets.count_matmul_flops`, traced on abstract
shapes, nothing allocated) / (the plugin's measured fraction of the matmul peak x this device's peak, timed now
by :func:`benchmarks.perf.throughput.gemm_peak`), once per seed (seeds of paper-size networks run one after the
other on a CPU). Evaluation: every evaluation rolls ``eval_episodes`` episodes of every seed in one batch for the
task's episode length; each step costs the FLOPs of ``act`` on that batch at the same fraction of the peak, but at
least the plugin's measured latency of one decision (scaled by the agents for MADiff-D, whose chains run per agent):
at small batches the 200-step planners stream their weights once per denoising step, which the FLOP count misses.
Python environments add their measured step time (MPE); StarCraft II's and MuJoCo's own step times are not
measured here and are named as not counted.

``EFFICIENCY`` and ``LATENCY_MS`` are measurements, kept in the code with where they come from; re-measure with
``bench throughput --algos NAME`` and ``bench latency --algos NAME`` on another machine type.
"""
from __future__ import annotations

import dataclasses
import functools

# Fraction of the float32 matmul peak one scanned gradient step reaches, per plugin at its paper size (one seed):
# `bench throughput` sweep of every plugin, 2026-12-01, 2-core AMD EPYC CI VM, CPU, jax 0.10.2 (README, "Speed";
# matmul FLOPs with loops counted over the best of the rounds' rates, peak timed between the rounds).
EFFICIENCY_SOURCE = "bench throughput, 2026-12-01, 2-core AMD EPYC VM (CPU), paper-size networks, 1 seed"
EFFICIENCY = {"bc": 0.60, "flowbc": 0.54, "diffusionbc": 0.50, "macflow": 0.62, "mafql": 0.66, "vgm2p": 0.73,
              "om2p": 0.42, "matd3bc": 0.51, "icq": 0.72, "omiga": 0.52, "mabcq": 0.73, "macql": 0.59, "omar": 0.56,
              "dof": 0.69, "madiff-c": 0.67, "madiff-d": 0.71}
DEFAULT_EFFICIENCY = 0.5  # a plugin the sweep has not measured (e.g. one added by another package)
# Median ms of one joint decision at batch 1, games/landmarks (3 agents), paper-default configurations:
# `bench latency`, same machine type, idle. MADiff/DoF: their idle figures without the observation history (dof 2490,
# madiff-c 2847, madiff-d 5053 ms) x 1.7, the factor the 20-step history measured back to back (54.4 against 31.9 s).
LATENCY_SOURCE = "bench latency, 2-core AMD EPYC VM (CPU), games/landmarks, 3 agents, batch 1"
LATENCY_MS = {"macflow": 0.32, "bc": 0.24, "flowbc": 0.68, "mafql": 0.29, "vgm2p": 0.26, "om2p": 0.29,
              "diffusionbc": 10.4, "dof": 4230.0, "madiff-c": 4840.0, "madiff-d": 8590.0}
PER_AGENT_LATENCY = ("madiff-d",)  # one joint chain per agent: its decision time grows with N
LATENCY_AGENTS = 3
# seconds per step of a batch of Python environments (JAX environments step inside the jitted rollout: 0)
ENV_STEP_S = {"mpe": 1 / 212}  # `bench onlinebench`, mpe/spread-expert, 16 environments, raw steps (README)
ENV_NOT_COUNTED = {"smacv1": "StarCraft II", "smacv2": "StarCraft II", "mamujoco": "MuJoCo"}


@dataclasses.dataclass
class JobCost:
    label: str
    train_s: float
    eval_s: float
    update_gflop: float
    note: str = ""

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s


def synthetic_dataset(spec, episodes: int, length: int, seed: int = 0):
    """A Dataset of ``episodes`` x ``length`` random steps in the shapes of ``spec`` (for timing and FLOP counts:
    the values do not change what an update costs), the last step of each episode a time limit."""
    import numpy as np

    from benchmarks.data.transitions import Dataset

    rng = np.random.default_rng(seed)
    n, shape = spec.n_agents, (episodes, length)
    actions = (rng.integers(0, spec.action_dim, shape + (n,)).astype(np.int32) if spec.discrete
               else rng.uniform(-1, 1, shape + (n, spec.action_dim)).astype(np.float32))
    trunc = np.zeros(shape, bool)
    trunc[:, -1] = True
    return Dataset(observations=rng.standard_normal(shape + (n, spec.obs_dim)).astype(np.float32), actions=actions,
                   rewards=rng.standard_normal(shape).astype(np.float32), terminals=np.zeros(shape, bool),
                   truncations=trunc, legal=np.ones(shape + (n, spec.legal_dim), bool),
                   state=rng.standard_normal(shape + (spec.state_dim,)).astype(np.float32))


def _abstract_batch(spec, algo_cls, algo_cfg, batch_size: int):
    """The abstract Batch a plugin's update sees on a task of ``spec``."""
    import jax

    from benchmarks.data.device import DeviceData

    past, length = algo_cls.window(algo_cfg)
    ds = synthetic_dataset(spec, 2, length + past + 2)
    data = DeviceData.from_dataset(ds, length, rtg_discount=algo_cls.rtg_discount(algo_cfg), past=past)
    return jax.eval_shape(lambda k: data.sample(k, batch_size), jax.random.PRNGKey(0))


FLOPS_CACHE = "BENCH_FLOPS_CACHE"  # env var: the file FLOP counts are kept in (default ~/.cache/bench/flops.json)


def _cache_file():
    import os
    from pathlib import Path

    return Path(os.environ.get(FLOPS_CACHE) or Path.home() / ".cache" / "bench" / "flops.json")


@functools.lru_cache(maxsize=None)
def _disk() -> dict:
    import json

    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _source_digest(cls) -> str:
    """A digest of the plugin's module source: a count cached under it is recounted when the plugin changes."""
    import hashlib
    import inspect

    return hashlib.sha256(inspect.getsource(inspect.getmodule(cls)).encode()).hexdigest()[:12]


def cached(algo: str, overrides: tuple, task_id: str, batch_size: int, act_batch: int) -> bool:
    """Whether :func:`flops` has these counts on disk already (a new count traces the networks: seconds)."""
    return _key(algo, overrides, task_id, batch_size, act_batch) in _disk()


def _key(algo, overrides, task_id, batch_size, act_batch) -> str:
    import dataclasses
    import json

    import algorithms
    from benchmarks.tasks import get_task

    cls = algorithms.get(algo)
    return json.dumps([algo, _source_digest(cls), list(overrides), dataclasses.asdict(get_task(task_id).spec),
                       batch_size, act_batch], sort_keys=True, default=str)


def flops(algo: str, overrides: tuple, task_id: str, batch_size: int, act_batch: int) -> tuple:
    """(matmul FLOPs of one update at ``batch_size``, of one ``act`` call on ``act_batch`` joint observations), counted
    once per plugin source, overrides and task shapes (tasks of one scenario share them) and kept on disk
    (``$BENCH_FLOPS_CACHE``), since tracing a paper-size update takes seconds."""
    import algorithms
    from benchmarks.store import atomic_write_json
    from benchmarks.tasks import get_task

    key = _key(algo, overrides, task_id, batch_size, act_batch)
    cache = _disk()
    if key not in cache:
        cache[key] = list(_count(algorithms.get(algo), overrides, get_task(task_id).spec, batch_size, act_batch))
        try:
            atomic_write_json(_cache_file(), cache)
        except OSError:  # a read-only home: counted again next time
            pass
    return tuple(cache[key])


def _count(cls, overrides: tuple, spec, batch_size: int, act_batch: int) -> tuple:
    import jax
    import jax.numpy as jnp

    from algorithms.base import acting
    from algorithms.nets import count_matmul_flops

    cfg = cls.make_config(dict(overrides), allow_cost_override=True)
    state = jax.eval_shape(lambda k: cls.init(k, spec, cfg), jax.random.PRNGKey(0))
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    update = count_matmul_flops(cls.update, state, _abstract_batch(spec, cls, cfg, batch_size), key)
    obs = jax.ShapeDtypeStruct((act_batch, spec.n_agents, spec.obs_dim), jnp.float32)
    legal = jax.ShapeDtypeStruct((act_batch, spec.n_agents, spec.legal_dim), jnp.bool_)
    init, step = acting(cls)
    carry = jax.eval_shape(lambda s, o, l: init(s, o, l), state, obs, legal)
    act = count_matmul_flops(lambda s, c, o, l, k: step(s, c, o, l, k), state, carry, obs, legal, key)
    return update, act


def flop_args(cfg) -> tuple:
    """The arguments of :func:`flops` for a job (a RunConfig): evaluation acts on every seed's episodes at once."""
    return (cfg.algo, tuple(sorted((k, str(v)) for k, v in cfg.overrides.items())), cfg.task, cfg.batch_size,
            cfg.eval_episodes * len(cfg.seeds))


def job_cost(cfg, peak_flops: float) -> JobCost:
    """The estimated seconds of one planned job (a RunConfig) on a device with ``peak_flops`` matmul FLOP/s."""
    from benchmarks.tasks import get_task
    from benchmarks.training.train import evaluation_points

    task = get_task(cfg.task)
    seeds = len(cfg.seeds)
    up, act = flops(*flop_args(cfg))
    rate = EFFICIENCY.get(cfg.algo, DEFAULT_EFFICIENCY) * peak_flops
    steps = cfg.steps + cfg.online_steps
    train = steps * seeds * up / rate
    lat = LATENCY_MS.get(cfg.algo, 0.0) / 1000
    if cfg.algo in PER_AGENT_LATENCY:
        lat *= task.spec.n_agents / LATENCY_AGENTS
    per_step = max(act / rate, lat) + ENV_STEP_S.get(task.suite, 0.0)
    n_eval = len(evaluation_points(cfg)) * (2 if cfg.online_steps else 1)
    evals = n_eval * task.spec.episode_length * per_step
    if cfg.online_steps:  # the online phase acts once per gradient step in its environments
        evals += cfg.online_steps * seeds * (max(act / cfg.eval_episodes / rate, lat) + ENV_STEP_S.get(task.suite, 0.0))
    note = f"{ENV_NOT_COUNTED[task.suite]}'s step time not counted" if task.suite in ENV_NOT_COUNTED else ""
    return JobCost(cfg.label, train, evals, up / 1e9, note)


def timing_cost(timing) -> float:
    """Seconds of a ``bench latency`` command (analysis.paper_plan.Timing) under the default protocol: per algorithm
    and agent count, compilation, warm-up (one call for a slow sampler, else 10), then timed calls until 60 s once
    3 are in (100 at most); a decision's time from ``LATENCY_MS``, scaled by the agents."""
    from benchmarks.perf.latency import DEFAULT_BUDGET, DEFAULT_REPEATS, DEFAULT_WARMUP

    total = 0.0
    for n in timing.agents or (LATENCY_AGENTS,):
        for algo in timing.algos:
            d = LATENCY_MS.get(algo, 1.0) / 1000 * max(1.0, n / LATENCY_AGENTS)
            warm = d if d > DEFAULT_BUDGET / 3 else DEFAULT_WARMUP * d
            total += 20.0 + warm + max(min(DEFAULT_BUDGET, DEFAULT_REPEATS * d), 3 * d)
    return total


def device_peak() -> tuple:
    """(matmul FLOP/s of this device now, its name)."""
    import jax

    from benchmarks.perf.throughput import gemm_peak

    d = jax.devices()[0]
    return gemm_peak(repeats=3), f"{d.platform} ({getattr(d, 'device_kind', '') or d.platform})"


def human(seconds: float) -> str:
    """1234567 s -> '14.3 days'; 5400 -> '1.5 h'; 90 -> '1.5 min'; 10 ** 9 -> '31.7 years'."""
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
