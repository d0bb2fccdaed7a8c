"""A job's memory is known from its vault's metadata before anything is read, declared to the scheduler,
and a job that cannot fit is refused with the numbers before any job starts."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data.device import dataset_bytes
from benchmarks.data.vault import loaded_bytes, read_dataset, write_dataset
from test_vault import _variants, discrete_dataset, write_ogmarl_vault


@pytest.mark.parametrize("variant", ["ogmarl", "flat", "agent-state", "continuous"])
def test_the_memory_estimate_from_metadata_bounds_what_reading_takes(tmp_path, variant):
    path = write_ogmarl_vault(tmp_path, _variants()[variant])
    ds = read_dataset(path)
    steps = ds.rewards.size
    est = loaded_bytes(path)
    # the dataset's own arrays, plus at most three int32 indices per step (start, next, last)
    assert dataset_bytes(ds) <= est <= dataset_bytes(ds) + 12 * steps


def test_a_job_whose_dataset_cannot_fit_is_refused_before_anything_starts(tmp_path, monkeypatch, capsys):
    from benchmarks.cli import main
    from benchmarks.training import plan, runner

    vault = write_dataset(discrete_dataset(T=400), tmp_path / "3m.vlt" / "Good")
    need = int(1.2 * loaded_bytes(vault)) + plan.RUNTIME_BYTES
    monkeypatch.setattr(runner, "physical_memory", lambda: need - 1)
    argv = ["run", "--task", "games/coordination", "--algos", "bc", "--dataset", str(vault), "--no-ray",
            "--steps", "10", "--eval-every", "10", "--eval-episodes", "2", "--seeds", "0",
            "--results", str(tmp_path / "r")]
    # a dataset for the games' coordination shapes is not needed: the memory check comes first
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("note:")]
    assert len(err) == 1 and "needs about" in err[0] and "GiB" in err[0] and "this machine has" in err[0]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("spec.json"))
    # with enough memory the same job is planned with its memory declared
    planned = runner.plan_isolated(runner._options(_args(argv)), inline=True)
    assert planned["jobs"][0]["memory"] == need
    assert np.isfinite(need)


def _args(argv):
    from benchmarks.cli import build_parser

    return build_parser().parse_args(argv)
