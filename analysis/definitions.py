"""What every number of a report means, stated in the report itself: report.md, LEADERBOARD.md and the
leaderboard page open with these definitions, and leaderboard.json carries the budget and reference tables.

* ``budget_rows``: the training budget of the runs shown (gradient steps, seeds, batch, evaluation cadence and
  episodes), one row per algorithm, suite and budget, from each run's spec.json;
* ``reference_rows``: each task's normalisation references (random and expert return, fixed by its suite);
* ``notes``: one sentence per kind of number: returns and table cells, normalised scores (0-100) against the
  aggregates (0-1), the intervals (and when they are degenerate), the rank, the latency column, the curves.

docs/reports.md explains the same for a reader without a report at hand.
"""
from __future__ import annotations

import pandas as pd

LATENCY_STAT = "median ± IQR/2"  # the latency column of the aggregate panel


def _shown_runs(an) -> pd.DataFrame:
    runs = an.data.runs
    if an.finals.empty or runs.empty:
        return runs.iloc[0:0]
    return runs[runs["run_id"].isin(set(an.finals["run_id"]))]


def _count(seeds) -> int:
    return len(seeds) if isinstance(seeds, (list, tuple)) else 0


def budget_rows(an) -> list[dict]:
    """One row per (algorithm, suite, budget): the tasks it covers and the budget's numbers."""
    runs = _shown_runs(an)
    if runs.empty:
        return []
    keys = ("steps", "online_steps", "batch_size", "eval_every", "eval_episodes")
    groups: dict = {}
    for _, r in runs.sort_values(["variant", "suite", "task_name"]).iterrows():
        budget = tuple(None if pd.isna(r.get(k)) else int(r[k]) for k in keys)
        key = (r["variant"], r["suite"], budget)
        g = groups.setdefault(key, {"tasks": [], "seeds": set()})
        g["tasks"].append(r["task_name"])
        g["seeds"].add(_count(r["seeds"]))
    rows = []
    for (variant, suite, budget), g in groups.items():
        b = dict(zip(keys, budget))
        rows.append({"algorithm": variant, "suite": suite, "tasks": ", ".join(dict.fromkeys(g["tasks"])),
                     "gradient steps": b["steps"], "online steps": b["online_steps"] or 0,
                     "seeds": "/".join(map(str, sorted(g["seeds"]))), "batch": b["batch_size"],
                     "evaluate every": b["eval_every"], "episodes per evaluation and seed": b["eval_episodes"]})
    return rows


def reference_rows(an) -> list[dict]:
    """One row per task shown: its random and expert returns (normalised 0 and 100)."""
    runs = _shown_runs(an)
    rows = {}
    for _, r in runs.sort_values("task").iterrows():
        refs = r.get("refs")
        if isinstance(refs, (list, tuple)) and len(refs) == 2:
            rows.setdefault(r["task"], {"task": r["task"], "random (0)": float(refs[0]), "expert (100)": float(refs[1])})
    return list(rows.values())


def one_seed_variants(an) -> list[str]:
    if an.aggregates.empty:
        return []
    return sorted(an.aggregates.loc[an.aggregates["runs"] <= 1, "variant"])


def notes(an) -> list[str]:
    """The definitions, one sentence each (Markdown-free text)."""
    from analysis.plots import CI_NAME, CURVE_BAND
    from analysis.score import caption

    rule = caption(an.score_rule)
    out = [
        f"Return: a seed's mean episode return over its evaluation episodes, at the evaluation its score rule picks "
        f"({rule}). "
        "Table cells: mean ± 2 std over seeds (the std of the seeds' values, numpy's ddof=0); best measured mean "
        "bold, second underlined; suite averages are the mean of the per-task means.",
        "Normalised score: 100 × (return − random) / (expert − random), with each task's fixed references (table "
        "'Normalisation references'; set by its suite, never from the runs compared): 0 = random, 100 = expert. "
        "Tables show it on this 0-100 scale.",
        "Aggregates (IQM, median, mean, optimality gap): rliable over the normalised scores divided by 100, a 0-1 "
        "scale (1 = expert); runs = seeds, tasks = datasets; an algorithm enters only with a score on every task. "
        "The optimality gap is the mean shortfall below 1 (rliable's gamma = 1): lower is better. Intervals: "
        f"{CI_NAME}s over {an.reps} resamples.",
        "Rank: the order of the aggregate panel, by IQM, highest first.",
    ]
    one = one_seed_variants(an)
    if one:
        who, its = (f"{', '.join(one)} have", "their") if len(one) > 1 else (f"{one[0]} has", "its")
        out.append(f"One seed: {who} one seed per task, so {its} intervals have zero width and {its} table cells "
                   "± 0: degenerate, not a measure of uncertainty; run more seeds (--seeds 0,1,2) for an interval.")
    else:
        out.append("One seed: an algorithm with one seed per task would have zero-width intervals and ± 0 cells "
                   "(degenerate); every algorithm in the aggregates here has more.")
    out.append(f"Latency (aggregate panel, ms per joint decision): {LATENCY_STAT}, i.e. the median over repeated "
               "calls of one compiled act (after compilation and warm-up, `bench latency`'s protocol) ± half the "
               "inter-quartile range, at the paper-default configuration (suite-preset variants, which resize "
               "networks only, are shown with it); nfe = network evaluations per decision.")
    out.append(f"Learning curves: {CURVE_BAND} (pandas' sample std, ddof=1) at each evaluation; a run with a single "
               "evaluation is a point with bars. Marks: * cost-defining settings overridden; † not at the paper's "
               "protocol.")
    return out


def _md_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    head = list(rows[0])
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join("–" if r[h] is None else str(r[h]) for h in head) + " |" for r in rows])


def markdown(an, level: int = 2) -> list[str]:
    """The definitions as Markdown lines: notes, the training budget and the normalisation references."""
    h = "#" * level
    lines = [f"{h} How to read these numbers", ""] + [f"- {n}" for n in notes(an)] + [""]
    budget, refs = budget_rows(an), reference_rows(an)
    if budget:
        lines += [f"{h} Training budget", "", *_md_table(budget), ""]
    if refs:
        lines += [f"{h} Normalisation references", "", *_md_table(refs), ""]
    return lines


def html(an) -> list[str]:
    """The same as HTML fragments for the leaderboard page."""
    import html as h

    e = h.escape
    out = ["<h2>How to read these numbers</h2><ul class=\"defs\">" + "".join(f"<li>{e(n)}</li>" for n in notes(an))
           + "</ul>"]
    for title, rows in (("Training budget", budget_rows(an)), ("Normalisation references", reference_rows(an))):
        if not rows:
            continue
        out.append(f"<h2>{e(title)}</h2><table><thead><tr>" + "".join(f"<th>{e(k)}</th>" for k in rows[0])
                   + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{e('–' if v is None else str(v))}</td>" for v in r.values()) + "</tr>"
                for r in rows]
        out.append("</tbody></table>")
    return out
