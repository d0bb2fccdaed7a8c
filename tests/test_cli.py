"""The `bench` command: happy path, listing, and bad input that must not touch the results store."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

import algorithms
from algorithms.bc import BC
from benchmarks.cli import main

# --no-ray: the jobs run in this process (the Ray path is tests/test_runner.py's and tests/test_first_run.py's)
TINY = ["--set", "hidden=32,32", "--steps", "20", "--eval-every", "10", "--eval-episodes", "10", "--seeds", "0",
        "--no-progress", "--no-ray"]


def _snapshot(root: Path) -> dict:
    """Every file of every run in the store (the report next to the runs is regenerated on purpose)."""
    runs = [d for d in root.iterdir() if (d / "spec.json").exists()] if root.exists() else []
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in runs for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store") / "runs"
    assert main(["run", "--task", "games/coordination", "--algos", "bc", "--results", str(root), *TINY]) == 0
    return root


def test_run_writes_a_finished_run_and_rerun_skips_it(store, capsys):
    runs = [p for p in store.iterdir() if (p / "spec.json").exists()]
    assert len(runs) == 1
    final = json.loads((runs[0] / "final.json").read_text())
    assert final["algo"] == "bc" and final["task"] == "games/coordination" and final["steps"] == 20
    rows = [json.loads(l) for l in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]
    before = _snapshot(store)
    assert main(["run", "--task", "games/coordination", "--algos", "bc", "--results", str(store), *TINY]) == 0
    out = capsys.readouterr()
    assert "games/coordination" in out.out + out.err
    assert _snapshot(store) == before, "a finished run was re-run or modified"


@pytest.mark.parametrize("argv,needle", [
    (["run", "--algos", "nosuchalgo"], "unknown algorithm 'nosuchalgo'. Valid algorithms: "),
    (["run", "--suite", "nosuchsuite"], "unknown suite 'nosuchsuite'. Valid suites: "),
    (["run", "--suite", "games", "--tasks", "coordinaton"], "Did you mean 'coordination'?"),
    (["run", "--task", "games/nosuchtask"], "unknown task 'nosuchtask' of suite 'games'. Valid tasks: "),
    (["run", "--algos", "bc", "--set", "nosuchkey=1"], "unknown config key 'nosuchkey' for algorithm 'bc'. Valid keys:"),
    (["run", "--algos", "bc", "--set", "lr=fast"], "--set lr=fast: expected a value of type float"),
    (["run", "--algos", "flowbc", "--set", "flow_steps=2"], "--allow-cost-override"),
    (["run", "--algos", "bc", "--seeds", "a,b"], "expected comma-separated integers"),
    (["run", "--algos", "bc", "--steps", "0"], "--steps must be a positive integer"),
    (["run", "--task", "games/landmarks-99"], "landmarks supports 2 to 40 agents"),
    (["run", "--task", "games/landmarks", "--algos", "madiff-d", "--online-steps", "10"],
     "'madiff-d' cannot be fine-tuned online: it is a trajectory planner"),
    (["run", "--algos", "bc", "--online-envs", "4"], "add --online-steps N"),
    (["run", "--task", "games/xor", "--algos", "bc", "--dataset", "/nonexistent/3m.vlt/Good"],
     "--dataset /nonexistent/3m.vlt/Good: no dataset at /nonexistent/3m.vlt/Good"),
    (["run", "--algos", "bc", "--set", "hidden=abc"], "--set hidden=abc: expected a value of type tuple for 'bc': "
                                                      "comma-separated integers, e.g. hidden=256,256"),
    (["run", "--task", "games/xor", "--algos", "macflow,bc", "--set", "alpha=3"],
     "bc has no config key 'alpha'; give it to macflow alone: --algos 'macflow[alpha=3],bc'"),
])
def test_bad_input_is_one_clear_line_and_touches_nothing(store, capsys, argv, needle):
    before = _snapshot(store)
    assert main([*argv, "--results", str(store), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: "), err
    assert needle in err[0]
    assert _snapshot(store) == before


def test_unsupported_action_kind_names_the_supported_kinds(store, capsys, monkeypatch):
    class DiscreteOnly(BC):
        name = "discreteonly"
        supports = frozenset({"discrete"})

    algorithms._load()
    monkeypatch.setitem(algorithms._REGISTRY, "discreteonly", DiscreteOnly)
    before = _snapshot(store)
    assert main(["run", "--task", "games/xor", "--algos", "discreteonly", "--results", str(store)]) == 2
    err = capsys.readouterr().err
    assert "does not support continuous actions; it supports: discrete" in err
    assert _snapshot(store) == before


def test_list(capsys):
    assert main(["list", "algos"]) == 0
    out = capsys.readouterr().out
    for name in ("bc", "flowbc", "macflow"):
        assert name in out
    assert main(["list", "tasks", "--suite", "games"]) == 0
    tasks = capsys.readouterr().out.split()
    assert {"games/coordination", "games/xor", "games/payoff-0.5", "games/landmarks"} <= set(tasks)
    assert main(["list", "suites"]) == 0
    assert "games" in capsys.readouterr().out


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_suite_runs_skip_pairs_of_the_wrong_action_kind_with_a_note(monkeypatch):
    from benchmarks.cli import build_parser
    from benchmarks.training.plan import plan_jobs

    class DiscreteOnly(BC):
        name = "discreteonly"
        supports = frozenset({"discrete"})

    algorithms._load()
    monkeypatch.setitem(algorithms._REGISTRY, "discreteonly", DiscreteOnly)
    notes = []
    args = build_parser().parse_args(["run", "--suite", "games", "--tasks", "coordination,xor", "--algos", "discreteonly,bc"])
    jobs = plan_jobs(args, notes)
    assert sorted((j.algo, j.task) for j in jobs) == [("bc", "games/coordination"), ("bc", "games/xor"),
                                                    ("discreteonly", "games/coordination")]
    assert [n for n in notes if " skips " in n] == ["discreteonly skips games/xor: it supports discrete actions only"]
    # nothing left for an algorithm: the one-line error naming what it supports
    from algorithms.errors import BenchError

    with pytest.raises(BenchError, match="supports: discrete"):
        plan_jobs(build_parser().parse_args(["run", "--suite", "games", "--tasks", "xor", "--algos", "discreteonly"]))


def test_suite_presets_resize_networks_only_where_declared_and_the_user_wins():
    """The planners' games preset (a small U-Net instead of the paper's 60M-parameter one) is applied on
    the games only, under the user's --set, announced, and switched off by --paper-size."""
    from benchmarks.cli import build_parser
    from benchmarks.training.plan import plan_jobs

    def plan(*argv):
        notes = []
        jobs = plan_jobs(build_parser().parse_args(["run", *argv]), notes)
        return {(j.algo, j.task): j.overrides for j in jobs}, notes

    preset = algorithms.get("dof").suite_presets["games"]
    argv = ["run", "--task", "games/xor", "--algos", "dof", "--set", "dim=16"]
    planned = plan_jobs(build_parser().parse_args(argv))
    assert planned[0].preset == ("dim_mults", "inv_dyn", "history")  # recorded for reports; the user's dim is not
    same = dataclasses.replace(planned[0], preset=())
    assert same.run_id == planned[0].run_id  # a run is identified by its effective config
    jobs, notes = plan("--suite", "games", "--tasks", "coordination,landmarks,landmarks-10", "--algos", "dof,bc")
    assert jobs[("dof", "games/coordination")] == preset
    assert jobs[("bc", "games/coordination")] == algorithms.get("bc").suite_presets["games"] == {"hidden": (64, 64)}
    assert any(n.startswith("dof on games/coordination: suite preset") and "--paper-size" in n for n in notes)
    # the landmarks pattern refines the suite's entry: inverse dynamics stays on where observations move
    for task in ("games/landmarks", "games/landmarks-10"):
        assert jobs[("dof", task)] == {**preset, "inv_dyn": True}
    jobs, _ = plan("--task", "games/xor", "--algos", "dof", "--set", "dim=16")
    assert jobs[("dof", "games/xor")] == {**preset, "dim": "16"}  # parsed per plugin later
    # --paper-size drops the networks' preset but keeps the paper's own per-suite values (paper_preset_keys: the
    # official configs' observation history, 0 on MPE, 18 on MA-MuJoCo; the Config default 20 is SMAC's)
    jobs, notes = plan("--task", "games/xor", "--algos", "dof", "--paper-size")
    assert jobs[("dof", "games/xor")] == {"history": 0}
    for size in ((), ("--paper-size",)):
        jobs, _ = plan("--task", "mpe-gen/spread-expert,mamujoco-gen/2-ant-medium", "--algos", "dof,madiff-c", *size)
        for algo in ("dof", "madiff-c"):
            assert jobs[(algo, "mpe-gen/spread-expert")] == {"history": 0}
            assert jobs[(algo, "mamujoco-gen/2-ant-medium")] == {"history": 18}
    jobs, _ = plan("--task", "mpe-gen/spread-expert", "--algos", "bc", "--paper-size")
    assert jobs[("bc", "mpe-gen/spread-expert")] == {}


def test_a_preset_may_not_change_the_cost_defining_settings():
    from algorithms.errors import BenchError

    class Cheap(BC):
        name = "cheap"
        cost_defining = ("hidden",)
        suite_presets = {"games": {"hidden": (8,)}}

    with pytest.raises(BenchError, match="cost-defining hidden"):
        algorithms.register(Cheap)

    class Typo(BC):
        name = "typo"
        suite_presets = {"games": {"hiden": (8,)}}

    with pytest.raises(Exception, match="unknown config key 'hiden'"):
        algorithms.register(Typo)
    assert "cheap" not in algorithms.names() and "typo" not in algorithms.names()


def test_run_json_is_the_summary_on_stdout(store, capsys):
    assert main(["run", "--task", "games/coordination", "--algos", "bc", "--results", str(store), *TINY,
                 "--json"]) == 0
    out = capsys.readouterr().out
    [row] = json.loads(out)  # stdout holds the JSON only; tables and notes go to stderr
    [run] = [p for p in store.iterdir() if (p / "spec.json").exists()]
    final = json.loads((run / "final.json").read_text())
    assert (row["task"], row["algo"], row["run_ids"]) == ("games/coordination", "bc", [run.name])
    assert row["return_mean"] == pytest.approx(final["return_mean"]) and row["returns"] == final["returns"]
    assert row["seeds"] == [0] and row["cost_overrides"] is False


def test_report_json(store, capsys):
    assert main(["report", "--results", str(store), "--reps", "100", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert Path(d["report"]).is_file() and Path(d["leaderboard_html"]).is_file()
    assert d["leaderboard"]["tasks"] == ["games/coordination"]
    assert any(r.get("algo") == "bc" for r in d["leaderboard"]["finals"]), d["leaderboard"]["finals"]


def test_list_json(capsys):
    assert main(["list", "algos", "--json"]) == 0
    algos = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert algos["macflow"]["actions"] == ["continuous", "discrete"] and algos["madiff-c"]["execution"] == "centralised"
    assert main(["list", "tasks", "--suite", "games", "--json"]) == 0
    ids = [r["id"] for r in json.loads(capsys.readouterr().out)]
    assert "games/coordination" in ids and all(i.startswith("games/") for i in ids)
    assert main(["list", "suites", "--json"]) == 0
    suites = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert suites["games"]["available"] is True and suites["games"]["why"] is None


def test_throughput_json(capsys):
    assert main(["throughput", "--algos", "bc", "--steps", "5", "--set", "hidden=32,32", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["algo"] == "bc" and row["task"] == "games/landmarks" and row["steps"] == 5
    assert row["scanned_steps_per_s"] > 0 and row["loop_steps_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["scanned_steps_per_s"] / row["loop_steps_per_s"])
    # bc's update has no loop: its matmul FLOPs are most of XLA's count, which adds the elementwise work (Adam,
    # activations: a third at this width, 3% at the paper's)
    assert 0.5 * row["gflop_per_update"] < row["matmul_gflop_per_update"] <= row["gflop_per_update"]
    assert row["fraction_of_peak"]["1"] == pytest.approx(
        row["matmul_gflop_per_update"] * row["scanned_steps_per_s"] / row["gemm_peak_gflops"])
    # the peak is timed before each of the 3 default rounds and after the last, under the rounds' load; the best counts
    assert len(row["gemm_peak_gflops_rounds"]) == 4 and row["gemm_peak_gflops"] == max(row["gemm_peak_gflops_rounds"])


def test_a_mistake_leaves_no_store_behind(tmp_path, capsys):
    """Options are planned before the results store is created: a mistaken command writes nothing at all."""
    root = tmp_path / "runs"
    assert main(["run", "--task", "games/xor", "--algos", "bc", "--dataset", str(tmp_path / "missing"),
                 "--results", str(root), "--no-ray", "--no-progress"]) == 2
    assert "no dataset at" in capsys.readouterr().err and not root.exists()


@pytest.mark.parametrize("argv,needle", [
    (["latency", "--algos", "bc", "--set", "betta=1"], "unknown config key 'betta' for algorithm 'bc'"),
    (["latency", "--algos", "macflow,bc", "--set", "alpha=3"],
     "bc has no config key 'alpha'; give it to macflow alone: `bench latency --algos macflow --set alpha=3`"),
    (["latency", "--algos", "bc", "--set", "hidden=abc"], "comma-separated integers, e.g. hidden=256,256"),
    (["report"], "no results store at "),
    (["figures"], "no results store at "),
    (["perf", "throughput", "--algos", "bc", "--set", "hiden=64,64"], "Did you mean 'hidden'?"),
    (["list", "algos", "--suite", "games"], "`bench list tasks --suite games` lists its tasks"),
    (["list", "--suite", "nosuchsuite"], "unknown suite 'nosuchsuite'"),
])
def test_mistakes_of_the_other_commands_are_one_line_before_anything_is_written(tmp_path, capsys, argv, needle):
    typo = tmp_path / "typo"
    assert main([*argv, *(["--results", str(typo)] if argv[0] in ("latency", "report", "figures") else [])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: ") and needle in err[0], err
    assert not typo.exists()


def test_report_refuses_a_directory_without_runs(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path)]) == 2
    assert "holds no runs" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_list_suite_lists_that_suites_tasks(capsys):
    assert main(["list", "--suite", "games"]) == 0
    ids = capsys.readouterr().out.split()
    assert "games/coordination" in ids and all(i.startswith("games/") for i in ids)
    assert main(["list", "suites", "--suite", "games", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["games"]


def test_bare_bench_prints_the_help_and_trains_nothing(capsys, monkeypatch):
    import benchmarks.cli.run as run_module

    monkeypatch.setattr(run_module, "cmd_run", lambda args: pytest.fail("a bare `bench` started `bench run`"))
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bench") and "perf" in out and "run" in out
    assert main(["perf"]) == 0 and "throughput" in capsys.readouterr().out
    assert main(["data"]) == 0 and "download" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    from benchmarks import __version__

    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"bench {__version__}"


def _listed(parser) -> list:
    import argparse

    return [name for a in parser._actions if isinstance(a, argparse._SubParsersAction)
            for name in (c.dest for c in a._choices_actions)]


def test_the_speed_tools_are_one_group_and_their_old_names_still_parse():
    from benchmarks.cli import build_parser

    parser = build_parser()
    top = _listed(parser)
    assert top[:8] == ["run", "list", "report", "figures", "reproduce", "data", "doctor", "latency"]
    tools = ("throughput", "databench", "evalbench", "onlinebench", "om2p-derivative", "reportbench")
    assert "perf" in top and not set(tools) & set(top), top
    perf = next(a for a in parser._actions if hasattr(a, "_name_parser_map"))._name_parser_map["perf"]
    assert set(_listed(perf)) == set(tools)
    # former names: the top-level commands and the options renamed for one meaning per name
    for old, new, dest, value in (
            (["throughput", "--seeds", "1,4"], ["perf", "throughput", "--seed-counts", "1,4"], "seed_counts", "1,4"),
            (["evalbench", "--suites", "games", "--algo", "bc"], ["perf", "evalbench", "--suite", "games", "--algos", "bc"],
             "suite", "games"),
            (["onlinebench", "--tasks", "games/xor"], ["perf", "onlinebench", "--task", "games/xor"], "task", "games/xor"),
            (["databench", "--dir", "/tmp/x"], ["perf", "databench", "--out", "/tmp/x"], "out", "/tmp/x"),
            (["reproduce", "abc", "--into", "/tmp/x"], ["reproduce", "abc", "--out", "/tmp/x"], "out", "/tmp/x"),
            (["data", "download", "--suite", "mpe", "--data-dir", "/tmp/x"],
             ["data", "download", "--suite", "mpe", "--out", "/tmp/x"], "data_dir", "/tmp/x")):
        a, b = parser.parse_args(old), parser.parse_args(new)
        assert getattr(a, dest) == getattr(b, dest) == value and a.func is b.func, (old, new)


def test_every_command_and_option_has_help_that_says_its_default():
    import argparse

    from benchmarks.cli import build_parser
    from benchmarks.cli.docs import commands

    parser = build_parser()
    found, _ = commands(parser)
    assert {"run", "perf throughput", "data download", "test-plugin"} <= set(found)
    missing = []
    for key, (p, help_) in found.items():
        if not help_:
            missing.append(f"bench {key}: no help line")
        formatted = p.format_help()
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) or a.help == argparse.SUPPRESS:
                continue
            if not a.help:
                missing.append(f"bench {key} {a.option_strings or a.dest}: no help")
            elif a.option_strings and a.nargs != 0 and not a.required and "default" not in a.help:
                if a.default is None:
                    missing.append(f"bench {key} {a.option_strings[0]}: its help does not say the default")
                else:
                    assert f"(default: {a.default})" in " ".join(formatted.split()), (key, a.option_strings)
    assert not missing, "\n".join(missing)
    run_help = " ".join(found["run"][0].format_help().split())
    assert "as JSON instead of text" in run_help and "stdout holds only the JSON" in run_help


def test_a_closed_pipe_ends_the_command_quietly():
    """`bench list tasks | head -0`: the reader is gone before the first line; no BrokenPipe traceback."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.cli", "list", "tasks"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_every_json_file_of_the_store_and_its_report_is_strict_json(store):
    """No NaN tokens on disk: every .json and .jsonl under the store (runs and the report bench report writes)
    parses with a parser that refuses NaN and Infinity, and leaderboard.json has null where there is no number."""
    assert main(["report", "--results", str(store), "--reps", "100"]) == 0

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    files = sorted(p for p in store.rglob("*") if p.suffix in (".json", ".jsonl"))
    assert {"leaderboard.json", "marl_eval.json", "spec.json", "final.json", "metrics.jsonl"} <= {p.name for p in files}
    for p in files:
        text = p.read_text()
        for doc in (text.splitlines() if p.suffix == ".jsonl" else [text]):
            json.loads(doc, parse_constant=refuse)
    board = json.loads((store / "report" / "leaderboard.json").read_text())
    assert any(v is None for f in board["finals"] for v in f.values())  # a games task has no win rate: null
