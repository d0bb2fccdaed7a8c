"""The researchers' tools: bench data analyse, bench data derive, the TensorBoard / W&B mirror, sweeps and the
report's declared selection. Generated data only (the games); one tiny training run, the rest on datasets in
memory, small vaults and hand-made stores."""
from __future__ import annotations

import glob
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.data import games
from benchmarks.data.analyse import analyse_dataset, analyse_vault
from benchmarks.data.transitions import content_digest
from benchmarks.data.vault import read_dataset, write_dataset
from benchmarks.store import Run

TINY = ["--set", "hidden=32,32", "--steps", "20", "--eval-every", "10", "--eval-episodes", "10", "--seeds", "0",
        "--no-progress", "--no-ray", "--no-latency"]


def saco_by_definition(ds):
    """og-marl's joint SACo written out: distinct rows of (state, joint action) / timesteps, and count frequencies."""
    m = ds.rewards.size
    rows = np.concatenate([ds.state.reshape(m, -1).astype(np.float64),
                           ds.actions.reshape(m, -1).astype(np.float64)], axis=1)
    _, counts = np.unique(rows, axis=0, return_counts=True)
    k, freq = np.unique(counts, return_counts=True)
    return len(counts) / m, k.tolist(), freq.tolist()


@pytest.fixture(scope="module")
def vlt(tmp_path_factory):
    """Two qualities of one scenario (coordination and payoff-0.5 data share the game's shapes) as vaults."""
    root = tmp_path_factory.mktemp("vaults") / "bandit.vlt"
    write_dataset(games.coordination_dataset(0, size=2000), root / "Coordination")
    write_dataset(games.payoff_dataset(0.5, 0, size=2000), root / "Payoff")
    return root


@pytest.mark.parametrize("make", [lambda: games.coordination_dataset(0, size=3000),
                                  lambda: games.landmarks_dataset(3, seed=0, episodes=40)])
def test_coverage_is_ogmarls_joint_saco_and_a_vault_reads_as_its_data(make, tmp_path):
    ds = make()
    a = analyse_dataset(ds, "x", "memory")
    saco, k, freq = saco_by_definition(ds)
    assert a.coverage["joint_saco"] == pytest.approx(saco)
    assert a.coverage["count_frequencies"] == {"count": k, "pairs": freq}
    np.testing.assert_allclose(a.returns, ds.episode_returns())
    assert a.lengths.sum() == ds.rewards.size and len(a.lengths) == len(a.returns)
    v = analyse_vault(write_dataset(ds, tmp_path / "x.vlt" / "Q"))
    assert v.coverage == a.coverage and v.name == "x/Q"
    np.testing.assert_allclose(v.returns, a.returns)


def test_coverage_tells_pairs_apart_by_one_action_and_not_by_the_sign_of_zero():
    ds = games.coordination_dataset(0, size=500)
    base = analyse_dataset(ds, "x", "m").coverage["unique_pairs"]
    ds.state[0, 0, 0] = -0.0 * ds.state[0, 0, 0] if ds.state[0, 0, 0] == 0 else ds.state[0, 0, 0]
    ds.state[:] = np.where(ds.state == 0, -0.0, ds.state)  # the same values, other bytes
    assert analyse_dataset(ds, "x", "m").coverage["unique_pairs"] == base
    ds.state[0, 7, 0] += 1e-6  # one state moved by one part in a million: one more distinct pair
    assert analyse_dataset(ds, "x", "m").coverage["unique_pairs"] == base + 1


def test_data_analyse_shows_qualities_side_by_side_as_json_and_figure(vlt, tmp_path, capsys):
    out = tmp_path / "an"
    assert main(["data", "analyse", str(vlt), "--task", "games/xor", "--json", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = [d["name"] for d in doc["datasets"]]
    assert names == ["bandit/Coordination", "bandit/Payoff", "games/xor"]
    for d, ds in zip(doc["datasets"], [read_dataset(vlt / "Coordination"), read_dataset(vlt / "Payoff"),
                                       games.xor_dataset(0)]):
        assert d["episodes"] == len(ds.episode_returns()) == sum(d["return"]["histogram"]["counts"])
        assert d["return"]["mean"] == pytest.approx(ds.episode_returns().mean())
    # one histogram axis for all, so the qualities compare bin by bin
    assert len({tuple(d["return"]["histogram"]["edges"]) for d in doc["datasets"]}) == 1
    png = Path(doc["figure"])
    assert png.stat().st_size > 10_000 and json.loads((out / "data_analysis.json").read_text()) == doc
    assert main(["data", "analyse", "--out", str(out)]) == 2  # nothing to analyse: one line


def test_derive_subsample_target_and_combine_write_vaults_whose_cards_name_rule_and_parents(vlt, tmp_path, capsys):
    parent = read_dataset(vlt / "Coordination")
    sub = tmp_path / "bandit.vlt" / "Tenth"
    assert main(["data", "derive", "subsample", str(vlt / "Coordination"), "--fraction", "0.1", "--seed", "3",
                 "--out", str(sub)]) == 0
    d = read_dataset(sub)
    rule = d.card["derived"]
    assert rule["rule"] == "subsample" and rule["parents"][0]["sha256"] == content_digest(parent)
    assert len(d.episode_returns()) == 200
    # whole episodes of the parent, in its order: the joint actions are a subsequence of the parent's
    pa, da = parent.actions[0].tolist(), d.actions[0].tolist()
    it = iter(pa)
    assert all(any(x == y for y in it) for x in da)

    lm = games.landmarks_dataset(3, seed=0)
    flat = tmp_path / "lm.vlt" / "Flat"
    assert main(["data", "derive", "target", "games/landmarks", "--returns", "uniform", "--bins", "4",
                 "--out", str(flat)]) == 0  # the task's own data, as a run trains on it
    card = read_dataset(flat).card["derived"]
    have = np.histogram(lm.episode_returns(), card["edges"])[0]
    assert card["counts"] == [int(have.min())] * 4 and card["shortfall"] == 0  # flat, as large as the data allow
    assert card["parents"][0]["sha256"] == content_digest(lm)

    both = tmp_path / "bandit.vlt" / "Both"
    assert main(["data", "derive", "combine", str(vlt / "Coordination"), str(vlt / "Payoff"), "--out", str(both)]) == 0
    assert len(read_dataset(both).episode_returns()) == 4000
    assert [p["episodes"] for p in read_dataset(both).card["derived"]["parents"]] == [2000, 2000]

    capsys.readouterr()
    bad = tmp_path / "bad.vlt" / "X"  # shapes of two tasks: refused in one line, nothing written
    assert main(["data", "derive", "combine", str(vlt / "Coordination"), str(flat), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "combine datasets of one task only" in err[0] and not bad.parent.exists()
    assert main(["data", "derive", "subsample", str(vlt / "Coordination"), "--episodes", "10", "--out", str(sub)]) == 2


@pytest.mark.parametrize("sweep,needle", [
    (["alpha"], "--sweep expects KEY=V1,V2,..."),
    (["lr=1e-3,1e-3"], "a value is repeated"),
    (["lr=1e-3", "--sweep", "lr=3e-4"], "--sweep lr is given twice"),
    (["lr=fast,slow"], "--set lr=fast: expected a value of type float"),
    (["hidden=(64,64),(32,32)", "--set", "hidden=16,16"], "which --set or an --algos variant also sets"),
])
def test_bad_sweeps_are_one_line_before_anything_runs(sweep, needle, tmp_path, capsys):
    argv = ["run", "--task", "games/coordination", "--algos", "bc", "--results", str(tmp_path / "runs"), "--no-ray",
            "--no-progress", "--sweep", *sweep]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not [p for p in (tmp_path / "runs").glob("*") if (p / "spec.json").exists()]


# ---- a hand-made store: the mirror and the selection read only spec.json, metrics.jsonl and final.json ----------
def fake_run(root, rid, algo="bc", task="games/coordination", overrides=None, sweep=None, returns=(1.0,),
             seeds=(0,), steps=(10, 20), episodes=10):
    run = Run(root, rid)
    spec = {"algo": algo, "task": task, "suite": task.split("/")[0], "task_name": task.split("/")[1],
            "seeds": list(seeds), "steps": steps[-1], "overrides": overrides or {}, "preset": [], "refs": [1.0, 2.0],
            "eval_episodes": episodes, "provenance": {"harness": {"commit": "abc"}, "dataset": {"sha256": "f" * 64}}}
    if sweep:
        spec["sweep"] = list(sweep)
    run.start(spec)
    rows = [{"kind": "eval", "step": st, "seed": s, "return": r - 0.5 * (st != steps[-1]), "loss/loss": 1.0 / st,
             "train_time": 0.1 * st} for st in steps for s, r in zip(seeds, returns)]
    run.append_metrics(rows)
    run.finish({"returns": list(returns), "seeds": list(seeds), "steps": steps[-1], "train_time": 1.0})
    return run


def scalars(path, tag="eval/return"):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(path))
    ea.Reload()
    return [(e.step, e.value) for e in ea.Scalars(tag)], ea


def test_tensorboard_mirror_follows_the_store_adds_only_new_rows_and_carries_config_and_provenance(tmp_path):
    from benchmarks.training.mirror import Mirror, TensorBoardSink

    root = tmp_path / "runs"
    run = fake_run(root, "r1", overrides={"lr": "0.001"}, steps=(10,))
    tb = tmp_path / "tb"
    mirror = Mirror(root, [TensorBoardSink(tb)])
    assert mirror.sync("r1") == 1
    seed0 = tb / "games" / "coordination" / "bc(lr=0.001)#r1" / "seed-0"
    assert scalars(seed0)[0] == [(10, 1.0)]
    run.append_metrics([{"kind": "eval", "step": 20, "seed": 0, "return": 1.5, "loss/loss": 0.05}])  # training on
    assert mirror.sync("r1", "running") == 1 and mirror.sync("r1") == 0  # nothing new: nothing written
    points, ea = scalars(seed0)
    assert points == [(10, 1.0), (20, 1.5)] and [e.step for e in ea.Scalars("loss/loss")] == [10, 20]
    text = {t: ea.Tensors(f"{t}/text_summary")[0].tensor_proto.string_val[0].decode() for t in ("config", "provenance")}
    assert '"lr": "0.001"' in text["config"] and '"commit": "abc"' in text["provenance"]
    mirror.close()
    assert Mirror(root, [TensorBoardSink(tb)]).sync("r1", "skipped") == 0  # a later command: nothing twice
    assert scalars(seed0)[0] == [(10, 1.0), (20, 1.5)]
    run.forget()  # --fresh: the run starts again, and its old event files go
    run.append_metrics([{"kind": "eval", "step": 10, "seed": 0, "return": 0.25}])
    Mirror(root, [TensorBoardSink(tb)]).sync("r1", "done")
    assert scalars(seed0)[0] == [(10, 0.25)]


def wandb_records(run_dir):
    """The history and config records of an offline W&B run file (LevelDB-style log of wandb_internal Records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(glob.glob(f"{run_dir}/run-*.wandb")[0]).read_bytes()
    pos, out, buf = 7, [], b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
    return out


def test_wandb_mirror_offline_logs_every_row_at_its_step_with_config_and_provenance(tmp_path, monkeypatch):
    from benchmarks.training.mirror import Mirror, WandbSink

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    root = tmp_path / "runs"
    fake_run(root, "r2", returns=(1.0,), steps=(10, 20))
    mirror = Mirror(root, [WandbSink("test-project", tmp_path / "wb")])
    assert mirror.sync("r2", "done") == 2
    import wandb

    wandb.teardown()  # the W&B service has written every record of the finished run
    recs = wandb_records(glob.glob(str(tmp_path / "wb" / "wandb" / "offline-run-*"))[0])
    hist = [{i.nested_key[0] if i.nested_key else i.key: json.loads(i.value_json) for i in r.history.item}
            for r in recs if r.WhichOneof("record_type") == "history"]
    assert [(h["_step"], h["eval/return"]) for h in hist if "eval/return" in h] == [(10, 0.5), (20, 1.0)]
    config = {i.key: json.loads(i.value_json) for r in recs if r.WhichOneof("record_type") == "run"
              for i in r.run.config.update}
    assert config["provenance"]["harness"]["commit"] == "abc" and config["config"]["algo"] == "bc"


def test_wandb_asked_for_but_missing_or_unconfigured_is_one_line_before_any_run(tmp_path, monkeypatch, capsys):
    results = tmp_path / "runs"
    argv = ["run", "--task", "games/coordination", "--algos", "bc", "--results", str(results), *TINY, "--wandb"]
    for var in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no stored W&B key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wbconfig"))
    assert main(argv) == 2
    assert "Weights & Biases is not configured" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # not installed
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'offline-marl-bench[wandb]'" in err[0]
    assert not [p for p in results.glob("*") if (p / "spec.json").exists()]


def test_report_selects_the_best_configuration_only_when_asked_with_rule_and_budget_in_every_caption(tmp_path):
    from analysis import tables
    from analysis.report import analyse, write_report

    root = tmp_path / "runs"
    # a sweep of lr over two configurations on two tasks (2 seeds x 2 evaluations x 10 episodes each) and an untuned
    # run; per task the configuration with the better mean over seeds wins (lr=2 on coordination, lr=1 on payoff)
    for rid, lr, task, rets in (("a1", "1", "games/coordination", (1.0, 1.2)), ("a2", "2", "games/coordination", (1.5, 1.5)),
                                ("b1", "1", "games/payoff-0.5", (2.0, 2.0)), ("b2", "2", "games/payoff-0.5", (1.0, 1.0))):
        fake_run(root, rid, overrides={"lr": lr}, sweep=["lr"], task=task, returns=rets, seeds=(0, 1))
    for rid, task in (("u1", "games/coordination"), ("u2", "games/payoff-0.5")):
        fake_run(root, rid, task=task, returns=(1.9, 1.9), seeds=(0, 1))

    plain = analyse(root, reps=100)  # without --select: every configuration is its own, untuned, column
    md = tables.to_markdown(tables.build(plain.finals, "return", selection=plain.selection))
    assert "bc[lr=1]" in md and "bc[lr=2]" in md and "tuned" not in md and "selection" not in md

    out = write_report(root, tmp_path / "sel", reps=100, select="best-config").parent
    budget = "2 configurations x 40 evaluation episodes each = 80 episodes per dataset"
    lb = json.loads((out / "leaderboard.json").read_text())
    finals = lb["finals"]
    tuned = {(f["task"], f["run_id"]) for f in finals if f["variant"] == "bc[tuned lr]"}
    assert tuned == {("games/coordination", "a2"), ("games/payoff-0.5", "b1")}
    untuned = {f["run_id"] for f in finals if f["variant"] == "bc"}
    assert untuned == {"u1", "u2"} and not any("lr=" in f["variant"] for f in finals)
    for text in ((out / "tables" / "results_return.md").read_text(), (out / "tables" / "results_normalised.tex").read_text(),
                 (out / "leaderboard.html").read_text(), lb["selection"]):
        assert "best-config" in text and budget in text
    report = (out / "report.md").read_text()
    captions = [line for line in report.splitlines() if line.startswith("## Return") or line.startswith("## Aggregates")]
    assert len(captions) == 2 and all(budget in c for c in captions)
    assert "bc[tuned lr] on games/coordination: bc[lr=2] (of 2)" in report


# ---- one tiny run: a derived vault, a sweep of one value, mirrored to TensorBoard while it trains ---------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    data = tmp / "coordination.vlt" / "Fifth"
    assert main(["data", "derive", "subsample", "games/coordination", "--fraction", "0.2", "--out", str(data)]) == 0
    results, tb = tmp / "runs", tmp / "tb"
    assert main(["run", "--task", "games/coordination", "--algos", "bc", "--dataset", str(data), "--sweep", "lr=0.001",
                 "--tensorboard", str(tb), "--results", str(results), *TINY]) == 0
    (run,) = [p for p in results.iterdir() if (p / "spec.json").exists()]
    return {"run": run, "tb": tb, "data": data, "results": results}


def test_a_run_on_a_derived_vault_records_its_rule_and_parent_and_its_table_row_says_so(trained):
    from analysis.load import load

    spec = json.loads((trained["run"] / "spec.json").read_text())
    derived = spec["provenance"]["dataset"]["derived"]
    assert derived["rule"] == "subsample" and spec["sweep"] == ["lr"]
    assert derived["parents"][0]["sha256"] == content_digest(games.coordination_dataset(0))
    assert spec["provenance"]["dataset"]["sha256"] == content_digest(read_dataset(trained["data"]))
    f = load(trained["results"]).finals
    assert f["task"].iloc[0].startswith("games/coordination@Fifth:") and "2000 of 10000 episodes" in f["dataset"].iloc[0]
    md = (trained["results"] / "report" / "last-run" / "tables" / "results_return.md").read_text()
    assert "games/coordination@Fifth:" in md and "rows TASK@DATA" in md


def test_bench_run_tensorboard_mirrors_what_the_store_holds(trained):
    rows = [json.loads(x) for x in (trained["run"] / "metrics.jsonl").read_text().splitlines()]
    (seed0,) = trained["tb"].glob("games/coordination/*/seed-0")
    points, _ = scalars(seed0)
    assert points == [(r["step"], pytest.approx(r["return"])) for r in rows] and [p[0] for p in points] == [10, 20]
