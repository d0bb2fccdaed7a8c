"""The trainer and the store: resume after a crash, no duplicated rows, NaN detection, entry points."""
from __future__ import annotations

import json

import numpy as np
import pytest

import algorithms
from algorithms.bc import BC
from benchmarks.data.transitions import Dataset, to_transitions, to_windows
from algorithms.errors import TrainingError
from benchmarks.store import Run
from benchmarks.training.plan import RunConfig
from benchmarks.training.train import train

JOB = dict(algo="bc", task="games/landmarks", seeds=(0, 1), steps=60, eval_every=20, eval_episodes=8,
           overrides={"hidden": (32, 32)}, chunk=10)


class Boom(Exception):
    pass


def test_killed_run_resumes_to_the_same_result(tmp_path):
    clean = train(RunConfig(**JOB), results=tmp_path / "clean")

    def crash(step, total, info):
        if step > 30:
            raise Boom("simulated kill")

    with pytest.raises(Boom):
        train(RunConfig(**JOB), results=tmp_path / "crashy", progress=crash)
    run = Run(tmp_path / "crashy", RunConfig(**JOB).run_id)
    assert not run.finished and run.error_path.exists()
    assert {r["step"] for r in run.metrics()} == {20}
    resumed = train(RunConfig(**JOB), results=tmp_path / "crashy")
    assert resumed["returns"] == clean["returns"], "resuming from the checkpoint changed the result"
    rows = run.metrics()
    keys = [(r["step"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 6
    assert not run.error_path.exists()


def test_same_inputs_same_run_id_and_finished_runs_are_skipped(tmp_path):
    a = train(RunConfig(**JOB), results=tmp_path)
    mtime = (tmp_path / a["run_id"] / "final.json").stat().st_mtime_ns
    b = train(RunConfig(**JOB), results=tmp_path)
    assert a == b and (tmp_path / a["run_id"] / "final.json").stat().st_mtime_ns == mtime
    assert RunConfig(**{**JOB, "steps": 40}).run_id != RunConfig(**JOB).run_id


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_store(tmp_path, monkeypatch):
    class NanBC(BC):
        name = "nanbc"

        @staticmethod
        def update(state, batch, key):
            state, m = BC.update(state, batch, key)
            return state, {"loss": m["loss"] * np.nan}

    algorithms._load()
    monkeypatch.setitem(algorithms._REGISTRY, "nanbc", NanBC)
    with pytest.raises(TrainingError, match="not finite at step 10 .* smaller learning rate"):
        train(RunConfig(**{**JOB, "algo": "nanbc"}), results=tmp_path)
    run = Run(tmp_path, RunConfig(**{**JOB, "algo": "nanbc"}).run_id)
    assert run.spec_path.exists() and "not finite" in run.error_path.read_text() and not run.finished


def test_cost_overrides_are_recorded(tmp_path):
    f = train(RunConfig(**{**JOB, "algo": "flowbc", "overrides": {"hidden": (32, 32), "flow_steps": 3},
                           "allow_cost_override": True, "steps": 20}), results=tmp_path)
    spec = json.loads((tmp_path / f["run_id"] / "spec.json").read_text())
    assert spec["cost_overrides"] == {"flow_steps": 3} and f["cost"]["nfe"] == 3
    assert spec["preset"] == []  # no suite preset: every override is the user's


def test_suite_preset_keys_are_recorded_but_do_not_change_the_run(tmp_path):
    job = {**JOB, "overrides": {"hidden": (32, 32)}, "steps": 20}
    f = train(RunConfig(**job, preset=("hidden",)), results=tmp_path)
    spec = json.loads((tmp_path / f["run_id"] / "spec.json").read_text())
    assert spec["preset"] == ["hidden"] and spec["overrides"] == {"hidden": [32, 32]}
    assert train(RunConfig(**job), results=tmp_path)["run_id"] == f["run_id"]  # found finished, not re-run


def _streams():
    """B=2 streams: stream 0 has a terminal episode then a truncated one; stream 1 ends mid-episode."""
    B, T, N = 2, 6, 2
    obs = np.arange(B * T * N, dtype=np.float32).reshape(B, T, N, 1)
    term = np.zeros((B, T), bool)
    trunc = np.zeros((B, T), bool)
    term[0, 2] = True
    trunc[0, 5] = True
    return Dataset(observations=obs, actions=np.zeros((B, T, N), np.int32), rewards=np.arange(B * T, dtype=np.float32).reshape(B, T),
                   terminals=term, truncations=trunc, legal=np.ones((B, T, N, 2), bool), state=np.zeros((B, T, 1), np.float32))


def test_transitions_never_cross_episode_or_stream_boundaries():
    ds = _streams()
    tr = to_transitions(ds)
    # stream 0: t=0,1,2(terminal) | t=3,4 (t=5 truncated: no successor) ; stream 1: t=0..4 (t=5: end of stream)
    assert tr["reward"].tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert tr["terminal"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    obs, nxt = tr["obs"][:, 0, 0], tr["next_obs"][:, 0, 0]
    live = tr["terminal"] == 0
    assert np.all(nxt[live] == obs[live] + 2), "next_obs must be the next step of the same stream"


def test_windows_stay_inside_their_episode():
    w = to_windows(_streams(), 3)
    first = w["reward"][:, 0]
    # the window starting at stream 0, t=1 covers t=1,2 then padding (episode ends at the terminal t=2)
    i = int(np.nonzero(first == 1)[0][0])
    assert w["reward"][i].tolist() == [1, 2, 2] and w["valid"][i].tolist() == [1, 1, 0]
    assert w["step"][i].tolist() == [1, 2, 2]  # the step's index in its episode (padding repeats the last)
    j = int(np.nonzero(first == 3)[0][0])  # stream 0's second episode starts at t = 3
    assert w["step"][j].tolist() == [0, 1, 1] and to_transitions(_streams())["step"].tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3, 4]
    assert w["valid"][:, 0].all()


def test_entry_point_plugins_are_discovered(monkeypatch):
    class EP:
        name = "thirdpartyalgo"
        group = "bench.algorithms"
        value = "mypkg:Algo"

        def load(self):
            class Third(BC):
                name = "thirdpartyalgo"
            return Third

    import algorithms as reg

    monkeypatch.setattr(reg, "_loaded", False)
    monkeypatch.setattr(reg, "entry_points", lambda group: [EP()] if group == "bench.algorithms" else [])
    monkeypatch.setattr(reg, "_REGISTRY", dict(reg._REGISTRY))
    assert "thirdpartyalgo" in reg.names()


def test_a_plugin_missing_a_function_is_refused_at_registration():
    from algorithms import register
    from algorithms.base import Algorithm
    from algorithms.errors import BenchError

    class Half(Algorithm):
        name = "halfplugin"

        @staticmethod
        def init(key, spec, cfg):
            return None

    with pytest.raises(BenchError, match="does not define update, act, cost"):
        register(Half)


def test_several_seeds_mapped_or_vmapped_train_to_the_same_states():
    """The chunk's two ways of running several seeds in one program (``seed_batching``: "map", one seed after
    another with plain matrix products, "auto"'s choice on a CPU for paper-size networks; "vmap", batched
    products) train every seed the same, up to float rounding; an unknown choice is refused."""
    import jax
    import jax.numpy as jnp

    from benchmarks.tasks import get_task
    from benchmarks.training.train import init_states, load_data, make_chunk

    cls, task = algorithms.get("bc"), get_task("games/landmarks")
    cfg = cls.make_config({"hidden": (8,)})

    class _RC:
        dataset, data_seed = None, 0

    _, data = load_data(task, cls, _RC, cfg)
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(3)])
    out = {mode: make_chunk(cls, 32, 10, mode)(init_states(cls, task.spec, cfg, (0, 1, 2)), keys, data)
           for mode in ("vmap", "map")}
    for a, b in zip(jax.tree.leaves(out["vmap"]), jax.tree.leaves(out["map"])):
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the seeds differ from each other, so agreement is not one seed's result broadcast
    assert float(jnp.abs(out["map"][1]["loss"][0] - out["map"][1]["loss"][1])) > 0
    with pytest.raises(ValueError, match="seed_batching"):
        make_chunk(cls, 32, 20, "pmap")
    # "auto" on this CPU: the tests' small networks stay vmapped, paper-size ones are mapped
    from benchmarks.training.train import auto_seed_batching

    assert auto_seed_batching(init_states(cls, task.spec, cfg, (0, 1, 2)).params, 3) == "vmap"
    paper = jax.eval_shape(lambda: init_states(cls, task.spec, cls.make_config({}), (0, 1, 2)))
    assert auto_seed_batching(paper.params, 3) == ("map" if jax.default_backend() == "cpu" else "vmap")


def test_auto_seed_batching_maps_small_networks_whose_updates_are_large(monkeypatch):
    """"auto" also maps the seeds of small networks when one seed's update takes ``MAP_MIN_FLOPS`` matmul FLOPs
    or more (OMAR at [64, 64] scores many sampled actions per transition: vmapped, its 4 seeds ran below the per-step
    loop). The chunk counts the FLOPs of one sampled update while tracing; an update whose FLOPs cannot be
    counted (a while_loop) is decided by its parameters alone."""
    import jax
    import jax.numpy as jnp

    from algorithms.nets import count_matmul_flops
    from benchmarks.tasks import get_task
    from benchmarks.training import train
    from benchmarks.training.train import auto_seed_batching, init_states, make_chunk

    if jax.default_backend() != "cpu":
        pytest.skip("the FLOP rule is the CPU's; accelerators always vmap")
    cls, task = algorithms.get("bc"), get_task("games/landmarks")
    cfg = cls.make_config({"hidden": (8,)})
    small = init_states(cls, task.spec, cfg, (0, 1)).params
    assert auto_seed_batching(small, 2, train.MAP_MIN_FLOPS) == "map"
    assert auto_seed_batching(small, 2, lambda: train.MAP_MIN_FLOPS / 2) == "vmap"

    def while_loop_update():
        raise ValueError("count_matmul_flops: a while_loop has no static trip count")

    assert auto_seed_batching(small, 2, while_loop_update) == "vmap"
    # inside the chunk: the count is one seed's sampled update (batch 16 of a tiny bc), and the threshold decides
    seen = []
    real = train.auto_seed_batching

    def spy(params, n, flops=None):
        count = flops() if callable(flops) else flops
        seen.append((count, real(params, n, count)))
        return seen[-1][1]

    monkeypatch.setattr(train, "auto_seed_batching", spy)

    class _RC:
        dataset, data_seed = None, 0

    _, data = train.load_data(task, cls, _RC, cfg)
    state = jax.tree.map(lambda x: x[0], init_states(cls, task.spec, cfg, (0,)))
    expected = count_matmul_flops(lambda s, k: cls.update(s, train.sample_batch(data, k, 16), k), state,
                                  jax.random.PRNGKey(0))
    assert expected > 0
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(2)])
    outs = {}
    for threshold, mode in ((expected, "map"), (expected * 2, "vmap")):
        monkeypatch.setattr(train, "MAP_MIN_FLOPS", threshold)
        outs[mode] = make_chunk(cls, 16, 3)(init_states(cls, task.spec, cfg, (0, 1)), keys, data)
        assert seen[-1][0] == pytest.approx(expected) and seen[-1][1] == mode
    # the two choices are the same training (to float rounding)
    for a, b in zip(jax.tree.leaves(outs["map"]), jax.tree.leaves(outs["vmap"])):
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=1e-5)
