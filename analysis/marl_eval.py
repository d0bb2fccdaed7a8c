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


def _groups(data: StoreData, run_ids=None):
    """(keys, rows): the evaluation rows of finished runs (only ``run_ids`` when given) in (suite, task, variant,
    seed, step) order, as plain lists, and per (suite, task_name, variant, seed) group its slice of them."""
    finished = set(data.runs.loc[data.runs["status"] == "finished", "run_id"]) if not data.runs.empty else set()
    if run_ids is not None:
        finished &= set(run_ids)
    ev = data.evals
    if ev.empty:
        return {}, {}
    ev = ev[ev["run_id"].isin(finished)].sort_values(["suite", "task_name", "variant", "seed", "step"],
                                                     kind="stable")
    cols = {c: ev[c].tolist() for c in ("suite", "task_name", "variant", "seed", "step", "run_id")}
    cols.update({m: ev[m].to_numpy(np.float64, na_value=np.nan).tolist() for m in METRICS if m in ev})
    keys = list(zip(cols["suite"], cols["task_name"], cols["variant"], cols["seed"]))
    groups, start = {}, 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            groups[keys[start]] = (start, i)
            start = i
    return cols, groups


def export(data: StoreData, run_ids=None, grouped=None) -> dict:
    """The marl-eval raw-data dict of the store's finished runs (only ``run_ids`` when given: the runs a report
    shows, so one (task, algorithm, seed) never mixes the rows of two runs). ``grouped``: ``_groups``' result."""
    out: dict = {}
    cols, groups = grouped or _groups(data, run_ids)
    if not groups:
        return out
    metrics = [m for m in METRICS if m in cols]
    finals = {}
    if not data.finals.empty:
        f = data.finals
        for rec in f[[c for c in ["run_id", "seed", *METRICS] if c in f]].to_dict("records"):
            finals[(rec["run_id"], rec["seed"])] = rec
    # per row, the (metric, [value]) pairs it has (finite values only), found with one array test per metric
    have = [[] for _ in cols["step"]]
    for m in metrics:
        vals = cols[m]
        for i in np.flatnonzero(np.isfinite(np.asarray(vals, np.float64))).tolist():
            have[i].append((m, [vals[i]]))
    for (suite, task_name, variant, seed), (a, b) in groups.items():
        algo = str(variant).replace(",", ";")
        entry = {}
        for k, i in enumerate(range(a, b)):
            step = {"step_count": int(cols["step"][i])}
            step.update(have[i])
            entry[f"step_{k}"] = step
        last = finals.get((cols["run_id"][b - 1], seed))
        if last is not None:
            entry["absolute_metrics"] = {m: [float(last[m])] for m in METRICS if m in last and _ok(last[m])}
        else:
            entry["absolute_metrics"] = dict(have[b - 1])
        out.setdefault(suite, {}).setdefault(task_name, {}).setdefault(algo, {})[f"seed_{int(seed)}"] = entry
    for tasks in out.values():
        _keep_common_metrics(tasks)
    return out


def _keep_common_metrics(tasks: dict) -> None:
    """Keep, within one env, only the metrics every step entry and every ``absolute_metrics`` carries:
    marl-eval's data checker refuses an env whose entries differ, and its pipeline reads a metric of the
    first entry from all others (a KeyError otherwise). A metric missing anywhere (e.g. ``normalised``
    of a task without references, ``win_rate`` outside SMAC) is dropped from the whole env."""
    entries = [e for algos in tasks.values() for runs in algos.values() for r in runs.values() for e in r.values()]
    counts: dict = {}
    for e in entries:
        for m in e:
            counts[m] = counts.get(m, 0) + 1
    rare = [m for m, n in counts.items() if n < len(entries) and m != "step_count"]
    for e in entries if rare else ():
        for m in rare:
            e.pop(m, None)


def provenance(data: StoreData, raw: dict, run_ids=None, grouped=None) -> dict:
    """The provenance summary of every entry of ``raw`` under the same keys."""
    runs = data.runs.set_index("run_id").to_dict("index") if not data.runs.empty else {}
    cols, groups = grouped or _groups(data, run_ids)
    out: dict = {}
    for (suite, task_name, variant, seed), (_, b) in groups.items():
        algo = str(variant).replace(",", ";")
        if f"seed_{int(seed)}" not in raw.get(suite, {}).get(task_name, {}).get(algo, {}):
            continue
        rid = cols["run_id"][b - 1]
        r = runs.get(rid, {})
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


def write(data: StoreData, path: Path, run_ids=None) -> tuple[Path, list]:
    """marl_eval.json and its provenance file (compact JSON: tens of megabytes for a paper-sized store)."""
    grouped = _groups(data, run_ids)
    raw = export(data, grouped=grouped)
    from benchmarks.store import atomic_write_json

    atomic_write_json(Path(path), raw, indent=None)
    atomic_write_json(Path(path).with_suffix(".provenance.json"), provenance(data, raw, grouped=grouped),
                      indent=None)
    return Path(path), check(raw)
