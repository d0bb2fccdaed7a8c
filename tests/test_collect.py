"""Generated datasets (benchmarks/data/collect.py, online.py): vaults with cards, the qualities' ordering,
first-use generation, and BC reaching half the Expert / Good data's normalised return."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from benchmarks.data import collect as C
from benchmarks.data.vault import read_dataset
from algorithms.errors import BenchError
from tests.conftest import generated_data_dir

CARD_KEYS = {"episodes", "transitions", "return_mean", "return_std", "return_min", "return_max", "generator", "seed",
             "refs", "normalised_return", "budget"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    yield from generated_data_dir(tmp_path_factory, "tiny")


def _episodes_end_once(ds):
    ends = ds.terminals | ds.truncations
    assert ends[0, -1], "the stream ends with a complete episode"
    assert not np.any(ds.terminals & ds.truncations)
    return int(ends.sum())


def test_mpe_collect_writes_ogmarl_vaults_with_graded_qualities(data_root):
    paths = C.collect("mpe-gen", None, data_root, "tiny", seed=0)
    assert [p.relative_to(data_root).as_posix() for p in paths] == [
        f"generated/mpe-gen/spread.vlt/{q}" for q in ("Expert", "Medium", "Medium-Replay", "Random")]
    ds = {p.name: read_dataset(p) for p in paths}
    for q, d in ds.items():
        assert CARD_KEYS <= set(d.card), q
        assert d.card["episodes"] == 40 and d.card["transitions"] == 40 * 25 == d.rewards.size
        assert d.observations.shape == (1, 1000, 3, 18) and d.actions.shape == (1, 1000, 3, 2)
        assert d.actions.min() >= -1 and d.actions.max() <= 1
        assert _episodes_end_once(d) == 40 and not d.terminals.any()  # 25-step time limit: truncations
        rets = d.episode_returns()
        assert d.card["return_mean"] == pytest.approx(rets.mean(), rel=1e-5)
        assert d.card["refs"] == ds["Expert"].card["refs"]  # one set of references for the scenario
    norm = {q: d.card["normalised_return"] for q, d in ds.items()}
    assert norm["Expert"] > 85 and abs(norm["Random"]) < 20
    assert 20 < norm["Medium"] < 60  # "a third to a half" of the expert, up to sampling noise
    assert norm["Random"] < norm["Medium-Replay"] < norm["Expert"]


def test_smax_collect_records_win_rates_and_episode_ends(data_root):
    paths = C.collect("smax", "3m", data_root, "tiny", seed=0)
    ds = {p.name: read_dataset(p) for p in paths}
    assert set(ds) == {"Good", "Medium", "Poor"}
    for q, d in ds.items():
        assert CARD_KEYS | {"win_rate"} <= set(d.card)
        assert 0.0 <= d.card["win_rate"] <= 1.0
        assert _episodes_end_once(d) == d.card["episodes"] == 64
        assert d.actions.dtype.kind == "i" and d.legal.shape[-1] == 8
        # every recorded action was legal when taken
        taken = np.take_along_axis(d.legal, d.actions[..., None], -1)[..., 0]
        assert taken.all()
        # an episode that ends before the 100-step limit ends with a terminal; a won one pays > 1.9
        assert np.all(d.rewards[d.truncations] < 1.0 + 1e-6)
    assert ds["Good"].card["return_mean"] > ds["Medium"].card["return_mean"] > ds["Poor"].card["return_mean"]
    assert ds["Good"].card["win_rate"] >= ds["Poor"].card["win_rate"]
    assert ds["Good"].card["refs"]["expert"] > ds["Good"].card["refs"]["random"]


@pytest.mark.parametrize("task,steps,hidden,batch,seeds", [
    # slow: ~50 s idle (the MPE data are generated, then evaluated in the Python environment)
    pytest.param("mpe-gen/spread-expert", 2000, (128, 128), 256, (0, 1), marks=pytest.mark.slow),
    ("smax/3m-good", 1000, (64, 64), 64, (0,)),
])
def test_bc_reaches_half_of_the_expert_data_normalised_return(task, steps, hidden, batch, seeds, data_root, tmp_path,
                                                              monkeypatch):
    """A CI-sized BC run (small net, 1-2k steps) on generated Expert / Good data, evaluated in the real
    environment, scores at least half the dataset's own normalised return (mean over seeds). The mpe
    data is generated on first use here, in a fresh data directory, with the budget `bench run` uses."""
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    if task.startswith("mpe-gen"):
        fresh = tmp_path / "data"
        monkeypatch.setenv("BENCH_DATA", str(fresh))
        monkeypatch.setenv("BENCH_COLLECT_BUDGET", "small")
    final = train(RunConfig("bc", task, seeds=seeds, steps=steps, eval_every=steps, eval_episodes=32, batch_size=batch,
                            overrides={"hidden": hidden}), results=tmp_path / "runs")
    card = final["dataset"]
    if task.startswith("mpe-gen"):
        assert (fresh / "generated/mpe-gen/spread.vlt/Expert/card.json").is_file() and card["episodes"] == 400
    else:
        assert "win_rate" in final and len(final["win_rate"]) == len(seeds)
    assert card["normalised_return"] > 50
    assert np.mean(final["normalised"]) >= 0.5 * card["normalised_return"], (final["normalised"], card)


def test_dataset_of_another_task_is_refused_with_the_fix(data_root, tmp_path, monkeypatch):
    C.collect("mpe-gen", "spread-random", tmp_path, "tiny", seed=0)
    src = C.vault_path(tmp_path, "mpe-gen", "spread", "Random")
    dst = C.vault_path(tmp_path, "smax", "3m", "Good")
    dst.parent.mkdir(parents=True)
    shutil.copytree(src, dst)
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    fix = r"generated for mpe-gen/spread, not smax/3m.*bench data collect --suite smax --task 3m-good"
    with pytest.raises(BenchError, match=fix):
        C.load_or_generate("smax", "3m", "Good", 0)


def test_collect_rejects_unknown_names_with_choices(tmp_path):
    with pytest.raises(BenchError, match="Valid .*spread-expert"):
        C.collect("mpe-gen", "spread-expret", tmp_path, "tiny", 0)
    with pytest.raises(BenchError, match="mamujoco-gen, mpe-gen, smax"):
        C.collect("smac", None, tmp_path, "tiny", 0)
    with pytest.raises(BenchError, match="tiny, small, full"):
        C.collect("mpe-gen", None, tmp_path, "huge", 0)


def test_mamujoco_tiny_run_yields_the_four_qualities(tmp_path):
    """TD3 (tiny budget) on 3-Hopper: Expert = best snapshot, Medium = another snapshot, Medium-Replay
    = the run's replay up to Medium, Medium-Expert = their union; references on every card."""
    paths = C.collect("mamujoco-gen", "3-hopper", tmp_path, "tiny", seed=0)
    ds = {p.name: read_dataset(p) for p in paths}
    assert set(ds) == {"Expert", "Medium", "Medium-Replay", "Medium-Expert"}
    for q, d in ds.items():
        assert CARD_KEYS <= set(d.card) and d.observations.shape[2:] == (3, 9) and d.actions.shape[-1] == 1
        assert _episodes_end_once(d) == d.card["episodes"]
        assert d.card["refs"] == ds["Expert"].card["refs"]
    me, m, e = ds["Medium-Expert"], ds["Medium"], ds["Expert"]
    assert me.card["transitions"] == m.card["transitions"] + e.card["transitions"]
    np.testing.assert_array_equal(me.observations[0, :m.rewards.shape[1]], m.observations[0])
    assert m.card["generator"] != e.card["generator"]
    assert ds["Medium-Replay"].card["transitions"] <= 2_000
