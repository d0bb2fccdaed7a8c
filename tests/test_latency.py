"""The inference-time protocol: paper-default networks, compiled outside the timed region, stored records."""
from __future__ import annotations

import json

import pytest

from benchmarks.cli import main


def test_measure_records_the_protocol_at_paper_cost(tmp_path):
    import algorithms
    from benchmarks.perf.latency import measure
    from benchmarks.store import latency_records as load, save_latency as save
    from benchmarks.tasks import get_task

    spec = get_task("games/coordination").spec
    rec = measure("flowbc", spec, "games/coordination", repeats=6, warmup=2)
    cls = algorithms.get("flowbc")
    assert rec["config"]["hidden"] == list(cls.Config().hidden) == [512] * 4  # the paper's network, not a tiny one
    assert rec["nfe"] == cls.cost(spec, cls.Config()).nfe == rec["nfe_counted"] == 10
    assert rec["repeats"] == 6 and rec["n_agents"] == spec.n_agents
    assert 0 < rec["q1_ms"] <= rec["median_ms"] <= rec["q3_ms"]
    assert rec["iqr_ms"] == pytest.approx(rec["q3_ms"] - rec["q1_ms"])
    assert rec["per_agent_ms"] == pytest.approx(rec["median_ms"] / spec.n_agents)
    assert rec["compile_s"] > 0 and rec["cost_overrides"] == {} and rec["device"]
    path = save(rec, tmp_path)
    assert path.parent == tmp_path / "latency" and load(tmp_path)[0]["median_ms"] == rec["median_ms"]


def test_cli_json_one_object_per_algorithm_and_agent_count(tmp_path, capsys):
    rc = main(["latency", "--algos", "bc,macflow", "--agents", "2", "--repeats", "4", "--warmup", "1", "--json",
               "--results", str(tmp_path)])
    assert rc == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(o["name"], o["n_agents"]) for o in objs] == [("bc", 2), ("macflow", 2)]
    for o in objs:
        assert set(o) >= {"name", "n_agents", "median_ms", "iqr_ms", "per_agent_ms", "nfe", "device"}
        assert o["nfe"] == 1 and o["task"] == f"games/landmarks-{o['n_agents']}"
    assert len(list((tmp_path / "latency").glob("*.json"))) == 2
    # the report picks the stored records up as the latency of paper-default runs
    from analysis.load import load

    lat = load(tmp_path).latency
    assert set(lat["name"]) == {"bc", "macflow"} and set(lat["n_agents"]) == {2}


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["latency", "--algos", "bc", "--task", "games/xor", "--agents", "2", "--results", str(tmp_path)]) == 2
    assert "either --task or --agents" in capsys.readouterr().err
    assert main(["latency", "--algos", "nope", "--results", str(tmp_path)]) == 2
    assert "unknown algorithm 'nope'" in capsys.readouterr().err
    assert main(["latency", "--algos", "bc", "--repeats", "2", "--results", str(tmp_path)]) == 2
    assert "--repeats must be at least 3" in capsys.readouterr().err
    assert main(["latency", "--algos", "bc", "--agents", "99", "--results", str(tmp_path)]) == 2
    assert "2 to 40 agents" in capsys.readouterr().err


def test_interleaved_blocks_and_the_budget_for_slow_samplers():
    from benchmarks.perf.latency import BLOCK, measure_many

    order = []

    class Fake:  # stands in for a compiled act: each call "takes" a fixed time
        def __init__(self, name, seconds):
            self.name, self.warm_s, self.times = name, seconds, []

        def time_calls(self, n):
            order.append((self.name, n))
            self.times += [self.warm_s] * n

        def record(self):
            return {"name": self.name, "repeats": len(self.times)}

    recs = measure_many([Fake("fast", 0.001), Fake("slow", 25.0)], repeats=30, budget_s=60.0)
    assert recs == [{"name": "fast", "repeats": 30, "budget_s": 60.0}, {"name": "slow", "repeats": 3, "budget_s": 60.0}]
    # the two take turns (fast in blocks of BLOCK calls, slow one call at a time) until slow has its 3 calls
    assert BLOCK == 10 and order == [("fast", BLOCK), ("slow", 1)] * 3


def test_matmul_flops_count_loop_bodies_by_their_trip_count_where_xla_counts_them_once():
    """Known answers for ``count_matmul_flops`` (``bench throughput``'s fraction of the matmul peak): a matmul,
    its gradient (two more), a 10-step fori_loop (x 10, where XLA's cost analysis counts the body once: the
    under-count that hid a quarter of MAC-Flow's update) and a convolution."""
    import jax
    import jax.numpy as jnp

    from algorithms.nets import count_matmul_flops

    a, w, sq = jnp.ones((64, 100)), jnp.ones((100, 50)), jnp.ones((100, 100))
    assert count_matmul_flops(lambda a, w: a @ w, a, w) == 2 * 64 * 100 * 50
    assert count_matmul_flops(jax.grad(lambda w: jnp.sum((a @ w) ** 2)), w) == 2 * (2 * 64 * 100 * 50)
    loop = lambda a, w: jax.lax.fori_loop(0, 10, lambda i, x: jnp.tanh(x @ w), a)
    assert count_matmul_flops(loop, a, sq) == 10 * 2 * 64 * 100 * 100
    xla = jax.jit(loop).lower(a, sq).compile().cost_analysis()
    xla = xla[0] if isinstance(xla, (list, tuple)) else xla
    assert xla["flops"] < 2 * (2 * 64 * 100 * 100)  # one body, not ten
    x, k = jnp.ones((8, 28, 16)), jnp.ones((5, 16, 32))
    conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    assert count_matmul_flops(conv, x, k) == 2 * 8 * 28 * 32 * (5 * 16)
    with pytest.raises(ValueError, match="no static trip count"):
        count_matmul_flops(lambda a: jax.lax.while_loop(lambda x: x.sum() < 1e9, lambda x: x @ sq, a), a)
