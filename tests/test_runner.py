"""The Ray runner (benchmarks/training/runner.py): a real two-node cluster on this machine, faults, bad input.

One cluster is started for the whole module (a head node and a worker node with `ray start` on
127.0.0.1, one CPU each, so two concurrent jobs must use both nodes); every `bench run` here joins it
with --address. The local default (a cluster started and stopped by the command) and the runner
benchmark are exercised by @slow tests. Fault injection uses the BENCH_TEST_FAULT hooks documented in
benchmarks/training/runner.py.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.training import runner
from benchmarks.store import Run, atomic_write_json
from benchmarks.store import runs as store_runs

REPO = Path(__file__).resolve().parents[1]
TINY = ["--steps", "60", "--eval-every", "20", "--eval-episodes", "10", "--set", "hidden=32,32", "--no-progress"]
# the driver must never import JAX: fail the command if it did
DRIVER = ("import sys; from benchmarks.cli import main; rc = main(sys.argv[1:]); "
          "assert 'jax' not in sys.modules, 'the driver imported jax'; sys.exit(rc)")


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0")
    env.pop("BENCH_TEST_FAULT", None)
    env.update(extra)
    return env


def bench(*args, env=None, timeout=600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DRIVER, "run", *args], cwd=REPO, env=env or _env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set:
    children: dict = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def _stop(procs) -> None:
    """Stop the `ray start --block` processes we started and every process below them, by id."""
    pids = set()
    for p in procs:
        pids |= _descendants(p.pid) | {p.pid}
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for p in procs:
        p.wait(timeout=30)


def _wait_for(cond, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


_MEET = """
import os, sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR")

@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def meet(i, d):
    open(os.path.join(d, str(i)), "w").write(ray.get_runtime_context().get_node_id())
    t = time.time()
    while len(os.listdir(d)) < 2 and time.time() - t < 150:
        time.sleep(0.2)
    return ray.get_runtime_context().get_node_id()

nodes = set(ray.get([meet.remote(i, sys.argv[2]) for i in range(2)], timeout=240))
sys.exit(0 if len(nodes) == 2 else f"both tasks ran on one node: {nodes}")
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A two-node Ray cluster on 127.0.0.1: head (1 CPU) + a second node (1 CPU). Yields the address."""
    logs = tmp_path_factory.mktemp("ray")
    port = _free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", "--block"]
    procs = []

    def start(name, args):
        out = open(logs / f"{name}.txt", "w")
        procs.append(subprocess.Popen(["ray", "start", *args, *common], cwd=REPO, env=_env(), stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True))

    def up(i, name):
        _wait_for(lambda: "block forever" in (logs / f"{name}.txt").read_text() or procs[i].poll() is not None,
                  180, f"ray node {name}")
        assert procs[i].poll() is None, (logs / f"{name}.txt").read_text()[-2000:]

    def gcs_listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        start("head", ["--head", f"--port={port}", "--include-dashboard=false", '--resources={"node_a": 1}'])
        _wait_for(lambda: gcs_listening() or procs[0].poll() is not None, 180, "the head node's GCS")
        start("worker", [f"--address=127.0.0.1:{port}", '--resources={"node_b": 1}'])  # overlaps the head's start
        up(0, "head")
        up(1, "worker")
        # the worker's raylet is up; wait until the scheduler can place two one-CPU tasks at once, i.e. on both
        # nodes (on a loaded machine the cluster's resource view lags the raylet's start, and jobs submitted
        # before it catches up all queue on one node): two tasks that each wait for the other to start
        meet = logs / "meet"
        meet.mkdir()
        seen = subprocess.run([sys.executable, "-c", _MEET, f"127.0.0.1:{port}", str(meet)], cwd=REPO, env=_env(),
                              capture_output=True, text=True, timeout=300)
        assert seen.returncode == 0, f"two one-CPU tasks never ran at once on the two nodes: {seen.stderr[-2000:]}"
        yield f"127.0.0.1:{port}"
    finally:
        _stop(procs)


def _node(root: Path, rid: str) -> dict:
    return json.loads((root / rid / "node.json").read_text())


def _metrics_unique(run: Run) -> list:
    rows = run.metrics()
    keys = [(r["kind"], r["step"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)), f"duplicated metric rows in {run.metrics_path}"
    return rows


def _reference_final(spec: dict, tmp_path) -> dict:
    """The same job trained uninterrupted in this process (a different results root)."""
    import dataclasses

    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    fields = {f.name for f in dataclasses.fields(RunConfig)}
    cfg = RunConfig(**{k: (tuple(v) if k == "seeds" else v) for k, v in spec.items() if k in fields})
    assert cfg.run_id == spec["run_id"]
    return train(cfg, results=tmp_path / "reference")


def test_two_node_cluster_spreads_jobs_and_survives_a_killed_worker_and_a_failing_job(cluster, tmp_path):
    root = tmp_path / "runs"
    # three one-seed jobs on two one-CPU nodes; the worker of seed 0 is SIGKILLed mid-job (after the
    # step-20 checkpoint), the job of seed 2 raises, the job of seed 1 holds its node's CPU for 20 s (jobs this
    # short could otherwise all pass through one node before the scheduler's view of the other one is fresh:
    # CI saw that twice; a job waiting for a busy node's CPU is spilled to a free one)
    fault = "kill@40:seeds=0;raise@20:seeds=2;hold@20:seeds=1"
    r = bench("--address", cluster, "--task", "games/coordination", "--algos", "bc", "--seeds", "0,1,2",
              "--split-seeds", "--max-retries", "2", "--results", str(root), *TINY,
              env=_env(BENCH_TEST_FAULT=fault, BENCH_TEST_HOLD_SECONDS="20"))
    assert r.returncode == 1, r.stderr[-3000:]  # one job failed, the command says so at the end
    runs = {run.spec()["seeds"][0]: run for run in store_runs(root)}
    assert sorted(runs) == [0, 1, 2]
    # the failing job: traceback stored, no final result, reported with the path of its error.txt
    text = runs[2].error_path.read_text()
    assert "Traceback (most recent call last)" in text and "test hook: deliberate failure" in text
    assert not runs[2].finished
    assert "failed" in r.stderr and "error.txt" in r.stderr
    # ... while the others completed
    assert runs[0].finished and runs[1].finished and not runs[0].error_path.exists()
    # every job records the node it ran on; the jobs ran on both nodes of the cluster
    nodes = {_node(root, run.id)["node_id"] for run in runs.values()}
    assert len(nodes) == 2, nodes
    for run in runs.values():
        doc = _node(root, run.id)
        assert doc["hostname"] == socket.gethostname() and doc["node_ip"] and doc["attempts"]
    # the killed job: a second attempt resumed from the step-20 checkpoint and finished
    killed = runs[0]
    attempts = _node(root, killed.id)["attempts"]
    assert (killed.dir / ".test-hook-kill").exists()
    assert len(attempts) == 2 and "ended" not in attempts[0], attempts
    assert attempts[1]["resumed_from_step"] == 20 and attempts[1]["status"] == "done"
    assert attempts[0]["pid"] != attempts[1]["pid"]
    rows = _metrics_unique(killed)
    assert sorted(r["step"] for r in rows if r["kind"] == "eval") == [20, 40, 60]
    # ... with the same result as an uninterrupted run of the same seed
    ref = _reference_final(killed.spec(), tmp_path)
    assert killed.final()["returns"] == ref["returns"]
    ref_rows = Run(tmp_path / "reference", killed.id).metrics()
    learned = [k for k in rows[0] if k.startswith(("loss/", "diag/")) or k in ("return", "return_std")]
    assert learned and [[r[k] for k in learned] for r in rows] == [[r[k] for k in learned] for r in ref_rows]


def test_driver_killed_mid_run_then_rerun_resumes_and_skips_finished(cluster, tmp_path):
    root = tmp_path / "runs"
    args = ["--address", cluster, "--suite", "games", "--tasks", "coordination,xor", "--algos", "bc", "--seeds", "0",
            "--results", str(root), *TINY]
    env = _env(BENCH_TEST_FAULT="hold@40:xor", BENCH_TEST_HOLD_SECONDS="300")
    p = subprocess.Popen([sys.executable, "-c", DRIVER, "run", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def state():
            runs = store_runs(root)
            fin = [r for r in runs if r.finished]
            held = [r for r in runs if (r.dir / ".test-hook-hold").exists()]
            return fin, held

        _wait_for(lambda: len(state()[0]) == 1 and len(state()[1]) == 1, 400, "one finished and one held job")
        (finished,), (held,) = state()
        assert finished.spec()["task"] == "games/coordination" and held.spec()["task"] == "games/xor"
        os.kill(p.pid, signal.SIGKILL)  # the whole `bench run` dies mid-run
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
    worker = int((held.dir / ".test-hook-hold").read_text())
    _wait_for(lambda: not _alive(worker), 60, "Ray to end the dead driver's worker")
    assert not held.finished and held.checkpoint_step() == 20
    before = finished.final_path.stat()
    before_rows = finished.metrics_path.read_text()

    r = bench(*args)  # the same command again (hooks off)
    assert r.returncode == 0, r.stderr[-3000:]
    assert finished.final_path.stat().st_mtime_ns == before.st_mtime_ns  # not re-run
    assert finished.metrics_path.read_text() == before_rows
    assert len(_node(root, finished.id)["attempts"]) == 1
    attempts = _node(root, held.id)["attempts"]
    assert len(attempts) == 2 and attempts[1]["resumed_from_step"] == 20 and attempts[1]["status"] == "done"
    for run in (finished, held):  # exactly one final result per job, no duplicated rows
        assert run.finished and sorted(x.name for x in run.dir.glob("final*")) == ["final.json"]
        rows = _metrics_unique(run)
        assert sorted(x["step"] for x in rows) == [20, 40, 60]
    assert not list(root.rglob("*.tmp"))  # no half-written file left behind
    assert "skipped" in r.stderr


def test_bad_input_fails_before_any_job_with_one_line(cluster, tmp_path):
    root = tmp_path / "runs"
    base = ["--task", "games/coordination", "--algos", "bc", "--seeds", "0", *TINY]
    port = _free_port()  # nothing listens there
    cases = [
        (["--address", f"127.0.0.1:{port}", "--results", str(root)], "cannot reach a Ray cluster"),
        (["--address", cluster, "--gpus-per-job", "0.5", "--results", str(root)], "the cluster has no GPU"),
        (["--address", cluster, "--algos", "nosuchalgo", "--results", str(root)], "unknown algorithm 'nosuchalgo'"),
        (["--address", cluster, "--results", str(tmp_path / "a-file" / "runs")], "is not writable"),
        (["--cpus-per-job", "0", "--results", str(root)], "--cpus-per-job must be positive"),
    ]
    (tmp_path / "a-file").write_text("not a directory")
    for extra, message in cases:
        r = bench(*base, *extra)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "WARNING" not in ln and "INFO" not in ln]
        assert r.returncode == 2, (extra, r.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("bench: error: ") and message in lines[0], (extra, lines)
        assert not store_runs(root)  # no job started


def test_store_stays_consistent_with_many_concurrent_writers(tmp_path):
    """Many processes writing runs at once: atomic finals (a reader never sees a torn file), no lost
    metric rows, and the run lock lets only one writer into a run at a time."""
    code = r"""
import json, sys, time
from pathlib import Path
from benchmarks.store import Run
from benchmarks.training import runner
root, k = Path(sys.argv[1]), int(sys.argv[2])
for i in range(30):
    run = Run(root, "shared")
    with run.lock():
        n = len(run.metrics())
        run.append_metrics([{"kind": "eval", "step": n, "seed": k, "writer": k}])
    own = Run(root, f"run{k}")
    own.append_metrics([{"kind": "eval", "step": i, "seed": 0}])
    own.finish({"writer": k, "i": i, "pad": "x" * 20000})
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(k)], cwd=REPO, env=_env())
             for k in range(6)]
    seen = 0
    while any(p.poll() is None for p in procs):
        for f in tmp_path.glob("run*/final.json"):
            try:
                text = f.read_text()
            except FileNotFoundError:
                continue
            assert json.loads(text)["pad"] == "x" * 20000  # never half-written
            seen += 1
    assert all(p.wait() == 0 for p in procs)
    shared = Run(tmp_path, "shared").metrics()
    assert sorted(r["step"] for r in shared) == list(range(180))  # serialised by the lock: no lost row
    for k in range(6):
        own = Run(tmp_path, f"run{k}")
        assert [r["step"] for r in own.metrics()] == list(range(30)) and own.final()["i"] == 29
    assert not list(tmp_path.rglob("*.tmp")) and seen > 0


def test_hooks_are_off_by_default_and_parse(tmp_path, monkeypatch):
    run = Run(tmp_path, "r")
    run.dir.mkdir()
    monkeypatch.delenv("BENCH_TEST_FAULT", raising=False)
    assert runner._Hooks("bc games/xor seeds=0", run).rules == []
    monkeypatch.setenv("BENCH_TEST_FAULT", "raise@20:xor;kill@40:coordination")
    hooks = runner._Hooks("bc games/xor seeds=0", run)
    assert hooks.rules == [("raise", 20)]
    hooks(10, {})
    hooks(20, {"return": 1.0})  # evaluation reports never trigger
    with pytest.raises(RuntimeError, match="deliberate failure"):
        hooks(20, {})
    atomic_write_json(run.dir / "x.json", {"a": 1})
    assert run.checkpoint_step() == 0


@pytest.mark.slow
def test_local_cluster_started_and_stopped_by_the_command(tmp_path):
    root = tmp_path / "runs"
    args = ["--task", "games/coordination", "--algos", "bc", "--seeds", "0,1", "--split-seeds", "--results", str(root),
            *TINY]
    p = subprocess.Popen([sys.executable, "-c", DRIVER, "run", *args], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err[-3000:]
    assert len([run for run in store_runs(root) if run.finished]) == 2
    assert all(_node(root, run.id)["node_id"] for run in store_runs(root))
    time.sleep(3)
    left = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if _alive(pid) and os.getpgid(pid) == p.pid]
    assert not left, f"processes of the local cluster still running: {left}"
