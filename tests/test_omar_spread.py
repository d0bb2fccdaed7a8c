"""OMAR's Cooperative Navigation (benchmarks/envs/omar_spread.py) and the known-answer checks that an environment is the
one OMAR's Spread data were recorded in (benchmarks/data/omar_spread.py), on vaults written in og-marl's layout from
episodes rolled out in the environment, and on corrupted ones the checks must refuse."""
from __future__ import annotations

import types

import numpy as np
import pytest

from benchmarks.data import omar_spread as D
from benchmarks.envs import omar_spread as S
from test_vault import write_ogmarl_vault

EPISODES = D.RANDOM_EPISODES  # the random-policy check's: the vaults' episodes come from the same compiled rollout
STREAMS, PER_STREAM = 5, 8  # OMAR's vaults hold 5 streams (one per data seed) of 25-step episodes


# ---- the world, by hand -----------------------------------------------------------------------------------------
def test_physics_velocity_first_with_soft_contact_force():
    pos = np.array([[0.0, 0.0], [0.2, 0.0], [2.0, 2.0]])  # agents 0 and 1 overlap by 0.1, agent 2 is far
    vel = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, -1.0]])
    act = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    # penetration k log(1 + exp(0.1 / k)) = 0.1 (k = 1e-3), times 100: a force of 10 pushing 0 and 1 apart
    np.testing.assert_allclose(S.contact_forces(pos), [[-10, 0], [10, 0], [0, 0]], atol=1e-9)
    p2, v2 = S.physics_step(pos, vel, act)
    # v' = 0.75 v + 0.1 (5 a + F), then p' = p + 0.1 v'
    np.testing.assert_allclose(v2, [[0.25, 0], [1.0, 0], [0, -0.25]], atol=1e-9)
    np.testing.assert_allclose(p2, [[0.025, 0], [0.3, 0], [2.0, 1.975]], atol=1e-9)
    p_mpe2, _ = S.physics_step(pos, vel, act, position_first=True)  # mpe2 moves with the old velocity
    np.testing.assert_allclose(p_mpe2, [[0.1, 0], [0.2, 0], [2.0, 1.9]], atol=1e-9)


def test_observation_layout_and_per_agent_reward():
    pos = np.array([[0.0, 0.0], [0.25, 0.0], [3.0, 0.0]])  # 0 and 1 collide (0.25 < 0.3), 2 alone
    vel = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    lms = np.array([[0.0, 0.05], [0.25, 0.5], [3.0, 4.0]])
    obs = S.observe(pos, vel, lms)
    assert obs.shape == (3, 18)
    np.testing.assert_allclose(obs[1], [0.3, 0.4, 0.25, 0.0, -0.25, 0.05, 0.0, 0.5, 2.75, 4.0,
                                        -0.25, 0.0, 2.75, 0.0, 0, 0, 0, 0])
    # landmarks: nearest agents at 0.05 (capped at 10), 0.5 (2) and 4 (0.25); minus 5 per other agent within 0.3
    np.testing.assert_allclose(S.rewards(pos, lms), [7.25, 7.25, 12.25])
    np.testing.assert_allclose(S.rewards_from_obs(obs), [7.25, 7.25, 12.25])
    apart = pos + np.array([[0.0, 0.0], [0.06, 0.0], [0.0, 0.0]])  # 0.31 apart: no penalty (0.29 would be)
    np.testing.assert_allclose(S.rewards(apart, lms), S.rewards_from_obs(S.observe(apart, vel, lms)))
    assert S.rewards(apart, lms)[0] > S.rewards(pos, lms)[0] + 4.5
    np.testing.assert_array_equal(S.state_of(obs), obs.reshape(54))
    pos_, vel_, lms_ = S.world_of(obs[None])
    np.testing.assert_allclose(pos_[0], pos)
    np.testing.assert_allclose(lms_[0], lms, atol=1e-12)


@pytest.mark.parametrize("length", [S.EPISODE_LENGTH, S.OGMARL_EPISODE_LENGTH])
def test_jax_environment_resets_in_the_box_clips_actions_and_ends_after_its_length(length):
    import jax

    env = S.Spread(length)
    es, obs, legal, state = env.reset(jax.random.PRNGKey(3))
    pos, vel, lms, t = es
    assert obs.shape == (3, 18) and state.shape == (54,) and legal.shape == (3, 1) and int(t) == 0
    assert np.all(np.abs(np.asarray(pos)) <= 1) and np.all(np.abs(np.asarray(lms)) <= 1) and not np.any(vel)
    big, *_ = env.step(es, np.full((3, 2), 3.0), None)
    es, obs, _, state, r, done, info = env.step(es, np.ones((3, 2)), None)
    np.testing.assert_allclose(np.asarray(big[0]), np.asarray(es[0]), atol=1e-6)  # clipped to [-1, 1]
    np.testing.assert_allclose(float(r), np.asarray(info["rewards"]).mean(), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(state), np.asarray(obs).reshape(54))
    late = es[:3] + (np.int32(length - 2),)
    late, *_, done_before = env.step(late, np.zeros((3, 2)), None)[:6]
    *_, done_last = env.step(late, np.zeros((3, 2)), None)[:6]
    assert not bool(done) and not bool(done_before) and bool(done_last)  # never done before its last step


def test_uniform_random_policy_scores_the_papers_random_reference():
    """MAC-Flow App. G.3 normalises with random 159.8; OMAR's own code gives 159.9 +- 0.9 over 5 000 episodes."""
    mean, se = D.random_score(EPISODES)
    assert abs(mean - S.REFS[0]) <= D.RANDOM_TOL and se < 1.6, (mean, se)


# ---- known-answer checks on vaults in og-marl's layout ------------------------------------------------------------
def ogmarl_layout(rec: dict) -> dict:
    """OMAR's vault layout: STREAMS streams of PER_STREAM 25-step episodes each, per-agent float32 rewards and flags,
    terminals on each episode's last row (how og-marl counts their 40 000 trajectories), state (B, T, 54)."""
    n = STREAMS * PER_STREAM
    lay = lambda x: np.ascontiguousarray(x[:n].reshape((STREAMS, PER_STREAM * x.shape[1]) + x.shape[2:]), np.float32)
    term = np.zeros(rec["rewards"].shape, np.float32)
    term[:, -1] = 1.0
    return {"observations": lay(rec["observations"]), "actions": lay(rec["actions"]), "rewards": lay(rec["rewards"]),
            "terminals": lay(term), "truncations": np.zeros_like(lay(term)), "infos": {"state": lay(rec["state"])}}


def resimulated(rec: dict, position_first: bool) -> dict:
    """The same initial worlds and actions stepped with the environment's physics in another integration order."""
    n = STREAMS * PER_STREAM
    pos, vel, lms = S.world_of(rec["observations"][:n, 0].astype(np.float64))
    obs, rews = [], []
    for t in range(S.EPISODE_LENGTH):
        obs.append(S.observe(pos, vel, lms))
        pos, vel = S.physics_step(pos, vel, rec["actions"][:n, t].astype(np.float64), np, position_first)
        rews.append(S.rewards(pos, lms))
    out = {k: v[:n] for k, v in rec.items()}
    out["observations"], out["rewards"] = np.stack(obs, 1), np.stack(rews, 1)
    out["state"] = S.state_of(out["observations"])
    return out


@pytest.fixture(scope="module")
def recorded():
    import jax

    return D.rollouts(jax.random.PRNGKey(11), EPISODES)


@pytest.fixture(scope="module")
def vaults(recorded, tmp_path_factory):
    """{name: vault path}: the environment's own data; the same worlds and actions in mpe2's integration order; the
    environment's data with mpe2-like rewards (minus the summed distances of the landmarks to their nearest agents)."""
    root = tmp_path_factory.mktemp("omar-vaults")
    good = ogmarl_layout(recorded)
    mpe2 = ogmarl_layout(resimulated(recorded, position_first=True))
    wrong = ogmarl_layout(recorded)
    pos, _, lms = S.world_of(np.concatenate([wrong["observations"][:, 1:], wrong["observations"][:, -1:]], 1))
    d = np.sqrt(((pos[..., :, None, :] - lms[..., None, :, :]) ** 2).sum(-1)).min(-2).sum(-1)
    wrong["rewards"] = np.repeat(-d[..., None], 3, -1).astype(np.float32)
    return {name: write_ogmarl_vault(root / name, exp, "simple_spread", "Random")
            for name, exp in (("good", good), ("mpe2", mpe2), ("wrong_reward", wrong))}


def test_checks_pass_on_data_recorded_in_the_environment(vaults):
    checks = D.checks(vaults["good"], deep=True, random_episodes=EPISODES)
    assert all(c.passed for c in checks), [c.line() for c in checks]
    assert len(checks) == 7
    by = {c.name: c for c in checks}
    replay = by["one step of the dynamics reproduces the next observations"]
    assert replay.measured < 1e-5 and f"{STREAMS * PER_STREAM * 24} transitions" in replay.detail
    assert by["reward recomputed from the next observations"].measured < 1e-4
    shallow = D.checks(vaults["good"], deep=False)  # metadata only
    assert [c.name for c in shallow] == [checks[0].name] and shallow[0].passed


def test_mpe2_integration_order_fails_the_dynamics_replay_only(vaults):
    checks = D.checks(vaults["mpe2"], deep=True, random_episodes=EPISODES)
    failed = [c for c in checks if not c.passed]
    assert [c.name for c in failed] == ["one step of the dynamics reproduces the next observations"]
    assert failed[0].measured > 100 * D.DYNAMICS_TOL and failed[0].line().startswith("FAIL")


def test_another_reward_function_fails_the_reward_check_only(vaults):
    failed = [c.name for c in D.checks(vaults["wrong_reward"], deep=True, random_episodes=EPISODES) if not c.passed]
    assert failed == ["reward recomputed from the next observations"]


def test_a_vault_without_transitions_inside_episodes_proves_nothing(recorded, tmp_path):
    exp = ogmarl_layout(recorded)
    exp["terminals"][:] = 1.0  # every row its own episode: nothing to replay
    path = write_ogmarl_vault(tmp_path, exp, "simple_spread", "Expert")
    failed = [c.name for c in D.checks(path, deep=True, random_episodes=EPISODES) if not c.passed]
    assert failed == ["episodes last 25 steps", "reward recomputed from the next observations",
                      "one step of the dynamics reproduces the next observations"]


def test_dimension_check_names_what_differs(tmp_path):
    exp = {"observations": np.zeros((1, 50, 3, 16), np.float32), "actions": np.zeros((1, 50, 3, 5), np.float32),
           "rewards": np.zeros((1, 50, 3), np.float32), "terminals": np.zeros((1, 50, 3), np.float32)}
    path = write_ogmarl_vault(tmp_path, exp, "simple_spread", "Expert")
    check, = D.checks(path, deep=True)  # deep stops at wrong dimensions
    assert not check.passed and "observations (3, 16)" in check.detail and "infos.state missing" in check.detail


# ---- the mpe suite on the download layout -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def download(recorded, vaults, tmp_path_factory):
    """A data directory holding OMAR's Spread qualities where `bench data download --suite mpe` puts them (the
    environment's own episodes, small), and the mpe2-order data in a second one."""
    root = tmp_path_factory.mktemp("bench-data")
    for q in ("Expert", "Medium", "Medium-Replay", "Random"):
        write_ogmarl_vault(root / "omar" / "mpe", ogmarl_layout(recorded), "simple_spread", q)
    bad = tmp_path_factory.mktemp("bench-data-mpe2")
    write_ogmarl_vault(bad / "omar" / "mpe", ogmarl_layout(resimulated(recorded, position_first=True)),
                       "simple_spread", "Expert")
    return {"good": root, "mpe2": bad}


RUN = ["--seeds", "0", "--steps", "2", "--eval-every", "2", "--eval-episodes", "2", "--set", "hidden=32,32",
       "--no-ray", "--no-progress", "--no-latency"]


def test_without_the_download_a_task_fails_before_anything_starts_naming_the_command(tmp_path, monkeypatch, capsys):
    from algorithms.errors import DatasetError
    from benchmarks.cli import main
    from benchmarks.tasks import get_suite, get_task

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    command = "bench data download --suite mpe --task simple_spread"
    for argv in (["run", "--suite", "mpe", "--algos", "macflow,bc"], ["run", "--task", "mpe/spread-medium-replay"]):
        assert main(argv + RUN + ["--results", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert command in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()  # no results store, no data
    with pytest.raises(DatasetError, match=command):
        get_task("mpe/spread-expert").make_dataset(0)
    assert command in get_suite("mpe").available()


def test_tasks_read_the_download_with_the_papers_references_and_their_episode_lengths(download, monkeypatch):
    from benchmarks.tasks import get_suite, get_task, tasks_of_vault

    monkeypatch.setenv("BENCH_DATA", str(download["good"]))
    suite = get_suite("mpe")
    assert suite.available() is None and not suite.generated and get_suite("mpe-gen").generated
    assert suite.default_tasks == ("spread-expert", "spread-medium", "spread-medium-replay", "spread-random")
    assert sorted(suite.tasks) == sorted(list(suite.default_tasks) + [t + "-26steps" for t in suite.default_tasks])
    task = get_task("mpe/spread-medium-replay")
    assert task.jax_env and task.refs() == (159.8, 516.8) and task.normalise(516.8) == 100.0
    assert (task.spec.obs_dim, task.spec.state_dim, task.spec.action_dim, task.spec.episode_length) == (18, 54, 2, 25)
    assert get_task("mpe/spread-medium-replay-26steps").make_env().spec.episode_length == 26
    ds = task.make_dataset(0)
    assert ds.observations.shape == (STREAMS, PER_STREAM * 25, 3, 18) and ds.summary()["episodes"] == STREAMS * PER_STREAM
    vault = download["good"] / "omar" / "mpe" / "simple_spread.vlt" / "Medium-Replay"
    assert {t.id for t in tasks_of_vault(vault)} == {"mpe/spread-medium-replay", "mpe/spread-medium-replay-26steps"}


def test_bench_run_on_the_download_plans_the_papers_protocol_and_starts(download, monkeypatch, tmp_path):
    """`bench run --suite mpe --algos macflow,bc --protocol macflow-paper` plans the paper's schedule on the four
    datasets; one of its jobs, with few steps and without the protocol, trains on the download and is scored on the
    paper's scale (the slow test below runs `bench run` for both algorithms on all four)."""
    import dataclasses

    from benchmarks.cli import build_parser
    from benchmarks.training.plan import plan_jobs
    from benchmarks.training.train import train

    monkeypatch.setenv("BENCH_DATA", str(download["good"]))
    jobs = plan_jobs(build_parser().parse_args(["run", "--suite", "mpe", "--algos", "macflow,bc", "--protocol",
                                                "macflow-paper"]))
    assert sorted((j.algo, j.task) for j in jobs) == sorted(
        (a, f"mpe/spread-{q}") for a in ("macflow", "bc") for q in ("expert", "medium", "medium-replay", "random"))
    assert {(j.seeds, j.steps, j.eval_every, j.eval_episodes) for j in jobs} == {((0, 1, 2, 3, 4, 5), 500_000,
                                                                                   50_000, 10)}
    job = next(j for j in jobs if (j.algo, j.task) == ("bc", "mpe/spread-expert"))
    final = train(dataclasses.replace(job, seeds=(0,), steps=2, eval_every=2, eval_episodes=2, protocol="",
                                      overrides={"hidden": "32,32"}), results=tmp_path / "runs")
    assert final["task"] == "mpe/spread-expert" and len(final["returns"]) == 1
    np.testing.assert_allclose(final["normalised"], [100 * (r - 159.8) / 357.0 for r in final["returns"]], rtol=1e-6)


@pytest.mark.slow
def test_bench_run_trains_macflow_and_bc_on_every_dataset_of_the_download(download, monkeypatch, tmp_path):
    from analysis.load import load
    from benchmarks.cli import main

    monkeypatch.setenv("BENCH_DATA", str(download["good"]))
    root = tmp_path / "runs"
    assert main(["run", "--suite", "mpe", "--algos", "macflow,bc", "--results", str(root)] + RUN) == 0
    runs = load(root).runs
    assert len(runs) == 8 and set(runs["status"]) == {"finished"} and set(runs["suite"]) == {"mpe"}


def test_verify_deep_runs_the_tasks_checks_and_refuses_data_of_another_environment(download, monkeypatch, capsys):
    from benchmarks.cli import main

    monkeypatch.setenv("BENCH_DATA", str(download["good"]))
    assert main(["data", "verify", "--deep"]) == 0
    out = capsys.readouterr().out
    assert out.count("the environment of mpe/spread-") == 4 and "FAIL" not in out
    assert "ok   one step of the dynamics reproduces the next observations" in out
    assert "ok   uniform random policy scores within 4 of 159.8" in out
    assert main(["data", "verify"]) == 0 and "(dimensions; --deep reads the data)" in capsys.readouterr().out
    monkeypatch.setenv("BENCH_DATA", str(download["mpe2"]))
    assert main(["data", "verify", "--deep"]) == 2
    cap = capsys.readouterr()
    assert "FAIL one step of the dynamics reproduces the next observations" in cap.out
    assert "fail the known-answer checks" in cap.err


def test_published_numbers_stand_beside_the_paper_data_tasks_only(tmp_path, monkeypatch):
    """`bench figures --paper macflow`'s Table 2 (``paper_table``, as write_figures calls it) puts the mpe runs in the
    MPE rows beside the published numbers; runs on the generated mpe-gen data, or at og-marl's 26 steps, never meet a
    published number, whatever the CSVs say."""
    import pandas as pd

    import test_analysis
    from analysis.figures import paper_table
    from analysis.load import latest_finals, load
    from analysis.reference import load_reference, match

    ref = load_reference()
    assert set(match(ref, "mpe", "spread-medium-replay").query("algo == 'macflow'")["mean"]) == {50.4}
    assert match(ref, "mpe", "spread-expert-26steps").empty and match(ref, "mpe-gen", "spread-expert").empty
    forged = ref[ref["suite"] == "mpe"].assign(suite="mpe-gen")
    assert match(pd.concat([ref, forged]), "mpe-gen", "spread-expert").empty
    from benchmarks.data.collect import SCENARIOS
    from benchmarks.tasks import all_suites

    # match() knows the generated suites as the generator's (jax-free for `bench run`'s driver): the same set
    assert set(SCENARIOS) == {name for name, suite in all_suites().items() if suite.generated}
    for t in ("mpe/spread-expert", "mpe/spread-expert-26steps", "mpe-gen/spread-expert"):
        monkeypatch.setitem(test_analysis.REFS, t, S.REFS)
    test_analysis.write_run(tmp_path, "macflow", "mpe/spread-expert", [480.0, 482.0])
    test_analysis.write_run(tmp_path, "macflow", "mpe/spread-expert-26steps", [555.0, 557.0])
    test_analysis.write_run(tmp_path, "macflow", "mpe-gen/spread-expert", [-33.0, -35.0])
    (tmp_path / "out").mkdir()
    an = types.SimpleNamespace(finals=latest_finals(load(tmp_path)))  # what paper_table reads of analyse()'s result
    paper_table(an, ref, "2", tmp_path / "out", ("mamujoco", "mpe"))
    text = (tmp_path / "out" / "table2.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| mpe/spread-expert"))
    # the paper's MPE cells are normalised scores (App. G.3): 100 (481 - 159.8) / (516.8 - 159.8) = 90.0
    assert row.startswith("| mpe/spread-expert (normalised) | **90.0 ± 0.6**") and "| 101.7 ± 10.9 |" in row, row
    assert "(normalised) rows: the paper publishes normalised scores" in text
    for other in ("556.0", "111.0", "-34.0", "-54.3"):  # the 26-step and the mpe-gen runs, as return or normalised
        assert other not in text
