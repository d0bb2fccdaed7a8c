"""The job runner behind ``bench run``: every (algorithm, task[, seed]) job fanned out through Ray.

A job is one ``benchmarks.training.plan.RunConfig`` (algorithm, task, seeds, config overrides, steps, ...);
its run id is the hash of those inputs (``RunConfig.run_id``), so the same command finds its earlier
runs: finished ones (final.json present) are skipped without being sent anywhere, interrupted ones
resume from their last orbax checkpoint. The seeds of a job are trained together (vmapped) unless
``--split-seeds`` makes one job per seed.

Ray (``ray[default]``):
  * local by default: the command starts a one-machine cluster (``num_cpus`` = the machine's cores, no
    dashboard) and stops it at its end; ``--address HOST:PORT`` (or ``auto``) joins a running cluster
    instead. On a cluster the results directory must be a path every node sees (a shared filesystem);
    a job that cannot see it fails with a message saying so.
  * ``--cpus-per-job`` / ``--gpus-per-job`` are the Ray resources of each job; ``--max-retries`` is how often a
    job whose worker process died (killed, out of memory, node lost) is started again -- it resumes from its
    checkpoint.
  * GPUs (``gpu_plan``). On a cluster that declares GPUs, every job gets a GPU share without a flag: k jobs per
    GPU, k = the fewest that keep every GPU busy (ceil(jobs / GPUs)), at most ``MAX_JOBS_PER_GPU``, at most
    what the node's CPUs give each GPU (CPUs / (GPUs x --cpus-per-job)) and at most what fits in a GPU's memory
    (its JAX memory limit / the job's estimate, ``plan.job_memory``). Each GPU is reserved as one Ray placement
    group and the jobs are handed to the GPUs in turn, so they spread over every GPU (Ray alone fills one GPU
    with fractional jobs before the next). ``--gpus-per-job X`` sets the share (up to 1/X jobs per GPU);
    ``--gpus-per-job 0`` trains on the CPU with the GPUs hidden from the job (CUDA_VISIBLE_DEVICES="",
    JAX_PLATFORMS=cpu: the pinned Ray 2.60 no longer empties CUDA_VISIBLE_DEVICES for tasks that ask for no
    GPU, ray-project/ray#54868 on GitHub). Before any job starts, one small probe per GPU node checks that JAX there sees the
    GPU Ray gives it (else a one-line error with the install line, ``GPU_INSTALL``); each job checks again and
    fails at once rather than train on the CPU. A GPU job runs in a fresh worker process (Ray's max_calls=1), so
    its JAX initialises with the GPU Ray assigned it. Every job reports and records the device it trained on.
  * An exception inside a job is a job-level failure: its traceback goes to the run's error.txt and
    every other job continues; the command exits 1 at the end if any job failed.
  * The driver (this process) never imports JAX: names and overrides are validated by
    ``benchmarks.training.plan.plan_jobs`` in a short subprocess (``python -m benchmarks.training.runner --plan``; inline
    when JAX is already loaded, e.g. under pytest), before any cluster starts; it returns plain dicts. Workers set
    XLA_PYTHON_CLIENT_PREALLOCATE=false so several jobs share a GPU. ``--no-ray`` runs every job in
    this process, one after the other (for debugging; imports JAX).

Each job holds its run's lock while it runs and records every attempt in node.json (both in
benchmarks/store.py, which owns the layout of the store).

Test hooks (off unless the environment variable is set; used by tests/test_runner.py only):
  BENCH_TEST_FAULT="ACTION@STEP[:MATCH];..."  in every job whose label ("algo task seeds=...")
  contains MATCH, at the first progress report with step >= STEP that is not an evaluation (so the
  checkpoint of the previous evaluation exists), do ACTION: ``kill`` -- SIGKILL the worker process
  (once per run: a marker file .test-hook-kill is left in the run directory); ``raise`` -- raise
  RuntimeError (every attempt); ``hold`` -- sleep BENCH_TEST_HOLD_SECONDS (default 60) once, leaving
  .test-hook-hold, so a test can kill the driver while the job is mid-run.
  BENCH_TEST_GPU_AS_CPU=1  the GPU checks (probe and job) accept a JAX that sees no GPU, so a test can declare
  GPU resources to Ray on a CPU machine and follow the GPU shares and ids the jobs get; ``probe``: only the
  probe accepts it, so each job reaches its own check (and fails at once).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

from algorithms.errors import BenchError
from benchmarks.store import SUPERSEDED_DIR, Run, check_writable
from benchmarks.training.plan import check_memory

PREALLOCATE = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
MAX_JOBS_PER_GPU = 4  # jobs sharing one GPU at most (separate processes time-slice it; see docs/cluster.md)
GPU_INSTALL = 'pip install -e ".[gpu]" (jax[cuda12], the CUDA build of the pinned jax)'


# ---- planning (JAX side: runs in a worker, or inline with --no-ray) ----------------------------------
def plan(options: dict) -> dict:
    """Validate the ``run`` options with plan_jobs; return job dicts or the error line."""
    os.environ.update(PREALLOCATE)
    from benchmarks.training.plan import plan_jobs

    notices: list = []
    try:
        configs = plan_jobs(argparse.Namespace(**options), notices)
    except BenchError as exc:
        return {"error": str(exc)}
    return {"jobs": job_dicts(configs), "notices": notices}


# ---- one job (worker side) ---------------------------------------------------------------------------
def _node_info() -> dict:
    info = {"hostname": socket.gethostname(), "pid": os.getpid(), "node_id": None, "node_ip": None}
    try:
        import ray

        if ray.is_initialized():
            info["node_id"] = ray.get_runtime_context().get_node_id()
            info["node_ip"] = ray.util.get_node_ip_address()
    except Exception:  # pragma: no cover - inline mode without a cluster
        pass
    return info


def node_label(node: Optional[dict]) -> str:
    if not node or not node.get("hostname"):  # runs finished before node.json existed have none
        return ""
    return node["hostname"] + (f":{node['node_id'][:6]}" if node.get("node_id") else "")


class _Hooks:
    """The BENCH_TEST_FAULT test hooks (see the module docstring); inert when the variable is unset."""

    def __init__(self, label: str, run: Run):
        self.run, self.rules = run, []
        for part in filter(None, os.environ.get("BENCH_TEST_FAULT", "").split(";")):
            action, rest = part.split("@", 1)
            step, _, match = rest.partition(":")
            if match in label:
                self.rules.append((action.strip(), int(step)))

    def __call__(self, step: int, info: dict) -> None:
        for action, at in self.rules:
            if step < at or "return" in info:
                continue
            marker = self.run.dir / f".test-hook-{action}"
            if action == "raise":
                raise RuntimeError(f"test hook: deliberate failure at step {step}")
            if marker.exists():
                continue
            marker.write_text(str(os.getpid()))
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif action == "hold":
                time.sleep(float(os.environ.get("BENCH_TEST_HOLD_SECONDS", "60")))


def hide_gpus() -> None:
    """Before JAX is imported in a CPU job: no GPU visible to it (Ray >= 2.50 leaves CUDA_VISIBLE_DEVICES as the
    node has it for a task that asks for no GPU), and JAX on its CPU backend."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["JAX_PLATFORMS"] = "cpu"


def job_device() -> dict:
    """The device this process's JAX trains on, and what Ray gave it: ``device`` (provenance's form, e.g.
    cpu, gpu:NVIDIA A100-SXM4-40GB), ``platform``, ``gpu_ids`` (Ray's assignment), ``cuda_visible_devices``."""
    import jax

    from benchmarks.training.provenance import device_name

    dev = jax.devices()[0]
    ids = []
    try:
        import ray

        if ray.is_initialized():
            ids = [str(i) for i in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]
    except Exception:  # pragma: no cover - inline mode
        pass
    return {"device": device_name(dev), "platform": dev.platform, "gpu_ids": ids,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def no_gpu_seen(where: str, dev: dict) -> str:
    """The one line for a job (or probe) given a GPU whose JAX sees none."""
    return (f"{where} was given GPU {','.join(dev['gpu_ids']) or '?'} by Ray (CUDA_VISIBLE_DEVICES="
            f"{dev['cuda_visible_devices']!r}) but JAX there sees only {dev['platform']} devices: JAX without CUDA is "
            f"installed; install it on every GPU node with {GPU_INSTALL}, or pass --gpus-per-job 0 to train on "
            f"the CPU")


def execute(job: dict, root: str, resume: bool = True, report: Optional[Callable] = None) -> dict:
    """Run one job to its end (or skip it if finished); never raises for a job-level failure."""
    os.environ.update(PREALLOCATE)
    report = report or (lambda **kw: None)
    node = _node_info()
    dev = job_device()
    node.update(device=dev["device"], gpu_ids=dev["gpu_ids"], cuda_visible_devices=dev["cuda_visible_devices"],
                gpus=job.get("gpus", 0))
    if job.get("gpus") and dev["platform"] != "gpu" and os.environ.get("BENCH_TEST_GPU_AS_CPU") != "1":
        return {"status": "failed", "error": no_gpu_seen(f"this job on {node_label(node)}", dev), "node": node}
    run = Run(Path(root), job["run_id"])
    if not Path(root).is_dir():
        msg = (f"results directory '{root}' does not exist on node {node_label(node)}; on a cluster --results "
               f"must be a path on a filesystem shared by every node")
        return {"status": "failed", "error": msg, "node": node}
    with run.lock():
        record_sweep(run, job["cfg"].get("sweep"))
        if job.get("revision"):  # this worker's code must be the code the driver planned with
            why = _other_code(job)
            if why:
                return {"status": "failed", "error": why, "node": node}
        if resume and run.finished and not outdated_run(run, job)[0]:
            return {"status": "skipped", "final": run.final(), "node": node}
        if not resume:  # --fresh: forget the earlier result, its metrics and its checkpoints
            run.forget()
        start = run.checkpoint_step()
        run.record_attempt(node, resumed_from_step=start)
        report(status="running", node=node, step=start, device=_device_label(node))
        hooks = _Hooks(job["label"], run)

        def progress(step, total, info):
            hooks(step, info)
            report(step=step, total=total, **({"ret": info["return"], "eval_step": step} if "return" in info else {}))

        try:
            from benchmarks.training.plan import RunConfig
            from benchmarks.training.online import train  # offline runs, and offline-to-online ones
            from benchmarks.training.train import enable_compilation_cache

            enable_compilation_cache()
            cfg = dict(job["cfg"], seeds=tuple(job["cfg"]["seeds"]))
            final = train(RunConfig(**cfg), results=root, progress=progress, resume=resume)
        except Exception as exc:
            tb = traceback.format_exc()
            old = run.error_path.read_text() if run.error_path.exists() else ""
            run.fail(old if tb.strip() in old else (old + "\n" if old else "") + tb)
            run.record_attempt(node, status="failed")
            return {"status": "failed", "error": _one_line(exc), "node": node}
        run.record_attempt(node, status="done")
        return {"status": "done", "final": final, "node": node}


def record_sweep(run: Run, keys) -> None:
    """A run that a ``--sweep`` finds already made (the same inputs run before, without a sweep or in another one)
    is one of its configurations too: the keys join spec.json's ``sweep``, so the report's tuning budget counts it."""
    if not keys or not run.spec_path.exists():
        return
    spec = run.spec()
    have = list(spec.get("sweep") or ())
    if set(keys) - set(have):
        spec["sweep"] = have + [k for k in keys if k not in have]
        run.rewrite_spec(spec)


def _device_label(node: Optional[dict]) -> str:
    """'gpu:NVIDIA A100 (GPU 3)', 'cpu' or '' (runs recorded before devices were)."""
    if not node or not node.get("device"):
        return ""
    ids = node.get("gpu_ids") or []
    return node["device"] + (f" (GPU {','.join(ids)})" if ids else "")


def outdated_run(run: Run, job: dict) -> tuple[str, str]:
    """provenance.outdated for a stored run and a planned job (its ``revision`` and ``data_stamp``); ("", "")
    for a job planned without them (an older driver)."""
    from benchmarks.training.provenance import outdated

    if not job.get("revision") or not run.spec_path.exists():
        return "", ""
    try:
        spec = run.spec()
    except (OSError, json.JSONDecodeError):
        return "code", "its spec.json is unreadable"
    return outdated(spec, job["revision"], job.get("data_stamp"))


def _other_code(job: dict) -> str:
    """A sentence when this process's harness code is not the revision the driver planned the job with."""
    from benchmarks.tasks import get_task
    from benchmarks.training.provenance import revision

    cfg = job["cfg"]
    mine = revision(cfg["algo"], get_task(cfg["task"]), online=bool(cfg.get("online_steps")))
    if mine["id"] == job["revision"]["id"]:
        return ""
    a, b = job["revision"].get("files") or {}, mine.get("files") or {}
    changed = sorted(m for m in set(a) | set(b) if a.get(m) != b.get(m))
    return (f"this node runs other harness code than the driver ({', '.join(changed[:4]) or 'another revision'} "
            f"differ): install the same version on every node (e.g. the same checkout or wheel) and run again")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# ---- the live view (driver side) ---------------------------------------------------------------------
PLAIN_EVERY = 5.0  # seconds between two plain progress lines of one job (evaluations, starts and ends always print)
PLAIN_QUIET = 60.0  # after this long without a line, a running job's line repeats (compiling, or between evaluations)


class View:
    """The progress of every job: a rich live view on a terminal, plain text lines otherwise.

    On a terminal: a row per job (status, steps, last return, node, ETA) and an overall row. When the
    console is not a terminal (nohup, a cluster log, CI), a live display would only appear at the end,
    so instead each event is one flushed line: a job starts, an evaluation (step and return), a job
    ends (status, elapsed time), and in between its step count when it changed, at most every ``PLAIN_EVERY`` s
    (and every ``PLAIN_QUIET`` s without news, so a job that compiles or trains a long stretch shows it runs)."""

    STYLE = {"queued": "dim", "running": "yellow", "done": "green", "skipped": "cyan", "failed": "bold red"}

    def __init__(self, jobs: list, console, disable: bool, plain: Optional[bool] = None,
                 on_update: Optional[Callable] = None):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.console = console
        self.on_update = on_update  # (run id, status): e.g. the metrics mirror (benchmarks/training/mirror.py)
        self.plain = (not console.is_terminal) if plain is None else plain
        self.plain = self.plain and not disable
        self.t0 = time.monotonic()
        self.prog = Progress(TextColumn("{task.description}"), TextColumn("{task.fields[status]}"), BarColumn(),
                             MofNCompleteColumn(), TextColumn("{task.fields[ret]}"), TextColumn("{task.fields[node]}"),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                             disable=disable or self.plain)
        self.state = {j["run_id"]: {"status": "queued", "step": 0, "total": _total(j), "ret": None,
                                    "node": None, "eval_step": None} for j in jobs}
        self.labels = {j["run_id"]: j["label"] for j in jobs}
        self.printed = {j["run_id"]: {"at": 0.0, "eval_step": None, "started": None} for j in jobs}
        self.rows = {}
        for j in jobs:
            self.rows[j["run_id"]] = self.prog.add_task(j["label"], total=_total(j), status="queued",
                                                        ret="", node="")
        self.overall = self.prog.add_task("all jobs", total=sum(s["total"] for s in self.state.values()) or 1,
                                          status="", ret="", node="")
        if self.plain:
            self._line(f"{len(jobs)} job(s)")

    def __enter__(self):
        self.prog.__enter__()
        return self

    def __exit__(self, *exc):
        self.prog.__exit__(*exc)

    def _line(self, text: str) -> None:
        """One plain progress line, written and flushed at once (no markup, never wrapped)."""
        stamp = time.monotonic() - self.t0
        f = self.console.file
        f.write(f"[{int(stamp // 60):02d}:{stamp % 60:04.1f}] {text}\n")
        f.flush()

    def _plain(self, rid: str, before: str) -> None:
        s, p, label = self.state[rid], self.printed[rid], self.labels[rid]
        now = time.monotonic()
        where = f" on {node_label(s['node'])}" if node_label(s["node"]) else ""
        where += f", device {s['device']}" if s.get("device") else ""
        if s["status"] == "running" and p["started"] is None:
            p["started"] = p["at"] = now
            p["step"] = s["step"]
            self._line(f"start {label}{where}" + (f" (resuming at step {s['step']})" if s["step"] else ""))
        if s["eval_step"] is not None and s["eval_step"] != p["eval_step"] and s["ret"] is not None:
            p["eval_step"], p["step"], p["at"] = s["eval_step"], s["eval_step"], now
            self._line(f"eval  {label} step {s['eval_step']}/{s['total']} return {s['ret']:.3f}")
        elif (s["status"] == "running" and p["started"] is not None and now - p["at"] >= PLAIN_EVERY
              and (s["step"] != p.get("step") or now - p["at"] >= PLAIN_QUIET)):  # news, or a sign of life
            p["at"], p["step"] = now, s["step"]
            self._line(f"      {label} step {s['step']}/{s['total']}, running {now - p['started']:.0f} s")
        if s["status"] in ("done", "failed", "skipped") and before not in ("done", "failed", "skipped"):
            took = f" after {now - p['started']:.1f} s" if p["started"] is not None else ""
            ret = f", return {s['ret']:.3f}" if s["ret"] is not None else ""
            self._line(f"{s['status']:5s} {label}{took}{ret}")

    def update(self, rid: str, **kw) -> None:
        s = self.state[rid]
        if s["status"] in ("done", "failed", "skipped") and kw.get("status") in (None, "running"):
            return  # a late progress message from a finished job
        before = s["status"]
        s.update({k: v for k, v in kw.items() if v is not None})
        if s["status"] in ("done", "skipped"):
            s["step"] = s["total"]
        if self.plain:
            self._plain(rid, before)
        style = self.STYLE.get(s["status"], "")
        ret = f"return {s['ret']:.3f}" if s["ret"] is not None else ""
        self.prog.update(self.rows[rid], completed=s["step"], status=f"[{style}]{s['status']}[/]", ret=ret,
                         node=node_label(s["node"]))
        counts = {k: sum(v["status"] == k for v in self.state.values()) for k in self.STYLE}
        finished = ("done", "skipped", "failed")  # a failed job's remaining steps are not waited for
        self.prog.update(self.overall, completed=sum(v["total"] if v["status"] in finished else v["step"]
                                                     for v in self.state.values()),
                         status=" ".join(f"{n} {k}" for k, n in counts.items() if n))
        if self.on_update is not None:
            self.on_update(rid, s["status"])


def _total(job: dict) -> int:
    """Gradient steps of a job: its offline steps and any online ones."""
    return job["cfg"]["steps"] + job["cfg"].get("online_steps", 0)


# ---- the driver --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    jobs: list  # job dicts with status, node, final (or None), error (or None)

    @property
    def finals(self) -> list:
        return [j["final"] for j in self.jobs if j.get("final")]

    @property
    def failed(self) -> list:
        return [j for j in self.jobs if j["status"] == "failed"]


def _options(args) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def check_options(args) -> None:
    if args.cpus_per_job <= 0:
        raise BenchError(f"--cpus-per-job must be positive, got {args.cpus_per_job}")
    if args.gpus_per_job is not None and args.gpus_per_job < 0:
        raise BenchError(f"--gpus-per-job must be >= 0 (0: the CPU; fractions share a GPU, e.g. 0.25), got "
                         f"{args.gpus_per_job}")
    if args.max_retries < 0:
        raise BenchError(f"--max-retries must be >= 0, got {args.max_retries}")
    if args.no_ray and args.address:
        raise BenchError("--no-ray runs every job in this process; leave out --address (or --no-ray)")


def _reachable(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise BenchError(f"--address must be HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379) or 'auto', got '{address}'")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise BenchError(f"cannot reach a Ray cluster at {address} ({why}); start one there with "
                         f"`ray start --head --port={port}` or leave out --address to run on this machine") from None


def connect(args):
    """Start (local) or join (--address) a Ray cluster and check it can run the jobs; returns ray."""
    os.environ.update(PREALLOCATE)  # inherited by the workers of a local cluster
    import logging

    import ray

    env = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    env.update(PREALLOCATE)
    kw = dict(runtime_env={"env_vars": env}, log_to_driver=False, logging_level=logging.ERROR)
    try:
        if args.address:
            ray.init(address=args.address, **kw)
        else:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=200 * 2**20, **kw)
    except Exception as exc:  # connection / authentication problems are user errors here
        if ray.is_initialized():
            ray.shutdown()
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        hint = (" (the cluster uses token authentication: set RAY_AUTH_MODE=token and make the token "
                "available in ~/.ray/auth_token or RAY_AUTH_TOKEN_PATH)" if "auth" in str(exc).lower() else "")
        raise BenchError(f"could not start or join a Ray cluster{' at ' + args.address if args.address else ''}: "
                         f"{msg}{hint}") from None
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        max_gpu = max((n["Resources"].get("GPU", 0) for n in nodes), default=0)
        max_cpu = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
        if (args.gpus_per_job or 0) > 0 and max_gpu < args.gpus_per_job:
            raise BenchError(f"--gpus-per-job {args.gpus_per_job:g} asks for a GPU but "
                             + (f"the largest node has {max_gpu:g}" if max_gpu else "the cluster has no GPU")
                             + "; leave out --gpus-per-job to train on CPU")
        if max_cpu < args.cpus_per_job:
            raise BenchError(f"--cpus-per-job {args.cpus_per_job:g} but the largest node has {max_cpu:g} CPUs; "
                             f"pass --cpus-per-job {max(max_cpu, 1):g} or less")
    except BaseException:
        ray.shutdown()
        raise
    return ray


# ---- GPUs -------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class GpuPlan:
    """How the jobs of one ``bench run`` use the cluster's GPUs (see ``gpu_plan``)."""

    share: float  # Ray GPUs each job asks for
    per_gpu: int  # jobs one GPU holds at once
    gpus: int  # GPUs reserved (one placement group each); 0: no reservation (a job of more than one GPU)
    why: str  # the rule's numbers, for the note bench run prints


def gpu_plan(nodes: list, jobs: list, cpus_per_job: float, gpus_per_job: Optional[float],
             gpu_bytes: Optional[int] = None) -> Optional[GpuPlan]:
    """The GPU share of each job on a cluster of ``nodes`` (ray.nodes() entries), or None for the CPU.

    None when ``gpus_per_job`` is 0 or the cluster has no GPU (and none was asked for). Otherwise k jobs share a
    GPU: with ``gpus_per_job`` None, k = ceil(jobs / GPUs) (the fewest that keep every GPU busy), at most
    MAX_JOBS_PER_GPU, at most the CPUs a node has per GPU (CPUs / (GPUs x cpus_per_job)) and at most what fits
    in ``gpu_bytes`` (a GPU's memory limit, when known) given the largest job's estimate (``memory``: its data
    and runtime); the share is 1/k. An explicit share X <= 1 lets up to 1/X jobs share a GPU, with the same CPU
    and memory limits; X > 1 (a job of several GPUs) is passed to Ray as it is."""
    import math

    from benchmarks.training.plan import RUNTIME_BYTES

    if gpus_per_job == 0:
        return None
    gpu_nodes = [n["Resources"] for n in nodes if n.get("Alive") and n["Resources"].get("GPU", 0) >= 1]
    total = int(sum(r["GPU"] for r in gpu_nodes))
    if not total or not jobs:
        return None
    if gpus_per_job is not None and gpus_per_job > 1:
        return GpuPlan(gpus_per_job, 1, 0, f"{gpus_per_job:g} GPUs per job (--gpus-per-job)")
    by_cpu = max(1, min(int(r.get("CPU", 0) // (r["GPU"] * cpus_per_job)) for r in gpu_nodes))
    need = max(j.get("memory") or RUNTIME_BYTES for j in jobs)
    by_memory = max(1, int(gpu_bytes // need)) if gpu_bytes else MAX_JOBS_PER_GPU
    if gpus_per_job is None:
        wanted = min(MAX_JOBS_PER_GPU, math.ceil(len(jobs) / total))
        k = max(1, min(wanted, by_cpu, by_memory))
        share = math.floor(10_000 / k) / 10_000  # Ray's resolution; k shares fit in one GPU
        why = (f"{k} job(s) per GPU: {len(jobs)} jobs on {total} GPU(s), at most {MAX_JOBS_PER_GPU}, {by_cpu} by "
               f"CPUs per GPU" + (f", {by_memory} by memory" if gpu_bytes else ""))
    else:
        k = max(1, min(int(1 / gpus_per_job + 1e-9), by_cpu, by_memory))
        share = gpus_per_job
        why = f"--gpus-per-job {gpus_per_job:g}: {k} job(s) per GPU"
    return GpuPlan(share, k, min(total, math.ceil(len(jobs) / k)) if len(jobs) < total * k else total, why)


def probe_gpus(ray, nodes: list, timeout: float = 180.0) -> tuple[Optional[int], list]:
    """Run one small task per GPU node with a share of a GPU, before any job starts: (the smallest GPU memory
    limit JAX reports, or None; the nodes whose JAX sees no GPU, as error lines)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    def look():
        os.environ.update(PREALLOCATE)
        dev = job_device()
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return {**dev, "host": socket.gethostname(), "bytes_limit": stats.get("bytes_limit")}

    task = ray.remote(num_gpus=0.0001, num_cpus=0)(look)  # a GPU share: Ray sets CUDA_VISIBLE_DEVICES; max_calls 1
    refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
            for n in nodes if n.get("Alive") and n["Resources"].get("GPU", 0) >= 1]
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    seen = [ray.get(r) for r in done]
    bad = [no_gpu_seen(f"a task on node {d['host']}", d) for d in seen
           if d["platform"] != "gpu" and not os.environ.get("BENCH_TEST_GPU_AS_CPU")]
    limits = [d["bytes_limit"] for d in seen if d.get("bytes_limit")]
    return (min(limits) if limits else None), bad


def reserve_gpus(ray, plan: GpuPlan, cpus_per_job: float, memory: int, timeout: float = 120.0) -> list:
    """One placement group per GPU the jobs use: a whole GPU, and CPUs and memory for ``plan.per_gpu`` jobs. Jobs
    handed to a group share its GPU (Ray gives its tasks that GPU's id), so handing them out in turn spreads them
    over every GPU. Returns the groups that could be reserved within ``timeout`` (the others are released)."""
    from ray.util.placement_group import placement_group, remove_placement_group

    bundle = {"GPU": 1, "CPU": plan.per_gpu * cpus_per_job}
    if memory:
        bundle["memory"] = plan.per_gpu * memory
    groups = [placement_group([bundle]) for _ in range(plan.gpus)]
    refs = [g.ready() for g in groups]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    ready = set(ready)
    for g, r in zip(groups, refs):
        if r not in ready:
            remove_placement_group(g)
    return [g for g, r in zip(groups, refs) if r in ready]


def _reporter_actor(ray):
    @ray.remote(num_cpus=0)
    class Progress:
        def __init__(self):
            self.state = {}

        def report(self, rid, kw):
            self.state.setdefault(rid, {}).update(kw)

        def snapshot(self):
            return self.state

    return Progress.remote()


def _remote_execute(job, root, resume, actor):
    if not job.get("gpus"):
        hide_gpus()

    def report(**kw):
        actor.report.remote(job["run_id"], kw)

    return execute(job, root, resume, report)


def run(args, root: Path, console) -> Outcome:
    """Plan, then run every job (Ray or inline) under the live view; the store holds all results."""
    check_options(args)
    root = Path(root).absolute()
    if args.address and args.address != "auto":
        _reachable(args.address)
    planned = plan_isolated(_options(args), inline=args.no_ray)
    if "error" in planned:
        raise BenchError(planned["error"])
    for line in planned.get("notices", []):
        console.print(f"note: {line}", markup=False, highlight=False)
    return run_jobs(planned["jobs"], root, args, console)


def job_dicts(configs) -> list:
    """RunConfigs -> the runner's job dicts (``plan``'s), one per run id, each with the code and data it trains
    with as this checkout sees them: a finished run made by others is not skipped (provenance.outdated), and a
    worker whose code differs refuses the job."""
    from benchmarks.tasks import get_task
    from benchmarks.training.plan import job_memory
    from benchmarks.training.provenance import data_stamp, revision

    jobs = {}
    for cfg in configs:
        if cfg.run_id in jobs:
            continue
        task = get_task(cfg.task)
        jobs[cfg.run_id] = {"run_id": cfg.run_id, "cfg": dataclasses.asdict(cfg), "label": cfg.label,
                            "memory": job_memory(cfg), "revision": revision(cfg.algo, task, online=bool(cfg.online_steps)),
                            "data_stamp": data_stamp(task, cfg)}
    return list(jobs.values())


def run_jobs(jobs: list, root: Path, args, console) -> Outcome:
    """Run planned job dicts (``plan``'s or :func:`job_dicts`') under the live view, as ``run`` does after
    planning: finished runs made by this code skipped, interrupted or outdated ones (re)trained, Ray or inline
    (``args.no_ray``)."""
    check_options(args)
    root = Path(root).absolute()
    check_writable(root)  # after planning: a mistake in the options leaves nothing on disk, not even the store
    for line in not_reused(jobs, root, args.fresh):
        console.print(f"note: {line}", markup=False, highlight=False)
    todo = [j for j in jobs if args.fresh or not Run(root, j["run_id"]).finished
            or outdated_run(Run(root, j["run_id"]), j)[0]]
    from benchmarks.training.mirror import make_mirror

    mirror = make_mirror(args, root, console.print)  # --tensorboard / --wandb: follows the store while jobs run
    try:
        if args.no_ray or not todo:
            check_memory(todo, physical_memory(), "this machine")
            return _run_inline(jobs, root, args, console, mirror)  # (all finished: every job is skipped)
        ray = connect(args)
        try:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            check_memory(todo, max((n["Resources"].get("memory", 0) for n in nodes), default=0),
                         "the largest Ray node (its 'memory' resource)")
            return _run_ray(ray, jobs, root, args, console, mirror)
        finally:
            ray.shutdown()
    finally:
        if mirror is not None:
            mirror.close()


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def plan_isolated(options: dict, inline: bool = False) -> dict:
    """``plan`` without importing JAX here: in a subprocess, unless JAX is already loaded (or --no-ray)."""
    if inline or "jax" in sys.modules:
        return plan(options)
    import subprocess

    pkg_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.training.runner", "--plan"], input=json.dumps(options),
                          capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"planning the jobs failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


def _skip_finished(jobs, root, args, view):
    todo = []
    for j in jobs:
        run = Run(root, j["run_id"])
        if not args.fresh and run.finished and not outdated_run(run, j)[0]:
            record_sweep(run, j["cfg"].get("sweep"))
            j.update(status="skipped", final=run.final(), node=run.node(), error=None)
            view.update(j["run_id"], status="skipped", ret=j["final"].get("return_mean"), node=j["node"])
        else:
            j.update(status="queued", final=None, node=None, error=None)
            todo.append(j)
    return todo


def not_reused(jobs, root, fresh: bool) -> list:
    """One line per stored run a job will not simply reuse because its code or data changed since it was made."""
    lines = []
    for j in jobs:
        run = Run(root, j["run_id"])
        kind, why = ("", "") if fresh else outdated_run(run, j)
        if kind == "code":
            lines.append(f"{j['label']}: the stored run {j['run_id']} is not reused: {why}; it trains again from step "
                         f"0 and the old result moves to {SUPERSEDED_DIR}/{j['run_id']}/")
        elif kind == "data":
            lines.append(f"{j['label']}: {why}; the job compares their content digest with the stored run "
                         f"{j['run_id']}'s and trains again only if it differs")
    return lines


def _settle(job, result, view):
    job.update(status=result["status"] if result["status"] != "skipped" else "done", node=result.get("node"),
               final=result.get("final"), error=result.get("error"))
    ret = job["final"].get("return_mean") if job["final"] else None
    # the final evaluation, in case the view's progress messages (Ray: polled) ended before it
    last = job["final"].get("steps") if result["status"] == "done" and job["final"] else None
    view.update(job["run_id"], status=job["status"], node=job["node"], ret=ret, eval_step=last)


def _run_inline(jobs, root, args, console, mirror=None) -> Outcome:
    with View(jobs, console, args.no_progress, on_update=mirror and mirror.sync) as view:
        for job in _skip_finished(jobs, root, args, view):
            def report(rid=job["run_id"], **kw):
                view.update(rid, **kw)

            _settle(job, execute(job, str(root), not args.fresh, report), view)
    return Outcome(jobs)


def _run_ray(ray, jobs, root, args, console, mirror=None) -> Outcome:
    from ray.exceptions import RayError

    with View(jobs, console, args.no_progress, on_update=mirror and mirror.sync) as view:
        todo = _skip_finished(jobs, root, args, view)
        if not todo:
            return Outcome(jobs)
        actor = _reporter_actor(ray)
        # each job declares the memory its data need, so Ray never places more jobs on a node than fit; jobs are
        # spread over the nodes (SPREAD): each saturates its CPUs, so packing them where a worker process happens
        # to be warm (Ray's default) would leave other nodes idle while jobs queue
        cpu_fn = ray.remote(_remote_execute)
        gpu_fn = ray.remote(max_calls=1)(_remote_execute)  # a fresh process per GPU job: its JAX sees its GPU
        plan, groups = _gpus(ray, todo, args, console)
        queue = list(todo)
        free = [(g, k) for k in range(plan.per_gpu) for g in groups] if groups else []  # a slot per job on a GPU

        def submit(j, slot=None):
            j["gpus"] = plan.share if plan else 0
            opts = dict(num_cpus=args.cpus_per_job, num_gpus=j["gpus"], memory=j.get("memory") or 0,
                        max_retries=args.max_retries, retry_exceptions=False)
            if slot is not None:
                from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

                opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(slot[0], placement_group_bundle_index=0)
            elif not plan:
                opts["scheduling_strategy"] = "SPREAD"
            fn = gpu_fn if j["gpus"] else cpu_fn
            return fn.options(**opts).remote(j, str(root), not args.fresh, actor)

        pending, slots = {}, {}
        while queue and (free or not groups):  # GPU groups: as many jobs as they hold; the rest as slots free up
            j = queue.pop(0)
            slot = free.pop(0) if groups else None
            ref = submit(j, slot)
            pending[ref], slots[ref] = j, slot
        snap = actor.snapshot.remote()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.5)
            if ray.wait([snap], timeout=0)[0]:  # the view is best effort; results come from the tasks
                try:
                    for rid, kw in ray.get(snap).items():
                        view.update(rid, **kw)
                except RayError:
                    pass
                snap = actor.snapshot.remote()
            for ref in ready:
                job = pending.pop(ref)
                slot = slots.pop(ref, None)
                if queue and slot is not None:  # the GPU slot this job held goes to the next job
                    nxt = queue.pop(0)
                    new = submit(nxt, slot)
                    pending[new], slots[new] = nxt, slot
                try:
                    result = ray.get(ref)
                except RayError as exc:  # the worker died more often than --max-retries allows
                    msg = (f"the worker running this job died {args.max_retries + 1} time(s) "
                           f"(--max-retries {args.max_retries}); the last checkpoint is kept and re-running "
                           f"the command resumes it.\n{exc}\n")
                    Run(root, job["run_id"]).fail(msg)
                    result = {"status": "failed", "error": msg.splitlines()[0]}
                _settle(job, result, view)
    return Outcome(jobs)


def _gpus(ray, todo: list, args, console) -> tuple[Optional[GpuPlan], list]:
    """The GPU plan of this run's jobs on the connected cluster, its placement groups, and a note saying what each
    job gets; a BenchError (before any job starts) when JAX on a GPU node sees no GPU."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if args.gpus_per_job == 0 or not any(n["Resources"].get("GPU", 0) >= 1 for n in nodes):
        return None, []
    limit, bad = probe_gpus(ray, nodes)
    if bad:
        raise BenchError(bad[0])
    plan = gpu_plan(nodes, todo, args.cpus_per_job, args.gpus_per_job, limit)
    if plan is None:
        return None, []
    groups = []
    if plan.gpus:
        groups = reserve_gpus(ray, plan, args.cpus_per_job, max(j.get("memory") or 0 for j in todo))
        if not groups:
            raise BenchError("no GPU of the cluster could be reserved within 120 s (all busy?); run again when one "
                             "is free, or pass --gpus-per-job 0 to train on the CPU")
    console.print(f"note: GPUs: each job gets {plan.share:g} GPU ({plan.why}); "
                  + (f"{len(groups)} GPU(s) reserved, jobs handed to them in turn" if groups else "")
                  + "; --gpus-per-job 0 trains on the CPU", markup=False, highlight=False)
    return plan, groups


def print_outcome(outcome: Outcome, root: Path, console) -> None:
    """The per-job table (status, node, return, wall time, run id) and the failures with their error.txt."""
    from rich.table import Table

    table = Table(title="jobs")
    for col in ("job", "status", "node", "device", "return", "wall s", "run id"):
        table.add_column(col, justify="right" if col in ("return", "wall s") else "left", overflow="fold")
    for j in outcome.jobs:
        f = j.get("final") or {}
        style = View.STYLE.get(j["status"], "")
        table.add_row(j["label"], f"[{style}]{j['status']}[/]", node_label(j.get("node")),
                      _device_label(j.get("node")) or f.get("device", ""),
                      f"{f['return_mean']:.3f}" if f else "-", f"{f['wall_time']:.1f}" if f else "-", j["run_id"])
    console.print(table)
    for j in outcome.failed:
        console.print(f"[bold red]failed[/] {j['label']}: {j['error']} (traceback: "
                      f"{Path(root).absolute() / j['run_id'] / 'error.txt'})")


if __name__ == "__main__":  # `python -m benchmarks.training.runner --plan`: options JSON on stdin -> plan JSON on stdout
    if sys.argv[1:] != ["--plan"]:
        sys.exit("usage: python -m benchmarks.training.runner --plan < options.json")
    print(json.dumps(plan(json.load(sys.stdin))))
