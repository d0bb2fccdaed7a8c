"""rliable aggregates over the store: runs axis = seeds, tasks axis = datasets (tasks).

Scores are the fixed-reference normalised scores divided by 100 (so 1.0 = the task's expert reference
and the optimality gap uses rliable's gamma = 1). An algorithm enters an aggregate only with a score for
every task of the comparison; otherwise it is listed in ``excluded`` with the tasks it lacks, never
silently averaged over fewer tasks. Per task, the first k seeds (k = the smallest seed count of that
algorithm over the tasks) form the runs axis.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

METRICS = ("Median", "IQM", "Mean", "Optimality Gap")
DEFAULT_REPS = 2000


@dataclasses.dataclass
class ScoreMatrix:
    scores: dict  # variant -> (runs x tasks) array
    tasks: list
    excluded: dict  # variant -> reason


def score_matrix(finals: pd.DataFrame, variants=None, tasks=None, column: str = "normalised") -> ScoreMatrix:
    if finals.empty:
        return ScoreMatrix({}, [], {})
    variants = list(variants) if variants is not None else list(dict.fromkeys(finals["variant"]))
    all_tasks = list(tasks) if tasks is not None else sorted(set(finals["task"]))
    by_variant = {v: set(g) for v, g in finals.groupby("variant", sort=False)["task"]}
    have = {v: by_variant.get(v, set()) for v in variants}
    complete = [v for v in variants if set(all_tasks) <= have[v]]
    excluded = {}
    use_tasks = all_tasks
    if not complete and variants and tasks is None:
        common = set.intersection(*(have[v] for v in variants)) if variants else set()
        if common:
            use_tasks = sorted(common)
            complete = variants
    for v in variants:
        if v not in complete:
            excluded[v] = "no score on " + ", ".join(sorted(set(use_tasks) - have[v]))
    scores = {}
    cells = {key: g.sort_values("seed")[column].to_numpy(np.float64) / 100.0
             for key, g in finals[finals["variant"].isin(complete)].groupby(["variant", "task"], sort=False)}
    for v in complete:
        cols = [cells[(v, t)] for t in use_tasks]
        k = min(len(c) for c in cols)
        if k == 0:
            excluded[v] = "no finished seeds"
            continue
        scores[v] = np.stack([c[:k] for c in cols], axis=1)
    return ScoreMatrix(scores, list(use_tasks), excluded)


def aggregate_func(x: np.ndarray) -> np.ndarray:
    """rliable's four aggregates of one (runs x tasks) matrix (the reference the bootstrap below reproduces)."""
    from rliable import metrics

    return np.array([metrics.aggregate_median(x), metrics.aggregate_iqm(x), metrics.aggregate_mean(x),
                     metrics.aggregate_optimality_gap(x)])


# ---- the stratified bootstrap, vectorised over its resamples ------------------------------------------------
# rliable resamples each task's runs with replacement, one resample at a time, and calls the statistic (scipy's
# trim_mean, or a Mann-Whitney test per task and pair) on each. A resample of a task's n runs is the same thing as
# multinomial counts of how often each run is drawn, so every statistic here is computed from the original scores
# and a (resamples x tasks x runs) count array in a few array operations: the same distribution as rliable's,
# drawn from another random stream (intervals agree within Monte-Carlo error; points are identical).
CI = 0.95


def resample_counts(rng: np.random.Generator, runs: int, tasks: int, reps: int) -> np.ndarray:
    """(reps, tasks, runs): how often each run of each task is drawn in each stratified resample."""
    return rng.multinomial(runs, np.full(runs, 1.0 / runs), size=(reps, tasks)).astype(np.float64)


def _percentiles(stats: np.ndarray) -> np.ndarray:
    """(2, ...) lower and upper bounds of the percentile interval (arch's 'percentile' method, as rliable)."""
    a = 100 * (1 - CI) / 2
    return np.percentile(stats, [a, 100 - a], axis=0)


def _aggregates_from_counts(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(reps, 4): median, IQM, mean and optimality gap of each resample of ``x`` (runs x tasks) given as
    counts ``w`` (reps, tasks, runs), exactly as rliable's aggregate_* functions compute them on the resample."""
    n, t = x.shape
    vals = x.T  # (tasks, runs): the order of w's last two axes
    task_means = np.einsum("btr,tr->bt", w, vals) / n
    mean = task_means.mean(axis=1)
    median = np.median(task_means, axis=1)
    gap = 1.0 - np.einsum("btr,tr->b", w, np.minimum(vals, 1.0)) / (n * t)
    # IQM: scipy's trim_mean(axis=None) drops int(0.25 N) values at each end of the N = runs x tasks sorted values
    # and averages the rest; with counts, each sorted value contributes the part of its copies inside the kept range
    flat = vals.ravel()
    order = np.argsort(flat, kind="stable")
    sv, ws = flat[order], w.reshape(len(w), -1)[:, order]
    total = n * t
    lo = int(0.25 * total)
    hi = total - lo
    upto = np.cumsum(ws, axis=1)
    kept = np.clip(np.minimum(upto, hi) - np.maximum(upto - ws, lo), 0.0, None)
    iqm = kept @ sv / (hi - lo)
    return np.stack([median, iqm, mean, gap], axis=1)


def interval_estimates(scores: dict, reps: int = DEFAULT_REPS, seed: int = 0):
    """(point, interval) dicts as ``rly.get_interval_estimates`` returns them for the four aggregates: point
    (4,), interval (2, 4) of the stratified-bootstrap 95 % percentile CI."""
    if not scores:
        return {}, {}
    rng = np.random.default_rng(seed)
    point, interval = {}, {}
    for v, x in scores.items():
        x = np.asarray(x, np.float64)
        point[v] = _aggregates_from_counts(x, np.ones((1, x.shape[1], x.shape[0])))[0]
        interval[v] = _percentiles(_aggregates_from_counts(x, resample_counts(rng, *x.shape, reps)))
    return point, interval


def aggregates(scores: dict, reps: int = DEFAULT_REPS, seed: int = 0, estimates=None) -> pd.DataFrame:
    """One row per variant: each metric with its 95 % CI, runs and tasks counts; sorted by IQM.
    ``estimates``: (point, interval) already computed by :func:`interval_estimates` (else computed here)."""
    point, interval = estimates or interval_estimates(scores, reps, seed)
    rows = []
    for v in scores:
        p = point[v]
        row = {"variant": v, "runs": scores[v].shape[0], "tasks": scores[v].shape[1]}
        for i, m in enumerate(METRICS):
            row[m] = float(p[i])
            row[f"{m} lo"] = float(interval[v][0, i])
            row[f"{m} hi"] = float(interval[v][1, i])
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("IQM", ascending=False).reset_index(drop=True) if not df.empty else df


def _improvement(x: np.ndarray, ys: list, wx: np.ndarray, wys: list) -> list:
    """P(X > Y) for each Y of ``ys`` in every resample: (reps,) arrays.

    Per task, the Mann-Whitney statistic U / (n m) = mean over run pairs of [x_i > y_j] + 0.5 [x_i = y_j]
    (rliable's per-task probability, scipy's U with alternative='greater'); over a resample given by counts it is
    cx^T C cy / (n m) with C that comparison matrix on the original scores. All Y are stacked along C's columns,
    so one batched product per task serves every pair with X."""
    n, t = x.shape
    cols = np.concatenate(ys, axis=0)  # (sum m, tasks)
    comp = (x.T[:, :, None] > cols.T[:, None, :]) + 0.5 * (x.T[:, :, None] == cols.T[:, None, :])  # (t, n, M)
    left = np.matmul(wx.transpose(1, 0, 2), comp)  # (t, reps, M): per task, cx^T C
    left *= np.concatenate(wys, axis=2).transpose(1, 0, 2)  # times cy
    per_run = left.sum(axis=0)  # (reps, M), summed over tasks
    sizes = [y.shape[0] for y in ys]
    starts = np.cumsum([0] + sizes[:-1])
    sums = np.add.reduceat(per_run, starts, axis=1)  # (reps, len(ys)): each Y's block of columns
    return [sums[:, k] / (n * m * t) for k, m in enumerate(sizes)]


def probability_of_improvement(scores: dict, pairs=None, reps: int = DEFAULT_REPS, seed: int = 0) -> pd.DataFrame:
    """P(X > Y) with 95 % stratified-bootstrap CIs for each pair (default: every ordered pair of variants): the
    average over tasks of the Mann-Whitney statistic, as rliable's ``probability_of_improvement``; X's and Y's
    runs are resampled independently per task, as rliable's StratifiedIndependentBootstrap does."""
    names = list(scores)
    pairs = list(pairs) if pairs is not None else [(x, y) for x in names for y in names if x != y]
    cols = ["x", "y", "P(X>Y)", "lo", "hi"]
    if not pairs:
        return pd.DataFrame(columns=cols)
    rng = np.random.default_rng(seed)
    arrays = {v: np.asarray(scores[v], np.float64) for v in dict.fromkeys(v for p in pairs for v in p)}
    counts = {v: resample_counts(rng, *a.shape, reps) for v, a in arrays.items()}
    ones = {v: np.ones((1, a.shape[1], a.shape[0])) for v, a in arrays.items()}
    found = {}
    for x in dict.fromkeys(p[0] for p in pairs):
        ys = [y for a, y in pairs if a == x]
        points = _improvement(arrays[x], [arrays[y] for y in ys], ones[x], [ones[y] for y in ys])
        boots = _improvement(arrays[x], [arrays[y] for y in ys], counts[x], [counts[y] for y in ys])
        for y, p, b in zip(ys, points, boots):
            lo, hi = _percentiles(b)
            found[(x, y)] = {"x": x, "y": y, "P(X>Y)": float(p[0]), "lo": float(lo), "hi": float(hi)}
    return pd.DataFrame([found[p] for p in pairs], columns=cols)


def performance_profiles(scores: dict, taus=None, reps: int = DEFAULT_REPS, seed: int = 0):
    """(taus, profiles, cis) as ``rly.create_performance_profile`` returns them (score distributions: the fraction
    of all runs x tasks scores above each tau, with 95 % stratified-bootstrap CIs)."""
    if taus is None:
        hi = max([1.2] + [float(np.max(s)) * 1.05 for s in scores.values()])
        lo = min([0.0] + [float(np.min(s)) for s in scores.values()])
        taus = np.linspace(lo, hi, 61)
    taus = np.asarray(taus, np.float64)
    rng = np.random.default_rng(seed)
    profiles, cis = {}, {}
    for v, x in scores.items():
        vals = np.asarray(x, np.float64).T.ravel()  # (tasks x runs), the order of the counts' last two axes
        above = (vals[:, None] > taus[None, :]).astype(np.float64)
        profiles[v] = above.mean(axis=0)
        w = resample_counts(rng, x.shape[0], x.shape[1], reps).reshape(reps, -1)
        cis[v] = _percentiles(w @ above / len(vals))
    return taus, profiles, cis
