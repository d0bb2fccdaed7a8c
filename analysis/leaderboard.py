"""The leaderboard: a static HTML page, its Markdown twin and a JSON file, generated from the store.

Anatomy: header (harness version, git commit, date, store, timing machine, protocol); aggregate panel
(IQM, median, mean and optimality gap of the fixed-reference normalised score with 95 % stratified-
bootstrap CIs, sorted by IQM, with seeds, tasks, per-decision latency and network evaluations);
score-vs-latency plot; aggregate / performance-profile / P(improvement) figures; one table per suite
(mean +- 2 std, best bold, second underlined, published columns beside measured ones); what is
missing. No server and no JavaScript: images are PNG files next to the page.
"""
from __future__ import annotations

import datetime
import html
import subprocess
from pathlib import Path

import pandas as pd

from analysis.definitions import LATENCY_STAT

LATENCY_COLUMN = f"latency ms ({LATENCY_STAT})"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} .meta{color:#555;font-size:.9em} table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right} td.task,th:first-child{text-align:left}
th{background:#f2f2f2} td.published,th.published{color:#666;background:#fafafa;font-style:italic}
tr.average td{border-top:2px solid #888} .footnote{font-size:.8em;color:#555;margin:.2em 0}
img{max-width:100%;border:1px solid #eee;margin:.5em 0} .missing li{color:#8a4b00} sup.flag{color:#b00}
.figs{display:flex;flex-wrap:wrap;gap:1em} .figs figure{margin:0;flex:1 1 480px} figcaption{font-size:.85em;color:#555}
"""


def _commit() -> str:
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                           cwd=Path(__file__).resolve().parent)
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _stamp() -> dict:
    from benchmarks import __version__

    return {"version": __version__, "commit": _commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _ci(row, m, d=2) -> str:
    return f"{row[m]:.{d}f} [{row[m + ' lo']:.{d}f}, {row[m + ' hi']:.{d}f}]"


def panel_rows(an) -> list[dict]:
    lat = an.latency.set_index("variant") if not an.latency.empty else pd.DataFrame()
    flagged = set(an.finals.loc[an.finals["flagged"].astype(bool), "variant"]) if not an.finals.empty else set()
    rows = []
    for i, r in an.aggregates.iterrows():
        v = r["variant"]
        L = lat.loc[v] if v in lat.index else None
        rows.append({"rank": i + 1, "algorithm": v + (" *" if v in flagged else ""), "IQM": _ci(r, "IQM"),
                     "median": _ci(r, "Median"), "mean": _ci(r, "Mean"), "optimality gap": _ci(r, "Optimality Gap"),
                     "seeds": int(r["runs"]), "tasks": int(r["tasks"]),
                     LATENCY_COLUMN: "–" if L is None else f"{L['median_ms']:.3f} ± {L['iqr_ms'] / 2:.3f}",
                     "nfe": "–" if L is None else int(L["nfe"])})
    return rows


def aggregate_markdown(an) -> str:
    rows = panel_rows(an)
    if not rows:
        return "(no aggregates)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def provenance_rows(an) -> list[dict]:
    """One row per run shown: how its number was made (commit, versions, device, data digest, score rule)."""
    runs = an.data.runs
    if an.finals.empty or runs.empty or "provenance" not in runs:
        return []
    shown = runs[runs["run_id"].isin(set(an.finals["run_id"]))].sort_values(["variant", "task"])
    return [{"algorithm": r["variant"], "task": r["task"], "run": r["run_id"], "commit": r.get("commit") or "–",
             "jax": r.get("jax") or "–", "device": r.get("device") or "–",
             "data sha256": r.get("dataset_sha256") or "–",
             "score rule": an.score_rule, "provenance": r.get("provenance") or "not recorded (run predates provenance)"}
            for _, r in shown.iterrows()]


def _suites(an) -> list:
    return sorted(set(an.finals["suite"])) if not an.finals.empty else []


def write(an, out: Path, figs: dict, missing: list) -> dict:
    from analysis import definitions, tables
    from analysis.plots import CURVE_BAND
    from analysis.reference import load_reference
    from analysis.select import full_caption

    rule = full_caption(an.score_rule, an.selection)
    out = Path(out)
    stamp = _stamp()
    ref = load_reference()
    lat = an.data.latency
    machine = (lat["cpu"].dropna().iloc[-1] + ", device " + lat["device"].dropna().iloc[-1]) if not lat.empty else "no latency measured"
    suite_tables = {}
    for s in _suites(an):
        f = an.finals[an.finals["suite"] == s]
        tr = tables.build(f, "return", reference=ref, title=f"{s}: return", selection=an.selection)
        if any(c.published for c in tr.columns):  # only where a paper has numbers for this suite's tasks
            tr.title = tr.title.replace(f"{s}: return", f"{s}: return, published numbers beside", 1)
        suite_tables[s] = (tables.build(f, "normalised", title=f"{s}: normalised score (0-100)", selection=an.selection),
                           tr)
    problems = an.data.problems + an.notes + missing
    e = html.escape
    scope = getattr(an, "scope", "") or "every run in the store"
    body = ["<h1>Offline MARL leaderboard</h1>", f"<p><b>Scope: {e(scope)}.</b></p>",
            f'<p class="meta">harness version {e(stamp["version"])} · commit {e(stamp["commit"])} · generated '
            f'{e(stamp["date"])} · store {e(str(an.data.root.resolve()))}<br>timing machine: {e(machine)} · '
            f"latency = {LATENCY_STAT} of one jitted joint decision over repeated calls (after compilation and "
            "warm-up) at the paper-default configuration (suite-preset variants, which resize networks only, are "
            f"shown with it); scores = {e(rule)}, normalised by fixed per-task references (100 = expert, 0 = "
            "random); definitions below the panel</p>"]
    body.append("<h2>Aggregate panel</h2>")
    rows = panel_rows(an)
    if rows:
        body.append('<table class="aggregate"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in rows[0]) + "</tr></thead><tbody>")
        body += ["<tr>" + "".join(f'<td{" class=task" if h == "algorithm" else ""}>{e(str(r[h]))}</td>' for h in r) + "</tr>"
                 for r in rows]
        body.append("</tbody></table>")
        body.append('<p class="footnote">normalised score / 100, a 0-1 scale (1 = expert reference); 95% '
                    f"stratified-bootstrap CIs (rliable); runs = seeds, tasks = {e(', '.join(an.matrix.tasks))}; rank "
                    f"by IQM, highest first; latency {LATENCY_STAT}; {e(rule)}. * = cost-defining settings "
                    "overridden.</p>")
    else:
        body.append("<p><b>No finished runs.</b> Run <code>bench run</code> to produce results.</p>")
    if not an.finals.empty:
        body += definitions.html(an)
    captions = {"score_vs_latency": "score vs inference time (log x)", "aggregates": "aggregate metrics with 95% CIs",
                "profiles": "performance profiles", "poi": "probability of improvement",
                "learning_curves": f"learning curves (normalised score, {CURVE_BAND})",
                "training_time": "training time"}
    if figs:
        body.append('<h2>Figures</h2><div class="figs">')
        for k, p in figs.items():
            rel = Path(p).relative_to(out).as_posix()
            body.append(f'<figure><img src="{e(rel)}" alt="{e(captions.get(k, k))}"><figcaption>{e(captions.get(k, k))}'
                        "</figcaption></figure>")
        body.append("</div>")
    for s, (tn, tr) in suite_tables.items():
        body.append(f"<h2>{e(s)}</h2>")
        body.append(tables.to_html(tn))
        body.append(tables.to_html(tr))
    prov = provenance_rows(an)
    if prov:
        body.append("<h2>Provenance</h2>" + '<table class="provenance"><thead><tr>' +
                    "".join(f"<th>{e(h)}</th>" for h in prov[0]) + "</tr></thead><tbody>")
        body += ["<tr>" + "".join(f"<td>{e(str(r[h]))}</td>" for h in r) + "</tr>" for r in prov]
        body.append("</tbody></table>")
    if problems:
        body.append('<h2>What is missing</h2><ul class="missing">' + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul>")
    page = ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Offline MARL leaderboard</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    paths = {"html": out / "leaderboard.html", "md": out / "LEADERBOARD.md", "json": out / "leaderboard.json"}
    paths["html"].write_text(page)
    md = ["# Offline MARL leaderboard", "", f"**Scope: {scope}.**", "",
          f"harness version {stamp['version']} · commit {stamp['commit']} · generated {stamp['date']} · timing machine: {machine}",
          "", f"scores: {rule}", "",
          f"## Aggregate panel (normalised score / 100, 0-1 scale; rank by IQM; latency {LATENCY_STAT}; {rule})", "",
          aggregate_markdown(an), ""]
    if not an.finals.empty:
        md += definitions.markdown(an)
    for k, p in figs.items():
        md.append(f"![{captions.get(k, k)}]({Path(p).relative_to(out).as_posix()})")
    for s, (tn, tr) in suite_tables.items():
        md += ["", f"## {s}", "", tables.to_markdown(tn), tables.to_markdown(tr)]
    if prov:
        md += ["", "## Provenance", "", "| " + " | ".join(prov[0]) + " |", "|" + "---|" * len(prov[0])]
        md += ["| " + " | ".join(str(r[h]) for h in r) + " |" for r in prov]
    if problems:
        md += ["", "## What is missing", ""] + [f"- {p}" for p in problems]
    paths["md"].write_text("\n".join(md) + "\n")
    from benchmarks.store import atomic_write_json

    # compact: a paper-sized store's finals are thousands of records, which json's indenting encoder takes
    # seconds over (its C encoder runs only without indent); `bench report --json` prints it indented
    atomic_write_json(paths["json"], {**stamp, "machine": machine, "scope": scope,
                                      "aggregates": an.aggregates.to_dict("records"),
                                      "latency": an.latency.to_dict("records"), "tasks": an.matrix.tasks,
                                      "excluded": an.matrix.excluded, "problems": problems,
                                      "score_rule": an.score_rule, "provenance": prov,
                                      "selection": an.selection.caption if an.selection is not None else None,
                                      "budget": definitions.budget_rows(an), "references": definitions.reference_rows(an),
                                      "definitions": definitions.notes(an) if not an.finals.empty else [],
                                      "finals": an.finals.drop(columns=[], errors="ignore").to_dict("records")},
                      indent=None)
    return paths
