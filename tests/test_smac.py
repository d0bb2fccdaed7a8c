"""SMAC adapters on a test double with the smac API, the smacv1/smacv2 suites, and `bench run --dataset`."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.envs import sc2proc, smac, smacv2
from benchmarks.tasks import smac as smac_tasks
from algorithms.errors import DatasetError, DependencyError, UnknownNameError
from test_vault import discrete_dataset


class FakeSMAC:
    """The smac StarCraft2Env API on a toy battle: one enemy with ``hp`` health; action 0 = no-op (legal
    only when dead, never here), 1 = stop, 2-5 = move, 6.. = attack (legal while the enemy lives). Each
    attacker deals 1 damage and earns reward 1; killing the enemy wins (+10). Illegal actions raise, as
    in SMAC."""

    instances: list = []

    def __init__(self, n_agents=3, obs_dim=30, state_dim=48, n_actions=9, limit=60, seed=0, hp=6, **kwargs):
        self.n, self.o, self.s, self.a, self.limit, self.hp0 = n_agents, obs_dim, state_dim, n_actions, limit, hp
        self.seed, self.kwargs = seed, kwargs
        self.rng = np.random.default_rng(seed)
        self.steps = 0
        self.closed = False
        FakeSMAC.instances.append(self)

    def get_env_info(self):
        return {"n_agents": self.n, "obs_shape": self.o, "state_shape": self.s, "n_actions": self.a,
                "episode_limit": self.limit}

    def reset(self):
        self.t, self.hp = 0, self.hp0
        return self.get_obs(), self.get_state()

    def get_obs(self):
        return [self.rng.normal(size=self.o).astype(np.float32) + self.hp for _ in range(self.n)]

    def get_state(self):
        return np.full(self.s, self.hp, np.float32)

    def get_avail_agent_actions(self, i):
        return [0, 1, 1, 1, 1, 1] + [int(self.hp > 0)] * (self.a - 6)

    def get_avail_actions(self):
        return [self.get_avail_agent_actions(i) for i in range(self.n)]

    def step(self, actions):
        assert len(actions) == self.n
        for i, a in enumerate(actions):
            assert self.get_avail_agent_actions(i)[a] == 1, f"Agent {i} cannot perform action {a}"
        self.steps += 1
        self.t += 1
        attackers = sum(a >= 6 for a in actions)
        self.hp -= attackers
        reward = float(attackers)
        if self.hp <= 0:
            return reward + 10.0, True, {"battle_won": True}
        if self.t >= self.limit:
            return reward, True, {"battle_won": False, "episode_limit": True}
        return reward, False, {}

    def close(self):
        self.closed = True


SPEC_3M = smac.map_spec(smac.V1_MAPS["3m"])


def test_batch_steps_episodes_together_and_reports_wins():
    envs = [FakeSMAC(seed=i, limit=5) for i in range(4)]
    spec = dataclasses.replace(SPEC_3M, episode_length=5)  # the environment's limit: checked against the spec
    b = smac.SMACBatch(envs, spec)
    obs, legal, state = b.reset()
    assert obs.shape == (4, 3, 30) and legal.shape == (4, 3, 9) and state.shape == (4, 48)
    assert legal[..., 6:].all() and not legal[..., 0].any()
    # envs 0,1 attack (win after 2 steps: return 3 + 3 + 10), envs 2,3 stop (time limit, no win)
    act = np.array([[6, 7, 8], [6, 6, 6], [1, 1, 1], [1, 2, 3]])
    total, won, alive = np.zeros(4), np.zeros(4, bool), np.ones(4, bool)
    for t in range(spec.episode_length):
        obs, legal, state, r, done, info = b.step(act)
        total += np.where(alive, r, 0)
        won = np.where(alive & done, info["won"], won)
        alive &= ~done
        if not alive.any():
            break
    np.testing.assert_array_equal(total, [16, 16, 0, 0])
    np.testing.assert_array_equal(won, [True, True, False, False])
    assert [e.steps for e in envs] == [2, 2, 5, 5]  # finished episodes are not stepped again
    obs, legal, state, r, done, info = b.step(act)
    assert done.all() and (r == 0).all() and [e.steps for e in envs] == [2, 2, 5, 5]
    b.close()
    assert all(e.closed for e in envs)


def test_illegal_actions_never_reach_starcraft():
    env = FakeSMAC(seed=0)
    b = smac.SMACBatch([env], SPEC_3M)
    b.reset()
    obs, legal, state, r, done, info = b.step(np.array([[0, 6, 99]]))  # 0 is illegal, 99 out of range
    assert info["illegal"] == 2 and r[0] == 1.0  # replaced by the first legal action (stop)


def test_environment_with_other_shapes_is_refused():
    with pytest.raises(DatasetError, match=r"obs_shape 31 where the task has 30\. "):
        smac.SMACBatch([FakeSMAC(obs_dim=31)], SPEC_3M)


FAKE_SC2 = Path(__file__).parent / "fake_sc2"  # on-disk doubles of pysc2, smac, smacv2 (tests/fake_sc2/fakesc2.py)


@pytest.fixture
def sc2_double(monkeypatch, tmp_path):
    """The smac / smacv2 / pysc2 doubles installed (importable here and in child processes), StarCraft II 4.10
    with every map file in $SC2PATH; launches of the game are logged to ``tmp_path / "launches.log"``."""
    monkeypatch.syspath_prepend(str(FAKE_SC2))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_SC2), os.environ.get("PYTHONPATH")])))
    sc2 = tmp_path / "StarCraftII"
    (sc2 / "Versions" / smac.BUILD_410).mkdir(parents=True)
    maps = sc2 / "Maps" / smac.MAP_DIR
    maps.mkdir(parents=True)
    for m in [*smac.V1_MAPS, smacv2.MAP_FILE]:
        (maps / f"{m}.SC2Map").write_bytes(b"map")
    monkeypatch.setenv("SC2PATH", str(sc2))
    monkeypatch.setenv("FAKE_SC2_LOG", str(tmp_path / "launches.log"))
    monkeypatch.setattr(sc2proc, "_HOSTS", {})
    yield sc2
    for h in sc2proc._HOSTS.values():
        h.close()


def launches(sc2, closed: bool = False) -> list:
    """Lines "pid scenario seed" of the games the double started (closed=True: of those it closed)."""
    log = sc2.parent / "launches.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.rsplit(" ", 1)[0] for line in lines if line.endswith(" closed")] if closed else \
        [line for line in lines if not line.endswith(" closed")]


def test_real_factories_build_the_papers_environments(sc2_double):
    from benchmarks.tasks import get_task

    task = get_task("smacv1/3m-good")
    assert task.spec == SPEC_3M and not task.jax_env and task.reports_win_rate
    batch = task.make_env().batch(2, 10)
    assert [(e.attr("map_name"), e.attr("seed")) for e in batch.envs] == [("3m", 10), ("3m", 11)]
    assert batch.reset()[0].shape == (2, 3, 30)
    assert "smac" not in sys.modules and "smacv2" not in sys.modules  # built in the host process, not here
    task2 = get_task("smacv2/terran_10_vs_10-replay")
    env = task2.make_env().batch(1, 0).envs[0]
    kw, cfg = env.attr("kwargs"), env.attr("capability_config")
    assert env.attr("map_name") == "10gen_terran" and cfg["n_units"] == 10
    assert cfg["team_gen"]["unit_types"] == ["marine", "marauder", "medivac"]
    assert cfg["start_positions"]["dist_type"] == "surrounded_and_reflect"
    # og-marl's recording settings (its quirks kept so that evaluation matches the data)
    assert cfg["team_gen"]["exception_unit_types"] == ["baneling"]
    assert cfg["start_positions"]["n_enemies"] == 5 and env.attr("seed") == 0
    assert (kw["conic_fov"], kw["obs_own_pos"], kw["use_unit_ranges"], kw["min_attack_range"]) == (False, True, True, 2)
    assert {h.package for h in sc2proc._HOSTS.values()} == {"smac", "smacv2"}


def _inline():
    """Run jobs in this process (monkeypatches must apply) when the runner offers it."""
    from benchmarks.cli import build_parser

    return ["--no-ray"] if "no_ray" in vars(build_parser().parse_args(["run"])) else []


def test_missing_starcraft_fails_before_training_with_the_fix(monkeypatch, tmp_path, capsys):
    from benchmarks.cli import main
    from benchmarks.data.vault import write_dataset
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    monkeypatch.setitem(sys.modules, "smac", None)  # smac not importable
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    assert main(["run", "--suite", "smacv1", "--no-progress", "--results", str(tmp_path / "r")] + _inline()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert 'pip install "smac @ git+https://github.com/oxwhirl/smac.git"' in err and "SC2PATH=" in err
    # one task with a dataset given: the job stops when it builds the environment, before any training
    vault = write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good")
    cfg = RunConfig("bc", "smacv1/3m-good", seeds=(0,), steps=50, eval_every=50, eval_episodes=2, dataset=str(vault))
    with pytest.raises(DependencyError, match="StarCraft II not found"):
        train(cfg, results=tmp_path / "r")
    assert not list((tmp_path / "r").rglob("final.json")) and not list((tmp_path / "r").rglob("metrics.jsonl"))
    # the task's own data, not downloaded: the download command
    monkeypatch.setattr(smac, "missing_env", lambda package, map_names=(): None)
    with pytest.raises(DatasetError, match="bench data download --suite smacv1 --task 3m"):
        train(RunConfig("bc", "smacv1/3m-good", seeds=(0,), steps=50), results=tmp_path / "r")


def test_run_with_dataset_trains_and_evaluates_on_the_double(monkeypatch, tmp_path):
    from benchmarks.data.vault import write_dataset
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    monkeypatch.setattr(smac, "missing_env", lambda package, map_names=(): None)
    monkeypatch.setitem(smac_tasks.FACTORIES, "smac", lambda scenario: (lambda seed: FakeSMAC(seed=seed)))
    vault = write_dataset(discrete_dataset(T=80), tmp_path / "3m.vlt" / "Good")
    cfg = RunConfig("bc", "smacv1/3m-good", seeds=(0, 1), steps=300, eval_every=300, eval_episodes=3, batch_size=32,
                    overrides={"hidden": (32, 32)}, dataset=str(vault))
    final = train(cfg, results=tmp_path / "r")
    # BC imitates the attacking behaviour: every episode is won in two steps (3 + 3 + 10)
    assert final["win_rate"] == [1.0, 1.0]
    np.testing.assert_allclose(final["returns"], [16.0, 16.0])
    assert final["dataset"]["path"] == str(vault)
    # a dataset for another task (8m shapes) is refused with the field and the expected shape
    other = write_dataset(discrete_dataset(N=8, O=80, S=168, A=14), tmp_path / "8m.vlt" / "Good")
    bad = RunConfig("bc", "smacv1/3m-good", seeds=(0,), steps=50, dataset=str(other))
    with pytest.raises(DatasetError, match=r"'observations' has shape \(2, 40, 8, 80\).*expects \(2, 40, 3, 30\)"):
        train(bad, results=tmp_path / "r")


def test_suite_lists_and_availability(monkeypatch, tmp_path):
    from benchmarks.tasks import get_suite

    s1, s2 = get_suite("smacv1"), get_suite("smacv2")
    assert len(s1.tasks) == 12 and "5m_vs_6m-medium" in s1.tasks
    # 2c_vs_64zg: removed, with the reason (its OMIGA data do not fit oxwhirl smac)
    assert set(s1.removed) == {"2c_vs_64zg-good", "2c_vs_64zg-medium", "2c_vs_64zg-poor"}
    with pytest.raises(UnknownNameError, match="removed from the suite: .*OMIGA.*obs 478"):
        s1.task("2c_vs_64zg-good")
    assert set(s2.tasks) == {"terran_5_vs_5-replay", "zerg_5_vs_5-replay", "terran_10_vs_10-replay"}
    monkeypatch.setattr(smac, "missing_env", lambda package, map_names=(): None)
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert "bench data download --suite smacv2 --task zerg_5_vs_5" in s2.available()
    with pytest.raises(DependencyError, match="smacv2"):
        monkeypatch.setattr(smac, "missing_env", lambda package, map_names=(): "smacv2 missing")
        s2.task("zerg_5_vs_5-replay").make_env()


def test_task_data_are_read_from_the_download_location(monkeypatch, tmp_path):
    from benchmarks.data import catalogue
    from benchmarks.data.vault import write_dataset
    from benchmarks.tasks import get_task

    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    good = catalogue.entries("smacv1", "3m")[0].vault("Good")
    write_dataset(discrete_dataset(), good)
    ds = get_task("smacv1/3m-good").make_dataset(0)
    assert ds.card["path"] == str(good) and ds.observations.shape == (2, 40, 3, 30)


def test_many_episodes_run_in_waves_on_few_instances_with_the_real_evaluator(monkeypatch):
    """6 episodes on 4 StarCraft II instances (waves), through benchmarks.training.evaluate's Python evaluator."""
    import jax
    import jax.numpy as jnp

    from benchmarks.training.evaluate import make_python_evaluator

    FakeSMAC.instances = []
    spec = dataclasses.replace(SPEC_3M, episode_length=4)
    maker = smac.SMACMaker(spec, lambda seed: FakeSMAC(seed=seed, limit=4, hp=6 + len(FakeSMAC.instances) % 2 * 100),
                           max_envs=4)

    class Attack:  # attacks when the (per-episode) key says so, else stops: a policy with a known score
        @staticmethod
        def act(state, obs, legal, key):
            n = obs.shape[0]
            attack = state["attack"][:n]
            return jnp.where(attack[:, None], 6, 1) * jnp.ones((n, 3), jnp.int32)

    states = {"attack": jnp.array([[True, True, False]])}  # one seed; the pattern repeats over episodes
    states = {"attack": jnp.tile(states["attack"], (1, 2))}  # [1 seed, 6 episodes]
    ev = make_python_evaluator(maker, Attack, 6)
    returns, won = ev(states, jax.random.split(jax.random.PRNGKey(0), 1))
    assert len(FakeSMAC.instances) == 4  # never more than max_envs processes
    # episode i runs on instance i % 4 (hp 6 on even instances: attacking wins in 2 steps; hp 106 on odd: it
    # cannot win in the 4-step limit); stopping earns nothing
    inst_hp = [6, 106, 6, 106]
    want_ret, want_won = [], []
    for i, attack in enumerate([True, True, False, True, True, False]):
        hp = inst_hp[i % 4]
        if not attack:
            want_ret.append(0.0), want_won.append(False)
        elif hp == 6:
            want_ret.append(16.0), want_won.append(True)
        else:
            want_ret.append(12.0), want_won.append(False)
    np.testing.assert_allclose(returns[0], want_ret)
    np.testing.assert_array_equal(won[0], want_won)
    assert all(e.closed for e in FakeSMAC.instances)
    assert maker.spec.episode_length == 2 * spec.episode_length  # two waves
    assert maker._base == spec


# ---- against the real packages' get_env_info(), the pre-flight check, coexistence -------------------
def test_every_task_has_the_shapes_and_limit_of_the_real_environment(monkeypatch):
    """The harness's table (obs / state / actions / episode limit of every StarCraft task) against
    REAL_ENV_INFO in tests/fake_sc2/fakesc2.py, which says where its numbers come from."""
    from benchmarks.tasks import get_suite

    monkeypatch.syspath_prepend(str(FAKE_SC2))
    from fakesc2 import REAL_ENV_INFO

    seen = set()
    for suite in ("smacv1", "smacv2"):
        for name in get_suite(suite).tasks:
            scenario = name.rsplit("-", 1)[0]
            assert smac.spec_info(get_suite(suite).task(name).spec) == REAL_ENV_INFO[scenario], name
            seen.add(scenario)
    assert seen == set(REAL_ENV_INFO) - set(smac.REMOVED_MAPS)
    assert {smacv2.MAPS[m].limit for m in smacv2.MAPS} == {200}


def test_preflight_compares_get_env_info_and_names_both_numbers(sc2_double):
    info = smacv2.MAPS["zerg_5_vs_5"]
    smac_tasks.preflight("smacv2", smacv2.MAPS, ["zerg_5_vs_5"])  # the double agrees with the table
    wrong = {"zerg_5_vs_5": dataclasses.replace(info, limit=400)}  # the limit the harness used to have
    with pytest.raises(DatasetError, match=r"smacv2 scenario zerg_5_vs_5 .*episode_limit 200 where the task has 400"):
        smac_tasks.preflight("smacv2", wrong, ["zerg_5_vs_5"])
    assert launches(sc2_double) == []  # get_env_info() needs no running game


def _run_args(tmp_path, task):
    return ["run", "--task", task, "--algos", "bc", "--seeds", "0", "--steps", "20", "--eval-every", "20",
            "--eval-episodes", "2", "--no-progress", "--results", str(tmp_path / "r")] + _inline()


@pytest.mark.parametrize("remove, task, fix", [
    ("SMAC_Maps/8m.SC2Map", "smacv1/8m-good", "smac/releases/download/v0.1-beta1/SMAC_Maps.zip"),
    ("SMAC_Maps/32x32_flat.SC2Map", "smacv2/zerg_5_vs_5-replay", "smacv2/releases/download/maps/SMAC_Maps.zip"),
    ("Versions/Base75689", "smacv1/3m-good", "no game build"),
])
def test_a_missing_map_or_game_build_fails_bench_run_before_training(sc2_double, monkeypatch, tmp_path, capsys,
                                                                      remove, task, fix):
    from benchmarks.cli import main

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    gone = sc2_double / ("Maps/" + remove if remove.startswith("SMAC") else remove)
    (gone.rmdir if gone.is_dir() else gone.unlink)()
    assert main(_run_args(tmp_path, task)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fix in err
    if remove.startswith("SMAC"):
        assert str(gone) in err  # the exact file
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("metrics.jsonl"))
    assert launches(sc2_double) == []


def test_doctor_reports_the_build_the_maps_and_launches_one_instance_with_check_sc2(sc2_double, capsys):
    import json

    from benchmarks.cli import main

    assert main(["doctor", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["starcraft"]["builds"] == [smac.BUILD_410] and rep["starcraft"]["build_note"] is None
    assert rep["suites"]["smacv1"]["preflight"] is None and rep["suites"]["smacv2"]["preflight"] is None
    assert launches(sc2_double) == []
    assert main(["doctor", "--json", "--check-sc2"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["suites"]["smacv1"]["launched"] and rep["suites"]["smacv2"]["launched"]
    started = [line.split()[1] for line in launches(sc2_double)]
    assert sorted(started) == ["3m", "terran_5_vs_5"]  # one instance per package
    # another build is a warning; a missing smacv2 map fails that suite's pre-flight with the file
    (sc2_double / "Versions" / smac.BUILD_410).rename(sc2_double / "Versions" / "Base80000")
    (sc2_double / "Maps" / "SMAC_Maps" / "32x32_flat.SC2Map").unlink()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "Base80000" in out and "not 4.10" in out
    assert "32x32_flat.SC2Map missing" in out and "smacv1     unavailable" in out


def test_the_double_refuses_smac_and_smacv2_in_one_process_as_pysc2_does(sc2_double):
    code = "import smac.env, smacv2.env; from pysc2 import maps; maps.get('3m')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert proc.returncode != 0 and "DuplicateMapError: Duplicate map found: 3m" in proc.stderr
    for one in ("smac.env", "smacv2.env"):  # either alone is fine
        ok = subprocess.run([sys.executable, "-c", f"import {one}; from pysc2 import maps; maps.get('3m')"],
                            capture_output=True, text=True, env=os.environ)
        assert ok.returncode == 0, ok.stderr


def test_one_process_trains_and_evaluates_a_smacv1_then_a_smacv2_job(sc2_double, tmp_path):
    """What a reused Ray worker does: a smacv1 job, then a smacv2 job, in one process."""
    from benchmarks.data.vault import write_dataset
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import train

    v1 = write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good")
    v2 = write_dataset(discrete_dataset(N=5, O=82, S=120, A=11), tmp_path / "t5.vlt" / "Replay")
    finals = [train(RunConfig("bc", task, seeds=(0,), steps=20, eval_every=20, eval_episodes=2, dataset=str(v)),
                    results=tmp_path / "r")
              for task, v in (("smacv1/3m-good", v1), ("smacv2/terran_5_vs_5-replay", v2))]
    assert [len(f["win_rate"]) for f in finals] == [1, 1]
    assert "reward_max" not in finals[0] or finals[0]["reward_max"] == [None, None]
    assert len(finals[1]["reward_max"]) == 2 and None not in finals[1]["reward_max"]
    started = {line.split()[0]: line.split()[1] for line in launches(sc2_double)}  # pid -> scenario
    assert sorted(started.values()) == ["3m", "terran_5_vs_5"]  # each package in its own process
    assert "smac" not in sys.modules and "smacv2" not in sys.modules
    assert sorted(launches(sc2_double, closed=True)) == sorted(launches(sc2_double))  # each job let its games go


@pytest.mark.slow  # about a minute: two jobs through the whole command, and its report
def test_one_bench_run_trains_and_evaluates_both_suites(sc2_double, monkeypatch, tmp_path):
    """A smacv1 and a smacv2 task in one `bench run` (one process with --no-ray, like a reused Ray worker)."""
    import json

    from benchmarks.cli import main
    from benchmarks.data import catalogue
    from benchmarks.data.vault import write_dataset

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    write_dataset(discrete_dataset(), catalogue.entries("smacv1", "3m")[0].vault("Good"))
    write_dataset(discrete_dataset(N=5, O=82, S=120, A=11),
                  catalogue.entries("smacv2", "terran_5_vs_5")[0].vault("Replay"))
    # the planted vaults stand in for og-marl's downloads without their published statistics (that check has
    # its own test in test_provenance.py); the jobs run in this process (--no-ray), so the patch reaches them
    monkeypatch.setattr("benchmarks.training.train.check_published", lambda summary, path: None)
    args = _run_args(tmp_path, "smacv1/3m-good,smacv2/terran_5_vs_5-replay")
    assert main(args) == 0
    finals = {f["task"]: f for f in map(json.loads, map(Path.read_text, (tmp_path / "r").rglob("final.json")))}
    assert set(finals) == {"smacv1/3m-good", "smacv2/terran_5_vs_5-replay"}
    assert all(len(f["win_rate"]) == 1 for f in finals.values())
    v2 = finals["smacv2/terran_5_vs_5-replay"]
    assert "reward_max" in v2 and all(m is not None for m in v2["reward_max"])  # the scale beside the return
    pids = {line.split()[0]: line.split()[1] for line in launches(sc2_double)}
    assert sorted(set(pids.values())) == ["3m", "terran_5_vs_5"] and len(pids) == 2  # one process per package
    assert "smac" not in sys.modules and "smacv2" not in sys.modules


def test_smacv2_instances_live_across_evaluations_with_seeded_scenarios(sc2_double):
    """og-marl's long-lived instances: one reward scale per instance for every evaluation of a job; the
    scenario generators are seeded, so the same seed draws the same scales in a new host."""
    import jax
    import jax.numpy as jnp

    from benchmarks.tasks import get_task
    from benchmarks.training.evaluate import make_python_evaluator

    class Attack:  # wins every episode in two steps
        @staticmethod
        def act(state, obs, legal, key):
            return jnp.full(obs.shape[:2], 6, jnp.int32)

    def evaluations(n):
        maker = get_task("smacv2/zerg_5_vs_5-replay").make_env()
        ev = make_python_evaluator(maker, Attack, 2)
        scales = []
        for i in range(n):
            ev({"w": jnp.zeros((1,))}, jax.random.split(jax.random.PRNGKey(0), 1))
            scales.append(maker.reward_scales())
        return scales

    first = evaluations(2)
    assert first[0] == first[1] and all(s["max_reward"] is not None for s in first[0])
    assert len(launches(sc2_double)) == 2  # 2 instances, started once for both evaluations
    sc2proc._close_hosts()
    sc2proc._HOSTS.clear()
    again = evaluations(1)
    assert again[0] == first[0]  # a new host with the same seed: the same teams, the same scales


def test_list_tasks_shows_the_removed_tasks_with_the_reason(capsys):
    from benchmarks.cli import main

    assert main(["list", "tasks", "--suite", "smacv1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "smacv1/3m-good" in out and "smacv1/2c_vs_64zg-good" not in out
    assert any(line.startswith("smacv1/2c_vs_64zg-poor  (removed: ") and "478" in line for line in out)
