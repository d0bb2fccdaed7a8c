"""Provenance in spec.json, the checks on the data before training, and the declared score rule."""
from __future__ import annotations

import subprocess

import jax
import pytest

from algorithms.errors import DatasetError
from benchmarks.data.catalogue import check_published
from benchmarks.data.vault import write_dataset
from benchmarks.store import Run
from benchmarks.training import provenance
from benchmarks.training.plan import RunConfig
from benchmarks.training.train import train
from test_vault import discrete_dataset

JOB = dict(algo="bc", task="games/coordination", seeds=(0, 1), steps=20, eval_every=10, eval_episodes=4,
           overrides={"hidden": (32, 32)}, chunk=10)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One short games run, trained once for the tests of this module: (store, RunConfig, final)."""
    root = tmp_path_factory.mktemp("store")
    cfg = RunConfig(**JOB)
    return root, cfg, train(cfg, results=root)


def test_fresh_run_records_its_provenance(stored):
    root, cfg, final = stored
    spec = Run(root, cfg.run_id).spec()
    prov = spec["provenance"]
    head = subprocess.run(["git", "-C", str(provenance._REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert prov["harness"]["commit"] == head.stdout.strip()
    assert isinstance(prov["harness"]["dirty"], bool)
    assert prov["packages"]["jax"] == jax.__version__ and prov["packages"]["flax"]
    assert set(provenance.CORE_PACKAGES) <= set(prov["packages"])
    assert prov["machine"]["device_count"] == len(jax.devices()) and prov["machine"]["device"] == "cpu"
    ds = prov["dataset"]
    assert ds["generator"].startswith("coordination") and ds["data_seed"] == 0 and ds["download"] is None
    assert ds["episodes"] == final["dataset"]["episodes"] and ds["transitions"] == final["dataset"]["transitions"]
    assert ds["return_mean"] == pytest.approx(final["dataset"]["return_mean"])
    assert len(ds["sha256"]) == 64
    assert final["score_rule"] == "final"


def test_no_git_gives_null_commit_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "_REPO", tmp_path)  # not a checkout
    assert provenance.harness()["commit"] is None and provenance.harness()["dirty"] is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no git binary at all
    assert provenance.harness() == {"version": provenance.__version__, "commit": None, "dirty": None}


def test_suite_environment_packages_are_recorded():
    assert "jaxmarl" in provenance.package_versions(provenance.SUITE_PACKAGES["smax"])
    assert provenance.package_versions(["no-such-dist-xyz"]) == {"no-such-dist-xyz": None}


def test_planted_dataset_with_other_statistics_is_refused_before_anything_is_written(tmp_path):
    # a vault where `bench data download` puts og-marl's 3m Good, but holding other data
    planted = write_dataset(discrete_dataset(), tmp_path / "data" / "og_marl" / "smac_v1" / "3m.vlt" / "Good")
    cfg = RunConfig("bc", "smacv1/3m-good", seeds=(0,), steps=10, dataset=str(planted))
    with pytest.raises(DatasetError, match=r"holds 10 episodes, og-marl publishes 43559"):
        train(cfg, results=tmp_path / "r")
    assert not (tmp_path / "r" / cfg.run_id).exists()


def test_published_mean_return_is_checked_to_its_rounding(tmp_path):
    path = tmp_path / "og_marl" / "smac_v1" / "3m.vlt" / "Good"
    ok = {"episodes": 43_559, "return_mean": 16.494}
    assert check_published(ok, path) == {"episodes": 43_559, "return_mean": 16.49}
    with pytest.raises(DatasetError, match=r"mean episode return 16\.5100, og-marl publishes 16\.49"):
        check_published({"episodes": 43_560, "return_mean": 16.51}, path)
    # data outside the catalogue's layout, or a uid without published numbers, is not compared
    assert check_published(ok, tmp_path / "mine.vlt" / "Good") is None
    assert check_published(ok, tmp_path / "og_marl" / "smac_v1" / "3m.vlt" / "Other") is None


def test_shapes_are_checked_against_the_environment_before_training(tmp_path):
    other = write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good")
    cfg = RunConfig(**{**JOB, "dataset": str(other)})
    with pytest.raises(DatasetError, match=r"'observations' has shape \(2, 40, 3, 30\), the task expects"):
        train(cfg, results=tmp_path / "r")
    assert not (tmp_path / "r" / cfg.run_id).exists()  # no spec, no checkpoint: nothing trained


# ---- bench reproduce -------------------------------------------------------------------------------------
def _params(run_dir):
    """Every array of the latest orbax checkpoint of a run, as NumPy."""
    import numpy as np
    import orbax.checkpoint as ocp

    step = max(int(p.name) for p in (run_dir / "ckpt").iterdir() if p.name.isdigit())
    with ocp.CheckpointManager((run_dir / "ckpt").absolute()) as mngr:
        tree = mngr.restore(step, args=ocp.args.StandardRestore())
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_reproduce_remakes_a_games_run_bit_for_bit(stored, tmp_path, capsys):
    import json
    import shutil

    import numpy as np

    from benchmarks.cli import main

    root, cfg, _ = stored
    shutil.copytree(root, tmp_path / "a")  # a copy: the recorded provenance is edited below
    spec_path = Run(tmp_path / "a", cfg.run_id).spec_path
    spec = json.loads(spec_path.read_text())
    # pretend the run was made elsewhere: each differing field is warned about, the run still reproduces
    spec["provenance"]["packages"]["flax"] = "0.0.1"
    spec["provenance"]["machine"]["device"] = "gpu:H100"
    spec_path.write_text(json.dumps(spec))
    assert main(["reproduce", cfg.run_id, "--results", str(tmp_path / "a"), "--into", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "warning: packages.flax differs: recorded 0.0.1, here" in out
    assert "warning: machine.device differs: recorded gpu:H100, here cpu" in out
    assert "warning: harness" not in out  # same checkout: commit and dirty flag agree
    assert "identical final returns for every seed" in out
    a, b = Run(tmp_path / "a", cfg.run_id), Run(tmp_path / "b", cfg.run_id)
    assert a.final()["returns"] == b.final()["returns"]
    pa, pb = _params(a.dir), _params(b.dir)
    assert len(pa) == len(pb) > 0 and all(np.array_equal(x, y) for x, y in zip(pa, pb))
    # different data are not a reproduction: refused before anything is trained
    spec["provenance"]["dataset"]["sha256"] = "0" * 64
    spec_path.write_text(json.dumps(spec))
    assert main(["reproduce", cfg.run_id, "--results", str(tmp_path / "a"), "--into", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "the data changed" in err and "0000000000000000" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "c" / cfg.run_id).exists()


def test_reproduce_bad_input_is_one_line(tmp_path, capsys):
    from benchmarks.cli import main

    assert main(["reproduce", "nosuchrun", "--results", str(tmp_path)]) == 2
    assert "no run 'nosuchrun'" in capsys.readouterr().err
    cfg = RunConfig(**JOB)
    run = Run(tmp_path, cfg.run_id)
    run.start({**cfg.inputs(), "suite": "games"})
    assert main(["reproduce", cfg.run_id, "--results", str(tmp_path)]) == 2
    assert "has no final.json" in capsys.readouterr().err


def test_a_resume_with_other_packages_is_recorded(tmp_path, monkeypatch):
    class Boom(Exception):
        pass

    def crash(step, total, info):
        if step > 10:
            raise Boom("simulated kill")

    cfg = RunConfig(**JOB)
    with pytest.raises(Boom):
        train(cfg, results=tmp_path, progress=crash)
    real = provenance.package_versions
    monkeypatch.setattr(provenance, "package_versions", lambda names: {**real(names), "flax": "9.9.9"})
    train(cfg, results=tmp_path)
    spec = Run(tmp_path, cfg.run_id).spec()
    assert spec["provenance"]["packages"]["flax"] != "9.9.9"  # the first start's record is kept
    (change,) = spec["resumed_with"]
    assert change["from_step"] == 10
    assert change["differences"] == [{"field": "packages.flax", "recorded": real(["flax"])["flax"], "now": "9.9.9"}]
