"""Result tables in the papers' format, rendered as Markdown, LaTeX and HTML.

Rows are tasks grouped by suite, columns are algorithms (variants); a cell is the mean +- two
standard deviations over seeds (MAC-Flow Tables 1-2). Per row the best measured mean is bold and the
second best underlined (ties share the style). Each suite ends with an average row: the mean over the
suite's tasks of the per-task means, shown only for columns with every task of the suite. Published
numbers from results/reference/ appear as extra columns marked "(paper)" and never take part in the
ranking. A run whose cost-defining settings were overridden is marked with * in every cell it fills,
and a footnote names the overrides. A run on a suite of the MAC-Flow protocol that did not run with
``bench run --protocol macflow-paper`` is marked with a dagger, and a footnote says how it departs.
"""
from __future__ import annotations

import dataclasses
import html
from typing import Optional

import numpy as np
import pandas as pd

from algorithms.errors import BenchError
from analysis.reference import match, normalised_published
from analysis.score import caption
from benchmarks.training.plan import PAPER_PROTOCOL

DAGGER = "†"
DDAGGER = "‡"  # a variant whose cells come from different revisions of its code


@dataclasses.dataclass
class Cell:
    mean: float
    pm: Optional[float] = None
    n: int = 0
    flagged: bool = False
    style: str = ""  # "best" | "second" | ""
    off_protocol: bool = False  # a run of the cell is not at the paper's protocol (marked †)
    other_code: bool = False  # the variant's cells of this table come from several code revisions (marked ‡)


@dataclasses.dataclass
class Column:
    name: str
    published: bool = False
    source: str = ""


@dataclasses.dataclass
class Row:
    suite: str
    label: str
    cells: dict
    average: bool = False


@dataclasses.dataclass
class ResultTable:
    title: str
    columns: list
    rows: list
    footnotes: list
    decimals: int = 1

    def column_names(self):
        return [c.name for c in self.columns]


def build(finals: pd.DataFrame, value: str = "return", reference: pd.DataFrame | None = None,
          variants=None, tasks=None, title: str = "", published_papers=None, selection=None) -> ResultTable:
    """tasks: optional list of (suite, task_name) rows to show (default: every task in ``finals``); selection: the
    report's hyper-parameter selection (analysis/select.py), whose rule and tuning budget join the title."""
    f = finals if not finals.empty else pd.DataFrame(columns=["variant", "suite", "task_name", value, "flagged"])
    rules = sorted(set(f["score_rule"].dropna())) if "score_rule" in f else []
    if len(rules) > 1:
        raise BenchError(f"a table never mixes score rules, got {', '.join(rules)}; load the store with one rule "
                         f"(bench report --score final|best|last-K)")
    rule = rules[0] if rules else "final"
    if caption(rule) not in title:
        title = f"{title} [{caption(rule)}]" if title else caption(rule)
    if selection is not None and not selection.empty:
        title = f"{title} [{selection.caption}]"
    variants = list(variants) if variants is not None else list(dict.fromkeys(f["variant"]))
    if tasks is None:
        tasks = list(dict.fromkeys(zip(f["suite"], f["task_name"])))
        tasks.sort(key=lambda st: (st[0], st[1]))
    columns = [Column(v) for v in variants]
    pub_cols: dict = {}
    rows, footnotes = [], []
    flagged_runs, off_runs, scaled = set(), set(), {}
    revisions: dict = {}  # variant -> code revision -> its tasks
    # the rows of each cell, found once (filtering the whole frame per cell took seconds on a paper-sized store)
    cells_of = dict(iter(f.groupby(["suite", "task_name", "variant"], sort=False))) if not f.empty else {}
    for suite, task_name in tasks:
        published = match(reference, suite, task_name) if reference is not None and value == "return" else None
        if published is not None and published_papers:
            published = published[published["paper"].isin(published_papers)]
        # a paper that publishes normalised scores for this task (MAC-Flow's MPE): the measured cells are too
        norm = normalised_published(published) if published is not None else []
        shown = "normalised" if norm else value
        for n in norm:
            scaled.setdefault(n, []).append(f"{suite}/{task_name}")
        cells = {}
        for v in variants:
            mine = cells_of.get((suite, task_name, v))
            vals = mine[shown].dropna().to_numpy(np.float64) if mine is not None and shown in mine else ()
            if len(vals):
                flag = bool(mine["flagged"].any())
                cells[v] = Cell(float(vals.mean()), 2 * float(vals.std()), len(vals), flag)
                if flag:
                    co = mine["cost_overrides"].iloc[0] if "cost_overrides" in mine else ""
                    flagged_runs.add(f"{v} on {suite}/{task_name} ({co})")
                off = [x for x in mine.get("off_protocol", pd.Series(dtype=str)) if isinstance(x, str) and x]
                if off:
                    cells[v].off_protocol = True
                    off_runs.add(f"{v} on {suite}/{task_name} ({off[0]})")
        _rank(cells)
        for v in variants:
            mine = cells_of.get((suite, task_name, v))
            if v in cells and mine is not None and "code_revision" in mine:
                revisions.setdefault(v, {}).setdefault(_rev(mine["code_revision"].iloc[0]), []).append(
                    f"{suite}/{task_name}")
        if published is not None:
            for _, p in published.iterrows():
                name = f"{p['label']} (paper)"
                pub_cols.setdefault(name, Column(name, True, str(p["source"]).rsplit(",", 1)[0]))
                pm = None if pd.isna(p["pm"]) or p["pm"] == "" else float(p["pm"])
                if pm is not None and p.get("pm_kind") == "std":
                    pm = 2 * pm  # shown on the table's scale: +- 2 std
                cells[name] = Cell(float(p["mean"]), pm)
        rows.append(Row(suite, task_name + (" (normalised)" if norm else ""), cells))
    columns += list(pub_cols.values())
    mixed = {v: revs for v, revs in revisions.items() if len(revs) > 1}
    for r in rows:
        for v in mixed:
            if v in r.cells:
                r.cells[v].other_code = True
    # suite averages
    out_rows = []
    for suite in dict.fromkeys(s for s, _ in tasks):
        srows = [r for r in rows if r.suite == suite]
        out_rows += srows
        if len(srows) < 2:
            continue
        avg = {}
        for c in columns:
            vals = [r.cells[c.name] for r in srows if c.name in r.cells]
            if len(vals) == len(srows):
                avg[c.name] = Cell(float(np.mean([x.mean for x in vals])), None, 0, any(x.flagged for x in vals),
                                   off_protocol=any(x.off_protocol for x in vals),
                                   other_code=any(x.other_code for x in vals))
        _rank({k: v for k, v in avg.items() if not any(c.published and c.name == k for c in columns)})
        out_rows.append(Row(suite, f"{suite} average", avg, average=True))
    presets = _preset_footnote(f, variants, tasks)
    if presets:
        footnotes.append("suite presets (smaller networks than the paper's on a suite its paper never ran; "
                         "`bench run --paper-size` trains the paper's): " + presets)
    if flagged_runs:
        footnotes.append("* cost-defining settings overridden (not the paper's method cost): " + "; ".join(sorted(flagged_runs)))
    if off_runs:
        footnotes.append(f"{DAGGER} not at the paper's protocol (`bench run --protocol {PAPER_PROTOCOL}`): "
                         + "; ".join(sorted(off_runs)))
    if mixed:
        footnotes.append(f"{DDAGGER} made by different revisions of the variant's code (each cell holds one; "
                         "`bench run` of the older ones trains them again with the current code): " + "; ".join(
                             f"{v}: " + ", ".join(f"revision {rev} on {', '.join(ts)}" for rev, ts in revs.items())
                             for v, revs in mixed.items()))
    data = _dataset_footnote(f, tasks)
    if data:
        footnotes.append("rows TASK@DATA: trained on a dataset given with `bench run --dataset`: " + data)
    if pub_cols:
        srcs = sorted({c.source for c in pub_cols.values()})
        footnotes.append("(paper) columns: published numbers, mean +- 2 std (VGM2P's +- std doubled), from " + "; ".join(srcs))
    what = "normalised score" if value == "normalised" else "return"
    footnotes.append(f"cells: mean +- 2 std over seeds of the {what} under the {caption(rule)}; "
                     "best measured in bold, second underlined")
    if scaled:
        footnotes.append("(normalised) rows: the paper publishes normalised scores there, so every cell of the row is "
                         "one: " + "; ".join(f"{n} ({', '.join(t)})" for n, t in sorted(scaled.items())))
    allv = [c.mean for r in out_rows for c in r.cells.values() if np.isfinite(c.mean)]
    decimals = 1 if value == "normalised" or (allv and max(abs(x) for x in allv) >= 20) else 3
    return ResultTable(title, columns, out_rows, footnotes, decimals)


def _dataset_footnote(f: pd.DataFrame, tasks) -> str:
    """'xor@Good-10pc:1a2b3c4d = /data/xor.vlt/Good-10pc (sha256 1a2b3c4d): 100 of 1000 episodes ..., from ...'."""
    if "dataset" not in f:
        return ""
    shown = f[(f["dataset"].fillna("") != "") & pd.Series(list(zip(f["suite"], f["task_name"])), index=f.index).isin(tasks)]
    return " | ".join(f"{t} = {d}" for t, d in dict(zip(shown["task_name"], shown["dataset"])).items())


def _preset_footnote(f: pd.DataFrame, variants, tasks) -> str:
    """'dof[games preset]: dim=32, inv_dyn=False on coordination, xor; dim=32, inv_dyn=True on landmarks'."""
    if "preset" not in f:
        return ""
    shown = f[f["variant"].isin(variants) & (f["preset"].fillna("") != "")
              & pd.Series(list(zip(f["suite"], f["task_name"])), index=f.index).isin(tasks)]
    parts = []
    for v, grp in shown.groupby("variant", sort=False):
        by_setting = grp.groupby("preset", sort=False)["task_name"].unique()
        parts.append(f"{v}: " + "; ".join(f"{p} on {', '.join(sorted(t))}" for p, t in by_setting.items()))
    return " | ".join(parts)


def _rev(x) -> str:
    return str(x)[:8] if isinstance(x, str) and x else "not recorded"


def _rank(cells: dict) -> None:
    means = sorted({round(c.mean, 9) for c in cells.values() if np.isfinite(c.mean)}, reverse=True)
    for c in cells.values():
        if means and round(c.mean, 9) == means[0]:
            c.style = "best"
        elif len(means) > 1 and round(c.mean, 9) == means[1]:
            c.style = "second"


def _fmt(c: Cell, d: int, pm_sep: str) -> str:
    s = f"{c.mean:.{d}f}"
    if c.pm is not None:
        s += f"{pm_sep}{c.pm:.{d}f}"
    return s


def to_markdown(t: ResultTable) -> str:
    head = ["task"] + t.column_names()
    lines = ([f"**{t.title}**", ""] if t.title else []) + ["| " + " | ".join(head) + " |",
                                                            "|" + "---|" * len(head)]
    for r in t.rows:
        out = [f"*{r.label}*" if r.average else f"{r.suite}/{r.label}"]
        for c in t.columns:
            cell = r.cells.get(c.name)
            if cell is None:
                out.append("–")
                continue
            s = _fmt(cell, t.decimals, " ± ")
            s = f"**{s}**" if cell.style == "best" else f"<ins>{s}</ins>" if cell.style == "second" else s
            out.append(s + (" \\*" if cell.flagged else "") + (f" {DAGGER}" if cell.off_protocol else "")
                       + (f" {DDAGGER}" if cell.other_code else ""))
        lines.append("| " + " | ".join(out) + " |")
    lines += [""] + [f"{n}  " for n in t.footnotes]
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#"),
                 ("[", "{[}"), ("]", "{]}")):
        s = s.replace(a, b)
    return s


def to_latex(t: ResultTable) -> str:
    cols = "l" + "r" * len(t.columns)
    lines = ["\\begin{table}[t]", "\\centering", "\\small"]
    if t.title:
        lines.append(f"\\caption{{{_tex(t.title)}}}")
    lines += [f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
              " & ".join(["Task"] + [_tex(n) for n in t.column_names()]) + " \\\\", "\\midrule"]
    for i, r in enumerate(t.rows):
        out = [f"\\textit{{{_tex(r.label)}}}" if r.average else _tex(f"{r.suite}/{r.label}")]
        for c in t.columns:
            cell = r.cells.get(c.name)
            if cell is None:
                out.append("--")
                continue
            s = _fmt(cell, t.decimals, " $\\pm$ ")
            s = f"\\textbf{{{s}}}" if cell.style == "best" else f"\\underline{{{s}}}" if cell.style == "second" else s
            out.append(s + ("$^*$" if cell.flagged else "") + ("$^\\dagger$" if cell.off_protocol else "")
                       + ("$^\\ddagger$" if cell.other_code else ""))
        lines.append(" & ".join(out) + " \\\\")
        if r.average and i < len(t.rows) - 1:
            lines.append("\\midrule")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"\\\\[2pt]\\footnotesize {_tex(n)}" for n in t.footnotes]
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def to_html(t: ResultTable, table_class: str = "results") -> str:
    e = html.escape
    out = [f'<table class="{table_class}">']
    if t.title:
        out.append(f"<caption>{e(t.title)}</caption>")
    out.append("<thead><tr><th>task</th>" + "".join(
        f'<th class="{"published" if c.published else "measured"}">{e(c.name)}</th>' for c in t.columns) + "</tr></thead>")
    out.append("<tbody>")
    for r in t.rows:
        label = f"<i>{e(r.label)}</i>" if r.average else e(f"{r.suite}/{r.label}")
        tds = [f'<td class="task">{label}</td>']
        for c in t.columns:
            cell = r.cells.get(c.name)
            cls = "published" if c.published else "measured"
            if cell is None:
                tds.append(f'<td class="{cls} missing">–</td>')
                continue
            s = e(_fmt(cell, t.decimals, " ± "))
            s = f"<b>{s}</b>" if cell.style == "best" else f"<u>{s}</u>" if cell.style == "second" else s
            if cell.flagged:
                s += '<sup class="flag" title="cost-defining settings overridden">*</sup>'
            if cell.off_protocol:
                s += f'<sup class="flag" title="not at the paper\'s protocol">{DAGGER}</sup>'
            if cell.other_code:
                s += f'<sup class="flag" title="different revisions of this variant\'s code">{DDAGGER}</sup>'
            tds.append(f'<td class="{cls}">{s}</td>')
        out.append(f'<tr class="{"average" if r.average else "task"}">' + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    out += [f'<p class="footnote">{e(n)}</p>' for n in t.footnotes]
    return "\n".join(out) + "\n"


RENDERERS = {"md": to_markdown, "tex": to_latex, "html": to_html}
