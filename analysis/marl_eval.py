"""Export the store to marl-eval's raw-data JSON format.

    {env: {task: {algorithm: {"seed_<s>": {"step_<i>": {"step_count": int, "return": [..], ...},
                                             "absolute_metrics": {"return": [..], ...}}}}}}

env = the suite, task = the task name, algorithm = the variant (commas, which marl-eval uses to pair
algorithms, are replaced by ';'). The store keeps one mean return per evaluation and seed (the mean
over that evaluation's episodes), so every metric list holds that one value; ``absolute_metrics``
holds the score under the report's score rule (final by default; ``score_rule`` of the load). Each
entry's provenance (commit, versions, device, score rule) goes to ``<name>.provenance.json`` with the
same env/task/algorithm/seed keys: marl-eval reads every key of a seed's entry as a step or metric.
Metrics exported: return, normalised (fixed references) and win_rate, each only where every entry
of the env (all steps and ``absolute_metrics``) has it, as marl-eval's data checker demands.
marl-eval requires every algorithm of an env to have the same number of runs and steps: :func:`check`
lists the violations instead of letting marl-eval stop on them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.load import StoreData

METRICS = ("return", "normalised", "win_rate")


def export(data: StoreData) -> dict:
    out: dict = {}
    finished = set(data.runs.loc[data.runs["status"] == "finished", "run_id"]) if not data.runs.empty else set()
    ev = data.evals[data.evals["run_id"].isin(finished)] if not data.evals.empty else data.evals
    for (suite, task_name, variant, seed), g in ev.groupby(["suite", "task_name", "variant", "seed"]):
        g = g.sort_values("step")
        algo = str(variant).replace(",", ";")
        runs = out.setdefault(suite, {}).setdefault(task_name, {}).setdefault(algo, {})
        entry = {}
        # records, not itertuples: itertuples renames the column ``return`` (a keyword), which dropped it here
        for i, row in enumerate(g.to_dict("records")):
            entry[f"step_{i}"] = {"step_count": int(row["step"]),
                                  **{m: [float(row[m])] for m in METRICS if m in row and _ok(row[m])}}
        last = _scored_row(data, g.iloc[-1]["run_id"], seed)
        last = g.iloc[-1] if last is None else last
        entry["absolute_metrics"] = {m: [float(last[m])] for m in METRICS if m in last and _ok(last[m])}
        runs[f"seed_{int(seed)}"] = entry
    for tasks in out.values():
        _keep_common_metrics(tasks)
    return out


def _keep_common_metrics(tasks: dict) -> None:
    """Keep, within one env, only the metrics every step entry and every ``absolute_metrics`` carries:
    marl-eval's data checker refuses an env whose entries differ, and its pipeline reads a metric of the
    first entry from all others (a KeyError otherwise). A metric missing anywhere (e.g. ``normalised``
    of a task without references, ``win_rate`` outside SMAC) is dropped from the whole env."""
    entries = [e for algos in tasks.values() for runs in algos.values() for r in runs.values() for e in r.values()]
    common = set.intersection(*(set(e) - {"step_count"} for e in entries)) if entries else set()
    for e in entries:
        for m in set(e) - common - {"step_count"}:
            del e[m]


def _scored_row(data: StoreData, run_id: str, seed):
    f = data.finals
    if f.empty:
        return None
    hit = f[(f["run_id"] == run_id) & (f["seed"] == seed)]
    return None if hit.empty else hit.iloc[0]


def provenance(data: StoreData, raw: dict) -> dict:
    """The provenance summary of every entry of ``raw`` under the same keys."""
    runs = data.runs.set_index("run_id") if not data.runs.empty else None
    ev = data.evals
    out: dict = {}
    groups = ev.groupby(["suite", "task_name", "variant", "seed"]) if not ev.empty else []
    for (suite, task_name, variant, seed), g in groups:
        algo = str(variant).replace(",", ";")
        if f"seed_{int(seed)}" not in raw.get(suite, {}).get(task_name, {}).get(algo, {}):
            continue
        rid = g.iloc[-1]["run_id"]
        r = runs.loc[rid] if runs is not None and rid in runs.index else {}
        out.setdefault(suite, {}).setdefault(task_name, {}).setdefault(algo, {})[f"seed_{int(seed)}"] = {
            "run_id": rid, "commit": r.get("commit"), "jax": r.get("jax"), "device": r.get("device"),
            "dataset_sha256": r.get("dataset_sha256"), "summary": r.get("provenance"), "score_rule": data.score_rule}
    return out


def _ok(x) -> bool:
    try:
        return x is not None and np.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def check(raw: dict) -> list:
    """Sentences naming what marl-eval would refuse (unequal runs or steps within an env)."""
    problems = []
    for env, tasks in raw.items():
        shapes = {}
        for task, algos in tasks.items():
            for algo, runs in algos.items():
                steps = {len([k for k in r if k.startswith("step_")]) for r in runs.values()}
                shapes[(task, algo)] = (len(runs), tuple(sorted(steps)))
        if len(set(shapes.values())) > 1:
            desc = ", ".join(f"{a} on {t}: {n} runs x {'/'.join(map(str, s))} steps" for (t, a), (n, s) in shapes.items())
            problems.append(f"marl-eval needs equal runs and steps for every algorithm in env '{env}': {desc}")
    return problems


def write(data: StoreData, path: Path) -> tuple[Path, list]:
    raw = export(data)
    from benchmarks.store import atomic_write_json

    atomic_write_json(Path(path), raw)
    atomic_write_json(Path(path).with_suffix(".provenance.json"), provenance(data, raw))
    return Path(path), check(raw)
