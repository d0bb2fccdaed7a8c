"""``bench figures --paper macflow``: the MAC-Flow paper's tables and figures from the store.

  fig1_score_vs_latency.png   Figure 1 / 4: aggregate score vs inference time per joint decision (log x)
  table1.{md,tex,html}        Table 1 (SMACv1/v2): measured columns beside the published ones
  table2.{md,tex,html}        Table 2 (MA-MuJoCo, MPE): measured beside published
  table3_latency_vs_agents.png  Table 3 as a measured figure: latency vs number of agents for macflow,
                              dof, madiff-d, madiff-c and bc, and oryx beside them (whichever are registered)
  fig3_distillation.png       Figure 3 (a)-(d): distillation loss and value gap, MI(a^i, a^j) of the joint and the
                              one-step policies, the value gap against L_Q * W2, the point-wise gaps under that
                              envelope (macflow's diag/* metrics on the 3-agent landmark game)
  training_time.{png,md}      Figure 11 / App. H.2: training time per algorithm and task
  fig5_... fig12_...          Figures 5-10 and 12: learning curves of variants on the same tasks (analysis/ablations.py)
  fig13_... fig16_...         Figures 13-16: the games, sampled from the runs' checkpoints (analysis/games.py)
  index.md                    every paper item: the file that shows it or the one command that produces it

Figure 2 is the method's diagram (no data). The games figures (3, 13-16) come from one command,
``bench figures --paper macflow --games``, which trains their runs, then draws; index.md states each of their
claims with the number that decides it (analysis.games.Claim). ``--regenerate`` trains every item's runs
(analysis/paper_plan.py). ``--paper vgm2p`` (analysis/vgm2p.py) and ``--paper om2p`` (its abstract's claims) are
the other seed papers.

Tables 1-2 mark runs not at the paper's protocol (``bench run --protocol macflow-paper``) with a dagger and
name the protocol command.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from benchmarks.training.plan import PAPER_PROTOCOL

TABLE3_ALGOS = ("macflow", "dof", "madiff-d", "madiff-c", "bc", "oryx")  # oryx: not in the paper (docs/oryx.md)
AGENTS = "2,4,8,16,40"


def _registered(names) -> list:
    """The built-in plugins of ``names`` (or NAME[...] variants of them) this harness has: a built-in plugin lives in
    algorithms/<its name without the variant>.py (the naming rule, tests/test_contract.py), so their files say it
    without importing the registry (every plugin, JAX and flax: seconds of every `bench figures`)."""
    import importlib.util

    return [n for n in names if importlib.util.find_spec(f"algorithms.{n.split('[', 1)[0].split('-')[0]}") is not None]


# the paper's columns, then Oryx (arXiv 2505.22151: the state of the art on these datasets that the paper does not
# compare with; docs/oryx.md)
TABLE_ALGOS = {"1": ("bc", "mabcq", "macql", "diffusionbc", "madiff-c", "madiff-d", "dof", "flowbc", "macflow", "oryx"),
               "2": ("matd3bc", "macql", "icq", "omar", "omiga", "madiff-c", "madiff-d", "macflow", "oryx")}


def paper_table(an, ref: pd.DataFrame, table: str, out: Path, suites: tuple, store: str = "", paper: str = "macflow",
                algos: tuple | None = None, protocol: str = PAPER_PROTOCOL) -> tuple[list, list]:
    """Table ``table`` of ``paper``: the measured finals on ``suites`` beside the published columns; the command for
    runs of ``algos`` (default: this paper's TABLE_ALGOS) under ``protocol`` when they are missing."""
    from analysis import tables
    from analysis.reference import published_rows, task_keys, _key

    pub = published_rows(ref, paper, table)
    pub = pub[pub["scenario"] != "Average"]
    finals = an.finals[an.finals["suite"].isin(suites)] if not an.finals.empty else an.finals
    rows, measured_names = [], {}
    if not finals.empty:
        for s, t in dict.fromkeys(zip(finals["suite"], finals["task_name"])):
            for k in task_keys(t):
                measured_names[(s, k)] = t
    for (s, sc, ds) in dict.fromkeys(zip(pub["suite"], pub["scenario"], pub["dataset"])):
        key = _key(sc) + _key(ds)
        rows.append((s, measured_names.get((s, key), f"{sc}-{ds}")))
    name = {"macflow": "MAC-Flow", "vgm2p": "VGM2P"}.get(paper, paper)
    t = tables.build(finals, "return", reference=ref, tasks=rows, published_papers=(paper,),
                     title=f"{name} Table {table}: measured (left) and published (paper) final returns")
    written, missing = [], []
    for ext, fn in tables.RENDERERS.items():
        p = out / f"table{table}.{ext}"
        p.write_text(fn(t))
        written.append(p)
    algos = ",".join(_registered(TABLE_ALGOS[table]) if algos is None else algos)
    algos = f"'{algos}'" if "[" in algos else algos
    from analysis.ablations import SUITE_TASKS

    tasks = ",".join(t for su in suites for t in SUITE_TASKS[su])
    cmds = f"`bench run --task {tasks} --algos {algos} --protocol {protocol}{store}`"
    if finals.empty:
        missing.append(f"Table {table}: no runs on {'/'.join(suites)}; only the published columns are shown. "
                       f"Produce them with {cmds}")
    elif "off_protocol" in finals and finals["off_protocol"].fillna("").astype(bool).any():
        n = finals.loc[finals["off_protocol"].fillna("").astype(bool), "run_id"].nunique()
        missing.append(f"Table {table}: {n} run(s) not at the paper's protocol (marked {tables.DAGGER}); "
                       f"for numbers comparable with the published ones run {cmds}")
    return written, missing


def write_figures(root=None, out=None, paper: str = "macflow", reps: int | None = None) -> Path:
    from analysis import plots
    from analysis.reference import load_reference
    from analysis.report import TIMINGS, analyse, default_out, score_latency_points

    out = Path(out) if out else default_out(root) / paper
    out.mkdir(parents=True, exist_ok=True)
    TIMINGS.clear()
    if paper == "vgm2p":
        return write_vgm2p(root, out, reps)
    if paper == "om2p":
        return write_om2p(root, out)
    an = analyse(root, reps, with_poi=False)
    data = an.data
    written, missing = [], []
    items = {}  # paper item -> ("produced", [files]) or ("missing", the sentence with its one command)
    started = [time.perf_counter()]  # each item's time runs from the previous item's end (TIMINGS)

    def note(item, w, m):
        TIMINGS[item] = TIMINGS.get(item, 0.0) + time.perf_counter() - started[0]
        started[0] = time.perf_counter()
        items[item] = ("produced", [p.name for p in w] + [f"({x})" for x in m]) if w else ("missing", " ".join(m))
        written.extend(w)
        missing.extend(m)

    store = f" --results {data.root}"
    games_cmd = f"`bench figures --paper macflow --games{store}`"
    # Figure 1 / 4
    pts = score_latency_points(an)
    if not pts.empty:
        note("Figure 1 / 4", [plots.score_vs_latency(pts, out / "fig1_score_vs_latency.png",
                                                     "aggregate over " + ", ".join(an.matrix.tasks))], [])
    else:
        algos = ",".join(_registered(("macflow", "flowbc", "bc", "dof", "diffusionbc", "oryx")))
        no_runs = an.finals.empty or (an.finals["variant"] != an.finals["algo"]).all()
        why = ("runs at the paper-default configuration (every run in the store overrides its config, and latency "
               "is measured at the paper's cost)" if no_runs and not an.finals.empty else "runs" if no_runs else "")
        if no_runs and data.latency.empty:  # one command: train, then time at the paper-default configs
            need = f"{why} and latency records: run `bench run --suite games --algos {algos} --latency{store}`"
        elif no_runs:
            need = f"{why}: run `bench run --suite games --algos {algos}{store}`"
        else:
            need = f"latency records of the paper-default configs: run `bench latency --algos {algos}{store}`"
        note("Figure 1 / 4", [], ["Figure 1/4 (score vs inference time): needs " + need])
    # Tables 1 and 2
    ref = load_reference()
    for table, suites in (("1", ("smacv1", "smacv2")), ("2", ("mamujoco", "mpe"))):
        w, m = paper_table(an, ref, table, out, suites, store)
        items[f"Table {table}"] = ("produced", [p.name for p in w] + [f"(published columns; {x})" for x in m])
        TIMINGS[f"Table {table}"] = time.perf_counter() - started[0]
        started[0] = time.perf_counter()
        written += w
        missing += m
    # Table 3 as a figure
    names = _registered(TABLE3_ALGOS)
    lat = data.latency
    if not lat.empty:
        lat = lat[lat["name"].isin(names) & lat["label"].str.startswith("games/landmarks") & (lat["cost_overrides"] == "")]
    if not lat.empty and lat.groupby("name")["n_agents"].nunique().max() >= 2:
        lat.sort_values(["name", "n_agents"]).to_csv(out / "table3_latency_vs_agents.csv", index=False)
        note("Table 3", [plots.latency_vs_agents(lat, out / "table3_latency_vs_agents.png")], [])
    else:
        note("Table 3", [], [f"Table 3 (latency vs agents): run `bench latency --algos {','.join(names)} "
                             f"--agents {AGENTS}{store}`"])
    # Figure 3: the 3-agent landmark game's diagnostics (App. H.4's 50 trajectories first)
    from analysis.games import fig3_claims, landmark_task_ids

    claims = []
    diag = fig3_rows(data, landmark_task_ids(3, data))
    if not diag.empty:
        claims += fig3_claims(diag)
        caption = "\n".join(c.line() for c in claims)
        note("Figure 3", [plots.distillation_diagnostics(diag, out / "fig3_distillation.png", caption)], [])
    else:
        note("Figure 3", [], [f"Figure 3 (distillation diagnostics on the landmark game): run {games_cmd}"])
    # Figures 5-10 and 12
    from analysis import ablations

    from analysis.load import shown_runs

    shown = shown_runs(data, an.finals)
    for item in ablations.ITEMS:
        w, m = ablations.draw(item, data, out, store, shown)
        note(item.name, w, m)
    # Figures 13-16
    from analysis.games import write_games_figures

    w, m, games_claims = write_games_figures(data, out, store)
    claims += games_claims
    for fig, key in (("Figure 13", "fig13"), ("Figure 14", "fig14"), ("Figure 15", "fig15"), ("Figure 16", "fig16")):
        note(fig, [p for p in w if p.name.startswith(key)], [x for x in m if x.startswith(fig)])
    # training time (App. H.2)
    runs = data.runs
    if not runs.empty and runs["train_time"].notna().any():
        tt_png = plots.training_time(runs, out / "training_time.png")
        r = runs.dropna(subset=["train_time"])
        tt = pd.DataFrame({"algorithm": r["variant"], "task": r["task"], "steps": r["steps"],
                           "seeds": r["seeds"].map(len), "train minutes": (r["train_time"] / 60).round(2),
                           "s per 1k steps": (r["train_time"] / r["steps"] * 1000).round(2),
                           "steps/s (all seeds)": r["steps_per_sec"].round(1)})
        p = out / "training_time.md"
        p.write_text("| " + " | ".join(tt.columns) + " |\n|" + "---|" * len(tt.columns) + "\n" +
                     "".join("| " + " | ".join(str(x) for x in row) + " |\n" for row in tt.itertuples(index=False)))
        note("Figure 11", [tt_png, p], [])
    else:
        note("Figure 11", [], [f"Figure 11 (training time, App. H.2): no finished runs; run `bench run{store}`"])
    items["Figure 2"] = ("produced", ["(the method's diagram: no data to draw)"])
    order = ["Figure 1 / 4", "Figure 2", "Figure 3"] + [f"Figure {i}" for i in range(5, 17)] + \
            [f"Table {i}" for i in (1, 2, 3)]
    lines = _item_lines(f"# MAC-Flow paper figures from `{data.root}`", items, order)
    if claims:
        lines += ["", "## The paper's claims about the games figures, measured", ""]
        lines += [f"- {c.line()}" for c in claims]
    return _index(out, lines, written, missing + data.problems)


def _index(out: Path, lines: list, written: list, missing: list) -> Path:
    lines = lines + ["", "## Produced", ""] + [f"- `{p.name}`" for p in written] + [""]
    if missing:
        lines += ["## Missing", ""] + [f"- {m}" for m in missing] + [""]
    index = out / "index.md"
    index.write_text("\n".join(lines))
    return index


def fig3_rows(data, tasks) -> pd.DataFrame:
    """The diag/* evaluation rows of one macflow run (the first of ``tasks`` with any; the run with the most
    steps), or an empty frame."""
    ev = data.evals
    for task in tasks:
        diag = ev[(ev["task"] == task) & (ev["algo"] == "macflow")] if not ev.empty else ev
        if not diag.empty and "diag/distill" in diag and diag["diag/distill"].notna().any():
            diag = diag.dropna(subset=["diag/distill"])
            steps = dict(zip(data.runs["run_id"], data.runs["steps"]))
            ids = list(dict.fromkeys(diag["run_id"]))
            return diag[diag["run_id"] == max(ids, key=lambda i: (steps.get(i) or 0, ids.index(i)))]
    return pd.DataFrame()


def _item_lines(title: str, items: dict, order: list) -> list:
    lines = [title, "", "## Paper items", ""]
    for k in order:
        status, what = items[k]
        lines.append(f"- {k}: " + (", ".join(f"`{w}`" if w.endswith((".png", ".md", ".tex", ".html", ".csv")) else w
                                             for w in what) if status == "produced" else f"MISSING. {what}"))
    return lines


def write_vgm2p(root, out: Path, reps: int | None = None) -> Path:
    """``bench figures --paper vgm2p``: Tables 1-2 and Figures 1-6 (analysis/vgm2p.py)."""
    from analysis import vgm2p
    from analysis.ablations import draw
    from analysis.reference import load_reference
    from analysis.report import analyse

    an = analyse(root, reps)
    store = f" --results {an.data.root}"
    items = {}
    ref = load_reference()
    for t, suites in vgm2p.TABLE_SUITES.items():
        w, m = paper_table(an, ref, t, out, suites, store, paper="vgm2p", algos=tuple(_registered(vgm2p.TABLE_ALGOS[t])),
                           protocol=vgm2p.PROTOCOL)
        items[f"Table {t}"] = ("produced", [p.name for p in w] + [f"(published columns; {x})" for x in m])
    for item in vgm2p.ITEMS:
        w, m = draw(item, an.data, out, store)
        items[item.name] = ("produced", [p.name for p in w] + [f"({x})" for x in m]) if w else ("missing", " ".join(m))
    w, m = vgm2p.running_time(an.data, vgm2p.FIG4, out, store)
    items[vgm2p.FIG4.name] = ("produced", [p.name for p in w] + [f"({x})" for x in m]) if w else ("missing", " ".join(m))
    order = [f"Figure {i}" for i in range(1, 7)] + ["Table 1", "Table 2"]
    lines = _item_lines(f"# VGM2P paper figures from `{an.data.root}`", items, order)
    written = sorted(p for p in out.iterdir() if p.suffix in (".png", ".md", ".tex", ".html") and p.name != "index.md"
                     and p.name != "plan.md")
    missing = [what for status, what in items.values() if status == "missing"]
    return _index(out, lines, written, missing + an.data.problems)


def write_om2p(root, out: Path) -> Path:
    """``bench figures --paper om2p``: the abstract's two measurable claims beside the ratios measured in one run
    (``om2p_claims.json``, written by ``bench figures --paper om2p --regenerate``)."""
    import json

    from benchmarks.store import results_root

    cmd = f"`bench figures --paper om2p --regenerate --results {results_root(root)}`"
    lines = ["# OM2P: the abstract's measurable claims", ""]
    path = out / "om2p_claims.json"
    if not path.exists():
        lines += [f"- up to 3.8x less GPU memory: MISSING. Measure it with {cmd}",
                  f"- up to 10.8x faster training: MISSING. Measure it with {cmd}"]
        return _index(out, lines, [], [f"OM2P claims: not measured; run {cmd}"])
    r = json.loads(path.read_text())
    lines += [f"Measured {r['date']} on {r['device']}, {r['task']}'s shapes, batch {r['batch_size']}, at every plugin's "
              f"paper-default configuration, in one process (memory: XLA's planned allocation of one update; speed: "
              f"gradient steps/s of the scanned trainer, best of {r['rounds']} rounds of {r['steps']}). The ratios are "
              f"the baseline's over OM2P's (memory) and OM2P's over the baseline's (speed).", "",
              "| claim (abstract) | largest measured ratio | against | holds |", "|---|---|---|---|"]
    for c in r["claims"]:
        lines.append(f"| {c['claim']} | {c['measured']:.1f}x | {c['against']} | {'yes' if c['holds'] else 'no'} |")
    lines += ["", "| baseline | memory per update (MiB) | steps/s | memory ratio | speed ratio |", "|---|---|---|---|---|"]
    ratios = {c["claim"].split("x ")[1]: c["ratios"] for c in r["claims"]}
    mem, speed = ratios.get("less memory per update", {}), ratios.get("faster training", {})
    for row in r["rows"]:
        sps = f"{row['steps_per_s']:.2f}" if row["steps_per_s"] else row["note"]
        m = f"{mem[row['algo']]:.2f}x" if row["algo"] in mem else "-"
        sp = f"{speed[row['algo']]:.2f}x" if row["algo"] in speed else "-"
        lines.append(f"| {row['algo']} | {row['memory_bytes'] / 2**20:.0f} | {sps} | {m} | {sp} |")
    return _index(out, lines, [path], [])
