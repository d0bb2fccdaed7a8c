"""Published numbers (results/reference/*.csv) and their matching to the harness's tasks.

Each CSV row is one published cell: paper, table, suite, scenario, dataset, algo (the registry name
the column corresponds to), label (the paper's column name), mean, pm (the +- value), pm_kind ("2std"
for MAC-Flow, "std" for VGM2P), source. Rows with scenario "Average" are the papers' own averages.

A harness task matches a published row when its suite is the same and its task name, lower-cased
with everything but letters and digits removed, equals scenario + dataset treated the same way
(``smacv1/3m-Good``, ``smacv1/3m_good`` and ``smacv1/3mGood`` all match "3m" / "Good").
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "results" / "reference"
_COLS = ["paper", "table", "suite", "scenario", "dataset", "algo", "label", "mean", "pm", "pm_kind", "source"]


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def load_reference(directory: Path | str | None = None) -> pd.DataFrame:
    d = Path(directory) if directory else REFERENCE_DIR
    frames = [pd.read_csv(p, dtype={"table": str}) for p in sorted(d.glob("*.csv"))] if d.exists() else []
    if not frames:
        return pd.DataFrame(columns=_COLS + ["key"])
    df = pd.concat(frames, ignore_index=True)
    df["key"] = [_key(s) + _key(d) for s, d in zip(df["scenario"], df["dataset"].fillna(""))]
    return df


def task_keys(task_name: str) -> set:
    """Keys a harness task name may match: as written, and without a leading agent count."""
    k = _key(task_name)
    return {k, re.sub(r"^\d+", "", k)}


def match(reference: pd.DataFrame, suite: str, task_name: str) -> pd.DataFrame:
    """Published rows for one harness task (empty if the papers do not report it)."""
    if reference.empty:
        return reference
    sub = reference[(reference["suite"] == suite) & (reference["scenario"] != "Average")]
    exact = sub[sub["key"] == _key(task_name)]
    if not exact.empty:
        return exact
    # without agent counts ("halfcheetah-expert" for "6-HalfCheetah" / "Expert"), only if unambiguous
    keys = task_keys(task_name)
    loose = sub[sub["key"].isin(keys) | sub["key"].map(lambda k: re.sub(r"^\d+", "", k)).isin(keys)]
    return loose if loose["key"].nunique() == 1 else loose.iloc[:0]


def published_rows(reference: pd.DataFrame, paper: str, table: str) -> pd.DataFrame:
    return reference[(reference["paper"] == paper) & (reference["table"].astype(str) == str(table))]
