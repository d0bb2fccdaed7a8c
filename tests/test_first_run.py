"""The first run as a newcomer meets it: `bench run` writing to a log file instead of a terminal (plain
progress lines while it runs, tables at their full width), and the latency step that gives its report
the score-vs-inference-time figure."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cli import main

REPO = Path(__file__).resolve().parents[1]
# bc at its paper size (latency is only shown for runs at the paper-default configuration), a few steps
SHORT = ["--task", "games/coordination", "--algos", "bc", "--seeds", "0,1", "--steps", "20", "--eval-every", "10",
         "--eval-episodes", "5"]
LABEL = "bc games/coordination seeds=0,1"


def _run_to_log(log: Path, argv: list, timeout: float = 600) -> tuple[int, bool]:
    """Run `python -m benchmarks.cli run ARGV` with stdout and stderr going to ``log`` (as under nohup);
    returns its exit status and whether an evaluation line was in the log while the command still ran."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    seen_live = False
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.cli", "run", *argv], cwd=REPO, env=env,
                                stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if not seen_live and f"eval  {LABEL} step 10/20" in log.read_text():
                seen_live = proc.poll() is None
            time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
            pytest.fail(f"bench run took over {timeout} s:\n{log.read_text()[-3000:]}")
    return proc.returncode, seen_live


def _check_log(text: str, root: Path) -> None:
    assert re.search(rf"^\[\d\d:\d\d\.\d\] start {re.escape(LABEL)}", text, re.M), text
    for step in (10, 20):
        assert re.search(rf"eval  {re.escape(LABEL)} step {step}/20 return -?\d+\.\d{{3}}", text), text
    assert re.search(rf"done  {re.escape(LABEL)} after \d+\.\d s, return", text), text
    [run_id] = [p.name for p in root.iterdir() if (p / "spec.json").exists()]
    # the jobs table: the whole label and the run id on one row, nothing cut with an ellipsis
    rows = [line for line in text.splitlines() if LABEL in line and run_id in line]
    assert rows and len(rows[0]) > 80, text
    assert "…" not in text
    assert any("games/coordination" in line and "±" in line for line in text.splitlines()), text
    assert not any("\x1b[" in line for line in text.splitlines()), "terminal escape codes in a log"


def test_run_into_a_log_file_prints_progress_lines_and_whole_tables(tmp_path):
    root = tmp_path / "runs"
    rc, live = _run_to_log(tmp_path / "bench.log", [*SHORT, "--no-ray", "--no-latency", "--results", str(root)])
    text = (tmp_path / "bench.log").read_text()
    assert rc == 0, text
    assert live, "the evaluation line reached the log only after the command ended"
    _check_log(text, root)


@pytest.mark.slow
def test_run_through_ray_into_a_log_file_prints_progress_lines(tmp_path):
    root = tmp_path / "runs"
    rc, live = _run_to_log(tmp_path / "bench.log", [*SHORT, "--no-latency", "--results", str(root)])
    text = (tmp_path / "bench.log").read_text()
    assert rc == 0, text
    assert live, "the evaluation line reached the log only after the command ended"
    _check_log(text, root)


def test_plain_progress_is_one_line_per_event_and_step_lines_at_most_every_few_seconds(monkeypatch):
    import io

    from rich.console import Console

    from benchmarks.training import runner

    clock = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    job = {"run_id": "r1", "label": "bc games/xor seeds=0", "cfg": {"steps": 1000}}
    view = runner.View([job], Console(file=out, width=80), disable=False)  # a StringIO is not a terminal
    assert view.plain

    def at(t, **kw):
        clock[0] = 100.0 + t
        view.update("r1", **kw)

    at(1, status="running", step=0)
    at(2, step=100)  # 1 s after the start line: too soon for a step line
    at(7, step=100)  # 5 s later, a new step: printed
    at(8, step=300)  # too soon again
    at(20, step=300)  # late enough, and news: printed
    at(26, step=300)  # late enough, but the same step as the last line: nothing to say
    at(27, step=500, ret=1.5, eval_step=500)  # an evaluation always prints
    at(28, step=500, ret=1.5, eval_step=500)  # the same evaluation seen again (Ray snapshots): once only
    at(80, step=500)  # under a minute without news: quiet
    at(88, step=500)  # a minute without a line: the same step again, as a sign of life
    at(90, status="done", ret=1.5)
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == ["1 job(s)", "start bc games/xor seeds=0", "      bc games/xor seeds=0 step 100/1000, running 6 s",
                     "      bc games/xor seeds=0 step 300/1000, running 19 s",
                     "eval  bc games/xor seeds=0 step 500/1000 return 1.500",
                     "      bc games/xor seeds=0 step 500/1000, running 87 s",
                     "done  bc games/xor seeds=0 after 89.0 s, return 1.500"]
    assert out.getvalue().splitlines()[-1].startswith("[01:30.0] ")


def test_latency_step_fills_the_reports_score_vs_latency_figure(tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["run", *SHORT, "--no-ray", "--no-progress", "--latency", "--results", str(root)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"latency: bc \d+\.\d{3} ms per decision", err), err
    [record] = list((root / "latency").glob("*.json"))
    rec = json.loads(record.read_text())
    assert rec["name"] == "bc" and rec["label"] == "games/landmarks" and not rec["cost_overrides"]
    assert 3 <= rec["repeats"] <= 30 and rec["config"]["hidden"] == [512, 512, 512, 512]
    report = (root / "report" / "last-run" / "report.md").read_text()  # the report of the command's own runs
    assert "![score_vs_latency](figures/score_vs_latency.png)" in report
    assert (root / "report" / "last-run" / "figures" / "score_vs_latency.png").stat().st_size > 0
    board = json.loads((root / "report" / "last-run" / "leaderboard.json").read_text())
    assert board["latency"], board  # the leaderboard's latency column has a value
    # the next `bench run` finds the record and times nothing again (a repeated default stays instant)
    from benchmarks.perf.latency import quick

    records, skipped = quick(["bc"], root)
    assert records == [] and skipped == ["bc: already measured on games/landmarks (bench latency re-measures it)"]


def test_latency_step_is_on_only_for_the_embedded_default():
    from benchmarks.cli import build_parser
    from benchmarks.cli.run import wants_latency

    parse = build_parser().parse_args
    assert wants_latency(parse(["run"]))
    assert wants_latency(parse(["run", "--steps", "50"]))
    assert not wants_latency(parse(["run", "--no-latency"]))
    assert not wants_latency(parse(["run", "--suite", "games"]))
    assert not wants_latency(parse(["run", "--task", "games/xor"]))
    assert wants_latency(parse(["run", "--task", "games/xor", "--latency"]))
