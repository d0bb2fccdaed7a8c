"""`bench doctor` names what can run, why the rest cannot, the devices and the directories."""
from __future__ import annotations

import json
import sys

from benchmarks.cli import main


def test_doctor_reports_suites_devices_and_directories(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setitem(sys.modules, "smac", None)
    monkeypatch.setenv("SC2PATH", str(tmp_path / "no-sc2"))
    assert main(["doctor", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["suites"]["games"]["ok"]
    v1 = rep["suites"]["smacv1"]
    assert not v1["ok"] and "oxwhirl/smac.git" in v1["why"] and "SC2PATH=" in v1["why"]
    assert rep["jax"]["devices"] and rep["jax"]["backend"] in ("cpu", "gpu", "tpu")
    assert rep["directories"]["data"]["path"] == str(tmp_path / "data")
    assert rep["directories"]["data"]["set_by"] == "BENCH_DATA"
    assert rep["directories"]["results"]["path"] == str(tmp_path / "results")
    assert rep["datasets"]["og_marl/smac_v1/3m"]["present"] is False
    # readable form: one line per suite, the fix for the unavailable ones
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "smacv1     unavailable: " in out and "games      ok" in out and "devices:" in out


def test_doctor_says_what_a_gpu_run_needs(monkeypatch, tmp_path, capsys):
    """On this CPU machine: no GPU, the install line; with an NVIDIA GPU that JAX does not see: a warning."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "GPUs           none found (no nvidia-smi on PATH); CUDA build of JAX: not installed" in out
    assert 'A GPU run needs the CUDA build of JAX on every GPU node (pip install -e ".[gpu]"' in out
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)'\n")
    smi.chmod(0o755)
    assert main(["doctor", "--json"]) == 0
    gpu = json.loads(capsys.readouterr().out)["gpu"]
    assert gpu["nvidia_gpus"] == ["GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)"] and not gpu["gpu_ready"]
    assert gpu["advice"].startswith("WARNING: this machine has 1 NVIDIA GPU(s) but JAX sees only cpu: install")


def test_doctor_sees_downloaded_data_and_missing_data_only(monkeypatch, tmp_path, capsys):
    from benchmarks.data import catalogue
    from benchmarks.envs import smac

    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    monkeypatch.setattr(smac, "missing_env", lambda package, map_names=(): None)  # StarCraft II and smac "installed"
    marker = catalogue.entries("smacv1", "3m")[0].vlt_dir(tmp_path) / catalogue.MARKER
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    assert main(["doctor", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["datasets"]["og_marl/smac_v1/3m"]["present"] is True
    why = rep["suites"]["smacv1"]["why"]
    assert "--task 8m" in why and "--task 3m`" not in why  # only the datasets still missing
