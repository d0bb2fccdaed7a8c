"""The declared score rule: final, best or last-K, one rule per report, stated in every caption."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from algorithms.errors import BenchError
from analysis import tables
from analysis.load import load
from analysis.report import write_report
from analysis.score import parse
from benchmarks.cli import main
from benchmarks.store import Run

# per seed: returns at steps 10, 20, 30 (rises, then falls: final, best and last-2 all differ)
CURVES = {0: [1.2, 1.8, 1.5], 1: [1.0, 1.6, 1.4]}
REFS = (1.0, 2.0)


def _store(root, rid="r1", task="games/coordination"):
    run = Run(root, rid)
    run.start({"algo": "bc", "task": task, "seeds": [0, 1], "steps": 30, "run_id": rid, "suite": "games",
               "task_name": task.split("/")[1], "overrides": {}, "cost_overrides": {}, "cost": {"nfe": 1},
               "refs": list(REFS), "preset": [],
               "provenance": {"harness": {"version": "0.1.0", "commit": "abcdef1234567890", "dirty": False},
                              "packages": {"jax": "0.10.2", "flax": "0.12.8"},
                              "machine": {"device": "cpu", "device_count": 1}, "dataset": {"sha256": "f" * 64}}})
    run.append_metrics([{"kind": "eval", "step": 10 * (i + 1), "seed": s, "return": r}
                        for s, rets in CURVES.items() for i, r in enumerate(rets)])
    run.finish({"run_id": rid, "algo": "bc", "task": task, "seeds": [0, 1], "steps": 30,
                "returns": [CURVES[0][-1], CURVES[1][-1]], "score_rule": "final", "train_time": 1.0})


@pytest.mark.parametrize("rule,expect", [("final", [1.5, 1.4]), ("best", [1.8, 1.6]), ("last-2", [1.65, 1.5]),
                                         ("last-9", [1.5, 1.5])])
def test_each_rule_picks_its_evaluations(tmp_path, rule, expect):
    _store(tmp_path)
    f = load(tmp_path, score=rule).finals.sort_values("seed")
    if rule == "last-9":  # more than there are: the mean of all of them
        expect = [sum(CURVES[0]) / 3, sum(CURVES[1]) / 3]
    assert f["return"].tolist() == pytest.approx(expect)
    assert f["normalised"].tolist() == pytest.approx([100 * (x - 1.0) for x in expect])
    assert set(f["score_rule"]) == {rule}


def test_unknown_rules_are_one_line_errors(tmp_path, capsys):
    for bad in ("median", "last-0", "last-", "last-x"):
        with pytest.raises(BenchError, match="final, best or last-K"):
            parse(bad)
    _store(tmp_path)
    assert main(["report", "--results", str(tmp_path), "--score", "median"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown score rule 'median'" in err
    assert not (tmp_path / "report").exists()


def test_a_table_never_mixes_rules(tmp_path):
    _store(tmp_path)
    final, best = load(tmp_path, score="final").finals, load(tmp_path, score="best").finals
    t = tables.build(best, "return", title="x")
    assert "score rule: best" in t.title and any("score rule: best" in f for f in t.footnotes)
    with pytest.raises(BenchError, match="never mixes score rules, got best, final"):
        tables.build(pd.concat([final, best]), "return")


def test_report_states_the_rule_everywhere_and_carries_provenance(tmp_path):
    _store(tmp_path)
    _store(tmp_path, "r2", "games/xor")
    out = tmp_path / "rep"
    path = write_report(tmp_path, out, reps=100, score="best")
    text = path.read_text()
    assert "score rule: best" in text and "## Aggregates" in text
    assert "| abcdef1234 | 0.10.2 | cpu | 2 |" in text  # the runs grouped by how they were made
    assert text.split("## Aggregates", 1)[1].split("\n", 1)[0].count("score rule: best") == 1
    for ext in ("md", "tex", "html"):
        for value in ("return", "normalised"):
            assert "score rule: best" in (out / "tables" / f"results_{value}.{ext}").read_text()
    html = (out / "leaderboard.html").read_text()
    assert "score rule: best" in html and "<h2>Provenance</h2>" in html and "abcdef1234" in html
    lb = json.loads((out / "leaderboard.json").read_text())
    assert lb["score_rule"] == "best" and lb["provenance"][0]["commit"] == "abcdef1234"
    assert lb["provenance"][0]["device"] == "cpu" and lb["provenance"][0]["jax"] == "0.10.2"
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["commit"]) == {"abcdef1234"} and "provenance" in runs
    me = json.loads((out / "marl_eval.json").read_text())
    assert me["games"]["coordination"]["bc"]["seed_0"]["absolute_metrics"]["return"] == [1.8]
    mp = json.loads((out / "marl_eval.provenance.json").read_text())
    entry = mp["games"]["coordination"]["bc"]["seed_1"]
    assert entry["score_rule"] == "best" and entry["commit"] == "abcdef1234" and entry["run_id"] == "r1"
