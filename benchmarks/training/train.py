"""The jitted trainer: dataset on device, batches sampled on device inside ``lax.scan``, seeds vmapped.

Python runs once per chunk of gradient steps (at most ``chunk`` steps, 1 000 by default), not per
step. All seeds of one (algorithm, task, config) train together in one program: every leaf of the
state has a leading seed axis. ``train`` reads top to bottom like the reference training loops:

    set up (resolve the job, write spec.json, load the data, build or restore the state)
    for each evaluation point: train in chunks, evaluate (metrics.jsonl), checkpoint (orbax)
    finish (final.json)

so a killed run resumes from its last evaluation with the same result, and never writes a metric
row twice (``Run.append_metrics``).
"""
from __future__ import annotations

import contextlib
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
from algorithms.nets import count_matmul_flops
from algorithms.errors import BenchError, DatasetError, TrainingError
from benchmarks import __version__
from benchmarks.data.catalogue import check_published
from benchmarks.data.device import DeviceData
from benchmarks.data.transitions import check_against
from benchmarks.store import Run, results_root
from benchmarks.tasks import Task, get_task
from benchmarks.training.evaluate import make_evaluator, make_python_evaluator
from benchmarks.training import provenance
from benchmarks.training.plan import RunConfig

logging.getLogger("absl").setLevel(logging.ERROR)

Progress = Callable[[int, int, dict], None]  # (step, total steps, {"return": mean} after an evaluation)
DIAGNOSTIC_BATCH = 1024  # transitions the plugin's diagnostics hook sees at each evaluation
# final.json's scores are those of the last evaluation: what the MAC-Flow paper's tables report (App. E);
# `bench report --score best|last-k` recomputes others from metrics.jsonl
SCORE_RULE = "final"


def enable_compilation_cache() -> None:
    cache = os.environ.get("BENCH_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "bench", "jax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


# ---- the pieces of one training program ------------------------------------------------------------------
def load_data(task: Task, algo_cls, cfg: RunConfig, algo_cfg=None):
    """(Dataset, DeviceData): the dataset, checked against the task, and on the device at one copy (on a CPU
    the same memory), sampled by index as transitions, or as the windows of the plugin's ``window(algo_cfg)``
    (``sequence_length`` steps, some of them an observation history); with the per-step reward-to-go when the
    plugin's ``rtg_discount(algo_cfg)`` asks (default config if None)."""
    if cfg.dataset:
        from benchmarks.data.vault import read_dataset

        ds = read_dataset(cfg.dataset)
    else:
        ds = task.make_dataset(cfg.data_seed)
    check_dataset(ds, task)
    algo_cfg = algo_cfg if algo_cfg is not None else algo_cls.default_config()
    past, length = algo_cls.window(algo_cfg)
    return ds, DeviceData.from_dataset(ds, length, rtg_discount=algo_cls.rtg_discount(algo_cfg), past=past)


def check_dataset(ds, task: Task) -> None:
    """Before any training: the shapes must fit the evaluation environment's EnvSpec, and a vault of the
    download catalogue must hold the statistics og-marl publishes for it (a DatasetError otherwise)."""
    check_against(ds, task.spec)
    path = (ds.card or {}).get("path")
    if path:
        published = check_published(ds.summary(), path)
        if published:
            ds.card["published"] = published


def sample_batch(data, key, batch_size: int) -> Batch:
    """A uniform batch from DeviceData, or from materialised arrays (a dict of [M, ...], as in some tests)."""
    if isinstance(data, DeviceData):
        return data.sample(key, batch_size)
    n = data["reward"].shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return Batch(**{k: v[idx] for k, v in data.items()})


def make_chunk(algo_cls, batch_size: int, length: int, seed_batching: str = "auto"):
    """jit(over seeds of: scan of ``length`` sampled updates); returns mean metrics per seed.

    With a single seed the seed axis is dropped inside the program instead of vmapped: under vmap every
    matrix product becomes a batched one with a batch of 1, which XLA's CPU backend runs slower than the
    plain product (same results either way). Several seeds are ``seed_batching``: "vmap" (one program whose
    matrix products carry a seed axis: what fills an accelerator) or "map" (the seeds one after another
    inside the program, each with plain products). "auto" (:func:`auto_seed_batching`) is "map" on a CPU for
    networks of at least ``MAP_MIN_PARAMS`` parameters per seed or updates of at least ``MAP_MIN_FLOPS`` matmul
    FLOPs per seed, where the batched products ran below one seed's rate (MAC-Flow at paper size, one core:
    6.5 seed-steps/s for 4 vmapped seeds against 8.4 mapped; OMAR at [64, 64], whose update scores many
    sampled actions per transition through its critics: see ``MAP_MIN_FLOPS``; docs/performance.md,
    ``bench perf throughput``), and "vmap" otherwise: small updates gain from the batched products (bc at [64, 64]: 4
    vmapped seeds 1.27x one seed's rate) and accelerators from the parallelism."""
    if seed_batching not in ("auto", "vmap", "map"):
        raise ValueError(f"seed_batching must be 'auto', 'vmap' or 'map', got {seed_batching!r}")

    def one_step(state, k, data):
        kb, ku = jax.random.split(k)
        return algo_cls.update(state, sample_batch(data, kb, batch_size), ku)

    def one_seed(state, key, data):
        def body(state, k):
            return one_step(state, k, data)

        state, metrics = jax.lax.scan(body, state, jax.random.split(key, length))
        return state, jax.tree.map(lambda m: m.mean(), metrics)

    def chunk(states, keys, data):
        if keys.shape[0] == 1:
            state, metrics = one_seed(jax.tree.map(lambda x: x[0], states), keys[0], data)
            return jax.tree.map(lambda x: x[None], (state, metrics))
        mode = seed_batching
        if mode == "auto":
            one = jax.tree.map(lambda x: _abstract(x, drop=1), (states, keys))  # one seed's state and key
            mode = auto_seed_batching(states.params, keys.shape[0],
                                      lambda: count_matmul_flops(one_step, *one, jax.tree.map(_abstract, data)))
        if mode == "map":
            return jax.lax.map(lambda sk: one_seed(sk[0], sk[1], data), (states, keys))
        return jax.vmap(one_seed, in_axes=(0, 0, None))(states, keys, data)

    return jax.jit(chunk, donate_argnums=0)


MAP_MIN_PARAMS = 100_000  # [512] x 4 networks hold ~10^6 parameters, the tests' [32, 32] ~10^3
# matmul FLOPs of one sampled update (per seed) from which seeds are mapped on a CPU even for small networks:
# updates this large already run products of many rows, and a seed axis only adds batched-product overhead
# (measured at [64, 64], 4 seeds as a fraction of one seed's rate, vmapped / mapped: omar (2.6e8 FLOPs) 0.59 / 0.97,
# macql (3.8e8) 0.85 / 1.01, mabcq (1.2e8) 0.84 / 0.90; below the threshold vmap is level or ahead: icq (4.0e7)
# 0.83 / 0.75, omiga (2.9e7) 0.85 / 0.84, macflow (4.9e7) 1.21 vmapped)
MAP_MIN_FLOPS = 1e8


def _abstract(x, drop: int = 0):
    """The shape and dtype of ``x`` (without its ``drop`` leading axes), to trace a function on."""
    return jax.ShapeDtypeStruct(x.shape[drop:], x.dtype)


def auto_seed_batching(params, n_seeds: int, flops: Callable[[], float] | float | None = None) -> str:
    """"map" on a CPU when the networks hold at least ``MAP_MIN_PARAMS`` parameters per seed, or when one
    seed's update takes at least ``MAP_MIN_FLOPS`` matmul FLOPs (``flops``: a number, or a function computing
    it, called only when the parameters alone do not decide); else "vmap" (``params`` stacked over the seeds;
    shapes only, so it can run while tracing)."""
    if jax.default_backend() != "cpu":
        return "vmap"
    per_seed = sum(x.size for x in jax.tree.leaves(params)) // max(n_seeds, 1)
    if per_seed >= MAP_MIN_PARAMS:
        return "map"
    if callable(flops):
        try:
            flops = flops()
        except ValueError:  # a while_loop computes in the update: its FLOPs are unknown, the parameters decide
            flops = None
    return "map" if flops is not None and flops >= MAP_MIN_FLOPS else "vmap"


def init_states(algo_cls, spec, algo_cfg, seeds):
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    # jitted: one compilation instead of many small eager ones
    states = jax.jit(jax.vmap(lambda k: algo_cls.init(jax.random.fold_in(k, 1), spec, algo_cfg)))(keys)
    # plugins may alias buffers (a target network initialised to the online one); the chunk donates
    # its input, so every leaf gets its own buffer
    return jax.tree.map(jnp.copy, states)


def training_keys(seeds):
    """The per-seed key stream of the sampled updates (separate from the initialisation keys)."""
    return jnp.stack([jax.random.PRNGKey(10_000 + s) for s in seeds])


def _split_seeds(key):
    both = jax.vmap(jax.random.split)(key)
    return both[:, 0], both[:, 1]


def evaluation_points(cfg: RunConfig) -> list[int]:
    """Every ``eval_every`` steps, and at the last step."""
    return sorted(set(range(cfg.eval_every, cfg.steps, cfg.eval_every)) | {cfg.steps})


@dataclasses.dataclass
class Job:
    """One run, resolved: the plugin, its config, the task and where its results go."""

    cfg: RunConfig
    algo_cls: type
    algo_cfg: object
    task: Task
    run: Run

    @classmethod
    def resolve(cls, cfg: RunConfig, results=None) -> "Job":
        algo_cls = algorithms.get(cfg.algo)
        task = get_task(cfg.task)
        algo_cls.check_spec(task.spec)
        algo_cfg = algo_cls.make_config(cfg.overrides, allow_cost_override=cfg.allow_cost_override)
        if cfg.steps <= 0 or cfg.eval_every <= 0 or cfg.eval_episodes <= 0 or cfg.batch_size <= 0:
            raise BenchError("--steps, --eval-every, --eval-episodes and --batch-size must be positive")
        if cfg.online_steps:
            from benchmarks.training.plan import check_online, online_options

            check_online(algo_cls)
            online_options(cfg)
        return cls(cfg, algo_cls, algo_cfg, task, Run(results_root(results), cfg.run_id))

    @property
    def seeds(self) -> tuple:
        return tuple(self.cfg.seeds)

    def spec_record(self, ds=None) -> dict:
        """spec.json: what was run, and (given the dataset) what it was made with: ``provenance``."""
        task, cfg = self.task, self.cfg
        rec = {**cfg.inputs(), "run_id": self.run.id, "suite": task.suite, "task_name": task.name,
               "config": config_dict(self.algo_cfg), "cost_overrides": cost_overrides(self.algo_cls, self.algo_cfg),
               "cost": dataclasses.asdict(self.algo_cls.cost(task.spec, self.algo_cfg)),
               "harness_version": __version__, "env_spec": dataclasses.asdict(task.spec), "refs": list(task.refs()),
               "preset": sorted(cfg.preset), "protocol": cfg.protocol, "chunk": cfg.chunk,
               "allow_cost_override": cfg.allow_cost_override}
        if cfg.sweep:  # the keys a `bench run --sweep` varied (bench report --select best-config)
            rec["sweep"] = list(cfg.sweep)
        if ds is not None:
            rec["provenance"] = provenance.collect(task, ds, cfg)
        return rec


class Chunks:
    """Compiled chunks of sampled updates, one program per chunk length, NaN-checked after each."""

    def __init__(self, job: Job):
        self.job, self.compiled = job, {}

    def train_until(self, target: int, step: int, states, key, data, progress: Optional[Progress]):
        """Train from ``step`` to ``target``; returns (states, key, [(steps, mean metrics per seed)])."""
        cfg, done = self.job.cfg, []
        while step < target:
            n = min(cfg.chunk, target - step)
            if n not in self.compiled:
                self.compiled[n] = make_chunk(self.job.algo_cls, cfg.batch_size, n)
            key, sub = _split_seeds(key)
            states, m = self.compiled[n](states, sub, data)
            m = jax.device_get(m)
            step += n
            _check_finite(m, step, self.job.seeds, self.job.run)
            done.append((n, m))
            if progress:
                progress(step, cfg.steps, {})
        jax.block_until_ready(states)
        return states, key, done


class Evaluator:
    """Evaluates all seeds at a step and appends one metrics row per seed: return, normalised score,
    win rate, the mean training losses since the previous evaluation and the plugin's diagnostics."""

    def __init__(self, job: Job, data: DeviceData, t_start: float, phase: str = "offline"):
        self.job, self.data, self.t_start, self.phase = job, data, t_start, phase
        task = job.task
        make = make_evaluator if task.jax_env else make_python_evaluator
        self.env = task.make_env()  # kept: a StarCraft maker holds its instances (and reward scales) for the job
        self.rollouts = make(self.env, job.algo_cls, job.cfg.eval_episodes)
        hook = job.algo_cls.diagnostics
        self.diagnostics = jax.jit(jax.vmap(hook, in_axes=(0, None, None))) if hook is not None else None
        self.train_time = 0.0  # seconds spent in gradient steps by this process

    def __call__(self, states, step: int, losses_per_chunk: list, extra: Optional[dict] = None) -> dict:
        """``extra``: {column: a value per seed} added to the rows (the online phase's environment steps)."""
        job, task = self.job, self.job.task
        seeds = job.seeds
        keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(777 + s), step) for s in seeds])
        returns, won = jax.device_get(self.rollouts(states, keys))
        total = sum(n for n, _ in losses_per_chunk)
        losses = {k: sum(n * np.asarray(m[k]) for n, m in losses_per_chunk) / total for k in losses_per_chunk[0][1]}
        diags = {}
        if self.diagnostics is not None:
            batch = sample_batch(self.data, jax.random.PRNGKey(step), DIAGNOSTIC_BATCH)
            diags = jax.device_get(self.diagnostics(states, batch, jax.random.PRNGKey(step + 1)))
        # smacv2 scales rewards per StarCraft II instance (from its first episode's teams): each return is
        # recorded with the scales it was computed under, the instances' max_reward (None: no such scale)
        scales = self.env.reward_scales() if hasattr(self.env, "reward_scales") else None
        rows = []
        for i, s in enumerate(seeds):
            r = {"kind": "eval", "step": step, "seed": s, "return": float(returns[i].mean()),
                 "return_std": float(returns[i].std()), "normalised": task.normalise(float(returns[i].mean())),
                 "train_time": self.train_time, "wall_time": time.time() - self.t_start, "phase": self.phase}
            r.update({k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in (extra or {}).items()})
            if task.reports_win_rate or (task.jax_env and bool(np.any(won))):
                r["win_rate"] = float(won[i].mean())
            if scales:
                r["reward_scale_rate"] = scales[0]["reward_scale_rate"]
                r["reward_max"] = [sc["max_reward"] for sc in scales]
            r.update({f"loss/{k}": float(v[i]) for k, v in losses.items()})
            r.update({f"diag/{k}": float(v[i]) for k, v in diags.items()})
            rows.append(r)
        job.run.append_metrics(rows)
        return {"returns": [r["return"] for r in rows], "won": [r.get("win_rate") for r in rows],
                "reward_max": rows[0].get("reward_max") if rows else None}


# ---- checkpoints ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _checkpoints(path: Path):
    import orbax.checkpoint as ocp

    mngr = ocp.CheckpointManager(path.absolute(), options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
    try:
        yield mngr
    finally:
        mngr.close()


def _restore(mngr, states, key):
    """(states, key, step) of the latest checkpoint, or the given ones at step 0."""
    import orbax.checkpoint as ocp

    step = mngr.latest_step()
    if step is None:
        return states, key, 0
    restored = mngr.restore(step, args=ocp.args.StandardRestore({"state": states, "key": key}))
    return restored["state"], restored["key"], int(step)


def _save(mngr, step: int, states, key) -> None:
    import orbax.checkpoint as ocp

    mngr.save(step, args=ocp.args.StandardSave({"state": states, "key": key}), force=True)
    mngr.wait_until_finished()


@contextlib.contextmanager
def _failures_recorded(run: Run):
    """A traceback in error.txt for anything but a diverged loss (which writes its own message)."""
    try:
        yield
    except TrainingError:
        raise
    except Exception:
        run.fail(traceback.format_exc())
        raise


# ---- the loop --------------------------------------------------------------------------------------------
def train(cfg: RunConfig, results: str | Path | None = None, progress: Optional[Progress] = None,
          resume: bool = True, expect_data: Optional[str] = None) -> dict:
    """Run (or resume, or skip if finished) one job; returns final.json's content.

    ``expect_data``: the content sha256 the dataset must have (``bench reproduce``); checked before training."""
    job = Job.resolve(cfg, results)
    if cfg.online_steps:
        raise BenchError(f"{cfg.label} has an online phase: train it with benchmarks.training.online.train")
    stale = stored_verdict(job, resume)
    if resume and job.run.finished and not stale[0]:
        return job.run.final()
    t_start = time.time()
    # the data are read and checked (shapes against the environment, statistics against the catalogue)
    # before the run directory exists, so a bad dataset leaves nothing behind
    ds, data = load_data(job.task, job.algo_cls, cfg, job.algo_cfg)
    if expect_data is not None:
        got = provenance.content_digest(ds)
        if got != expect_data:
            raise DatasetError(f"the dataset of {cfg.label} has content sha256 {got[:16]}..., the recorded run "
                               f"trained on {expect_data[:16]}...; the data changed (regenerated with other code, or "
                               f"another file at {ds.card.get('path') or 'the generator'}): restore the recorded "
                               f"data to reproduce this run")
    spec = job.spec_record(ds)
    reused = settle_stored(job, stale, spec)
    if reused is not None:
        return reused
    _note_resumed_provenance(job.run, spec["provenance"])
    job.run.start(spec)
    states = init_states(job.algo_cls, job.task.spec, job.algo_cfg, job.seeds)
    key = training_keys(job.seeds)
    last_eval = None
    with _checkpoints(job.run.ckpt_dir) as ckpt:
        states, key, step = _restore(ckpt, states, key) if resume else (states, key, 0)
        evaluate = Evaluator(job, data, t_start)
        chunks = Chunks(job)
        try:
            with _failures_recorded(job.run):
                for target in (t for t in evaluation_points(cfg) if t > step):
                    t0 = time.time()
                    states, key, losses = chunks.train_until(target, step, states, key, data, progress)
                    step = target
                    evaluate.train_time += time.time() - t0
                    last_eval = evaluate(states, step, losses)
                    if progress:
                        progress(step, cfg.steps, {"return": float(np.mean(last_eval["returns"]))})
                    _save(ckpt, step, states, key)
        finally:  # a maker that keeps simulator instances for the job's evaluations (StarCraft II) lets them go
            if callable(getattr(evaluate.env, "close", None)):
                evaluate.env.close()
    return _finish(job, ds, last_eval, evaluate.train_time, t_start)


def stored_verdict(job: Job, resume: bool = True) -> tuple[str, str]:
    """Whether the run already stored under this id was made by this code on these data, before any data are
    read: ("", "") yes (or nothing stored, or --fresh), ("code", why) no: another revision of the code, or
    ("data", why): the data's files changed since, their content digest decides (``settle_stored``)."""
    if not resume or not job.run.spec_path.exists():
        return "", ""
    rev = provenance.revision(job.cfg.algo, job.task, online=bool(job.cfg.online_steps))
    return provenance.outdated(job.run.spec(), rev, provenance.data_stamp(job.task, job.cfg))


def settle_stored(job: Job, stale: tuple, spec: dict) -> Optional[dict]:
    """Act on ``stored_verdict`` once the data are read (``spec``: this start's spec.json, with the data's
    digest): a run of other code, or of data whose content differs, moves to superseded/ and the id trains
    again from step 0; a run whose data files changed but not their content keeps going (finished: its
    final.json is returned as is, with the new stamp recorded)."""
    kind, why = stale
    if not kind:
        return None
    run = job.run
    if kind == "data":
        old = run.spec()
        recorded = ((old.get("provenance") or {}).get("dataset") or {}).get("sha256")
        now = spec["provenance"]["dataset"]
        if recorded == now["sha256"]:
            old["provenance"]["dataset"]["stamp"] = now.get("stamp")
            run.rewrite_spec(old)
            return run.final() if run.finished else None
        why = f"its data changed since (content sha256 {str(recorded)[:16]}... then, {now['sha256'][:16]}... now)"
    run.supersede(why)
    return None


def _note_resumed_provenance(run: Run, prov: dict) -> None:
    """spec.json keeps the provenance of the run's first start; a resume with other code, packages, device
    or data appends what differs (and from which checkpoint step) to its ``resumed_with`` list."""
    if not run.spec_path.exists():
        return
    spec = run.spec()
    if "provenance" not in spec:
        return
    diffs = provenance.differences(spec["provenance"], prov)
    if diffs:
        spec.setdefault("resumed_with", []).append(
            {"from_step": run.checkpoint_step(),
             "differences": [{"field": f, "recorded": a, "now": b} for f, a, b in diffs]})
        run.rewrite_spec(spec)


def _finish(job: Job, ds, last_eval: Optional[dict], train_time: float, t_start: float) -> dict:
    """final.json, from the last evaluation (read back from metrics.jsonl when the run resumed after it).

    A fine-tuned run's ``steps`` are those of both phases (its last evaluation's step); ``steps_per_sec`` counts
    the gradient steps this run trained itself (its online phase)."""
    cfg, run, seeds = job.cfg, job.run, job.seeds
    if last_eval is None:  # resumed after the last evaluation was checkpointed
        rows = [r for r in run.metrics() if r.get("kind") == "eval" and r["step"] == cfg.total_steps]
        last_eval = {"returns": [r["return"] for r in rows], "won": [r.get("win_rate") for r in rows]}
    returns = np.asarray(last_eval["returns"], np.float64)
    spec = job.spec_record()
    final = {
        "run_id": run.id, "algo": cfg.algo, "task": cfg.task, "seeds": list(seeds), "steps": cfg.total_steps,
        "returns": returns.tolist(), "return_mean": float(returns.mean()), "return_std": float(returns.std()),
        "normalised": [job.task.normalise(r) for r in returns], "wall_time": time.time() - t_start,
        "train_time": train_time, "steps_per_sec": (cfg.online_steps or cfg.steps) * len(seeds) / max(train_time, 1e-9),
        "cost": spec["cost"], "cost_overrides": spec["cost_overrides"], "dataset": ds.card,
        "harness_version": __version__, "score_rule": SCORE_RULE,
        "device": provenance.device_name(jax.devices()[0]),  # what this (last) attempt trained on
    }
    if last_eval.get("won") is not None and any(w is not None for w in last_eval["won"]):
        final["win_rate"] = [float(w) for w in last_eval["won"]]
    if cfg.online_steps:
        final.update(offline_steps=cfg.steps, online_steps=cfg.online_steps, parent_run_id=cfg.parent().run_id)
    if last_eval.get("reward_max"):  # the reward scales (smacv2: per instance) the final returns were computed under
        final["reward_max"] = last_eval["reward_max"]
    run.finish(final)
    return final


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


# ---- in memory ---------------------------------------------------------------------------------------------
def fit(algo_name: str, task_id: str, overrides: dict | None = None, seeds=(0,), steps: int = 1000,
        batch_size: int = 64, allow_cost_override: bool = False, data_seed: int = 0, chunk: int = 1000):
    """Train in memory (no store, no evaluation) and return (algo_cls, task, states with a seed axis).

    For analyses and tests that need the learned parameters themselves.
    """
    algo_cls = algorithms.get(algo_name)
    task = get_task(task_id)
    algo_cls.check_spec(task.spec)
    cfg = algo_cls.make_config(overrides or {}, allow_cost_override=allow_cost_override)
    _, data = load_data(task, algo_cls, RunConfig(algo_name, task_id, tuple(seeds), steps, data_seed=data_seed), cfg)
    states = init_states(algo_cls, task.spec, cfg, tuple(seeds))
    key = training_keys(seeds)
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


def restore_trained(cfg: RunConfig, results=None):
    """(algo_cls, task, states with a seed axis) of a run from its latest checkpoint in the store, for analyses
    that sample the learned policies (the games figures). A one-line error when the run has no checkpoint at
    its last step."""
    job = Job.resolve(cfg, results)
    if job.run.checkpoint_step() != cfg.steps:
        raise BenchError(f"run {job.run.id} ({cfg.label}) has no checkpoint at its last step {cfg.steps} in "
                         f"{job.run.ckpt_dir}; re-run it with `bench run --task {cfg.task} --algos {cfg.algo} --fresh`")
    states = init_states(job.algo_cls, job.task.spec, job.algo_cfg, job.seeds)
    with _checkpoints(job.run.ckpt_dir) as mngr:
        states, _, _ = _restore(mngr, states, training_keys(job.seeds))
    return job.algo_cls, job.task, states
