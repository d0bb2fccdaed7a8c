"""Load the results store into tidy DataFrames, and say what is missing instead of failing.

``load(root)`` returns a :class:`StoreData` with

* ``evals``   one row per run x evaluation x seed (the tidy frame): run_id, algo, variant, suite, task,
              task_name, seed, step, final, return, normalised, win_rate, train_time, wall_time, flagged,
              cost_overrides and every ``loss/*`` and ``diag/*`` column the run logged;
* ``finals``  one row per finished run x seed with the final return and normalised score;
* ``runs``    one row per run directory with its status (finished / failed / incomplete);
* ``latency`` one row per ``bench latency`` record;
* ``problems`` sentences naming failed, incomplete or unreadable runs.

Normalised scores use the fixed per-task references stored with each run (spec.json ``refs`` =
[random, expert]): 100 * (R - random) / (expert - random). They never depend on which other runs are
in the store. ``variant`` is the algorithm name, plus the overrides when a run changed its config, so
two configurations of one algorithm never share a column. Runs whose settings came from a plugin's
suite preset (``bench run`` on a suite its paper never ran) are one variant per suite, e.g.
``dof[games preset]``, whatever the preset chose per task (the ``preset`` column and the tables'
footnotes say what); they never share a column with paper-size runs. ``off_protocol`` (every frame) says
how a run on a suite of the MAC-Flow protocol departs from it ("" when it ran with ``--protocol macflow-paper``
or its suite is not in the protocol).
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.store import (LATENCY_DIR, REPORT_DIR, REPRODUCE_DIR, SUPERSEDED_DIR, Run, latency_records,
                              results_root, runs as store_runs)
from benchmarks.training.plan import PAPER_PROTOCOL, off_protocol


@dataclasses.dataclass
class StoreData:
    root: Path
    runs: pd.DataFrame
    evals: pd.DataFrame
    finals: pd.DataFrame
    latency: pd.DataFrame
    problems: list
    score_rule: str = "final"  # which evaluation ``finals`` holds (analysis/score.py)

    @property
    def empty(self) -> bool:
        return self.finals.empty


def variant_name(algo: str, overrides: dict | None, preset: str = "") -> str:
    inner = ";".join(p for p in (preset, _settings_text(overrides or {}, ";")) if p)
    return f"{algo}[{inner}]" if inner else algo


def _settings_text(settings: dict, sep: str = ", ") -> str:
    """'k=v' pairs in key order (lists as 1x2)."""
    return sep.join(f"{k}={_short(v)}" for k, v in sorted(settings.items()))


def _short(v) -> str:
    if isinstance(v, (list, tuple)):
        return "x".join(str(x) for x in v)
    return str(v)


def normalise(ret, refs) -> float:
    lo, hi = refs
    return 100.0 * (float(ret) - lo) / (hi - lo)


def _flag_text(co: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((co or {}).items()))


def _first_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(empty error.txt)"


def load(root=None, run_ids=None, score: str = "final") -> StoreData:
    """run_ids: only these runs (e.g. what one `bench run` ran); default every run in the store.
    score: the score rule of ``finals`` (analysis/score.py); every row of one load uses the same rule."""
    from analysis.score import parse

    score = parse(score)
    root = results_root(root)
    wanted = set(run_ids) if run_ids is not None else None
    problems, run_rows, eval_rows, final_rows = [], [], [], []
    if not root.exists():
        problems.append(f"the results store {root} does not exist; run `bench run` to create it")
    elif root.exists():
        odd = [p.name for p in sorted(root.iterdir()) if p.is_dir() and not (p / "spec.json").exists()
               and any(p.glob("*.json*"))
               and p.name not in (LATENCY_DIR, REPORT_DIR, REPRODUCE_DIR, SUPERSEDED_DIR)]
        for name in odd:
            problems.append(f"{root / name}: no spec.json, not a run directory (ignored)")
    run_meta, eval_parts = [], []
    for run in store_runs(root) if root.exists() else []:
        if wanted is not None and run.id not in wanted:
            continue
        row = _load_run(run, problems, score)
        if row is None:
            continue
        run_rows.append(row["run"])
        final_rows.extend(row["finals"])
        if row["evals"]:
            run_meta.append(row["meta"])
            eval_parts.append(row["evals"])
    runs = pd.DataFrame(run_rows, columns=_RUN_COLS) if not run_rows else pd.DataFrame(run_rows)
    evals = _evals_frame(run_meta, eval_parts)
    finals = pd.DataFrame(final_rows)
    if finals.empty:
        finals = pd.DataFrame(columns=_FINAL_COLS)
    latency = _load_latency(root)
    return StoreData(root, runs, evals, finals, latency, problems, score)


def dataset_label(spec: dict) -> tuple[str, str]:
    """(tag, description) of the data a run trained on when it was given with ``bench run --dataset``: the tag is
    the vault's name and the first 8 hex digits of its content sha256 (``Good-10pc:1a2b3c4d``); the description adds
    how it was derived (``bench data derive``) and from which parents. ("", "") for a task's own data."""
    if not spec.get("dataset"):
        return "", ""
    ds = (spec.get("provenance") or {}).get("dataset") or {}
    sha = (ds.get("sha256") or "")[:8]
    tag = Path(str(spec["dataset"])).name + (f":{sha}" if sha else "")
    text = f"{spec['dataset']} (sha256 {sha or 'not recorded'})"
    derived = ds.get("derived")
    if derived:
        parents = "; ".join(f"{p.get('source')} sha256 {str(p.get('sha256'))[:8]}" for p in derived.get("parents", []))
        text += f": {derived.get('text', derived.get('rule'))}, from {parents}"
    return tag, text


_BASE_COLS = ["run_id", "algo", "variant", "suite", "task", "task_name", "preset", "off_protocol"]


def _evals_frame(run_meta: list, parts: list) -> pd.DataFrame:
    """The tidy evaluation frame from each run's rows of metrics.jsonl (``parts``) and what the rows share
    (``run_meta``: the run's columns, its references, final step and whether it finished): the shared columns
    are added per run with one array operation each rather than copied into every row (587 160 rows in the
    "ten times the paper" store)."""
    if not parts:
        return pd.DataFrame(columns=["run_id", "algo", "variant", "suite", "task", "task_name", "seed", "step",
                                     "final", "return", "normalised", "flagged"])
    sizes = np.array([len(p) for p in parts])
    which = np.repeat(np.arange(len(parts)), sizes)
    rows = pd.DataFrame([r for part in parts for r in part])
    meta = pd.DataFrame(run_meta)
    base = pd.DataFrame({c: meta[c].to_numpy()[which] for c in _BASE_COLS})
    ev = pd.concat([base, rows.drop(columns=[c for c in _BASE_COLS + ["kind"] if c in rows])], axis=1)
    lo, hi = meta["ref_lo"].to_numpy(np.float64)[which], meta["ref_hi"].to_numpy(np.float64)[which]
    if "return" in ev:  # fixed references of the run's task (spec.json): 100 (R - random) / (expert - random)
        ret = ev["return"].to_numpy(np.float64, na_value=np.nan)
        fresh = ~np.isnan(lo) & ~np.isnan(ret)
        if fresh.any():
            old = ev["normalised"].to_numpy(np.float64, na_value=np.nan) if "normalised" in ev else np.nan
            ev["normalised"] = np.where(fresh, 100.0 * (ret - lo) / (hi - lo), old)
    last = meta["final_step"].to_numpy()[which]
    ev["final"] = meta["finished"].to_numpy(bool)[which] & (ev["step"].to_numpy() == last)
    ev["flagged"] = meta["flagged"].to_numpy(bool)[which]
    ev["cost_overrides"] = meta["cost_overrides"].to_numpy()[which]
    return ev


_RUN_COLS = ["run_id", "algo", "variant", "preset", "off_protocol", "dataset", "sweep", "sweep_base",
             "suite", "task", "task_name", "status", "seeds", "steps", "online_steps", "batch_size", "eval_every",
             "eval_episodes",
             "flagged", "cost_overrides", "nfe", "train_time", "wall_time", "steps_per_sec", "error",
             "harness_version", "refs", "finished_at", "provenance", "commit", "device", "jax", "dataset_sha256",
             "revision", "code_revision"]
_FINAL_COLS = ["run_id", "algo", "variant", "preset", "off_protocol", "dataset", "sweep", "sweep_base", "suite", "task",
               "task_name", "seed", "return",
               "normalised", "win_rate", "flagged", "cost_overrides", "nfe", "train_time", "steps", "score_rule",
               "provenance", "revision", "code_revision", "setting", "finished_at"]


def provenance_columns(prov: dict | None) -> dict:
    """The provenance of a run as report columns: a one-line summary, and commit, device, jax, dataset digest
    and code revision on their own (so reports can group by them). Empty for runs recorded before provenance.
    ``revision``: the whole code of the run (plugin, shared, task); ``code_revision``: the algorithm's own code
    (plugin and shared code), comparable across tasks."""
    from benchmarks.training.provenance import summary

    prov = prov or {}
    h = prov.get("harness") or {}
    commit = h.get("commit")
    short = (commit[:10] + ("+dirty" if h.get("dirty") else "")) if commit else None
    rev = prov.get("revision") or {}
    return {"provenance": summary(prov), "commit": short,
            "device": (prov.get("machine") or {}).get("device"), "jax": (prov.get("packages") or {}).get("jax"),
            "dataset_sha256": ((prov.get("dataset") or {}).get("sha256") or "")[:16] or None,
            "revision": rev.get("id"), "code_revision": rev.get("algorithm") or rev.get("id")}


# the inputs of a run besides its algorithm, config and seeds: runs of one (variant, task) that differ in one of
# them are different experiments, never pooled in one cell
SETTING_KEYS = ("steps", "eval_every", "eval_episodes", "batch_size", "data_seed", "dataset", "online_steps",
                "online_envs", "online_buffer", "online_warmup", "online_noise", "mix_offline")


def _setting(spec: dict, prov: dict) -> str:
    """What must agree for runs of one cell to be pooled: the setting, the code revision and the data digest."""
    key = [spec.get(k) for k in SETTING_KEYS] + [prov.get("revision"), prov.get("dataset_sha256")]
    return json.dumps(key, default=str)


def _scored(final: dict, metrics: list, rule: str, seeds: list, refs) -> list:
    """[(seed, return, normalised, win_rate)] of a finished run under ``rule``."""
    from analysis.score import pick

    rets = final.get("returns") or []
    if rule == "final":
        norms = [normalise(x, refs) for x in rets] if refs else final.get("normalised") or [np.nan] * len(rets)
        wins = final.get("win_rate") or [np.nan] * len(rets)
        return list(zip(seeds, rets, norms, wins))
    out = []
    for s in seeds:
        rows = [m for m in metrics if m.get("kind", "eval") == "eval" and m.get("seed") == s and "return" in m]
        if not rows:
            continue
        for m in rows:
            m.setdefault("normalised", normalise(m["return"], refs) if refs else np.nan)
        p = pick(rule, rows)
        out.append((s, p["return"], p["normalised"], np.nan if p["win_rate"] is None else p["win_rate"]))
    return out


def _load_run(run: Run, problems: list, rule: str = "final"):
    try:
        spec = run.spec()
    except (OSError, json.JSONDecodeError) as exc:
        problems.append(f"run {run.id}: spec.json unreadable ({exc}); delete {run.dir} or re-run its command")
        return None
    algo, task = spec.get("algo", "?"), spec.get("task", "?")
    algo = _canonical(algo)  # runs stored before a plugin was renamed (diffusion_bc -> diffusionbc)
    suite = spec.get("suite") or task.split("/", 1)[0]
    task_name = spec.get("task_name") or task.split("/", 1)[-1]
    co = spec.get("cost_overrides") or {}
    refs = spec.get("refs")
    overrides, preset = spec.get("overrides") or {}, set(spec.get("preset") or ())
    own = {k: v for k, v in overrides.items() if k not in preset}
    if spec.get("online_steps"):  # a fine-tuned run is its own variant, e.g. macflow[online=500000]
        own["online"] = spec["online_steps"]
    variant = variant_name(algo, own, f"{suite} preset" if preset else "")
    swept = list(spec.get("sweep") or ())  # a `bench run --sweep` configuration: the keys the sweep varied
    data_tag, data_text = dataset_label(spec)
    if data_tag:  # trained on a dataset given with --dataset: its own row, named after the data
        task, task_name = f"{task}@{data_tag}", f"{task_name}@{data_tag}"
    base = {"run_id": run.id, "algo": algo, "variant": variant, "suite": suite, "task": task,
            "task_name": task_name, "preset": _settings_text({k: overrides[k] for k in preset & set(overrides)}),
            "off_protocol": off_protocol(PAPER_PROTOCOL, spec), "dataset": data_text, "sweep": ",".join(swept),
            "sweep_base": variant_name(algo, {k: v for k, v in own.items() if k not in swept},
                                       f"{suite} preset" if preset else "") if swept else ""}
    flagged = bool(co)
    final, error = None, None
    try:
        final = run.final()
    except (OSError, json.JSONDecodeError) as exc:
        problems.append(f"run {run.id} ({algo} on {task}): final.json unreadable ({exc})")
    if run.error_path.exists():
        error = _first_line(run.error_path.read_text(errors="replace"))
    status = "finished" if final else ("failed" if error else "incomplete")
    cmd = f"bench run --task {task} --algos {algo} --steps {spec.get('steps')}"
    if status == "failed":
        problems.append(f"run {run.id} ({algo} on {task}) failed: {error} - fix it and re-run `{cmd}`")
    elif status == "incomplete":
        problems.append(f"run {run.id} ({algo} on {task}) has no final.json (still running or killed); "
                        f"`{cmd}` resumes it")
    nfe = (spec.get("cost") or {}).get("nfe")
    metrics = run.metrics()
    evals = [m for m in metrics if m.get("kind", "eval") == "eval"]
    meta = {**base, "ref_lo": refs[0] if refs else np.nan, "ref_hi": refs[1] if refs else np.nan,
            "finished": bool(final), "final_step": (spec.get("steps") or 0) + (spec.get("online_steps") or 0),
            "flagged": flagged, "cost_overrides": _flag_text(co)}
    finals = []
    prov = provenance_columns(spec.get("provenance"))
    finished_at = None
    if final:
        try:
            finished_at = os.stat(run.final_path).st_mtime
        except OSError:
            finished_at = 0.0
        rets = final.get("returns") or []
        seeds = final.get("seeds") or spec.get("seeds") or list(range(len(rets)))
        setting = _setting(spec, prov)
        for s, ret, nrm, w in _scored(final, metrics, rule, list(seeds), refs):
            finals.append({**base, "seed": s, "return": float(ret), "normalised": float(nrm), "win_rate": w,
                           "flagged": flagged, "cost_overrides": _flag_text(co), "nfe": nfe,
                           "train_time": final.get("train_time"), "steps": final.get("steps"), "score_rule": rule,
                           "provenance": prov["provenance"], "revision": prov["revision"],
                           "code_revision": prov["code_revision"], "setting": setting, "finished_at": finished_at})
    run_row = {**base, "status": status, "seeds": spec.get("seeds"), "steps": spec.get("steps"),
               "online_steps": spec.get("online_steps") or 0, "batch_size": spec.get("batch_size"),
               "eval_every": spec.get("eval_every"), "eval_episodes": spec.get("eval_episodes"), "flagged": flagged,
               "cost_overrides": _flag_text(co), "nfe": nfe,
               "train_time": (final or {}).get("train_time"), "wall_time": (final or {}).get("wall_time"),
               "steps_per_sec": (final or {}).get("steps_per_sec"), "error": error,
               "harness_version": spec.get("harness_version"), "refs": refs, "finished_at": finished_at, **prov}
    return {"run": run_row, "evals": evals, "finals": finals, "meta": meta}


def _canonical(algo: str) -> str:
    from algorithms import ALIASES

    return ALIASES.get(algo, algo)


def _load_latency(root: Path) -> pd.DataFrame:
    recs = latency_records(root) if root.exists() else []
    cols = ["name", "label", "n_agents", "median_ms", "iqr_ms", "per_agent_ms", "nfe", "nfe_counted", "device",
            "cost_overrides", "date", "cpu"]
    rows = []
    for r in recs:
        row = {k: r.get(k) for k in cols}
        row["name"] = _canonical(row["name"] or "")
        row["cost_overrides"] = _flag_text(r.get("cost_overrides"))
        row["cpu"] = (r.get("machine") or {}).get("cpu")
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def latest_finals(data: StoreData) -> pd.DataFrame:
    """The final scores a report shows: per (variant, task) cell, the runs of one setting, one code revision and
    one dataset (``_setting``), never pooled across them: the setting with the most steps, then the most recently
    finished; within it one row per seed (the newest run of that seed: ``--split-seeds`` makes one run per seed).
    What is left out is listed in ``data.problems``."""
    f = data.finals
    if f.empty:
        return f
    runs = f.drop_duplicates("run_id")
    steps = runs["steps"].fillna(0)
    order = runs.assign(_steps=steps).sort_values(["_steps", "finished_at"], kind="stable")
    chosen = order.groupby(["variant", "task"], sort=False).tail(1)[["variant", "task", "setting"]]
    kept = runs.merge(chosen, on=["variant", "task", "setting"])["run_id"]
    left = runs[~runs["run_id"].isin(set(kept))]
    for (variant, task), g in left.groupby(["variant", "task"], sort=False):
        mine = runs[(runs["variant"] == variant) & (runs["task"] == task) & runs["run_id"].isin(set(kept))]
        why = ("other code revisions" if set(g["revision"]) - set(mine["revision"]) else "other settings or data")
        msg = (f"{len(g)} run(s) of {variant} on {task} not shown ({why}; kept {', '.join(mine['run_id'])}: "
               f"{int(mine['steps'].fillna(0).max())} steps)")
        if msg not in data.problems:
            data.problems.append(msg)
    out = f[f["run_id"].isin(set(kept))].sort_values("finished_at", kind="stable")
    return out.drop_duplicates(["variant", "task", "seed"], keep="last").sort_index().reset_index(drop=True)


def shown_runs(data: StoreData, finals: pd.DataFrame) -> set:
    """The runs whose evaluations a report draws: the finished runs of ``finals`` (latest_finals), and every
    unfinished run of a (variant, task) that has no finished run (its progress so far)."""
    ids = set(finals["run_id"]) if not finals.empty else set()
    runs = data.runs
    if runs.empty:
        return ids
    cells = set(zip(finals["variant"], finals["task"])) if not finals.empty else set()
    open_ = runs[(runs["status"] != "finished")]
    return ids | {r for r, v, t in zip(open_["run_id"], open_["variant"], open_["task"]) if (v, t) not in cells}
