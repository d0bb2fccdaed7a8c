"""Results tied to the code and data that made them: the revision rule, finished runs of other code or data
trained again (the old result kept under superseded/), reports that never pool revisions in one cell, and
duplicate seeds refused."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.store import Run, runs as store_runs
from benchmarks.training import provenance

TINY = ["run", "--task", "games/coordination", "--algos", "bc", "--seeds", "0", "--steps", "20", "--eval-every", "20",
        "--eval-episodes", "4", "--set", "hidden=8,8", "--no-ray", "--no-progress", "--no-latency"]


def _write(path, text):
    path.write_text(text)
    st = path.stat()  # a later mtime even within the file system's timestamp resolution
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_the_revision_hashes_the_plugin_the_blocks_it_imports_and_nothing_else(tmp_path, monkeypatch):
    pkg = tmp_path / "revpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text("WIDTH = 64\n")
    (pkg / "deep.py").write_text("from . import blocks\n")
    (pkg / "other.py").write_text("UNRELATED = 1\n")
    (pkg / "plugin.py").write_text("import math\n\n\ndef act():\n    from .deep import blocks  # lazy\n"
                                   "    return blocks.WIDTH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = provenance.closure(["revpkg.plugin"], ("revpkg",))
    assert group == ["revpkg", "revpkg.blocks", "revpkg.deep", "revpkg.plugin"]
    before, _ = provenance._group(group)
    _write(pkg / "other.py", "UNRELATED = 2\n")  # not imported by the plugin
    assert provenance._group(provenance.closure(["revpkg.plugin"], ("revpkg",)))[0] == before
    _write(pkg / "blocks.py", "WIDTH = 65\n")  # a block imported two modules away, inside a function
    assert provenance._group(group)[0] != before
    # the harness's own plugins: bc's revision holds its blocks, the trainer and the games environment
    from benchmarks.tasks import get_task

    rev = provenance.revision("bc", get_task("games/coordination"))
    files = set(rev["files"])
    assert {"algorithms.bc", "algorithms.nets", "algorithms.base", "benchmarks.training.train",
            "benchmarks.training.evaluate", "benchmarks.envs.games", "benchmarks.tasks.games"} <= files
    assert not files & {"algorithms", "algorithms.errors", "algorithms.macflow", "benchmarks.tasks",
                        "benchmarks.training.online", "benchmarks.cli.run"}
    assert rev["id"] != provenance.revision("bc", get_task("games/coordination"), online=True)["id"]
    assert rev["algorithm"] == provenance.revision("bc", get_task("games/xor"))["algorithm"]  # across tasks
    # an installed harness without git history (a wheel): the revision reads the installed sources only
    monkeypatch.setattr(provenance, "_REPO", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert provenance.harness()["commit"] is None
    assert provenance.revision("bc", get_task("games/coordination")) == rev


def _edit(monkeypatch, module: str):
    """This process sees ``module``'s source as edited (its digest changes), the file itself untouched."""
    path = provenance._source_of(module)
    real = provenance._file_digest
    monkeypatch.setattr(provenance, "_file_digest", lambda p: ("0" * 64) if p == path else real(p))


def _only_run(root) -> Run:
    (run,) = store_runs(root)
    return run


def test_a_finished_run_of_other_code_trains_again_and_the_old_result_is_kept(tmp_path, monkeypatch, capsys):
    root = tmp_path / "runs"
    assert main([*TINY, "--results", str(root)]) == 0
    run = _only_run(root)
    first = run.final()
    rev = run.spec()["provenance"]["revision"]
    assert "algorithms.bc" in rev["files"] and len(rev["id"]) == 16
    stamp = run.spec()["provenance"]["dataset"]["stamp"]
    assert stamp.startswith("generator:")
    mtime = run.final_path.stat().st_mtime_ns
    capsys.readouterr()
    assert main([*TINY, "--results", str(root)]) == 0  # nothing changed: skipped, not retrained
    assert run.final_path.stat().st_mtime_ns == mtime and "not reused" not in capsys.readouterr().err

    _edit(monkeypatch, "algorithms.nets")  # a building block of bc changes
    assert main([*TINY, "--results", str(root)]) == 0
    err = capsys.readouterr().err
    assert f"the stored run {run.id} is not reused: its code changed since (algorithms.nets)" in err
    assert run.final_path.stat().st_mtime_ns != mtime
    assert run.spec()["provenance"]["revision"]["id"] != rev["id"]
    old = root / "superseded" / run.id / "1"
    assert json.loads((old / "final.json").read_text()) == first
    assert json.loads((old / "spec.json").read_text())["provenance"]["revision"] == rev
    assert "algorithms.nets" in json.loads((old / "superseded.json").read_text())["why"]
    assert sorted(r["step"] for r in run.metrics()) == [20]  # trained from step 0, no rows of the old run
    assert [a["status"] for a in run.node()["attempts"]] == ["done", "done"]

    # a run recorded before revisions were recorded is not reused either
    spec = run.spec()
    del spec["provenance"]["revision"]
    run.rewrite_spec(spec)
    assert main([*TINY, "--results", str(root)]) == 0
    assert "recorded before runs recorded the revision of their code" in capsys.readouterr().err
    assert (root / "superseded" / run.id / "2" / "final.json").exists()
    assert "revision" in run.spec()["provenance"]


def test_a_finished_run_on_other_data_trains_again_and_touched_files_do_not(tmp_path, capsys):
    from benchmarks.data.vault import write_dataset
    from benchmarks.tasks import get_task

    task = get_task("games/coordination")
    vault = tmp_path / "mine.vlt" / "v1"
    write_dataset(task.make_dataset(0), vault)
    args = [*TINY, "--dataset", str(vault), "--results", str(tmp_path / "runs")]
    assert main(args) == 0
    run = _only_run(tmp_path / "runs")
    digest = run.spec()["provenance"]["dataset"]["sha256"]
    mtime = run.final_path.stat().st_mtime_ns
    # the same content written again (new files, new times): compared by content, the run is reused
    time.sleep(0.01)
    import shutil

    shutil.rmtree(vault)
    write_dataset(task.make_dataset(0), vault)
    capsys.readouterr()
    assert main(args) == 0
    assert "its data files changed since" in capsys.readouterr().err
    assert run.final_path.stat().st_mtime_ns == mtime and not (tmp_path / "runs" / "superseded").exists()
    assert run.spec()["provenance"]["dataset"]["stamp"] == provenance.data_stamp(task, _cfg(vault))
    # other data at the same path (more episodes): trained again, the old result kept
    shutil.rmtree(vault)
    write_dataset(task.make_dataset(1), vault)
    assert main(args) == 0
    assert run.final_path.stat().st_mtime_ns != mtime
    assert run.spec()["provenance"]["dataset"]["sha256"] != digest
    why = json.loads((tmp_path / "runs" / "superseded" / run.id / "1" / "superseded.json").read_text())["why"]
    assert "its data changed since (content sha256" in why and digest[:16] in why


def _cfg(vault):
    from benchmarks.training.plan import RunConfig

    return RunConfig("bc", "games/coordination", dataset=str(vault))


def test_duplicate_seeds_are_refused_before_anything_is_written(tmp_path, capsys):
    root = tmp_path / "runs"
    argv = [*TINY, "--results", str(root)]
    argv[argv.index("--seeds") + 1] = "0,1,1"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--seeds 0,1,1 lists seed 1 more than once" in err and "--seeds 0,1)" in err
    assert not store_runs(root)


def test_a_worker_with_other_code_refuses_its_job(tmp_path, monkeypatch):
    from benchmarks.tasks import get_task
    from benchmarks.training import runner
    from benchmarks.training.plan import RunConfig

    cfg = RunConfig("bc", "games/coordination", seeds=(0,), steps=20)
    import dataclasses

    job = {"run_id": cfg.run_id, "cfg": dataclasses.asdict(cfg), "label": cfg.label,
           "revision": provenance.revision("bc", get_task("games/coordination"))}
    assert runner._other_code(job) == ""
    _edit(monkeypatch, "benchmarks.training.evaluate")
    got = runner.execute(job, str(tmp_path))
    assert got["status"] == "failed" and "benchmarks.training.evaluate" in got["error"]
    assert "install the same version on every node" in got["error"]
    assert not Run(tmp_path, cfg.run_id).spec_path.exists()  # nothing trained


# ---- reports: one revision per cell, mixed revisions marked -------------------------------------------------
def _store_with_revisions(root):
    sys.path.insert(0, os.path.dirname(__file__))
    from test_analysis import write_run

    def rev(run_id, code):
        run = Run(root, run_id)
        spec = run.spec()
        spec["provenance"] = {"revision": {"id": code + "-task", "algorithm": code}, "dataset": {"sha256": "d" * 64}}
        run.rewrite_spec(spec)

    # macflow on xor: seeds 0 and 1 by revision a (split seeds), seed 0 again by revision b, finished later
    for seed, code in ((0, "a" * 16), (1, "a" * 16)):
        rid = write_run(root, "macflow", "games/xor", [0.4 + seed], rid=f"xor-a-{seed}")
        spec = Run(root, rid).spec()
        spec["seeds"] = [seed]
        Run(root, rid).rewrite_spec(spec)
        final = Run(root, rid).final()
        final["seeds"] = [seed]
        Run(root, rid).finish(final)
        rev(rid, code)
    time.sleep(0.02)
    rev(write_run(root, "macflow", "games/xor", [0.9], rid="xor-b-0"), "b" * 16)
    # macflow on coordination by revision a only; bc everywhere by one revision
    rev(write_run(root, "macflow", "games/coordination", [1.5, 1.6], rid="coord-a"), "a" * 16)
    for t in ("games/xor", "games/coordination"):
        rev(write_run(root, "bc", t, [0.3, 0.35] if t == "games/xor" else [1.2, 1.3]), "c" * 16)


def test_reports_never_pool_two_revisions_in_a_cell_and_mark_a_variant_made_by_several(tmp_path):
    from analysis import tables
    from analysis.load import latest_finals, load

    _store_with_revisions(tmp_path)
    data = load(tmp_path)
    f = latest_finals(data)
    xor = f[(f["variant"] == "macflow") & (f["task"] == "games/xor")]
    assert list(xor["run_id"]) == ["xor-b-0"]  # the newest revision's runs only, never seed 1 of revision a
    assert any("2 run(s) of macflow on games/xor not shown (other code revisions; kept xor-b-0" in p
               for p in data.problems)
    coord = f[(f["variant"] == "macflow") & (f["task"] == "games/coordination")]
    assert sorted(coord["seed"]) == [0, 1]
    t = tables.build(f, "return")
    md = tables.to_markdown(t)
    row = {r.label: r for r in t.rows}
    assert row["xor"].cells["macflow"].other_code and row["coordination"].cells["macflow"].other_code
    assert not row["xor"].cells["bc"].other_code
    assert "‡ made by different revisions of the variant's code" in md
    assert "macflow: revision aaaaaaaa on games/coordination, revision bbbbbbbb on games/xor" in md


def test_split_seed_runs_of_one_revision_are_pooled(tmp_path):
    from analysis.load import latest_finals, load

    sys.path.insert(0, os.path.dirname(__file__))
    from test_analysis import write_run

    for seed in range(3):
        rid = write_run(tmp_path, "bc", "games/xor", [0.1 * (seed + 1)], rid=f"bc-{seed}")
        run = Run(tmp_path, rid)
        run.rewrite_spec({**run.spec(), "seeds": [seed]})
        run.finish({**run.final(), "seeds": [seed]})
    f = latest_finals(load(tmp_path))
    assert sorted(f["seed"]) == [0, 1, 2]
    np.testing.assert_allclose(sorted(f["return"]), [0.1, 0.2, 0.3])
