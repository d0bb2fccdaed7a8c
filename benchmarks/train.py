"""The jitted trainer: dataset on device, batches sampled on device inside ``lax.scan``, seeds vmapped.

Python runs once per chunk of gradient steps (at most ``chunk`` steps, 1 000 by default), not per
step. All seeds of one (algorithm, task, config) train together in one program: every leaf of the
state has a leading seed axis. Evaluation happens every ``eval_every`` steps and at the end, followed
by an orbax checkpoint, so a killed run resumes from its last evaluation with the same result.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

import algorithms
from algorithms.base import Batch, config_dict, cost_overrides
from benchmarks import __version__
from benchmarks.data.transitions import check_against, to_transitions, to_windows
from benchmarks.errors import BenchError, TrainingError
from benchmarks.evaluate import make_evaluator, make_python_evaluator
from benchmarks.store import Run, results_root, run_id
from benchmarks.suites import Task

logging.getLogger("absl").setLevel(logging.ERROR)


def enable_compilation_cache() -> None:
    cache = os.environ.get("BENCH_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "bench", "jax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@dataclasses.dataclass
class RunConfig:
    algo: str
    task: str  # suite/task
    seeds: tuple = (0, 1, 2)
    steps: int = 1000
    eval_every: int = 500
    eval_episodes: int = 100
    batch_size: int = 64
    overrides: dict = dataclasses.field(default_factory=dict)
    allow_cost_override: bool = False
    data_seed: int = 0
    dataset: Optional[str] = None  # path of a user-supplied vault instead of the task's own data
    chunk: int = 1000
    # which ``overrides`` keys a suite preset supplied (bench run); the run is identified by its effective
    # config, so this is recorded in spec.json for reports but is not part of the run id
    preset: tuple = ()

    def inputs(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("chunk", "allow_cost_override", "preset"):
            d.pop(k)
        return d

    @property
    def run_id(self) -> str:
        return run_id(self.inputs())


def load_data(task: Task, algo_cls, cfg: RunConfig):
    if cfg.dataset:
        from benchmarks.data.vault import read_dataset  # issue: datasets and environments

        ds = read_dataset(cfg.dataset)
    else:
        ds = task.make_dataset(cfg.data_seed)
    check_against(ds, task.spec)
    arrays = to_transitions(ds) if algo_cls.sequence_length == 1 else to_windows(ds, algo_cls.sequence_length)
    return ds, {k: jnp.asarray(v) for k, v in arrays.items()}


def sample_batch(data: dict, key, batch_size: int) -> Batch:
    n = data["reward"].shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return Batch(**{k: v[idx] for k, v in data.items()})


def make_chunk(algo_cls, batch_size: int, length: int):
    """jit(vmap over seeds of: scan of ``length`` sampled updates); returns mean metrics per seed."""

    def one_seed(state, key, data):
        def body(state, k):
            kb, ku = jax.random.split(k)
            return algo_cls.update(state, sample_batch(data, kb, batch_size), ku)

        state, metrics = jax.lax.scan(body, state, jax.random.split(key, length))
        return state, jax.tree.map(lambda m: m.mean(), metrics)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None)), donate_argnums=0)


def init_states(algo_cls, spec, algo_cfg, seeds):
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    # jitted: one compilation instead of many small eager ones
    states = jax.jit(jax.vmap(lambda k: algo_cls.init(jax.random.fold_in(k, 1), spec, algo_cfg)))(keys)
    # plugins may alias buffers (a target network initialised to the online one); the chunk donates
    # its input, so every leaf gets its own buffer
    return jax.tree.map(jnp.copy, states)


def _checkpointer(path: Path):
    import orbax.checkpoint as ocp

    return ocp.CheckpointManager(path.absolute(), options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))


def train(cfg: RunConfig, results: str | Path | None = None,
          progress: Optional[Callable[[int, int, dict], None]] = None, resume: bool = True) -> dict:
    """Run (or resume, or skip if finished) one job; returns final.json's content."""
    import orbax.checkpoint as ocp

    from benchmarks.suites import get_task

    algo_cls = algorithms.get(cfg.algo)
    task = get_task(cfg.task)
    algo_cls.check_spec(task.spec)
    algo_cfg = algo_cls.make_config(cfg.overrides, allow_cost_override=cfg.allow_cost_override)
    if cfg.steps <= 0 or cfg.eval_every <= 0 or cfg.eval_episodes <= 0 or cfg.batch_size <= 0:
        raise BenchError("--steps, --eval-every, --eval-episodes and --batch-size must be positive")
    run = Run(results_root(results), cfg.run_id)
    if run.finished and resume:
        return run.final()
    spec_json = {
        **cfg.inputs(), "run_id": run.id, "suite": task.suite, "task_name": task.name,
        "config": config_dict(algo_cfg), "cost_overrides": cost_overrides(algo_cls, algo_cfg),
        "cost": dataclasses.asdict(algo_cls.cost(task.spec, algo_cfg)), "harness_version": __version__,
        "env_spec": dataclasses.asdict(task.spec), "refs": list(task.refs()), "preset": sorted(cfg.preset),
    }
    run.start(spec_json)
    t_start = time.time()
    ds, data = load_data(task, algo_cls, cfg)
    seeds = tuple(cfg.seeds)
    states = init_states(algo_cls, task.spec, algo_cfg, seeds)
    key = jnp.stack([jax.random.PRNGKey(10_000 + s) for s in seeds])
    step = 0
    mngr = _checkpointer(run.ckpt_dir)
    if resume and mngr.latest_step() is not None:
        restored = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore({"state": states, "key": key}))
        states, key, step = restored["state"], restored["key"], int(mngr.latest_step())
    evaluator = (make_evaluator if task.jax_env else make_python_evaluator)(task.make_env(), algo_cls,
                                                                             cfg.eval_episodes)
    diagnostics = getattr(algo_cls, "diagnostics", None)
    diag_fn = jax.jit(jax.vmap(diagnostics, in_axes=(0, None, None))) if diagnostics else None
    chunks: dict[int, Callable] = {}
    eval_points = sorted(set(list(range(cfg.eval_every, cfg.steps, cfg.eval_every)) + [cfg.steps]))
    train_time = 0.0
    last_eval = None
    try:
        for target in eval_points:
            if target <= step:
                continue
            metrics_acc = []
            t0 = time.time()
            while step < target:
                n = min(cfg.chunk, target - step)
                if n not in chunks:
                    chunks[n] = make_chunk(algo_cls, cfg.batch_size, n)
                key, sub = _split_seeds(key)
                states, m = chunks[n](states, sub, data)
                m = jax.device_get(m)
                _check_finite(m, step + n, seeds, run)
                metrics_acc.append((n, m))
                step += n
                if progress:
                    progress(step, cfg.steps, {})
            jax.block_until_ready(states)
            train_time += time.time() - t0
            last_eval = _evaluate(cfg, task, evaluator, diag_fn, states, data, seeds, step, metrics_acc,
                                  train_time, t_start, run)
            if progress:
                progress(step, cfg.steps, {"return": float(np.mean(last_eval["returns"]))})
            mngr.save(step, args=ocp.args.StandardSave({"state": states, "key": key}), force=True)
            mngr.wait_until_finished()
    except TrainingError:
        mngr.close()
        raise
    except Exception:
        mngr.close()
        run.fail(traceback.format_exc())
        raise
    mngr.close()
    if last_eval is None:  # resumed after the last evaluation was checkpointed
        rows = [r for r in run.metrics() if r.get("kind") == "eval" and r["step"] == cfg.steps]
        last_eval = {"returns": [r["return"] for r in rows], "won": [r.get("win_rate") for r in rows]}
    returns = np.asarray(last_eval["returns"], np.float64)
    final = {
        "run_id": run.id, "algo": cfg.algo, "task": cfg.task, "seeds": list(seeds), "steps": cfg.steps,
        "returns": returns.tolist(), "return_mean": float(returns.mean()), "return_std": float(returns.std()),
        "normalised": [task.normalise(r) for r in returns], "wall_time": time.time() - t_start,
        "train_time": train_time, "steps_per_sec": cfg.steps * len(seeds) / max(train_time, 1e-9),
        "cost": spec_json["cost"], "cost_overrides": spec_json["cost_overrides"], "dataset": ds.card,
        "harness_version": __version__,
    }
    if last_eval.get("won") is not None and any(w is not None for w in last_eval["won"]):
        final["win_rate"] = [float(w) for w in last_eval["won"]]
    run.finish(final)
    return final


def _split_seeds(key):
    both = jax.vmap(jax.random.split)(key)
    return both[:, 0], both[:, 1]


def _check_finite(metrics: dict, step: int, seeds, run: Run) -> None:
    for name, values in metrics.items():
        values = np.asarray(values)
        if not np.all(np.isfinite(values)):
            bad = [s for s, v in zip(seeds, values) if not np.isfinite(v)]
            msg = (f"training diverged: '{name}' is not finite at step {step} for seed(s) {bad}. "
                   f"The last checkpoint in {run.ckpt_dir} is kept; try a smaller learning rate "
                   f"(--set lr=... / policy_lr / value_lr) or check the dataset for NaNs.")
            run.fail(msg + "\n")
            raise TrainingError(msg)


def _evaluate(cfg, task, evaluator, diag_fn, states, data, seeds, step, metrics_acc, train_time, t_start, run):
    keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(777 + s), step) for s in seeds])
    returns, won = jax.device_get(evaluator(states, keys))
    total = sum(n for n, _ in metrics_acc)
    losses = {k: sum(n * np.asarray(m[k]) for n, m in metrics_acc) / total for k in metrics_acc[0][1]}
    diags = {}
    if diag_fn is not None:
        batch = sample_batch(data, jax.random.PRNGKey(step), 1024)
        diags = jax.device_get(diag_fn(states, batch, jax.random.PRNGKey(step + 1)))
    rows = []
    for i, s in enumerate(seeds):
        r = {"kind": "eval", "step": step, "seed": s, "return": float(returns[i].mean()),
             "return_std": float(returns[i].std()), "normalised": task.normalise(float(returns[i].mean())),
             "train_time": train_time, "wall_time": time.time() - t_start}
        if task.reports_win_rate or (task.jax_env and bool(np.any(won))):
            r["win_rate"] = float(won[i].mean())
        r.update({f"loss/{k}": float(v[i]) for k, v in losses.items()})
        r.update({f"diag/{k}": float(v[i]) for k, v in diags.items()})
        rows.append(r)
    run.append_metrics(rows)
    return {"returns": [r["return"] for r in rows], "won": [r.get("win_rate") for r in rows]}


def fit(algo_name: str, task_id: str, overrides: dict | None = None, seeds=(0,), steps: int = 1000,
        batch_size: int = 64, allow_cost_override: bool = False, data_seed: int = 0, chunk: int = 1000):
    """Train in memory (no store, no evaluation) and return (algo_cls, task, states with a seed axis).

    For analyses and tests that need the learned parameters themselves.
    """
    from benchmarks.suites import get_task

    algo_cls = algorithms.get(algo_name)
    task = get_task(task_id)
    algo_cls.check_spec(task.spec)
    cfg = algo_cls.make_config(overrides or {}, allow_cost_override=allow_cost_override)
    _, data = load_data(task, algo_cls, RunConfig(algo_name, task_id, tuple(seeds), steps, data_seed=data_seed))
    states = init_states(algo_cls, task.spec, cfg, tuple(seeds))
    key = jnp.stack([jax.random.PRNGKey(10_000 + s) for s in seeds])
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        key, sub = _split_seeds(key)
        states, m = make_chunk(algo_cls, batch_size, n)(states, sub, data)
        done += n
    return algo_cls, task, states


def seed_slice(states, i: int):
    """The state of the i-th seed of a vmapped state."""
    return jax.tree.map(lambda x: x[i], states)
