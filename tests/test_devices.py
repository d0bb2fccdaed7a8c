"""GPUs on a Ray cluster: every job gets a GPU share without a flag, the shares spread over every GPU, a JAX that
sees no GPU is refused with the install line, and ``--gpus-per-job 0`` hides the GPUs from the job.

This machine has no GPU; Ray accepts GPU resources declared on a CPU node (``ray start --num-gpus``), schedules
by them and sets CUDA_VISIBLE_DEVICES for the tasks that get one, which is what these tests follow. One cluster
(4 CPUs, 2 GPUs, on 127.0.0.1) serves the module; the jobs here run the runner in this process (JAX is loaded,
so planning is inline), joined to it with --address. Where a job must train, BENCH_TEST_GPU_AS_CPU lets the
GPU checks accept the CPU that JAX sees (benchmarks/training/runner.py).
"""
from __future__ import annotations

import io
import json
import socket
import subprocess

import pytest

from benchmarks.cli import build_parser, main
from benchmarks.store import runs as store_runs
from benchmarks.training import runner
from test_runner import REPO, _env, _free_port, _stop, _wait_for

TINY = ["--task", "games/coordination", "--algos", "bc", "--steps", "2", "--eval-every", "2", "--eval-episodes", "2",
        "--set", "hidden=8,8", "--no-progress", "--no-latency"]


@pytest.fixture(scope="module")
def gpu_cluster(tmp_path_factory):
    """A one-node Ray cluster that declares 2 GPUs and 4 CPUs; yields its address."""
    logs = tmp_path_factory.mktemp("ray-gpu")
    port = _free_port()
    out = open(logs / "head.txt", "w")
    head = subprocess.Popen(["ray", "start", "--head", f"--port={port}", "--include-dashboard=false",
                             "--node-ip-address=127.0.0.1", "--num-cpus=4", "--num-gpus=2", "--disable-usage-stats",
                             "--block"], cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait_for(lambda: "block forever" in (logs / "head.txt").read_text() or head.poll() is not None, 180,
                  "the ray head node")
        assert head.poll() is None, (logs / "head.txt").read_text()[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        _stop([head])


def _reset_ray_auth() -> None:
    """Ray reads its authentication mode and token once per process and keeps them: after an earlier test of this
    worker used Ray without token authentication, joining the token-authenticated test cluster fails ("Failed to
    connect to Ray cluster at <node ip>") until the cache is dropped."""
    try:
        from ray._private.authentication_test_utils import reset_auth_token_state
    except ImportError:  # another Ray: nothing cached to drop
        return
    reset_auth_token_state()


@pytest.fixture
def ray_env(monkeypatch):
    for k, v in _env().items():
        if k.startswith("RAY_"):
            monkeypatch.setenv(k, v)
    monkeypatch.delenv("BENCH_TEST_FAULT", raising=False)
    _reset_ray_auth()
    yield monkeypatch
    monkeypatch.undo()
    _reset_ray_auth()


def _run(argv: list, root):
    """runner.run with `bench run`'s options, in this process: (outcome, what it printed)."""
    from rich.console import Console

    args = build_parser().parse_args(["run", *argv, "--results", str(root)])
    root.mkdir(parents=True)  # as `bench run` does before it starts the runner
    buf = io.StringIO()
    console = Console(file=buf, width=10_000)
    outcome = runner.run(args, root, console)
    runner.print_outcome(outcome, root, console)
    return outcome, buf.getvalue()


def _attempts(root) -> dict:
    return {run.spec()["seeds"][0]: json.loads((run.dir / "node.json").read_text())["attempts"][-1]
            for run in store_runs(root)}


def test_a_cluster_with_gpus_whose_jax_sees_none_is_refused_before_any_job(gpu_cluster, ray_env, tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["run", *TINY, "--seeds", "0", "--address", gpu_cluster, "--results", str(root)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("bench: error: a task on node "), err
    assert "was given GPU 0 by Ray (CUDA_VISIBLE_DEVICES='0') but JAX there sees only cpu devices" in err[0]
    assert 'pip install -e ".[gpu]" (jax[cuda12]' in err[0] and "--gpus-per-job 0 to train on the CPU" in err[0]
    assert not store_runs(root)  # no job started


def test_jobs_get_a_gpu_share_without_a_flag_spread_over_every_gpu_and_refuse_a_jax_without_cuda(
        gpu_cluster, ray_env, tmp_path):
    """The probe is told to accept the CPU, so the jobs start: each gets its GPU share and id from Ray, checks
    what its JAX sees, and fails at once with the install line (nothing trained)."""
    ray_env.setenv("BENCH_TEST_GPU_AS_CPU", "probe")
    root = tmp_path / "runs"
    outcome, printed = _run([*TINY, "--seeds", "0,1,2,3", "--split-seeds", "--address", gpu_cluster], root)
    # 4 jobs on 2 GPUs and 4 CPUs: 2 per GPU, a share of 0.5, each GPU holds two of them
    assert "each job gets 0.5 GPU (2 job(s) per GPU: 4 jobs on 2 GPU(s)" in printed
    nodes = [j["node"] for j in outcome.jobs]
    assert [n["gpus"] for n in nodes] == [0.5] * 4
    assert sorted(n["gpu_ids"][0] for n in nodes) == ["0", "0", "1", "1"], nodes
    assert all(n["cuda_visible_devices"] == n["gpu_ids"][0] for n in nodes)  # what Ray set for the job
    assert len(outcome.failed) == 4 and not store_runs(root)
    for j in outcome.failed:
        assert "this job on vm" in j["error"] or "this job on " in j["error"]
        assert "JAX there sees only cpu devices" in j["error"] and 'pip install -e ".[gpu]"' in j["error"]


@pytest.mark.slow
def test_jobs_on_gpu_shares_train_and_record_the_device_they_trained_on(gpu_cluster, ray_env, tmp_path):
    ray_env.setenv("BENCH_TEST_GPU_AS_CPU", "1")
    root = tmp_path / "runs"
    outcome, printed = _run([*TINY, "--seeds", "0,1,2,3", "--split-seeds", "--address", gpu_cluster], root)
    assert not outcome.failed, [j["error"] for j in outcome.failed]
    seen = _attempts(root)
    assert sorted(a["gpu_ids"][0] for a in seen.values()) == ["0", "0", "1", "1"], seen
    for run in store_runs(root):  # the device each trained on: this machine's CPU
        assert run.final()["device"] == "cpu" and run.spec()["provenance"]["machine"]["device"] == "cpu"
    assert "cpu (GPU 0)" in printed and "cpu (GPU 1)" in printed


def test_gpus_per_job_0_hides_the_gpus_from_the_job(gpu_cluster, ray_env, tmp_path):
    root = tmp_path / "runs"
    outcome, printed = _run([*TINY, "--seeds", "0", "--gpus-per-job", "0", "--address", gpu_cluster], root)
    assert not outcome.failed, [j["error"] for j in outcome.failed]
    (att,) = _attempts(root).values()
    assert att["gpus"] == 0 and att["gpu_ids"] == [] and att["cuda_visible_devices"] == ""
    assert att["device"] == "cpu" and "GPUs:" not in printed
    assert "| cpu " in printed or " cpu " in printed  # the jobs table's device column


def test_a_job_given_a_gpu_whose_jax_sees_none_fails_at_once(tmp_path, monkeypatch):
    import dataclasses

    from benchmarks.training.plan import RunConfig

    monkeypatch.delenv("BENCH_TEST_GPU_AS_CPU", raising=False)
    cfg = RunConfig("bc", "games/coordination", seeds=(0,), steps=2)
    job = {"run_id": cfg.run_id, "cfg": dataclasses.asdict(cfg), "label": cfg.label, "gpus": 0.25}
    got = runner.execute(job, str(tmp_path))
    assert got["status"] == "failed" and "JAX there sees only cpu devices" in got["error"]
    assert 'pip install -e ".[gpu]"' in got["error"] and socket.gethostname() in got["error"]
    assert not (tmp_path / cfg.run_id).exists()  # nothing trained, nothing written


def _nodes(*shapes):
    return [{"Alive": True, "NodeID": str(i), "Resources": {"CPU": c, "GPU": g, "memory": 64 * 2**30}}
            for i, (c, g) in enumerate(shapes)]


@pytest.mark.parametrize("shapes, jobs, kw, expect", [
    (((32, 8),), 100, {}, (0.25, 4, 8)),  # a node of 8 GPUs and 32 cores: 4 jobs on each of the 8 GPUs, not 32 on the first
    (((32, 8),), 8, {}, (1.0, 1, 8)),  # as many jobs as GPUs: one each
    (((32, 8),), 12, {}, (0.5, 2, 6)),  # 2 per GPU; 6 GPUs hold the 12
    (((8, 8),), 100, {}, (1.0, 1, 8)),  # one CPU per GPU: one job per GPU
    (((32, 8),), 100, {"gpu_bytes": 5 * 2**30, "memory": 2 * 2**30}, (0.5, 2, 8)),  # 2 of 2 GiB fit in 5 GiB
    (((32, 8),), 100, {"gpus_per_job": 0.125}, (0.125, 4, 8)),  # a share of 1/8, held to the CPUs per GPU
    (((32, 8),), 100, {"gpus_per_job": 0}, None),  # the CPU
    (((32, 0),), 100, {}, None),  # no GPU in the cluster: the CPU
])
def test_the_gpu_share_rule(shapes, jobs, kw, expect):
    memory = kw.pop("memory", None)
    plan = runner.gpu_plan(_nodes(*shapes), [{"memory": memory}] * jobs, 1.0, kw.pop("gpus_per_job", None), **kw)
    assert (plan and (plan.share, plan.per_gpu, plan.gpus)) == expect
