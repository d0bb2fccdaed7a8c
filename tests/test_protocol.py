"""`bench run --protocol macflow-paper`: the paper's seeds, steps per suite and evaluation schedule, recorded in
spec.json outside the run id, and marked in the tables and paper figures wherever a run departs from it."""
from __future__ import annotations

import dataclasses

import pytest

from algorithms.errors import BenchError
from tests.test_analysis import write_run


def _plan(*argv):
    from benchmarks.cli import build_parser
    from benchmarks.training.plan import plan_jobs

    return plan_jobs(build_parser().parse_args(["run", *argv]))


def test_the_protocol_sets_the_papers_schedule_and_is_not_part_of_the_run_id(tmp_path):
    from benchmarks.training.plan import PROTOCOLS, RunConfig, protocol_steps
    from benchmarks.training.reproduce import recorded_config
    from benchmarks.training.train import Job

    job, = _plan("--task", "mpe-gen/spread-expert", "--algos", "bc", "--protocol", "macflow-paper")
    assert (job.seeds, job.steps, job.eval_every, job.eval_episodes, job.batch_size) == \
        ((0, 1, 2, 3, 4, 5), 500_000, 50_000, 10, 64)  # App. E (G.4's table says 2x10^5 for MPE)
    assert job.protocol == "macflow-paper"
    assert dataclasses.replace(job, protocol="").run_id == job.run_id
    assert [protocol_steps("macflow-paper", t, 7) for t in ("smacv1/3m-good", "smacv2/x", "mamujoco/x")] == \
        [1_000_000, 1_000_000, 500_000]
    assert protocol_steps("", "smacv1/3m-good", 7) == 7
    assert set(PROTOCOLS["macflow-paper"].steps) == {"smacv1", "smacv2", "mpe", "mamujoco", "mpe-gen", "mamujoco-gen"}
    spec = Job.resolve(job, tmp_path).spec_record()
    assert spec["protocol"] == "macflow-paper" and "protocol" not in job.inputs()
    assert recorded_config(spec) == job
    assert _plan("--task", "mpe-gen/spread-expert", "--algos", "bc")[0].protocol == ""
    assert isinstance(job, RunConfig)


def test_the_protocol_refuses_its_own_flags_and_suites_it_has_no_steps_for():
    with pytest.raises(BenchError, match="sets --steps; leave out --steps"):
        _plan("--task", "mpe-gen/spread-expert", "--algos", "bc", "--protocol", "macflow-paper", "--steps", "5")
    with pytest.raises(BenchError, match="sets --seeds"):
        _plan("--task", "mpe-gen/spread-expert", "--algos", "bc", "--protocol", "macflow-paper", "--seeds", "0")
    with pytest.raises(BenchError, match="not games/xor; run those without --protocol"):
        _plan("--task", "games/xor", "--algos", "bc", "--protocol", "macflow-paper")
    with pytest.raises(SystemExit) as exc:
        _plan("--protocol", "nope")
    assert exc.value.code == 2


def test_tables_and_paper_figures_mark_runs_off_the_protocol(tmp_path):
    from analysis import tables
    from analysis.figures import write_figures
    from analysis.load import load

    write_run(tmp_path, "bc", "smacv1/3m-Good", [5.0, 6.0], steps=100)  # the smoke schedule
    write_run(tmp_path, "macflow", "smacv1/3m-Good", [9.0, 10.0], steps=100, protocol="macflow-paper")
    write_run(tmp_path, "flowbc", "games/xor", [0.5, 0.6], steps=100)  # not a suite of the protocol
    data = load(tmp_path)
    off = dict(zip(data.finals["variant"], data.finals["off_protocol"]))
    assert off["bc"].startswith("2 seeds, 100 steps") and off["macflow"] == "" and off["flowbc"] == ""
    t = tables.build(data.finals, "return")
    md = tables.RENDERERS["md"](t)
    bc_row = next(line for line in md.splitlines() if "3m-Good" in line)
    assert bc_row.count("†") == 1  # bc's cell only
    assert any(f.startswith("† not at the paper's protocol (`bench run --protocol macflow-paper`): bc on smacv1/3m-Good")
               for f in t.footnotes)
    assert "$^\\dagger$" in tables.RENDERERS["tex"](t) and "†</sup>" in tables.RENDERERS["html"](t)
    index = write_figures(tmp_path, tmp_path / "figs", reps=50).read_text()
    assert "Table 1: 1 run(s) not at the paper's protocol" in index
    # one command per table: the table's tasks (both suites) at the paper's protocol
    assert "`bench run --task smacv1/" in index and ",smacv2/" in index and f"--protocol macflow-paper --results {tmp_path}`" in index
    assert "Table 2: no runs on mamujoco/mpe" in index and "`bench run --task mamujoco/" in index and ",mpe/" in index
