"""``bench report``: everything in the store -> tables, rliable aggregates, figures, leaderboard, marl-eval JSON.

    bench report                               # reads $BENCH_RESULTS or results/runs, writes <results>/report/
    bench report --results /data/runs --out site/

Output directory (default ``<results>/report``; run directories are the only ones with spec.json, so
it never looks like a run):

  report.md                     what is in the store, what is missing, aggregate panel, tables, figures
  leaderboard.html, LEADERBOARD.md, leaderboard.json    the leaderboard page (analysis/leaderboard.py)
  tables/results_{return,normalised}.{md,tex,html}      the papers' table format
  aggregates.csv, probability_of_improvement.csv, latency.csv, runs.csv, evals.csv
  figures/*.png                 aggregate intervals, performance profiles, P(improvement),
                                score vs latency (log x), learning curves, training time
  marl_eval.json                the store in marl-eval's raw-data format

An empty or partly failed store still gives a report: the missing pieces are listed with the command
that produces them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import pandas as pd


PREFERRED_LATENCY_TASK = "games/landmarks"
# seconds per stage (load, aggregates, each figure, ...) of the reports written in this process since the last
# ``TIMINGS.clear()``: what `bench perf reportbench` prints for each stage
TIMINGS: dict = {}


@contextlib.contextmanager
def timed(stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        TIMINGS[stage] = TIMINGS.get(stage, 0.0) + time.perf_counter() - t0


@dataclasses.dataclass
class Analysis:
    data: object
    finals: pd.DataFrame
    matrix: object
    aggregates: pd.DataFrame
    poi: pd.DataFrame
    latency: pd.DataFrame  # one row per variant with a latency
    notes: list
    reps: int = 2000
    score_rule: str = "final"  # the one rule every table and aggregate of this analysis reports
    selection: object = None  # analysis.select.Selection when the report selects configurations (--select)
    estimates: tuple = ({}, {})  # (point, interval) of the aggregates: the table's numbers, drawn by the figure
    poi_scope: str = ""  # which pairs ``poi`` holds, and how to ask for others
    scope: str = ""  # which runs of the store the report covers (stated at the top of every page)


def analyse(root=None, reps: int | None = None, seed: int = 0, run_ids=None, score: str = "final",
            select: str = "", poi: str | None = None, with_poi: bool = True) -> Analysis:
    """The store (or ``run_ids`` of it) read, scored under ``score`` and aggregated. ``select``: "" (every
    configuration of a sweep is its own column) or "best-config" (analysis/select.py). ``poi``: which pairs get a
    probability of improvement (:func:`poi_pairs`); ``with_poi=False`` skips it (``bench figures``)."""
    from analysis import aggregate
    from analysis.load import latest_finals, load
    from analysis.select import best_config, parse

    reps = reps or aggregate.DEFAULT_REPS
    with timed("load"):
        data = load(root, run_ids, score)
    with timed("select runs"):
        finals = latest_finals(data)
    selection = None
    if parse(select):
        finals, selection = best_config(finals, data, data.score_rule)
    notes = []
    with timed("score matrix"):
        matrix = aggregate.score_matrix(finals)
    for v, why in matrix.excluded.items():
        notes.append(f"{v} is not in the aggregates: {why} (run it on those tasks to include it)")
    with timed("aggregates"):
        estimates = aggregate.interval_estimates(matrix.scores, reps, seed)
        aggs = aggregate.aggregates(matrix.scores, estimates=estimates) if matrix.scores else pd.DataFrame()
    empty = pd.DataFrame(columns=["x", "y", "P(X>Y)", "lo", "hi"])
    pois, scope = empty, ""
    if with_poi and len(matrix.scores) > 1:
        with timed("probability of improvement"):
            pairs, scope = poi_pairs(list(aggs["variant"]), poi)
            pois = aggregate.probability_of_improvement(matrix.scores, pairs, reps=reps, seed=seed)
    return Analysis(data, finals, matrix, aggs, pois, latency_per_variant(data, finals), notes, reps, data.score_rule,
                    selection, estimates, scope)


MAX_POI_PAIRS = 20  # every ordered pair is shown up to this many (5 variants); beyond, the best against the others


def poi_pairs(ranked: list, request: str | None = None) -> tuple[list, str]:
    """([(x, y)], the sentence saying which pairs these are and how to ask for others).

    ``ranked``: the variants by IQM, best first. ``request``: None / "auto" (every ordered pair when there are at
    most MAX_POI_PAIRS, else the best variant against each other one), "all", a variant name (it against each
    other one), or "X:Y,X:Z" (those pairs). P(Y > X) = 1 - P(X > Y), so one direction of a pair says all."""
    from algorithms.errors import BenchError

    n = len(ranked)
    every = [(x, y) for x in ranked for y in ranked if x != y]
    how = ("`bench report --poi all` gives every ordered pair, `--poi VARIANT` one variant against each other one, "
           "`--poi X:Y,X:Z` chosen pairs")
    req = (request or "auto").strip()
    if req == "all" or (req == "auto" and len(every) <= MAX_POI_PAIRS):
        return every, f"every ordered pair of the {n} variants ({len(every)})"
    if req == "auto":
        best = ranked[0]
        return ([(best, y) for y in ranked[1:]],
                f"{best} (the highest IQM) against each of the other {n - 1} variants: {n - 1} of the {len(every)} "
                f"ordered pairs (P(Y > X) = 1 - P(X > Y)); {how}")
    if ":" not in req:
        if req not in ranked:
            raise BenchError(f"--poi: '{req}' is not a variant of the aggregates; choose one of {', '.join(ranked)}, "
                             f"or all")
        return [(req, y) for y in ranked if y != req], f"{req} against each of the other {n - 1} variants; {how}"
    pairs = []
    for part in filter(None, (p.strip() for p in req.split(","))):
        x, _, y = part.partition(":")
        bad = [v for v in (x, y) if v not in ranked]
        if bad or x == y:
            raise BenchError(f"--poi: '{part}' must be X:Y with two different variants of the aggregates "
                             f"({', '.join(ranked)})")
        pairs.append((x, y))
    return pairs, f"the pairs asked for with --poi ({len(pairs)} of {len(every)}); {how}"


def latency_per_variant(data, finals: pd.DataFrame) -> pd.DataFrame:
    """The latency record shown for each variant: its algorithm's, measured at the paper-default configuration,
    preferably on games/landmarks, else the newest. A suite-preset variant (``bc[games preset]``: network sizes
    only, never a cost-defining setting) is shown with it too, as the paper's inference-time axis is at paper
    size; variants with the user's own overrides get none (not measured)."""
    lat = data.latency
    rows = []
    if lat.empty or finals.empty:
        return pd.DataFrame(columns=["variant", "median_ms", "iqr_ms", "nfe", "device", "label"])
    for v, algo in latency_eligible(finals).items():
        cand = lat[(lat["name"] == algo) & (lat["cost_overrides"] == "")]
        if cand.empty:
            continue
        pref = cand[cand["label"] == PREFERRED_LATENCY_TASK]
        r = (pref if not pref.empty else cand.sort_values("date")).iloc[-1]
        rows.append({"variant": v, "median_ms": r["median_ms"], "iqr_ms": r["iqr_ms"], "nfe": r["nfe"],
                     "device": r["device"], "label": r["label"]})
    return pd.DataFrame(rows, columns=["variant", "median_ms", "iqr_ms", "nfe", "device", "label"])


def latency_eligible(finals: pd.DataFrame) -> dict:
    """{variant: algorithm} of the variants shown with their algorithm's paper-default latency: the algorithm
    itself and its suite-preset variants (network sizes only); not variants with the user's own overrides."""
    from analysis.load import variant_name

    if finals.empty:
        return {}
    return {v: algo for v, algo, suite in dict.fromkeys(zip(finals["variant"], finals["algo"], finals["suite"]))
            if v in (algo, variant_name(algo, None, f"{suite} preset"))}


def default_out(root) -> Path:
    from benchmarks.store import report_dir

    return report_dir(root)


def write_tables(an: Analysis, out: Path) -> dict:
    from analysis import tables
    from analysis.reference import load_reference

    ref = load_reference()
    written = {}
    for value in ("return", "normalised"):
        t = tables.build(an.finals, value, reference=ref if value == "return" else None,
                         title=f"{value} (mean ± 2 std over seeds)", selection=an.selection)
        for ext, fn in tables.RENDERERS.items():
            p = out / "tables" / f"results_{value}.{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(fn(t))
            written[(value, ext)] = p
    return written


def write_figures(an: Analysis, out: Path) -> tuple[dict, list]:
    """Figures that the store can support; for the others, a sentence saying how to get them."""
    from analysis import aggregate, plots

    figs, missing = {}, []
    fdir = out / "figures"
    scores = an.matrix.scores
    if scores:
        point, interval = an.estimates if an.estimates[0] else aggregate.interval_estimates(scores, reps=an.reps)
        with timed("figure: aggregates"):
            figs["aggregates"] = plots.aggregate_intervals(point, interval, fdir / "aggregates.png")
        with timed("performance profiles"):
            taus, prof, cis = aggregate.performance_profiles(scores, reps=min(an.reps, 500))
        with timed("figure: performance profiles"):
            figs["profiles"] = plots.performance_profiles(taus, prof, cis, fdir / "performance_profiles.png")
    else:
        missing.append("aggregate and performance-profile figures: no finished runs (run `bench run`)")
    if not an.poi.empty:
        with timed("figure: probability of improvement"):
            figs["poi"] = plots.probability_of_improvement(an.poi, fdir / "probability_of_improvement.png",
                                                           an.poi_scope)
    pts = score_latency_points(an)
    if not pts.empty:
        with timed("figure: score vs latency"):
            figs["score_vs_latency"] = plots.score_vs_latency(pts, fdir / "score_vs_latency.png",
                                                              "aggregate over " + ", ".join(an.matrix.tasks))
    elif scores:
        eligible = latency_eligible(an.finals)  # variant -> algorithm, for the variants a latency can stand beside
        algos = sorted({eligible[v] for v in scores if v in eligible})
        if algos:
            missing.append("score vs latency: no latency measured for " + ", ".join(algos) +
                           f" (run `bench latency --algos {','.join(algos)} --results {an.data.root}`)")
        else:
            missing.append("score vs latency: every run overrides its config (e.g. smaller networks); latency is "
                           "measured at the paper-default configuration, so it is shown only for default runs")
    ev = an.data.evals
    if not ev.empty:  # the runs the tables show (one setting and code revision per cell), and unfinished ones
        from analysis.load import shown_runs

        ev = ev[ev["run_id"].isin(shown_runs(an.data, an.finals))]
    if not ev.empty and "normalised" in ev:
        with timed("figure: learning curves"):
            figs["learning_curves"] = plots.learning_curves(ev.dropna(subset=["normalised"]),
                                                            fdir / "learning_curves.png")
    runs = an.data.runs
    if not runs.empty and runs["train_time"].notna().any():
        with timed("figure: training time"):
            figs["training_time"] = plots.training_time(runs, fdir / "training_time.png")
    return figs, missing


def score_latency_points(an: Analysis) -> pd.DataFrame:
    if an.aggregates.empty or an.latency.empty:
        return pd.DataFrame()
    m = an.aggregates.merge(an.latency, on="variant")
    return pd.DataFrame({"variant": m["variant"], "score": m["IQM"], "lo": m["IQM lo"], "hi": m["IQM hi"],
                         "latency_ms": m["median_ms"]})


def write_report(root=None, out=None, reps: int | None = None, run_ids=None, score: str = "final",
                 select: str = "", poi: str | None = None, scope: str | None = None) -> Path:
    """Write the report for the store at ``root`` (or only ``run_ids``) into ``out`` with every table and
    aggregate under one score rule (analysis/score.py) and, with ``select``, one selection of sweep
    configurations (analysis/select.py); returns report.md's path. ``poi``: which pairs get a probability of
    improvement (:func:`poi_pairs`). ``scope``: which runs the report covers, stated at its top (default: every
    run of the store)."""
    from analysis import definitions, leaderboard, marl_eval
    from analysis.select import full_caption

    TIMINGS.clear()
    an = analyse(root, reps, run_ids=run_ids, score=score, select=select, poi=poi)
    an.scope = scope or f"every run in the store ({len(an.data.runs)})"
    cap = full_caption(an.score_rule, an.selection)  # every caption: the score rule, and any selection with its budget
    out = Path(out) if out else default_out(root)
    out.mkdir(parents=True, exist_ok=True)
    data = an.data
    with timed("tables"):
        tables_written = write_tables(an, out) if not an.finals.empty else {}
    figs, missing = write_figures(an, out)
    with timed("csv files"):
        if not an.aggregates.empty:
            an.aggregates.to_csv(out / "aggregates.csv", index=False)
        if not an.poi.empty:
            an.poi.to_csv(out / "probability_of_improvement.csv", index=False)
        for name, df in (("runs", data.runs), ("evals", data.evals), ("latency", data.latency)):
            df.to_csv(out / f"{name}.csv", index=False)
    with timed("marl-eval export"):
        _, me_problems = marl_eval.write(data, out / "marl_eval.json", set(an.finals["run_id"]))
    with timed("leaderboard"):
        lb = leaderboard.write(an, out, figs, missing)
    lines = ["# Benchmark report", "", f"**Scope: {an.scope}.**", "", f"store: `{data.root.resolve()}`", "",
             f"{cap}", ""]
    n = data.runs["status"].value_counts().to_dict() if not data.runs.empty else {}
    lines.append(f"runs: {len(data.runs)} ({', '.join(f'{v} {k}' for k, v in n.items()) or 'none'})")
    lines.append("")
    if not an.finals.empty:
        lines += definitions.markdown(an)
    if an.finals.empty:
        lines += ["**No finished runs in this store.** Run `bench run` (the embedded default) or "
                  "`bench run --suite games --algos macflow,flowbc,bc` to produce results.", ""]
    if data.problems or an.notes or missing or me_problems:
        lines += ["## What is missing", ""] + [f"- {p}" for p in data.problems + an.notes + missing + me_problems] + [""]
    if not an.aggregates.empty:
        lines += ["## Aggregates (normalised score / 100, 0-1 scale; rliable, stratified bootstrap 95% CIs; runs = "
                  "seeds, tasks = " + ", ".join(an.matrix.tasks) + f"; rank by IQM; {cap})", "",
                  leaderboard.aggregate_markdown(an), ""]
    if not an.poi.empty:
        lines += ["## Probability of improvement", "",
                  f"P(X > Y) with 95% stratified-bootstrap CIs, shown for {an.poi_scope} "
                  "(`probability_of_improvement.csv`, figure `figures/probability_of_improvement.png`).", ""]
    if (("return", "md")) in tables_written:
        lines += [f"## Return ({cap})", "", tables_written[("return", "md")].read_text(), "",
                  f"## Normalised score (0-100; {cap})", "",
                  tables_written[("normalised", "md")].read_text(), ""]
    if an.selection is not None and not an.selection.empty:
        from analysis.select import footnote

        an.selection.choices.to_csv(out / "selection.csv", index=False)
        lines += ["## Selection", "", an.selection.caption, "", footnote(an.selection.choices), ""]
    lines += provenance_groups(data.runs)
    if figs:
        lines += ["## Figures", ""] + [f"![{k}]({Path(p).relative_to(out)})" for k, p in figs.items()] + [""]
    lines += ["## Files", "", f"- leaderboard: `{lb['html'].name}`, `{lb['md'].name}`, `{lb['json'].name}`",
              "- tables (md/tex/html): `tables/`", "- marl-eval export: `marl_eval.json`", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def provenance_groups(runs: pd.DataFrame) -> list:
    """Markdown lines: the runs grouped by how they were made (commit, jax, device), so a reader sees at once
    whether the numbers of one report come from one code base and machine."""
    cols = ["commit", "jax", "device"]
    if runs.empty or not set(cols) <= set(runs.columns):
        return []
    g = runs.assign(**{c: runs[c].fillna("not recorded") for c in cols}).groupby(cols, sort=True)["run_id"]
    lines = ["## Provenance", "", "| commit | jax | device | runs |", "|---|---|---|---|"]
    lines += [f"| {c} | {j} | {d} | {len(ids)} |" for (c, j, d), ids in g]
    return lines + [""]


def report_after_run(root, run_ids, console=None) -> Path | None:
    """The end of ``bench run``: the report of the runs that command covered, in ``<results>/report/last-run/``
    (the store's whole report, ``bench report``'s in ``<results>/report/``, is left as it is), and where it is.

    A report that cannot be written never turns a finished training command into a failure: the reason
    is printed with the `bench report` command that retries it."""
    from benchmarks.store import last_run_report_dir, results_root, runs

    say = console.print if console is not None else print
    ids = [r for r in run_ids if r]
    total = len(runs(root))
    scope = (f"the {len(set(ids))} run(s) of the last `bench run` (of {total} in the store); the report of the "
             f"whole store: `bench report --results {results_root(root)}` (writes {default_out(root)})")
    try:
        path = write_report(root, last_run_report_dir(root), run_ids=ids or None, scope=scope)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the runs themselves are safe on disk
        say(f"report not written ({type(exc).__name__}: {exc}); retry with `bench report --results {root}`")
        return None
    say(f"report of this command's runs: {path.resolve()}  (leaderboard: {(path.parent / 'leaderboard.html').resolve()}"
        f"); all {total} runs of the store: `bench report --results {results_root(root)}`")
    return path
