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
  * ``--cpus-per-job`` / ``--gpus-per-job`` (fractions allowed, so small jobs share a GPU) are the Ray
    resources of each job; ``--max-retries`` is how often a job whose worker process died (killed, out
    of memory, node lost) is started again -- it resumes from its checkpoint.
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
from benchmarks.store import Run
from benchmarks.training.plan import check_memory

PREALLOCATE = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


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


def execute(job: dict, root: str, resume: bool = True, report: Optional[Callable] = None) -> dict:
    """Run one job to its end (or skip it if finished); never raises for a job-level failure."""
    os.environ.update(PREALLOCATE)
    report = report or (lambda **kw: None)
    node = _node_info()
    run = Run(Path(root), job["run_id"])
    if not Path(root).is_dir():
        msg = (f"results directory '{root}' does not exist on node {node_label(node)}; on a cluster --results "
               f"must be a path on a filesystem shared by every node")
        return {"status": "failed", "error": msg, "node": node}
    with run.lock():
        if resume and run.finished:
            return {"status": "skipped", "final": run.final(), "node": node}
        if not resume:  # --fresh: forget the earlier result, its metrics and its checkpoints
            run.forget()
        start = run.checkpoint_step()
        run.record_attempt(node, resumed_from_step=start)
        report(status="running", node=node, step=start)
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

    def __init__(self, jobs: list, console, disable: bool, plain: Optional[bool] = None):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.console = console
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
    if args.gpus_per_job < 0:
        raise BenchError(f"--gpus-per-job must be >= 0 (fractions allowed, e.g. 0.25), got {args.gpus_per_job}")
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
        if args.gpus_per_job > 0 and max_gpu < args.gpus_per_job:
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
        console.print(f"note: {line}")
    return run_jobs(planned["jobs"], root, args, console)


def job_dicts(configs) -> list:
    """RunConfigs -> the runner's job dicts (``plan``'s), one per run id."""
    from benchmarks.training.plan import job_memory

    jobs = {}
    for cfg in configs:
        jobs.setdefault(cfg.run_id, {"run_id": cfg.run_id, "cfg": dataclasses.asdict(cfg), "label": cfg.label,
                                     "memory": job_memory(cfg)})
    return list(jobs.values())


def run_jobs(jobs: list, root: Path, args, console) -> Outcome:
    """Run planned job dicts (``plan``'s or :func:`job_dicts`') under the live view, as ``run`` does after
    planning: finished runs skipped, interrupted ones resumed, Ray or inline (``args.no_ray``)."""
    check_options(args)
    root = Path(root).absolute()
    todo = [j for j in jobs if args.fresh or not Run(root, j["run_id"]).finished]
    if args.no_ray or not todo:
        check_memory(todo, physical_memory(), "this machine")
        return _run_inline(jobs, root, args, console)  # (all finished: every job is skipped, no cluster needed)
    ray = connect(args)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        check_memory(todo, max((n["Resources"].get("memory", 0) for n in nodes), default=0),
                     "the largest Ray node (its 'memory' resource)")
        return _run_ray(ray, jobs, root, args, console)
    finally:
        ray.shutdown()


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
        if not args.fresh and run.finished:
            j.update(status="skipped", final=run.final(), node=run.node(), error=None)
            view.update(j["run_id"], status="skipped", ret=j["final"].get("return_mean"), node=j["node"])
        else:
            j.update(status="queued", final=None, node=None, error=None)
            todo.append(j)
    return todo


def _settle(job, result, view):
    job.update(status=result["status"] if result["status"] != "skipped" else "done", node=result.get("node"),
               final=result.get("final"), error=result.get("error"))
    ret = job["final"].get("return_mean") if job["final"] else None
    # the final evaluation, in case the view's progress messages (Ray: polled) ended before it
    last = job["final"].get("steps") if result["status"] == "done" and job["final"] else None
    view.update(job["run_id"], status=job["status"], node=job["node"], ret=ret, eval_step=last)


def _run_inline(jobs, root, args, console) -> Outcome:
    with View(jobs, console, args.no_progress) as view:
        for job in _skip_finished(jobs, root, args, view):
            def report(rid=job["run_id"], **kw):
                view.update(rid, **kw)

            _settle(job, execute(job, str(root), not args.fresh, report), view)
    return Outcome(jobs)


def _run_ray(ray, jobs, root, args, console) -> Outcome:
    from ray.exceptions import RayError

    with View(jobs, console, args.no_progress) as view:
        todo = _skip_finished(jobs, root, args, view)
        if not todo:
            return Outcome(jobs)
        actor = _reporter_actor(ray)
        # each job declares the memory its data need, so Ray never places more jobs on a node than fit; jobs are
        # spread over the nodes (SPREAD): each saturates its CPUs, so packing them where a worker process happens
        # to be warm (Ray's default) would leave other nodes idle while jobs queue
        fn = ray.remote(_remote_execute)

        def submit(j):
            return fn.options(num_cpus=args.cpus_per_job, num_gpus=args.gpus_per_job, memory=j.get("memory") or 0,
                              max_retries=args.max_retries, retry_exceptions=False,
                              scheduling_strategy="SPREAD").remote(j, str(root), not args.fresh,
                                                                                           actor)

        pending = {submit(j): j for j in todo}
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


def print_outcome(outcome: Outcome, root: Path, console) -> None:
    """The per-job table (status, node, return, wall time, run id) and the failures with their error.txt."""
    from rich.table import Table

    table = Table(title="jobs")
    for col in ("job", "status", "node", "return", "wall s", "run id"):
        table.add_column(col, justify="right" if col in ("return", "wall s") else "left", overflow="fold")
    for j in outcome.jobs:
        f = j.get("final") or {}
        style = View.STYLE.get(j["status"], "")
        table.add_row(j["label"], f"[{style}]{j['status']}[/]", node_label(j.get("node")),
                      f"{f['return_mean']:.3f}" if f else "-", f"{f['wall_time']:.1f}" if f else "-", j["run_id"])
    console.print(table)
    for j in outcome.failed:
        console.print(f"[bold red]failed[/] {j['label']}: {j['error']} (traceback: "
                      f"{Path(root).absolute() / j['run_id'] / 'error.txt'})")


if __name__ == "__main__":  # `python -m benchmarks.training.runner --plan`: options JSON on stdin -> plan JSON on stdout
    if sys.argv[1:] != ["--plan"]:
        sys.exit("usage: python -m benchmarks.training.runner --plan < options.json")
    print(json.dumps(plan(json.load(sys.stdin))))
