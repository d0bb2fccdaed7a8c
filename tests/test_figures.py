"""`bench figures --paper macflow`: every paper item is a file or exactly one command; the ablation and games
figures from synthetic stores and samples; the games command on a tiny budget (slow); the critic switch."""
from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from benchmarks.store import Run

REFS = (0.0, 100.0)


def _run(root, algo, task, variant_over=None, steps=100, q=True, phases=None, seeds=(0, 1, 2), online=0):
    over = variant_over or {}
    key = json.dumps([over, online], sort_keys=True)
    rid = f"{algo}-{task.replace('/', '-')}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    run = Run(root, rid)
    run.start({"algo": algo, "task": task, "seeds": list(seeds), "steps": steps, "run_id": rid, "online_steps": online,
               "suite": task.split("/")[0], "task_name": task.split("/")[1], "overrides": over,
               "cost_overrides": {}, "cost": {"nfe": 1}, "refs": list(REFS), "harness_version": "0.1.0",
               "preset": [], "protocol": "macflow-paper", "eval_every": 50, "eval_episodes": 10})
    rows = []
    for step in (steps // 2, steps):
        for s in seeds:
            r = {"kind": "eval", "step": step, "seed": s, "return": 40.0 + s + step / 10}
            if q:
                r["loss/q"] = 5.0 + step / 100
            if phases:
                r["phase"] = phases(step)
            rows.append(r)
    run.append_metrics(rows)
    rets = [40.0 + s + steps / 10 for s in seeds]
    run.finish({"run_id": rid, "algo": algo, "task": task, "seeds": list(seeds), "steps": steps, "returns": rets,
                "normalised": rets, "train_time": 1.0, "wall_time": 2.0, "steps_per_sec": 10.0, "cost": {"nfe": 1},
                "cost_overrides": {}})
    return rid


def _items(index: str) -> dict:
    part = index.split("## Paper items")[1].split("## Produced")[0]
    return dict(re.findall(r"^- (Figure [\d /]+|Table \d): (.*)$", part, re.M))


PAPER_ITEMS = ["Figure 1 / 4", "Figure 2", "Figure 3"] + [f"Figure {i}" for i in range(5, 17)] + \
              [f"Table {i}" for i in (1, 2, 3)]


def _check_every_item(index: str, out):
    items = _items(index)
    assert sorted(items) == sorted(PAPER_ITEMS), sorted(items)
    for name, text in items.items():
        if text.startswith("MISSING"):
            cmds = re.findall(r"`(bench [^`]+)`", text)
            assert len(cmds) == 1, (name, text)
        else:
            for f in re.findall(r"`([^`]+\.(?:png|md|tex|html|csv))`", text):
                assert (out / f).stat().st_size > 0, f
    return items


def test_empty_store_lists_every_paper_item_with_one_command(tmp_path):
    from analysis.figures import write_figures

    index = write_figures(tmp_path / "none", tmp_path / "out", reps=100).read_text()
    items = _check_every_item(index, tmp_path / "out")
    assert "--protocol macflow-paper" in items["Figure 8"] and "'macflow,macflow[critic=central]'" in items["Figure 8"]
    assert "--online-steps 500000" in items["Figure 5"]
    assert "bench figures --paper macflow --games" in items["Figure 14"]
    assert "macflow[q_weight=0]" in items["Figure 6"] and "flowbc" in items["Figure 6"]
    # every command writes to the store the figures were drawn from, so re-running bench figures finds its runs
    for name, text in items.items():
        for cmd in re.findall(r"`(bench (?:run|figures|latency) [^`]+)`", text):
            assert f"--results {tmp_path / 'none'}" in cmd, (name, cmd)


def test_ablation_figures_from_variant_runs(tmp_path):
    from analysis.figures import write_figures

    for task in ("mamujoco/2-ant-medium", "mpe/spread-medium"):
        _run(tmp_path, "macflow", task)
        _run(tmp_path, "macflow", task, {"critic": "independent"})
        _run(tmp_path, "macflow", task, {"critic": "central"})
    _run(tmp_path, "mafql", "mpe/spread-medium")
    _run(tmp_path, "macql", "mpe/spread-expert", phases=lambda s: "offline" if s <= 50 else "online")
    # a fine-tuned run as `bench run --online-steps` stores it (variant macflow[online=500000]), beside its parent
    _run(tmp_path, "macflow", "mpe/spread-expert", phases=lambda s: "offline" if s <= 50 else "online",
         online=500_000)
    _run(tmp_path, "macflow", "mpe/spread-expert", phases=lambda s: "offline")
    out = tmp_path / "out"
    index = write_figures(tmp_path, out, reps=100).read_text()
    items = _check_every_item(index, out)
    for fig, f in (("Figure 5", "fig5_offline_to_online.png"), ("Figure 7", "fig7_igm.png"),
                   ("Figure 8", "fig8_central_critic.png"), ("Figure 10", "fig10_macflow_vs_mafql.png"),
                   ("Figure 12", "fig12_learning_curves.png")):
        assert f"`{f}`" in items[fig], (fig, items[fig])
    # partly drawn figures still name the one command for all their runs
    assert "drawn from part of its runs" in index and "macflow[flow=individual]" in items["Figure 9"]


def test_variant_algos_syntax_plans_one_job_per_variant():
    import argparse

    from benchmarks.training.plan import plan_jobs

    args = argparse.Namespace(suite=None, tasks=None, task="games/coordination", seeds="0", steps=10, eval_every=10,
                              eval_episodes=2, batch_size=64, set=["hidden=32,32"], allow_cost_override=False,
                              dataset=None, paper_size=True, split_seeds=False, protocol=None,
                              algos="macflow,macflow[critic=independent;q_weight=0]")
    jobs = plan_jobs(args)
    assert [j.overrides for j in jobs] == [{"hidden": "32,32"},
                                           {"hidden": "32,32", "critic": "independent", "q_weight": "0"}]
    assert jobs[0].run_id != jobs[1].run_id


def test_games_plots_from_synthetic_samples(tmp_path):
    from analysis import plots

    rng = np.random.default_rng(0)
    disc = {"data": rng.integers(0, 2, (500, 2)), "joint": rng.integers(0, 2, (2, 300, 2)),
            "onestep": np.ones((2, 300, 2), int), "act": np.ones((2, 300, 2), int)}
    p14 = plots.coordination_distributions(disc, disc, tmp_path / "f14.png", "budget")
    cont = {"data": rng.uniform(-1, 1, (500, 2, 1)), "joint": rng.uniform(-1, 1, (2, 300, 2, 1)),
            "onestep": rng.uniform(-1, 1, (2, 300, 2, 1))}
    p15 = plots.xor_samples(cont, tmp_path / "f15.png", "budget")
    p16 = plots.payoff_sweep({z: (disc, "budget") for z in (0.0, 0.5, 1.0)}, tmp_path / "f16.png")
    roll = {k: rng.uniform(-1, 1, (26, 3, 2)) for k in ("dataset", "joint flow", "one-step policy")}
    roll["landmarks"] = rng.uniform(-1, 1, (3, 2))
    p13 = plots.landmark_trajectories({3: (roll, "budget")}, tmp_path / "f13.png")
    for p in (p13, p14, p15, p16):
        assert p.stat().st_size > 1000


@pytest.mark.slow
def test_games_figures_regenerated_in_one_command_on_a_tiny_budget(tmp_path, monkeypatch):
    """`bench figures --paper macflow --regenerate --items games` end to end (the plan, the estimate, training the
    11 runs through the runner, restoring checkpoints, sampling, drawing, the claims) at 20 steps and [16, 16]
    networks; a second call finds every run finished."""
    from analysis.games import Budget
    from analysis.paper_plan import make_plan
    from benchmarks.cli.regenerate import regenerate

    monkeypatch.setenv("BENCH_FLOPS_CACHE", str(tmp_path / "flops.json"))
    tiny = Budget(steps=20, eval_every=10, eval_episodes=2, hidden="16,16", paper_hidden="16,16", trajectories=5)
    out = tmp_path / "out"
    assert regenerate("macflow", tmp_path, out, ["games"], budget=tiny, no_ray=True) == 0
    items = _check_every_item((out / "index.md").read_text(), out)
    for fig, f in (("Figure 3", "fig3_distillation.png"), ("Figure 13", "fig13_landmarks.png"),
                   ("Figure 14", "fig14_coordination.png"), ("Figure 15", "fig15_xor.png"),
                   ("Figure 16", "fig16_payoff.png")):
        assert f"`{f}`" in items[fig], (fig, items[fig])
    index = (out / "index.md").read_text()
    for claim in ("Figure 3 (b)", "Figure 3 (d)", "Figure 13 (40 agents)", "Figure 14 (c)", "Figure 16 (c)"):
        assert f"- {claim}: " in index, claim
    assert "plan.md" in {p.name for p in out.iterdir()}
    plan = make_plan("macflow", tmp_path, ("games",), tiny)
    assert len(plan.jobs) == 11 and len(plan.with_state("finished")) == 11
