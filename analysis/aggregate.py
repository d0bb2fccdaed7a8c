"""rliable aggregates over the store: runs axis = seeds, tasks axis = datasets (tasks).

Scores are the fixed-reference normalised scores divided by 100 (so 1.0 = the task's expert reference
and the optimality gap uses rliable's gamma = 1). An algorithm enters an aggregate only with a score for
every task of the comparison; otherwise it is listed in ``excluded`` with the tasks it lacks, never
silently averaged over fewer tasks. Per task, the first k seeds (k = the smallest seed count of that
algorithm over the tasks) form the runs axis.
"""
from __future__ import annotations

import dataclasses
import warnings

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
    have = {v: set(finals.loc[finals.variant == v, "task"]) for v in variants}
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
    for v in complete:
        cols = []
        for t in use_tasks:
            sub = finals[(finals.variant == v) & (finals.task == t)].sort_values("seed")
            cols.append(sub[column].to_numpy(np.float64) / 100.0)
        k = min(len(c) for c in cols)
        if k == 0:
            excluded[v] = "no finished seeds"
            continue
        scores[v] = np.stack([c[:k] for c in cols], axis=1)
    return ScoreMatrix(scores, list(use_tasks), excluded)


def aggregate_func(x: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_median(x), metrics.aggregate_iqm(x), metrics.aggregate_mean(x),
                     metrics.aggregate_optimality_gap(x)])


def interval_estimates(scores: dict, reps: int = DEFAULT_REPS, seed: int = 0):
    """(point, interval) dicts from ``rly.get_interval_estimates`` (stratified bootstrap, 95 %)."""
    from rliable import library as rly

    if not scores:
        return {}, {}
    # rliable 1.2's StratifiedBootstrap draws its indices from numpy's global generator (its random_state
    # argument only reaches arch, which does not use it for these draws): seed both for reproducible CIs.
    np.random.seed(seed)
    with warnings.catch_warnings():  # arch deprecates random_state; rliable 1.2 still passes it
        warnings.simplefilter("ignore", FutureWarning)
        return rly.get_interval_estimates(scores, aggregate_func, reps=reps, random_state=np.random.RandomState(seed))


def aggregates(scores: dict, reps: int = DEFAULT_REPS, seed: int = 0) -> pd.DataFrame:
    """One row per variant: each metric with its 95 % CI, runs and tasks counts; sorted by IQM."""
    point, interval = interval_estimates(scores, reps, seed)
    rows = []
    for v, p in point.items():
        row = {"variant": v, "runs": scores[v].shape[0], "tasks": scores[v].shape[1]}
        for i, m in enumerate(METRICS):
            row[m] = float(p[i])
            row[f"{m} lo"] = float(interval[v][0, i])
            row[f"{m} hi"] = float(interval[v][1, i])
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.sort_values("IQM", ascending=False).reset_index(drop=True) if not df.empty else df


def probability_of_improvement(scores: dict, pairs=None, reps: int = DEFAULT_REPS, seed: int = 0) -> pd.DataFrame:
    """P(X > Y) with 95 % CIs for each pair (default: every ordered pair of variants)."""
    from rliable import library as rly
    from rliable import metrics

    names = list(scores)
    pairs = pairs or [(x, y) for x in names for y in names if x != y]
    if not pairs:
        return pd.DataFrame(columns=["x", "y", "P(X>Y)", "lo", "hi"])
    pd_scores = {f"{x},{y}": (scores[x], scores[y]) for x, y in pairs}
    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        point, interval = rly.get_interval_estimates(pd_scores, metrics.probability_of_improvement, reps=reps,
                                                     random_state=np.random.RandomState(seed))
    rows = [{"x": k.split(",")[0], "y": k.split(",")[1], "P(X>Y)": float(np.ravel(point[k])[0]),
             "lo": float(np.ravel(interval[k][0])[0]), "hi": float(np.ravel(interval[k][1])[0])} for k in pd_scores]
    return pd.DataFrame(rows)


def performance_profiles(scores: dict, taus=None, reps: int = DEFAULT_REPS, seed: int = 0):
    """(taus, profiles, cis) from ``rly.create_performance_profile`` (score distributions)."""
    from rliable import library as rly

    if taus is None:
        hi = max([1.2] + [float(np.max(s)) * 1.05 for s in scores.values()])
        lo = min([0.0] + [float(np.min(s)) for s in scores.values()])
        taus = np.linspace(lo, hi, 61)
    np.random.seed(seed)  # create_performance_profile takes no random_state
    profiles, cis = rly.create_performance_profile(scores, taus, reps=reps)
    return taus, profiles, cis
