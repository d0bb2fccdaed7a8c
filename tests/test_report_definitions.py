"""Reports define every number they show: the training budget, the normalisation references, the 0-1 aggregates
against the 0-100 tables, the rank order, degenerate one-seed intervals, the latency statistic; the captions say
what is drawn; every JSON file a report writes is strict JSON. Hand-written stores (tests/test_analysis.py), no
training."""
from __future__ import annotations

import json

import pytest

from tests.test_analysis import REFS, make_store, write_run


def _refuse(token):
    raise ValueError(f"not JSON: {token}")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """bc (one seed) and macflow (one seed) on two games and smacv1/3m-Good, which has published numbers."""
    from analysis.report import write_report

    root = tmp_path_factory.mktemp("defs") / "runs"
    make_store(root, algos=("macflow", "bc"), tasks=("games/coordination", "games/xor", "smacv1/3m-Good"), seeds=1)
    out = write_report(root, reps=100).parent
    return root, out


def test_report_and_leaderboard_state_budget_references_scales_rank_and_latency_statistic(report):
    _, out = report
    board = json.loads((out / "leaderboard.json").read_text(), parse_constant=_refuse)
    for name in ("report.md", "LEADERBOARD.md", "leaderboard.html"):
        text = (out / name).read_text()
        for needle in ("Training budget", "Normalisation references", "0-1 scale", "0-100", "rank by IQM",
                       "median ± IQR/2", "100 × (return − random) / (expert − random)"):
            assert needle in text, (name, needle)
        # the budget of the runs shown: 100 gradient steps, one seed each
        assert ("| bc | games | coordination, xor | 100 | 0 | 1 |" in text if name.endswith(".md")
                else "<td>coordination, xor</td><td>100</td><td>0</td><td>1</td>" in text), name
        # one seed per task: the intervals are degenerate and the report says so for both
        assert "One seed: bc, macflow have one seed per task" in text, name
    refs = {r["task"]: (r["random (0)"], r["expert (100)"]) for r in board["references"]}
    assert refs == {t: REFS[t] for t in ("games/coordination", "games/xor", "smacv1/3m-Good")}
    assert {(r["algorithm"], r["suite"], r["gradient steps"], r["seeds"]) for r in board["budget"]} == {
        ("bc", "games", 100, "1"), ("bc", "smacv1", 100, "1"), ("macflow", "games", 100, "1"),
        ("macflow", "smacv1", 100, "1")}
    assert any(d.startswith("Rank: the order of the aggregate panel, by IQM") for d in board["definitions"])
    iqm = [a["IQM"] for a in board["aggregates"]]
    assert iqm == sorted(iqm, reverse=True)  # the rank the page states


def test_captions_say_what_is_drawn_and_published_columns_only_where_there_are_some(report):
    from analysis.plots import CURVE_BAND

    _, out = report
    page = (out / "leaderboard.html").read_text()
    assert f"learning curves (normalised score, {CURVE_BAND})" in page and "mean ± std over seeds" not in page
    md = (out / "LEADERBOARD.md").read_text()
    assert "**smacv1: return, published numbers beside" in md and "(paper)" in md.split("## smacv1")[1]
    games = md.split("## games")[1].split("## smacv1")[0]
    assert "**games: return [" in games and "published" not in games and "(paper)" not in games


def test_one_seed_note_only_for_one_seed(tmp_path):
    from analysis.definitions import notes
    from analysis.report import analyse

    make_store(tmp_path, algos=("macflow", "bc"), tasks=("games/coordination", "games/xor"), seeds=3)
    text = " ".join(notes(analyse(tmp_path, reps=100)))
    assert "every algorithm in the aggregates here has more" in text and "have one seed per task" not in text


def test_missing_latency_is_blamed_on_no_measurement_not_on_overrides(tmp_path):
    """Runs at a suite preset (bc[games preset]: network sizes only) get their algorithm's paper-default latency;
    without any record the report says to measure it, not that the runs overrode their config."""
    from analysis.report import write_report

    for task in ("games/coordination", "games/xor"):
        write_run(tmp_path, "bc", task, [1.5, 1.6], overrides={"hidden": [64, 64]}, preset=("hidden",))
        write_run(tmp_path, "macflow", task, [1.2, 1.4], overrides={"hidden": [64, 64]}, preset=("hidden",))
    text = write_report(tmp_path, reps=100).read_text()
    missing = text.split("## What is missing")[1].split("##")[0]
    assert "score vs latency: no latency measured for bc, macflow (run `bench latency --algos bc,macflow" in missing
    assert "overrides its config" not in missing


def test_every_json_file_a_report_writes_is_strict(report):
    root, out = report
    files = sorted(out.rglob("*.json"))
    assert {"leaderboard.json", "marl_eval.json", "marl_eval.provenance.json"} <= {p.name for p in files}
    for p in files:
        json.loads(p.read_text(), parse_constant=_refuse)
    board = json.loads((out / "leaderboard.json").read_text())
    assert all(f["win_rate"] is None for f in board["finals"])  # no win rate on these tasks: null, not NaN
