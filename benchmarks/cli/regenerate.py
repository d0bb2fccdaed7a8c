"""``bench figures --paper P --regenerate [--dry-run] [--items ...]``: a whole paper in one command.

Plans every run the paper's items need as one deduplicated set of jobs (analysis/paper_plan.py), prints the job
count and the estimated compute on this device (benchmarks/perf/estimate.py) before anything starts, then trains
the jobs this machine can run through the runner (resumable, as every ``bench run``: finished runs are skipped,
killed ones resume), takes the latency timings the items need, and draws every item. ``--dry-run`` stops after
the plan. OM2P (``--paper om2p``) has no runs to plan: its two claims are measured in one process
(benchmarks/perf/om2p_claims.py). A helper of the ``figures`` sub-command (benchmarks/cli/report.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def _console():
    from benchmarks.cli.args import console

    return console()


def estimate(plan, console) -> dict:
    """{"peak", "device", "jobs": {run_id: JobCost}, "timings": [(Timing, seconds)]} for what is left to do."""
    import time

    from benchmarks.perf.estimate import EFFICIENCY_SOURCE, cached, device_peak, flop_args, flops, job_cost, timing_cost

    t0 = time.time()
    peak, device = device_peak()
    todo = [j for j in plan.jobs if j.state != "finished"]
    console.print(f"estimating {len(todo)} job(s) on {device}: matmul peak {peak / 1e9:.0f} GFLOP/s measured now (a "
                  f"loaded machine measures less), each plugin at its measured fraction of it ({EFFICIENCY_SOURCE})")
    new = list(dict.fromkeys(flop_args(j.cfg) for j in todo if not cached(*flop_args(j.cfg))))
    if new:
        console.print(f"counting the FLOPs of {len(new)} plugin x task-shape combination(s) from their jaxprs (kept "
                      f"in ~/.cache/bench/flops.json for the next time; seconds each)")
    for k, a in enumerate(new, 1):
        flops(*a)
        if k % 10 == 0 or k == len(new):
            console.print(f"  {k}/{len(new)} counted ({time.time() - t0:.0f} s)")
    costs = {j.cfg.run_id: job_cost(j.cfg, peak) for j in todo}
    timings = [(t, timing_cost(t)) for t in plan.timings]
    console.print(f"(estimated in {time.time() - t0:.0f} s)")
    return {"peak": peak, "device": device, "jobs": costs, "timings": timings}


def plan_table(plan, est) -> list:
    """The plan as Markdown lines: totals, per suite and per item."""
    from collections import defaultdict

    from benchmarks.perf.estimate import human

    name = {"macflow": "MAC-Flow", "vgm2p": "VGM2P"}.get(plan.paper, plan.paper)
    jobs, costs = plan.jobs, est["jobs"]
    state = lambda s: len(plan.with_state(s))
    lines = [f"# {name}: the runs its items need", "",
             f"{len(jobs)} jobs (the items ask for {plan.requested}; one run serves every item that asks for it): "
             f"{state('finished')} finished in the store, {state('resumable')} resumable, {state('to run')} to run, "
             f"{state('cannot run here')} cannot run here. Estimated compute on {est['device']} "
             f"(matmul peak {est['peak'] / 1e9:.0f} GFLOP/s):", ""]
    by_suite = defaultdict(lambda: [0, 0, 0.0, 0.0, set(), ""])
    reasons: dict = {}
    for j in jobs:
        if j.state == "finished":
            continue
        row = by_suite[j.cfg.task.split("/", 1)[0]]
        c = costs[j.cfg.run_id]
        row[0] += 1
        row[1] += (j.cfg.steps + j.cfg.online_steps) * len(j.cfg.seeds)
        row[2] += c.train_s
        row[3] += c.eval_s
        row[4].add(c.note) if c.note else None
        if j.why:
            row[5] = f"cannot run here ({reasons.setdefault(j.why, len(reasons) + 1)})"
    lines += ["| suite | jobs left | seed-steps | training | evaluation | total | note |", "|---|---|---|---|---|---|---|"]
    total = 0.0
    for suite, (n, steps, tr, ev, notes, why) in sorted(by_suite.items()):
        total += tr + ev
        note = "; ".join(sorted(notes) + ([why] if why else []))
        lines.append(f"| {suite} | {n} | {steps:,} | {human(tr)} | {human(ev)} | {human(tr + ev)} | {note} |")
    t_lat = sum(s for _, s in est["timings"])
    if est["timings"]:
        lines.append(f"| latency timings | {len(est['timings'])} command(s) | | | | {human(t_lat)} | "
                     + "; ".join(f"`{t.command()}`" for t, _ in est["timings"]) + " |")
    runnable = sum(costs[j.cfg.run_id].total_s for j in plan.runnable)
    lines += [""] + [f"({k}) {why}" for why, k in reasons.items()]
    lines += ["", f"**Total: {human(total + t_lat)}** of compute on this device, {human(runnable + t_lat)} of it for "
              f"what can run here (one job at a time; the runner runs as many at once as the machine has CPUs).", ""]
    items = defaultdict(lambda: [0, 0, 0.0])
    for j in jobs:
        for i in j.items:
            items[i][0] += 1
            if j.state != "finished":
                items[i][1] += 1
                items[i][2] += costs[j.cfg.run_id].total_s
    lines += ["| item | jobs | left | estimate of what is left |", "|---|---|---|---|"]
    for i, (n, left, s) in sorted(items.items(), key=lambda kv: (kv[0].split()[0], int(kv[0].split()[1]))):
        lines.append(f"| {i} | {n} | {left} | {human(s)} |")
    return lines


def regenerate(paper: str, root, out, items=(), dry_run: bool = False, budget=None, no_ray: bool = False) -> int:
    """Plan, estimate, run, time and draw ``paper``; returns the exit status."""
    from analysis.paper_plan import make_plan
    from benchmarks.store import check_writable, results_root

    console = _console()
    root = results_root(root)
    if paper == "om2p":
        return om2p(root, out, dry_run, console)
    console.print(f"planning every run of the {paper} paper's items ...")
    plan = make_plan(paper, root, tuple(items), budget)
    est = estimate(plan, console)
    lines = plan_table(plan, est)
    console.print("\n".join(lines), markup=False, highlight=False)
    if dry_run:
        return 0
    check_writable(root)
    out_dir = _out(root, out, paper)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "plan.md").write_text("\n".join(lines) + "\n")
    runnable = [j.cfg for j in plan.runnable] + [j.cfg for j in plan.with_state("finished")]
    failed = 0
    if runnable:
        from benchmarks.training import runner

        args = argparse.Namespace(fresh=False, no_ray=no_ray, address=None, cpus_per_job=1.0, gpus_per_job=0.0,
                                  max_retries=2, no_progress=False)
        outcome = runner.run_jobs(runner.job_dicts(runnable), root, args, _console_err())
        runner.print_outcome(outcome, root, _console_err())
        failed = len(outcome.failed)
    for t in plan.timings:
        from benchmarks.perf.latency import measure_missing
        from benchmarks.training.train import enable_compilation_cache

        enable_compilation_cache()
        records, _ = measure_missing(list(t.algos), root, None, t.agents or None)
        for r in records:
            console.print(f"latency: {r['name']} on {r['label']}: {r['median_ms']:.3f} ms per decision")
    from analysis.figures import write_figures

    index = write_figures(root, out, paper)
    console.print(index.read_text(), markup=False, highlight=False)
    console.print(f"figures: {index.parent.resolve()}")
    return 1 if failed else 0


def _console_err():
    from benchmarks.cli.args import console

    return console(stderr=True)


def _out(root, out, paper) -> Path:
    from analysis.report import default_out

    return Path(out) if out else default_out(root) / paper


def om2p(root, out, dry_run: bool, console) -> int:
    """Measure OM2P's claims (all baselines in this process), store them beside the figures, and write the index."""
    import json

    from analysis.ablations import MAMUJOCO
    from benchmarks.perf.om2p_claims import BASELINES, measure

    if dry_run:
        console.print(f"OM2P: no runs to plan; --regenerate measures om2p and {len(BASELINES)} baselines "
                      f"({', '.join(BASELINES)}) at their paper sizes on {MAMUJOCO[0]}'s shapes, one after the other "
                      f"(minutes: compiling and timing the 200-step planners' updates dominates)", markup=False)
        return 0
    from benchmarks.training.train import enable_compilation_cache

    enable_compilation_cache()
    out_dir = _out(root, out, "om2p")
    out_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"OM2P's claims: measuring om2p and its generative baselines on {MAMUJOCO[0]}'s shapes ...")
    result = measure(MAMUJOCO[0], progress=lambda s: console.print(s, markup=False))
    (out_dir / "om2p_claims.json").write_text(json.dumps(result, indent=2) + "\n")
    from analysis.figures import write_figures

    index = write_figures(root, out, "om2p")
    console.print(index.read_text(), markup=False, highlight=False)
    return 0
