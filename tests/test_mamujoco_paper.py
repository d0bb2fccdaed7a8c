"""MA-MuJoCo as OMIGA recorded it: the environment's facts, the known-answer checks on vaults written here in
og-marl's layout (and refused when corrupted), and the mamujoco suite on OMIGA's data."""
from __future__ import annotations

import numpy as np
import pytest

from algorithms.errors import DatasetError
from benchmarks.data import omiga_mujoco as OM
from benchmarks.envs import mamujoco_omiga as M
from test_vault import write_ogmarl_vault

pytestmark = pytest.mark.filterwarnings("ignore")
HORIZON = 50  # steps per recorded test episode (the real data: 1 000)


@pytest.fixture(scope="module")
def recorded():
    """Per robot: 3 short episodes recorded in the environment (OMIGA's layout), and Ant's under the wrong map."""
    out = {sc: OM.record(sc, 3 if sc == "3hopper" else 2, seed=1, horizon=HORIZON) for sc in M.ROBOTS}
    out["2ant-v1-map"] = OM.record("2ant", 2, seed=1, horizon=HORIZON, action_map=M.MAMUJOCO_V1_ANT)
    return out


def _failed(checks) -> set:
    return {c.name for c in checks if not c.passed}


# ---- the environment ------------------------------------------------------------------------------------
def test_observations_are_the_full_v2_vector_with_the_id_z_scored():
    for sc, (n, k, obs_dim) in {"6halfcheetah": (6, 1, 23), "3hopper": (3, 1, 14), "2ant": (2, 4, 113)}.items():
        spec = M.spec_of(sc)
        assert (spec.n_agents, spec.action_dim, spec.obs_dim, spec.state_dim, spec.episode_length) == \
            (n, k, obs_dim, obs_dim, 1000)
        env = M.OmigaBatch(sc, 2, seed=3)
        obs, legal, state = env.reset()
        body = env.bodies[0]
        v5 = body.env._get_obs()  # the single-agent v5 observation of episode 0
        raw = np.concatenate([v5, np.zeros(84)]) if sc == "2ant" else v5
        for i in range(n):  # [raw, one-hot i] minus its mean, over its population std
            x = np.concatenate([raw, np.eye(n)[i]])
            np.testing.assert_allclose(obs[0, i], (x - x.mean()) / x.std(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(state, obs[:, 0])
        back, ids, err = M.recover(obs, n)
        assert (ids == np.arange(n)).all() and err.max() < 1e-5
        np.testing.assert_allclose(back[0, 0], raw, atol=1e-5)
        env.close()


def test_actions_are_concatenated_in_agent_order_and_the_reward_is_v2s():
    body = M.Body("2ant")
    body.reset(seed=0)
    a = np.zeros((2, 4))
    a[1, 0] = 0.5  # agent 1's first action drives actuator 4 (mamujoco_v1 would send it to actuator 6)
    body.step(a)
    np.testing.assert_array_equal(body.env.data.ctrl, [0, 0, 0, 0, 0.5, 0, 0, 0])
    # contact cost 0 and zeros in the contact dimensions: the reward is forward + 1 - 0.5 |a|^2
    body.reset(seed=1)
    x0 = body.env.data.body(1).xpos[0]
    raw, r, fell = body.step(a)
    assert not fell and np.all(raw[27:] == 0)
    assert r == pytest.approx((body.env.data.body(1).xpos[0] - x0) / 0.05 + 1.0 - 0.5 * 0.25, abs=1e-9)
    # Hopper: v2 pays the healthy reward on the falling step too; v5 alone would not
    hop = M.Body("3hopper")
    hop.reset(seed=0)
    for t in range(200):
        x0 = hop.env.data.qpos[0]
        _, r, fell = hop.step(np.ones((3, 1)))
        if fell:
            break
    assert fell and not hop.env.is_healthy
    assert r == pytest.approx((hop.env.data.qpos[0] - x0) / hop.dt + 1.0 - 1e-3 * 3, abs=1e-9)


def test_episodes_end_at_1000_steps_or_a_fall():
    env = M.OmigaBatch("6halfcheetah", 1, seed=0)
    env.reset()
    for t in range(1000):
        done = env.step(np.zeros((1, 6, 1)))[4]
        assert done[0] == (t == 999)
    assert not env.terminated[0]
    env.close()


def random_returns(scenario: str, episodes: int, seed: int) -> np.ndarray:
    spec = M.spec_of(scenario)
    env = M.OmigaBatch(scenario, episodes, seed)
    env.reset()
    rng = np.random.default_rng(seed)
    total, alive = np.zeros(episodes), np.ones(episodes, bool)
    for _ in range(spec.episode_length):
        r, done = env.step(rng.uniform(-1, 1, (episodes, spec.n_agents, spec.action_dim)))[3:5]
        total += np.where(alive, r, 0.0)
        alive &= ~done
        if not alive.any():
            break
    env.close()
    return total


@pytest.mark.parametrize("scenario", [pytest.param(sc, marks=[] if sc == "3hopper" else pytest.mark.slow)
                                      for sc in sorted(M.ROBOTS)])
def test_the_random_reference_is_a_random_policys_return(scenario):
    """The normalisation's random return, re-measured on other seeds (Hopper: 60 short episodes, seconds)."""
    from benchmarks.tasks.mamujoco_paper import RANDOM

    rets = random_returns(scenario, 60 if scenario == "3hopper" else 20, seed=77)
    se = rets.std(ddof=1) / np.sqrt(len(rets))
    assert abs(rets.mean() - RANDOM[scenario]) < 4 * se + 1.0, (rets.mean(), se)


# ---- the known-answer checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", sorted(M.ROBOTS))
def test_checks_pass_on_data_recorded_in_the_environment(recorded, scenario, tmp_path):
    path = write_ogmarl_vault(tmp_path, recorded[scenario], scenario, "Expert")
    checks = OM.verify(scenario, path, deep=True)
    assert not _failed(checks), [c.line() for c in checks]
    names = {c.name for c in checks}
    assert "one step replayed reproduces the next observation" in names and \
        "the replayed reward equals the stored reward" in names
    assert ("OMIGA's action map (agents' actions concatenated), not mamujoco_v1's" in names) == (scenario == "2ant")
    # the cheap checks alone replay nothing
    assert len(OM.verify(scenario, path, deep=False)) < len(checks)


@pytest.mark.parametrize("scenario", sorted(M.ROBOTS))
def test_checks_refuse_a_shifted_or_offset_reward(recorded, scenario, tmp_path):
    exp = recorded[scenario]
    for uid, rewards in (("shifted", np.roll(exp["rewards"], -1, 1)), ("offset", exp["rewards"] - 1.0)):
        path = write_ogmarl_vault(tmp_path, {**exp, "rewards": rewards}, scenario, uid)
        failed = _failed(OM.verify(scenario, path, deep=True)) - {"the falling step pays v2's healthy reward"}
        assert failed == {"the replayed reward equals the stored reward"}, uid


def test_checks_refuse_v5s_reward_on_the_falling_step(recorded, tmp_path):
    """v5 alone pays no healthy reward on the step that falls: only the checks of the falls see it."""
    exp = recorded["3hopper"]
    rewards = exp["rewards"].copy()
    falls = np.flatnonzero(exp["terminals"][0, :, 0] > 0) - 1  # the step before each final row
    assert len(falls) == 3
    rewards[0, falls] -= 1.0  # every recorded episode fell within the horizon
    path = write_ogmarl_vault(tmp_path, {**exp, "rewards": rewards}, "3hopper", "v5-reward")
    assert _failed(OM.verify("3hopper", path, deep=True)) == {"the falling step pays v2's healthy reward"}


def test_the_replay_tells_the_two_ant_action_maps_apart(recorded, tmp_path):
    path = write_ogmarl_vault(tmp_path, recorded["2ant-v1-map"], "2ant", "Expert")
    checks = {c.name: c for c in OM.verify("2ant", path, deep=True)}
    mapped = checks["OMIGA's action map (agents' actions concatenated), not mamujoco_v1's"]
    assert not mapped.passed and "with mamujoco_v1's" in mapped.detail
    assert not checks["one step replayed reproduces the next observation"].passed
    assert mapped.measured > 5 * OM.TOLERANCE["2ant"][0]


def test_checks_refuse_observations_not_built_as_omiga_built_them(recorded, tmp_path):
    exp = recorded["3hopper"]
    obs = exp["observations"]
    # the id prepended instead of appended; another agent's vector; no z-score
    prepended = np.concatenate([obs[..., -3:], obs[..., :-3]], -1)
    swapped = obs.copy()
    swapped[:, 1:, 1] = obs[:, :-1, 1]  # agent 1 sees the previous step
    cases = {"prepended": (prepended, "undoing the z-score recovers each agent's one-hot id"),
             "swapped": (swapped, "every agent observes the same raw single-agent vector")}
    for uid, (o, name) in cases.items():
        path = write_ogmarl_vault(tmp_path, {**exp, "observations": o}, "3hopper", uid)
        assert name in _failed(OM.verify("3hopper", path)), uid
    # nothing to replay from observations that give no state: said so, not replayed into nonsense
    assert "one step replayed from the recovered state" in _failed(OM.verify("3hopper", path, deep=True))
    ant = recorded["2ant"]
    contact = ant["observations"].copy()
    contact[..., 30] += 0.5  # a contact dimension that is not zero
    path = write_ogmarl_vault(tmp_path, {**ant, "observations": contact}, "2ant", "contact")
    assert "the 84 contact dimensions are zero (MuJoCo 2.0's cfrc_ext)" in _failed(OM.verify("2ant", path))


def test_a_full_length_episode_shows_the_final_observation_row(tmp_path):
    exp = OM.record("6halfcheetah", 1, seed=2)
    assert exp["observations"].shape[1] == 1001 and exp["terminals"][0, -1].all()
    path = write_ogmarl_vault(tmp_path, exp, "6halfcheetah", "Expert")
    layout = next(c for c in OM.verify("6halfcheetah", path) if c.name == "episode layout")
    assert layout.passed and layout.measured == 1001 and "final observation" in layout.detail
    doubled = {k: np.concatenate([v, v], 1) for k, v in exp.items() if k != "infos"}
    doubled["infos"] = {"state": np.concatenate([exp["infos"]["state"]] * 2, 1)}
    doubled["terminals"][0, 1000] = 0  # the first episode's end lost: one episode of 2 002 rows
    path = write_ogmarl_vault(tmp_path, doubled, "6halfcheetah", "Medium")
    assert "episode layout" in _failed(OM.verify("6halfcheetah", path))


def test_missing_mujoco_names_the_install_command(monkeypatch):
    import importlib.util

    from algorithms.errors import DependencyError
    from benchmarks.tasks import get_suite

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mujoco" else real(name, *a))
    suite = get_suite("mamujoco")
    assert 'pip install "gymnasium==1.3.0" "mujoco==4.0.0"' in suite.available()
    with pytest.raises(DependencyError, match="mamujoco/2-ant-medium cannot run here.*pip install"):
        suite.tasks["2-ant-medium"].__wrapped__()
    with pytest.raises(DependencyError, match="pip install"):
        suite.preflight(["2-ant-medium"])


# ---- the suite --------------------------------------------------------------------------------------------
def test_task_names_match_the_papers_ma_mujoco_rows():
    from analysis.reference import load_reference, match
    from benchmarks.tasks import get_suite

    suite = get_suite("mamujoco")
    ref = load_reference()
    assert len(suite.tasks) == 12
    rows = ref[(ref["paper"] == "macflow") & (ref["suite"] == "mamujoco") & (ref["scenario"] != "Average")]
    published = {(s, d) for s, d in zip(rows["scenario"], rows["dataset"])}
    assert len(published) == 12
    seen = set()
    for name in suite.tasks:
        hit = match(ref[ref["paper"] == "macflow"], "mamujoco", name)
        pairs = set(zip(hit["scenario"], hit["dataset"]))
        assert len(pairs) == 1, name
        seen |= pairs
    assert seen == published
    # the datasets' spelling names the same task
    assert suite.task("6halfcheetah-medium-replay").name == "6-halfcheetah-medium-replay"


def test_without_the_download_a_run_fails_before_writing_anything(monkeypatch, tmp_path, capsys):
    from benchmarks.cli import main
    from benchmarks.tasks import get_suite

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    assert "bench data download --suite mamujoco --task 2ant" in get_suite("mamujoco").available()
    results = tmp_path / "runs"
    for how in (["--task", "mamujoco/3-hopper-medium-replay"], ["--suite", "mamujoco", "--tasks", "3-hopper-expert"]):
        assert main(["run", *how, "--algos", "bc", "--no-progress", "--results", str(results)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "`bench data download --suite mamujoco --task 3hopper`" in err, err
    assert not results.exists() or not any(results.iterdir())  # no run directory (the CLI makes the root)
    with pytest.raises(DatasetError, match="bench data download --suite mamujoco --task 6halfcheetah"):
        get_suite("mamujoco").task("6-halfcheetah-expert").make_dataset(0)


def test_a_run_plans_under_the_protocol_and_trains_on_the_download_layout(recorded, monkeypatch, tmp_path):
    from benchmarks.cli import build_parser
    from benchmarks.data import catalogue
    from benchmarks.tasks import get_task
    from benchmarks.training.plan import plan_jobs
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    vault = catalogue.find("omiga", "mamujoco", "3hopper").vault("Expert")
    write_ogmarl_vault(vault.parent.parent, recorded["3hopper"], "3hopper", "Expert")
    task = get_task("mamujoco/3-hopper-expert")
    assert task.data_path(0) == vault and task.verify is not None and task.refs()[1] == 2452.02
    args = build_parser().parse_args(["run", "--suite", "mamujoco", "--tasks", "3-hopper-expert", "--algos", "macflow,bc",
                                      "--protocol", "macflow-paper"])
    jobs = plan_jobs(args)
    assert {j.algo for j in jobs} == {"macflow", "bc"}
    assert all(j.steps == 500_000 and j.eval_episodes == 10 and j.seeds == (0, 1, 2, 3, 4, 5) for j in jobs)
    final = train(RunConfig("bc", "mamujoco/3-hopper-expert", seeds=(0,), steps=20, eval_every=20, eval_episodes=2,
                            batch_size=16, overrides={"hidden": (16, 16)}), results=tmp_path / "runs")
    assert len(final["returns"]) == 1 and np.isfinite(final["returns"][0])
    assert final["dataset"]["path"] == str(vault)
