"""The analysis package on small hand-written stores (spec.json / metrics.jsonl / final.json fixtures)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from benchmarks.store import Run

REFS = {"games/coordination": (1.0, 2.0), "games/xor": (0.0, 1.0), "games/landmarks": (-30.0, -5.0),
        "smacv1/3m-Good": (0.0, 20.0)}


def write_run(root, algo, task, returns, *, steps=100, overrides=None, cost_overrides=None, finish=True,
              error=None, diag=False, rid=None, nfe=1, preset=(), eval_steps=None,
              protocol=""):
    """One run directory as benchmarks.training.train writes it; returns the run id."""
    seeds = list(range(len(returns)))
    key = json.dumps([overrides or {}, sorted(preset)])
    # a stable digest: Python's str hash changes per process, and modulo 997 two settings of one algorithm and
    # task collided now and then (one run overwrote the other: a flaky missing variant)
    rid = rid or f"{algo}-{task.replace('/', '-')}-{len(returns)}-{steps}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    run = Run(root, rid)
    refs = REFS[task]
    run.start({"algo": algo, "task": task, "seeds": seeds, "steps": steps, "run_id": rid, "suite": task.split("/")[0],
               "task_name": task.split("/")[1], "overrides": overrides or {}, "cost_overrides": cost_overrides or {},
               "cost": {"nfe": nfe, "per_agent": "O(1)"}, "refs": list(refs), "harness_version": "0.1.0",
               "preset": sorted(preset), "protocol": protocol})
    rows = []
    for step in eval_steps or (steps // 2, steps):
        for s, r in zip(seeds, returns):
            ret = r if step == steps else r - 0.1 * abs(r)
            row = {"kind": "eval", "step": step, "seed": s, "return": ret, "normalised": 100 * (ret - refs[0]) / (refs[1] - refs[0]),
                   "train_time": 1.0 * step / steps, "loss/loss": 1.0 / step}
            if diag:
                row.update({"diag/distill": 0.5 / step, "diag/value_gap": 0.1 / step, "diag/w2_bound": (0.5 / step) ** 0.5,
                            "diag/lipschitz_q": 2.0, "diag/gap_bound": 2.0 * (0.5 / step) ** 0.5})
            rows.append(row)
    run.append_metrics(rows)
    if error:
        run.fail(error)
    if finish:
        rets = np.asarray(returns, float)
        run.finish({"run_id": rid, "algo": algo, "task": task, "seeds": seeds, "steps": steps, "returns": rets.tolist(),
                    "return_mean": float(rets.mean()), "return_std": float(rets.std()),
                    "normalised": [100 * (x - refs[0]) / (refs[1] - refs[0]) for x in rets], "train_time": 2.0,
                    "wall_time": 3.0, "steps_per_sec": 50.0, "cost": {"nfe": nfe}, "cost_overrides": cost_overrides or {}})
    return rid


def make_store(root, algos=("macflow", "bc"), tasks=("games/coordination", "games/xor", "games/landmarks"), seeds=5):
    rng = np.random.default_rng(0)
    truth = {}
    for i, a in enumerate(algos):
        for t in tasks:
            lo, hi = REFS[t]
            rets = lo + (hi - lo) * rng.uniform(0.2 + 0.2 * i, 0.6 + 0.2 * i, seeds)
            write_run(root, a, t, rets.tolist(), diag=(a == "macflow"))
            truth[(a, t)] = rets
    return truth


def test_aggregates_agree_with_rliable_called_directly(tmp_path):
    from rliable import library as rly
    from rliable import metrics

    from analysis import aggregate
    from analysis.load import latest_finals, load

    truth = make_store(tmp_path)
    m = aggregate.score_matrix(latest_finals(load(tmp_path)))
    assert m.tasks == ["games/coordination", "games/landmarks", "games/xor"]
    direct = {}  # the same matrix built by hand, in the same order (rliable draws one random stream for all)
    assert sorted(m.scores) == ["bc", "macflow"]
    for a in m.scores:
        cols = [100 * (truth[(a, t)] - REFS[t][0]) / (REFS[t][1] - REFS[t][0]) / 100 for t in m.tasks]
        direct[a] = np.stack(cols, axis=1)  # runs (seeds) x tasks
        np.testing.assert_allclose(m.scores[a], direct[a])
    # the points are rliable's exactly; the intervals come from another random stream, so they agree within
    # Monte-Carlo error (mc_tol)
    np.random.seed(3)  # rliable's stratified bootstrap draws from numpy's global generator
    p_ref, ci_ref = rly.get_interval_estimates(direct, aggregate.aggregate_func, reps=500,
                                               random_state=np.random.RandomState(3))
    df = aggregate.aggregates(m.scores, reps=2000, seed=3)
    for a in direct:
        row = df[df.variant == a].iloc[0]
        for i, name in enumerate(aggregate.METRICS):
            assert row[name] == pytest.approx(p_ref[a][i], abs=1e-12)
            assert row[f"{name} lo"] == pytest.approx(ci_ref[a][0, i], abs=mc_tol(500))
            assert row[f"{name} hi"] == pytest.approx(ci_ref[a][1, i], abs=mc_tol(500))
    assert df.iloc[0]["variant"] == "bc"  # the better-scoring fixture ranks first by IQM


def mc_tol(ref_reps: int, reps: int = 2000) -> float:
    """How far two bootstrap interval endpoints on these small cases may differ by Monte-Carlo error alone.

    An endpoint's standard deviation is about 0.29 / sqrt(resamples) here (0.0065 at 2000, measured over 30
    seeds of the aggregates and of P(X > Y)); two independent bootstraps differ by more than 3.3 standard
    deviations of their difference with probability below 0.1%: 0.03 for 2000 against 2000, 0.048 for 2000
    against rliable's 500."""
    return 3.3 * 0.29 * (1 / reps + 1 / ref_reps) ** 0.5


POI_SCORES = {"a": np.random.default_rng(5).uniform(0.0, 1.0, (5, 3)),
              "b": np.random.default_rng(6).uniform(0.2, 1.2, (5, 3)),
              "c": np.round(np.random.default_rng(7).uniform(0.0, 1.0, (4, 3)), 1), "d": np.full((4, 3), 0.5)}


def _rliable_poi_interval(x, y, reps):
    from rliable import library as rly
    from rliable import metrics

    np.random.seed(0)
    _, ci = rly.get_interval_estimates({"p": (POI_SCORES[x], POI_SCORES[y])}, metrics.probability_of_improvement,
                                       reps=reps, random_state=np.random.RandomState(0))
    return ci["p"]


def test_probability_of_improvement_is_rliables_statistic_for_all_resamples_at_once():
    """P(X > Y): the same point estimate as rliable's per-pair scipy loop for every ordered pair, on scores with
    ties and unequal run counts; a pair's two directions add up to one; intervals within Monte-Carlo error of
    rliable's bootstrap (one pair here at rliable's 500 resamples; more in the slow test)."""
    from rliable import metrics

    from analysis import aggregate

    got = aggregate.probability_of_improvement(POI_SCORES, reps=2000, seed=1).set_index(["x", "y"])
    assert len(got) == 12
    for (x, y), r in got.iterrows():
        assert r["P(X>Y)"] == pytest.approx(metrics.probability_of_improvement(POI_SCORES[x], POI_SCORES[y]),
                                            abs=1e-12)
        assert r["P(X>Y)"] + got.loc[(y, x), "P(X>Y)"] == pytest.approx(1.0)
        assert r["lo"] <= r["P(X>Y)"] <= r["hi"]
    lo, hi = _rliable_poi_interval("b", "a", 500)
    assert got.loc[("b", "a"), "lo"] == pytest.approx(lo, abs=mc_tol(500))
    assert got.loc[("b", "a"), "hi"] == pytest.approx(hi, abs=mc_tol(500))
    # ties count one half: counted as wins, d (all 0.5) against c (values rounded to 0.1) would score 1/24 more
    as_wins = (POI_SCORES["d"][:, None, :] >= POI_SCORES["c"][None, :, :]).mean(axis=(0, 1)).mean()
    assert as_wins - got.loc[("d", "c"), "P(X>Y)"] == pytest.approx(1 / 24)


@pytest.mark.slow
def test_probability_of_improvement_intervals_match_rliable_at_2000_resamples():
    from analysis import aggregate

    got = aggregate.probability_of_improvement(POI_SCORES, reps=2000, seed=1).set_index(["x", "y"])
    # (c against the constant d takes a few values only: its endpoints jump between them, not compared here)
    for x, y in (("b", "a"), ("a", "c"), ("c", "b")):
        lo, hi = _rliable_poi_interval(x, y, 2000)
        assert got.loc[(x, y), "lo"] == pytest.approx(lo, abs=mc_tol(2000))
        assert got.loc[(x, y), "hi"] == pytest.approx(hi, abs=mc_tol(2000))


def test_performance_profiles_agree_with_rliable():
    from rliable import library as rly

    from analysis import aggregate

    scores = {"a": np.random.default_rng(2).uniform(0.0, 1.0, (5, 3))}
    taus, prof, cis = aggregate.performance_profiles(scores, reps=2000)
    np.random.seed(0)
    ref, ref_cis = rly.create_performance_profile(scores, taus, reps=500)
    np.testing.assert_allclose(prof["a"], ref["a"], atol=1e-12)
    # a profile takes the values k / (runs x tasks): Monte-Carlo error moves an endpoint by at most one such step
    # (measured over 6 seeds of rliable's 500 resamples)
    np.testing.assert_allclose(cis["a"], ref_cis["a"], atol=1 / scores["a"].size + 1e-9)


def test_adding_an_algorithm_does_not_change_other_normalised_scores(tmp_path):
    from analysis.load import latest_finals, load

    make_store(tmp_path)
    before = latest_finals(load(tmp_path))
    before = before[before.variant == "macflow"].sort_values(["task", "seed"])["normalised"].to_numpy()
    # a much better and a much worse algorithm join the comparison
    for t in ("games/coordination", "games/xor", "games/landmarks"):
        lo, hi = REFS[t]
        write_run(tmp_path, "oracle", t, [hi + 5 * (hi - lo)] * 5)
        write_run(tmp_path, "awful", t, [lo - 9 * (hi - lo)] * 5)
    after = latest_finals(load(tmp_path))
    after = after[after.variant == "macflow"].sort_values(["task", "seed"])["normalised"].to_numpy()
    np.testing.assert_array_equal(before, after)


def test_tables_bold_underline_averages_flags_and_published_columns(tmp_path):
    from analysis import tables
    from analysis.load import latest_finals, load
    from analysis.reference import load_reference

    write_run(tmp_path, "bc", "smacv1/3m-Good", [10.0, 12.0, 14.0])
    write_run(tmp_path, "macflow", "smacv1/3m-Good", [19.0, 19.5, 20.0])
    write_run(tmp_path, "flowbc", "smacv1/3m-Good", [15.0, 15.0, 15.0], overrides={"flow_steps": 2},
              cost_overrides={"flow_steps": 2})
    f = latest_finals(load(tmp_path))
    t = tables.build(f, "return", reference=load_reference())
    row = t.rows[0]
    assert row.cells["macflow"].style == "best" and row.cells["flowbc[flow_steps=2]"].style == "second"
    assert row.cells["bc"].style == ""
    assert row.cells["bc"].pm == pytest.approx(2 * np.std([10.0, 12.0, 14.0]))
    md, tex, htm = tables.to_markdown(t), tables.to_latex(t), tables.to_html(t)
    assert "**19.5 ± 0.8**" in md  # one decimal, as the paper, once returns reach 20
    assert "<ins>15.0 ± 0.0</ins> \\*" in md and "cost-defining settings overridden" in md
    assert "\\textbf{19.5 $\\pm$ 0.8}" in tex and "\\underline{15.0 $\\pm$ 0.0}$^*$" in tex
    assert "<b>19.5 ± 0.8</b>" in htm and 'class="flag"' in htm
    # published MAC-Flow Table 1 numbers sit beside the measured ones and are not ranked
    assert row.cells["MAC-Flow (paper)"].mean == pytest.approx(19.8) and row.cells["MAC-Flow (paper)"].pm == pytest.approx(0.2)
    assert row.cells["MAC-Flow (paper)"].style == ""
    assert "VGM2P (paper)" in t.column_names()
    assert row.cells["VGM2P (paper)"].pm == pytest.approx(1.4)  # VGM2P reports +- 1 std: shown doubled
    # suite averages over several tasks; a column missing a task has no average
    make_store(tmp_path / "g", algos=("macflow",))
    write_run(tmp_path / "g", "bc", "games/xor", [0.5, 0.5])
    t2 = tables.build(latest_finals(load(tmp_path / "g")), "normalised")
    avg = [r for r in t2.rows if r.average][0]
    per_task = [r.cells["macflow"].mean for r in t2.rows if not r.average]
    assert avg.cells["macflow"].mean == pytest.approx(np.mean(per_task)) and "bc" not in avg.cells


def test_suite_preset_runs_are_one_variant_per_suite_apart_from_paper_size_runs(tmp_path):
    """bench run on the games gives DoF a smaller U-Net, with inverse dynamics on landmarks only: its runs
    must still aggregate as one algorithm over the suite, never mix with paper-size runs, and the tables
    must say what the preset chose where."""
    from analysis import tables
    from analysis.load import latest_finals, load
    from analysis.report import analyse

    small = {"dim": 32, "dim_mults": [1, 2]}
    for task, inv in (("games/coordination", False), ("games/xor", False), ("games/landmarks", True)):
        write_run(tmp_path, "dof", task, [1.5, 1.6] if "land" not in task else [-8.0, -9.0],
                  overrides={**small, "inv_dyn": inv}, preset=("dim", "dim_mults", "inv_dyn"))
        write_run(tmp_path, "bc", task, [1.2, 1.3] if "land" not in task else [-10.0, -11.0])
    write_run(tmp_path, "dof", "games/xor", [0.9, 0.8])  # --paper-size
    write_run(tmp_path, "dof", "games/xor", [0.7, 0.7], overrides={**small, "inv_dyn": False, "lr": 1e-3},
              preset=("dim", "dim_mults", "inv_dyn"))  # preset + the user's --set lr=0.001
    finals = latest_finals(load(tmp_path))
    assert set(finals["variant"]) == {"bc", "dof", "dof[games preset]", "dof[games preset;lr=0.001]"}
    preset_tasks = finals.loc[finals["variant"] == "dof[games preset]", "task_name"]
    assert set(preset_tasks) == {"coordination", "xor", "landmarks"}
    an = analyse(tmp_path, reps=200)
    assert {"bc", "dof[games preset]"} <= set(an.aggregates["variant"])  # every task: in the aggregates
    assert "dof" not in set(an.aggregates["variant"])  # one task only
    md = tables.to_markdown(tables.build(finals, "return"))
    assert ("dof[games preset]: dim=32, dim_mults=1x2, inv_dyn=False on coordination, xor; "
            "dim=32, dim_mults=1x2, inv_dyn=True on landmarks") in md


def test_reference_csvs_have_sources_and_the_papers_numbers():
    from analysis.reference import load_reference, match

    ref = load_reference()
    assert ref["source"].str.len().min() > 20
    assert set(ref["paper"]) == {"macflow", "vgm2p"}
    assert len(ref[(ref.paper == "macflow") & (ref.table == "1")]) == 20 * 8
    assert len(ref[(ref.paper == "macflow") & (ref.table == "2")]) == 18 * 7
    hop = match(ref, "mamujoco", "3-Hopper-Medium-Replay")
    assert hop.set_index("algo").loc["macflow", "mean"] == pytest.approx(1166.3)
    assert match(ref, "smacv1", "3m_poor").set_index("algo").loc["vgm2p", "mean"] == pytest.approx(14.9)
    assert match(ref, "smacv2", "zerg_5_vs_5-Replay").set_index("algo").loc["dof", "pm"] == pytest.approx(1.1)


def test_empty_and_partly_failed_store_give_a_report_that_says_what_is_missing(tmp_path):
    from analysis.figures import write_figures
    from analysis.report import write_report

    empty = write_report(tmp_path / "nothing", tmp_path / "r0", reps=100).read_text()
    assert "No finished runs" in empty and "does not exist" in empty
    root = tmp_path / "runs"
    write_run(root, "macflow", "games/xor", [0.5, 0.6])
    write_run(root, "bc", "games/xor", [0.1, 0.2], finish=False,
              error="Traceback (most recent call last):\nalgorithms.errors.TrainingError: training diverged at step 40\n")
    write_run(root, "flowbc", "games/xor", [0.3], finish=False)
    (root / "junk").mkdir()
    (root / "junk" / "final.json").write_text("{}")
    text = write_report(root, tmp_path / "r1", reps=100).read_text()
    assert "failed: algorithms.errors.TrainingError: training diverged at step 40" in text
    assert "has no final.json" in text and "bench run --task games/xor --algos flowbc" in text
    assert "no spec.json" in text
    assert "macflow" in text and (tmp_path / "r1" / "leaderboard.html").exists()
    index = write_figures(root, tmp_path / "f", reps=100).read_text()
    assert "bench latency --algos" in index and "--agents 2,4,8,16,40" in index
    assert "Figure 3" in index and "bench figures --paper macflow --games" in index
    assert "Table 1: no runs on smacv1/smacv2" in index
    table1 = (tmp_path / "f" / "table1.md").read_text()
    assert "MAC-Flow (paper)" in table1 and "19.8 ± 0.2" in table1


def test_figures_from_a_store_with_diagnostics_and_latency(tmp_path):
    from analysis.figures import write_figures
    from benchmarks.store import save_latency as save

    make_store(tmp_path, algos=("macflow", "bc"), tasks=("games/landmarks", "games/xor"), seeds=3)
    for name, base in (("macflow", 0.2), ("bc", 0.15)):
        for n in (2, 4, 8):
            save({"name": name, "label": f"games/landmarks-{n}", "n_agents": n, "median_ms": base * n, "iqr_ms": 0.01,
                  "per_agent_ms": base, "nfe": 1, "nfe_counted": 1, "device": "cpu", "cost_overrides": {},
                  "date": "2026-01-01T00:00:00", "machine": {"cpu": "test"}}, tmp_path)
    index = write_figures(tmp_path, tmp_path / "out", reps=100).read_text()
    for name in ("fig1_score_vs_latency.png", "table3_latency_vs_agents.png", "fig3_distillation.png",
                 "training_time.png", "table1.tex", "table2.html"):
        assert f"`{name}`" in index and (tmp_path / "out" / name).stat().st_size > 0
    assert "Figure 3" not in index.split("## Missing")[-1] if "## Missing" in index else True


def test_marl_eval_export(tmp_path):
    from analysis import marl_eval
    from analysis.load import load

    make_store(tmp_path, algos=("macflow", "bc"), tasks=("games/xor",), seeds=2)
    write_run(tmp_path, "bc", "games/coordination", [1.5])
    raw = marl_eval.export(load(tmp_path))
    seed0 = raw["games"]["xor"]["macflow"]["seed_0"]
    assert [seed0[k]["step_count"] for k in ("step_0", "step_1")] == [50, 100]
    assert set(seed0["absolute_metrics"]) == {"return", "normalised"} and len(seed0["absolute_metrics"]["return"]) == 1
    problems = marl_eval.check(raw)
    assert problems and "equal runs and steps" in problems[0]
    assert not marl_eval.check({"games": {"xor": raw["games"]["xor"]}})


def test_the_end_of_bench_run_reports_its_runs_without_replacing_the_stores_report(tmp_path, capsys):
    import benchmarks.cli.run as cli
    from analysis.report import report_after_run, write_report

    import inspect

    assert "report_after_run(root" in inspect.getsource(cli.cmd_run)  # bench run ends with this call
    root = tmp_path / "runs"
    ids = [write_run(root, algo, task, [0.2 + 0.1 * k, 0.3 + 0.1 * k], steps=100 + k)
           for k, (algo, task) in enumerate((a, t) for a in ("macflow", "bc", "flowbc")
                                            for t in ("games/xor", "games/coordination", "games/landmarks",
                                                      "smacv1/3m-Good"))]
    assert len(set(ids)) == 12
    store = write_report(root, reps=100)  # `bench report`: the whole store
    text = store.read_text()
    assert "runs: 12 (12 finished)" in text and "**Scope: every run in the store (12).**" in text
    path = report_after_run(root, ids[:4])  # the end of a `bench run` of 4 of them
    assert path == root / "report" / "last-run" / "report.md"
    assert store.read_text() == text  # the store's report is not replaced
    mine = path.read_text()
    assert mine.splitlines()[2].startswith("**Scope: the 4 run(s) of the last `bench run` (of 12 in the store)")
    assert "runs: 4 (4 finished)" in mine and "| bc |" not in mine
    assert "Scope: the 4 run(s) of the last `bench run`" in (path.parent / "leaderboard.html").read_text()
    out = capsys.readouterr().out
    assert f"report of this command's runs: {path.resolve()}" in out and "all 12 runs of the store: `bench report" in out


def test_every_paper_task_of_the_harness_finds_its_published_row():
    from analysis.reference import load_reference, match
    from benchmarks.tasks import get_suite

    ref = load_reference()
    for suite in ("smacv1", "smacv2", "mpe"):
        names = list(get_suite(suite).default_tasks)
        assert names, suite
        for name in names:
            rows = match(ref, suite, name)
            assert rows["key"].nunique() == 1, f"{suite}/{name} matches {sorted(set(rows['key']))}"
            assert "macflow" in set(rows["algo"]), f"{suite}/{name}: no MAC-Flow number"
    # mpe's 26-step variants (og-marl's episode length) are not the published numbers' setting
    assert all(match(ref, "mpe", n).empty for n in get_suite("mpe").tasks if n not in get_suite("mpe").default_tasks)


def test_marl_eval_loads_our_export_in_marl_eval_itself(tmp_path, capsys, monkeypatch):
    """marl-eval's own checker, pipeline, rliable matrices, aggregate scores and performance profiles on the
    marl_eval.json that `bench report` writes (never skipped: CI installs id-marl-eval, see .ci/run)."""
    from marl_eval.plotting_tools.plotting import aggregate_scores, performance_profiles
    from marl_eval.utils.data_processing_utils import create_matrices_for_rliable, data_process_pipeline
    from marl_eval.utils.diagnose_data_errors import DiagnoseData

    from analysis import marl_eval
    from analysis.load import load

    truth = make_store(tmp_path, algos=("macflow", "bc"), tasks=("games/coordination", "games/xor"), seeds=3)
    path, problems = marl_eval.write(load(tmp_path), tmp_path / "out" / "marl_eval.json")
    assert problems == []
    raw = json.loads(path.read_text())
    seed0 = raw["games"]["xor"]["macflow"]["seed_0"]
    assert set(seed0["step_0"]) == {"step_count", "return", "normalised"}
    assert set(seed0["absolute_metrics"]) == {"return", "normalised"}

    checked = DiagnoseData(raw).check_data()["games"]
    assert all(checked.values()), checked
    processed = data_process_pipeline(raw_data=raw, metrics_to_normalize=["return"])
    assert "extra" in processed, "marl-eval's pipeline rejected the export"  # it returns its input on errors
    matrices, curves = create_matrices_for_rliable(processed, environment_name="games", metrics_to_normalize=["return"])
    assert set(matrices) == {"mean_norm_return", "mean_normalised"}
    tasks = list(raw["games"])  # marl-eval's column order
    for algo in ("macflow", "bc"):
        want = np.stack([truth[(algo, f"games/{t}")] for t in tasks], axis=1)
        lo, hi = REFS[f"games/{tasks[0]}"]
        got = matrices["mean_normalised"][algo]
        assert got.shape == (3, 2) and np.allclose(got[:, 0], 100 * (want[:, 0] - lo) / (hi - lo))
        assert curves["mean_normalised"][algo].shape == (3, 2, 2)  # runs x tasks x evaluations
    # marl-eval fixes 50 000 bootstrap repetitions; rliable is called with 200 so the test takes seconds
    from marl_eval.plotting_tools import plotting
    interval = plotting.rly.get_interval_estimates
    monkeypatch.setattr(plotting.rly, "get_interval_estimates", lambda *a, reps=0, **k: interval(*a, reps=200, **k))
    fig, scores, cis = aggregate_scores(matrices, metric_name="return", metrics_to_normalize=["return"],
                                        tabular_results_file_path=str(tmp_path / "agg"))
    assert set(scores) == {"MACFLOW", "BC"} and set(scores["BC"]) >= {"IQM", "Mean"}  # marl-eval upper-cases
    assert scores["BC"]["Mean"] > scores["MACFLOW"]["Mean"]  # make_store draws bc's returns higher
    assert (tmp_path / "agg_return.csv").exists()
    assert performance_profiles(matrices, metric_name="normalised", metrics_to_normalize=["return"]).axes
    assert "invalid" not in capsys.readouterr().out


def test_learning_curves_show_single_evaluation_runs_and_name_their_band(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.container import ErrorbarContainer

    from analysis import plots
    from analysis.load import load

    write_run(tmp_path, "macflow", "games/xor", [0.2, 0.6], steps=100)  # two evaluations
    write_run(tmp_path, "bc", "games/xor", [0.4, 0.8], steps=100, eval_steps=(100,))  # one evaluation
    write_run(tmp_path, "bc", "games/coordination", [1.5], steps=100, eval_steps=(100,))  # one evaluation, one seed
    ev = load(tmp_path).evals
    fig = plots.learning_curves_figure(ev, "return")
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(axes) == {"games/xor", "games/coordination"}
    xor = axes["games/xor"]
    bars = [c for c in xor.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in bars] == ["bc"]
    x, y = bars[0].lines[0].get_data()
    assert list(x) == [100] and np.allclose(y, [0.6]) and bars[0].lines[0].get_marker() == "o"
    (lo, hi), = [seg[:, 1] for seg in bars[0].lines[2][0].get_segments()]
    assert np.isclose(hi - lo, 4 * np.std([0.4, 0.8], ddof=1))  # ±2 std over seeds
    line = next(ln for ln in xor.get_lines() if ln.get_label() == "macflow")
    assert list(line.get_xdata()) == [50, 100] and np.allclose(line.get_ydata(), [0.36, 0.4])
    assert any(isinstance(c, PolyCollection) for c in xor.collections)  # the band of the two-point curve
    coord = axes["games/coordination"].containers[0].lines[0]
    assert list(coord.get_xdata()) == [100] and np.allclose(coord.get_ydata(), [1.5])
    assert "mean ± 2 std over seeds" in fig._suptitle.get_text()
    plt.close(fig)
    assert plots.learning_curves(ev, tmp_path / "lc.png", "return").stat().st_size > 0
