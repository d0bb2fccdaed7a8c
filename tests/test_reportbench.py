"""`bench perf reportbench`: the synthetic store has the paper's shape, and the command times the report on it."""
from __future__ import annotations

import json

import pytest

from benchmarks.cli import main
from benchmarks.perf import reportbench as rb


def test_the_synthetic_store_has_the_papers_shape():
    runs = rb.plan()
    assert len(runs) == 466 and len({(a, t) for a, _, t, _ in runs}) == 466
    assert len({t for _, _, t, _ in runs}) == 31 and len({a for a, _, _, _ in runs}) == 16
    assert all(len(seeds) == rb.SEEDS for *_, seeds in runs)
    assert 466 * rb.SEEDS * rb.EVALS == 58_716
    assert not [t for a, _, t, _ in runs if a in rb.CONTINUOUS_ONLY and t.startswith("smac")]
    ten = rb.plan(10, split_seeds=True)  # ten times the paper's runs, one directory per seed
    assert len({(a, str(o)) for a, o, _, _ in ten}) == 164 and len(ten) == 28_056
    assert {"q_weight", "critic", "flow"} <= {k for a, o, _, _ in ten if a == "macflow" for k in o}


def test_reportbench_writes_a_store_the_report_reads_and_times_it(tmp_path, capsys):
    from analysis.load import latest_finals, load

    assert main(["reportbench", "--algos", "bc,macflow,omar", "--tasks", "2", "--commands", "report",
                 "--dir", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["store"]["runs"] == 4 and out["store"]["rows"] == 4 * rb.SEEDS * rb.EVALS  # omar skips smacv1
    (r,) = out["results"]
    assert r["command"] == "report" and r["rc"] == 0 and r["wall"] > 0 and r["peak_bytes"] > 0
    assert {"load", "aggregates", "probability of improvement", "figure: learning curves", "tables"} <= set(r["stages"])
    assert {"figures/aggregates.png", "figures/learning_curves.png", "figures/score_vs_latency.png"} <= set(r["figures"])
    data = load(tmp_path / "runs")
    assert not data.problems and len(data.evals) == 4 * rb.SEEDS * rb.EVALS
    assert sorted(latest_finals(data)["variant"].unique()) == ["bc", "macflow"]
    assert main(["reportbench", "--algos", "nosuch"]) == 2


@pytest.mark.slow
def test_report_and_figures_on_the_paper_sized_store_draw_every_figure(tmp_path, capsys):
    assert main(["reportbench", "--dir", str(tmp_path), "--json"]) == 0
    report, figures = json.loads(capsys.readouterr().out)["results"]
    assert {f.split("/")[-1] for f in report["figures"]} == {
        "aggregates.png", "performance_profiles.png", "probability_of_improvement.png", "learning_curves.png",
        "score_vs_latency.png", "training_time.png"}
    assert {"fig1_score_vs_latency.png", "fig10_macflow_vs_mafql.png", "fig12_learning_curves.png",
            "table3_latency_vs_agents.png", "training_time.png"} <= set(figures["figures"])
    text = (tmp_path / "runs" / "report" / "report.md").read_text()
    # matd3bc and omar (continuous only) have no SMAC scores: 14 variants in the aggregates
    assert "matd3bc is not in the aggregates: no score on smacv1/2s3z-good" in text
    assert "(the highest IQM) against each of the other 13 variants: 13 of the 182 ordered pairs" in text
