"""Figures with matplotlib (Agg backend, no display needed), in the layouts of rliable's plot helpers.

Every function writes one PNG and returns its path; none of them shows a window.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 110
# The band of learning curves and diagnostics. MAC-Flow's curves (Figs. 8-10, 12; App. E) shade a tolerance
# interval over 6 seeds whose coverage and confidence the paper does not give; its tables report mean ± 2 std
# over seeds (Table 1), so the curves here shade that, and every figure names its interval.
CURVE_BAND = "mean ± 2 std over seeds"
CI_NAME = "95% stratified bootstrap CI"


def _save(fig, path: Path, tight: bool = True) -> Path:
    """Write ``fig`` as a PNG and close it. ``tight=False``: the figure's own layout (a grid of many panels
    placed by ``_grid_layout``), which saves the extra drawing pass a tight bounding box takes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 1: a tenth of level 6's time on a figure of 31 panels, files about a third larger
    fig.savefig(path, dpi=DPI, bbox_inches="tight" if tight else None, pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return path


LEGEND_IN_PANEL = 6  # more curves than this: one legend below the panels instead of one inside the first
LEGEND_COLUMNS = 4


def _grid_layout(fig, axes, rows: int, title: str, top_inches: float = 0.6) -> None:
    """A grid of panels laid out in inches (tight_layout measures every label of every panel: seconds for the
    31 panels of a paper-sized store), the title above it and the legend: inside the first panel for a few
    curves, below the grid for more (a paper-sized store compares 16 variants)."""
    from matplotlib.ticker import MaxNLocator

    first = axes.ravel()[0]
    handles, labels = [], []
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(MaxNLocator(4))  # steps up to 1e6: five long tick labels would overlap
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    legend_rows = 0
    if len(labels) > LEGEND_IN_PANEL:
        legend_rows = int(np.ceil(len(labels) / LEGEND_COLUMNS))
        fig.set_figheight(fig.get_figheight() + 0.2 * legend_rows)
    h = fig.get_figheight()
    if legend_rows:
        fig.legend(handles, labels, loc="lower center", ncol=LEGEND_COLUMNS, fontsize="x-small", frameon=False)
    elif labels:
        first.legend(handles, labels, fontsize="x-small")
    fig.suptitle(title, fontsize="small", y=1 - 0.12 / h, va="top")
    bottom = (0.55 + 0.2 * legend_rows + (0.1 if legend_rows else 0)) / h
    fig.subplots_adjust(left=0.6 / fig.get_figwidth(), right=0.98, bottom=bottom, top=1 - top_inches / h,
                        hspace=0.75 / ((h * (1 - bottom) - top_inches) / rows - 0.75), wspace=0.35)


MARKERS_UP_TO = 12  # curves with more evaluations are drawn as plain lines (markers cost most of a big figure)


def _curves(ax, stats: pd.DataFrame, colors: dict, labels: dict, x_scale: float = 1.0, ms: float = 3) -> None:
    """One curve per variant of ``stats`` (rows variant, step, mean, std; only variants in ``labels``, drawn with
    their label): the mean as a line and its ±2 std band, all bands of the panel in one PolyCollection (one
    artist, not one per curve: a paper-sized store draws hundreds); a variant with one evaluation is a point
    with ±2 std bars (a one-point line would be invisible)."""
    from matplotlib.collections import PolyCollection

    polys, faces = [], []
    groups = dict(iter(stats.groupby("variant", sort=False)))
    for v in (v for v in labels if v in groups):  # in the legend's order
        g = groups[v]
        x = g["step"].to_numpy(np.float64) / x_scale
        mean = g["mean"].to_numpy(np.float64)
        half = 2 * g["std"].fillna(0).to_numpy(np.float64)  # one seed: no spread to show
        if len(x) == 1:
            ax.errorbar(x, mean, yerr=half, fmt="o", ms=ms * 2, capsize=3, color=colors[v], label=labels[v])
            continue
        ax.plot(x, mean, marker="o" if len(x) <= MARKERS_UP_TO else None, ms=ms, color=colors[v], label=labels[v])
        polys.append(np.concatenate([np.stack([x, mean - half], 1), np.stack([x[::-1], (mean + half)[::-1]], 1)]))
        faces.append(colors[v])
    if polys:
        ax.add_collection(PolyCollection(polys, facecolors=faces, edgecolors="none", alpha=0.2))
        ax.autoscale_view()


def _stats(evals: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean and std over seeds per (task, variant, step), in one pass over the rows."""
    return evals.groupby(["task", "variant", "step"])[column].agg(["mean", "std"]).reset_index()


# seaborn's "colorblind" palette (Wong 2011 / seaborn 0.13), cycled as seaborn cycles it beyond ten names; written
# out because importing seaborn (and rliable's plot helpers, which import it) took seconds of every report
COLORBLIND = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
              "#56b4e9")


def _colors(names) -> dict:
    return {n: COLORBLIND[i % len(COLORBLIND)] for i, n in enumerate(names)}


def aggregate_intervals(point: dict, interval: dict, path: Path) -> Path:
    """rliable's four aggregates per algorithm (point estimate and interval), as rliable's interval plot draws
    them, laid out 2 x 2 with at least half an inch per algorithm, so that the figure stays readable at the
    width of a page (a 1 x 4 strip of a few algorithms came out a few pixels high there).

    point: algo -> [Median, IQM, Mean, Optimality Gap]; interval: algo -> [2, 4] (lower, upper rows)."""
    from analysis.aggregate import METRICS

    algos = sorted(point, key=lambda a: point[a][1])  # by IQM, best on top
    colors = _colors(algos)
    height = max(2.2, 0.45 * len(algos) + 1.0)
    fig, axes = plt.subplots(2, 2, figsize=(10, 2 * height + 0.6), squeeze=False)
    for m, (ax, name) in enumerate(zip(axes.ravel(), METRICS)):
        for y, a in enumerate(algos):
            lo, hi = float(interval[a][0][m]), float(interval[a][1][m])
            ax.barh(y, hi - lo, left=lo, height=0.6, color=colors[a], alpha=0.75)
            ax.plot([point[a][m]] * 2, [y - 0.3, y + 0.3], color="k", lw=1.5)
        ax.set_yticks(range(len(algos)), algos if m % 2 == 0 else [""] * len(algos))
        ax.set_title(name + (" (lower is better)" if name == "Optimality Gap" else ""))
        ax.grid(True, axis="x", alpha=0.3)
        ax.tick_params(labelsize="medium")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.supxlabel(f"normalised score / 100: point estimate (black) and {CI_NAME} (bar)", fontsize="medium")
    fig.tight_layout()
    return _save(fig, path)


def performance_profiles(taus, profiles: dict, cis: dict, path: Path) -> Path:
    """Score distributions (rliable's performance profiles): the fraction of runs above each tau, CIs shaded."""
    colors = _colors(list(profiles))
    fig, ax = plt.subplots(figsize=(6, 4))
    for a, prof in profiles.items():
        ax.plot(taus, prof, color=colors[a], lw=2, label=a)
        ax.fill_between(taus, cis[a][0], cis[a][1], color=colors[a], alpha=0.15)
    ax.set_xlabel(r"normalised score / 100 ($\tau$)")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.25)
    outside = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)} if len(profiles) > 8 else {"loc": "upper right"}
    ax.legend(fontsize="small", title=f"shaded: {CI_NAME}", title_fontsize="x-small",
              ncol=1 + len(profiles) // 24, **outside)
    return _save(fig, path)


def probability_of_improvement(poi: pd.DataFrame, path: Path, scope: str = "") -> Path:
    """One bar per pair of ``poi`` (x, y, P(X>Y), lo, hi); ``scope``: which pairs these are (the title)."""
    fig, ax = plt.subplots(figsize=(5, 0.35 * len(poi) + 1))
    labels = [f"P({x} > {y})" for x, y in zip(poi["x"], poi["y"])]
    y = np.arange(len(poi))
    ax.barh(y, poi["P(X>Y)"], xerr=[poi["P(X>Y)"] - poi["lo"], poi["hi"] - poi["P(X>Y)"]], color="#4c72b0", alpha=0.8)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"probability of improvement ({CI_NAME})")
    if scope:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap("pairs: " + scope.split("; ")[0], 70)), fontsize="x-small")
    return _save(fig, path)


def score_vs_latency(points: pd.DataFrame, path: Path, title: str = "") -> Path:
    """points: variant, score, lo, hi, latency_ms (log x), as MAC-Flow Fig. 1 / 4."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(points.itertuples()):
        c = colors[i % len(colors)]
        yerr = None if pd.isna(r.lo) else [[r.score - r.lo], [r.hi - r.score]]
        ax.errorbar(r.latency_ms, r.score, yerr=yerr, fmt="o", color=c, capsize=3, ms=8)
        ax.annotate(r.variant, (r.latency_ms, r.score), textcoords="offset points", xytext=(6, 6), fontsize="small")
    ax.set_xscale("log")
    ax.set_xlabel("inference time per joint decision (ms, log scale)")
    ax.set_ylabel(f"normalised score (IQM, {CI_NAME})")
    ax.grid(True, which="both", alpha=0.3)
    if title:
        ax.set_title(title, fontsize="medium")
    return _save(fig, path)


def learning_curves_figure(evals: pd.DataFrame, column: str = "normalised"):
    """One panel per task, one curve per variant: the mean over seeds with a ±2 std band. A variant with one
    evaluation on a task is drawn as a point with ±2 std error bars (a one-point line would be invisible)."""
    tasks = sorted(evals["task"].unique())
    n = len(tasks)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows + 0.4), squeeze=False)
    names = sorted(evals["variant"].unique())
    colors, labels = _colors(names), {v: v for v in names}
    stats = _stats(evals, column)
    by_task = dict(iter(stats.groupby("task", sort=False)))
    starts = (evals.dropna(subset=["online_start"]).groupby("task")["online_start"].unique()
              if "online_start" in evals else {})
    for ax, task in zip(axes.ravel(), tasks):
        _curves(ax, by_task[task], colors, labels)
        for k, x in enumerate(sorted(starts.get(task, ()))):  # offline-to-online runs: where the online phase starts
            ax.axvline(x, color="grey", ls="--", lw=1, label="online phase starts" if k == 0 else None)
        ax.set_title(task, fontsize="medium")
        ax.set_xlabel("gradient steps")
        ax.set_ylabel(column)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    _grid_layout(fig, axes, rows, f"{column}: {CURVE_BAND} (bars where a run has one evaluation)")
    return fig


def learning_curves(evals: pd.DataFrame, path: Path, column: str = "normalised") -> Path:
    return _save(learning_curves_figure(evals, column), path, tight=False)


def latency_vs_agents(lat: pd.DataFrame, path: Path) -> Path:
    """lat: name, n_agents, median_ms, q1_ms/q3_ms or iqr_ms; log-log, as a measured MAC-Flow Table 3."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, g in lat.groupby("name"):
        g = g.sort_values("n_agents")
        half = g["iqr_ms"].to_numpy() / 2
        axes[0].errorbar(g["n_agents"], g["median_ms"], yerr=half, marker="o", capsize=3, label=name)
        axes[1].plot(g["n_agents"], g["per_agent_ms"], marker="o", label=name)
    for ax, yl in zip(axes, ("ms per joint decision (median, IQR bars)", "ms per agent")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("number of agents (landmarks game)")
        ax.set_ylabel(yl)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def _band(ax, steps, g, col, label, color, marker="o"):
    """Mean over seeds at each step with a ``CURVE_BAND`` band (points marked: visible with one evaluation)."""
    st = g[col].agg(["mean", "std"]).reindex(steps)
    half = 2 * st["std"].fillna(0)
    ax.plot(steps, st["mean"], color=color, marker=marker, ms=4, label=label)
    ax.fill_between(steps, st["mean"] - half, st["mean"] + half, color=color, alpha=0.2)


def distillation_diagnostics(evals: pd.DataFrame, path: Path, caption: str = "") -> Path:
    """MAC-Flow Fig. 3 (Sec. 4.3) from macflow's diag/* metrics, one row per evaluation and seed:
    (a) distillation loss and value gap over training, (b) MI(a^i, a^j) of the joint flow and of the one-step
    policies over training, (c) the value gap against the L_Q * W2 bound (Prop. 4.3), (d) the point-wise value gap
    of single observations against W2, under the envelope L_Q * W2. ``caption``: the numbers that decide the
    paper's claims (analysis.games.fig3_claims), printed under the panels."""
    steps = np.array(sorted(evals["step"].unique()))
    g = evals.groupby("step")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6))
    (a, b), (c, d) = axes
    _band(a, steps, g, "diag/distill", "distillation loss E||mu_w - mu_phi||^2", "C0")
    a2 = a.twinx()
    _band(a2, steps, g, "diag/value_gap", "value gap |Q_tot(mu_w) - Q_tot(mu_phi)|", "C1", marker="s")
    a2.set_ylabel("value gap", color="C1")
    a.set_ylabel("distillation loss", color="C0")
    lines = a.get_legend_handles_labels()[0] + a2.get_legend_handles_labels()[0]
    a.legend(lines, [h.get_label() for h in lines], fontsize="small", loc="upper right")
    a.set_title("(a) distillation loss and value gap")
    if "diag/mi_joint" in evals and evals["diag/mi_joint"].notna().any():
        _band(b, steps, g, "diag/mi_joint", "joint flow (stage I)", "C2")
        _band(b, steps, g, "diag/mi_onestep", "one-step policies (factorised)", "C4", marker="s")
        b.axhline(0.1, color="grey", ls=":", lw=1, label="0.1 nats (the paper's factorised level)")
        b.set_ylabel("MI(a^i, a^j) at a fixed observation, nats (KSG)")
        b.legend(fontsize="small")
    else:
        b.text(0.5, 0.5, "no diag/mi_* metrics in these runs\n(trained before the estimator existed)",
               ha="center", va="center", transform=b.transAxes)
    b.set_title("(b) inter-agent mutual information")
    _band(c, steps, g, "diag/value_gap", "value gap", "C1", marker="s")
    _band(c, steps, g, "diag/gap_bound", "bound L_Q * W2 (W2 <= sqrt(distill))", "C3")
    c.set_yscale("log")
    c.set_ylabel("|E Q_tot(mu_w) - E Q_tot(mu_phi)|")
    c.legend(fontsize="small")
    c.set_title("(c) value gap vs the Prop. 4.3 bound")
    for ax in (a, b, c):
        ax.set_xlabel("gradient steps")
    ks = sorted(int(col.rsplit("_", 1)[1]) for col in evals if str(col).startswith("diag/pw_gap_"))
    if ks:
        gap = np.concatenate([evals[f"diag/pw_gap_{k}"].to_numpy() for k in ks])
        w2 = np.concatenate([evals[f"diag/pw_w2_{k}"].to_numpy() for k in ks])
        lq = np.concatenate([evals[f"diag/pw_lq_{k}"].to_numpy() for k in ks])
        step = np.concatenate([evals["step"].to_numpy() for _ in ks])
        ok = np.isfinite(gap) & np.isfinite(w2) & np.isfinite(lq)
        gap, w2, lq, step = gap[ok], w2[ok], lq[ok], step[ok]
        sc = d.scatter(w2, gap, c=step, cmap="viridis", s=10, alpha=0.7)
        top = float(np.max(lq)) if len(lq) else 0.0
        xs = np.linspace(0, float(np.max(w2)) if len(w2) else 1.0, 50)
        d.plot(xs, top * xs, color="C3", label=f"envelope L_Q * W2 (largest L_Q, {top:.2f})")
        below = float(np.mean(gap <= lq * w2)) if len(gap) else float("nan")
        d.set_title(f"(d) point-wise: {100 * below:.0f}% of {len(gap)} points under their own L_Q * W2")
        fig.colorbar(sc, ax=d, label="gradient step")
        d.legend(fontsize="small", loc="upper left")
    else:
        d.set_title("(d) point-wise (no diag/pw_* metrics in these runs)")
    d.set_xlabel("W2 bound at one observation, sqrt(E_z ||mu_w - mu_phi||^2)")
    d.set_ylabel("value gap at that observation")
    fig.suptitle(f"MAC-Flow Fig. 3: theory checks on the landmark game; shaded: {CURVE_BAND}", fontsize="medium")
    if caption:
        fig.text(0.5, -0.01, caption, ha="center", va="top", fontsize="small", wrap=True)
    fig.tight_layout()
    return _save(fig, path)


def training_time(runs: pd.DataFrame, path: Path) -> Path:
    """Training wall time per 1 000 gradient steps (all seeds of a run train together), per task: a group of bars
    per task, one bar per variant (the mean over its runs there)."""
    r = runs.dropna(subset=["train_time"]).copy()
    r["sec_per_1k"] = r["train_time"] / r["steps"] * 1000
    piv = r.pivot_table(index="task", columns="variant", values="sec_per_1k", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(piv)), 3.8))
    colors = _colors(list(piv.columns))
    x = np.arange(len(piv))
    width = 0.8 / max(len(piv.columns), 1)
    for k, v in enumerate(piv.columns):
        ax.bar(x - 0.4 + (k + 0.5) * width, piv[v].to_numpy(), width, color=colors[v], label=v)
    ax.set_xticks(x, piv.index, rotation=30, ha="right")
    ax.set_ylabel("training seconds per 1k steps (all seeds)")
    ax.set_title("mean over runs; no interval (one timing per run)", fontsize="small")
    ax.legend(fontsize="small", ncol=max(1, len(piv.columns) // 8))
    return _save(fig, path)


def training_minutes(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean minutes per (suite, variant) over tasks: wall (training and evaluation) and training alone."""
    r = runs.dropna(subset=["train_time"]).copy()
    r["suite"] = r["task"].str.split("/").str[0]
    r["wall"] = r["wall_time"].fillna(r["train_time"]) if "wall_time" in r else r["train_time"]
    return r.groupby(["suite", "variant"]).agg(wall=("wall", "mean"), train=("train_time", "mean"),
                                                tasks=("task", "nunique")).reset_index().assign(
        wall=lambda d: d["wall"] / 60, train=lambda d: d["train"] / 60)


def running_time(runs: pd.DataFrame, path: Path, labels: dict, title: str) -> Path:
    """VGM2P Fig. 4: minutes per run (all its seeds), mean over each suite's tasks, one bar per variant; the
    darker part is the gradient steps alone (``train_time``), the whole bar the run's wall time (with evaluation)."""
    t = training_minutes(runs)
    suites = sorted(t["suite"].unique())
    names = [v for v in labels if v in set(t["variant"])]
    colors = _colors(names)
    fig, ax = plt.subplots(figsize=(max(5.5, 2.2 * len(suites) + 2), 4.2))
    width = 0.8 / max(len(names), 1)
    for k, v in enumerate(names):
        sub = t[t["variant"] == v].set_index("suite").reindex(suites)
        x = np.arange(len(suites)) + (k - (len(names) - 1) / 2) * width
        ax.bar(x, sub["wall"], width, color=colors[v], alpha=0.45)
        ax.bar(x, sub["train"], width, color=colors[v], label=labels[v])
        for xi, w, n in zip(x, sub["wall"], sub["tasks"]):
            if np.isfinite(w):
                ax.text(xi, w, f"{w:.0f}\n({int(n)})", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(np.arange(len(suites)), suites)
    ax.set_ylabel("minutes per run (all seeds)")
    ax.legend(fontsize="small", title="solid: gradient steps; pale: + evaluation", title_fontsize="small")
    ax.set_title(f"{title}\nmean over tasks (their number in brackets); no interval (one timing per run)",
                 fontsize="medium")
    ax.margins(y=0.2)
    return _save(fig, path)


def variant_curves(evals: pd.DataFrame, path: Path, labels: dict, metrics: list, title: str,
                   online_start: dict | None = None, normalise_steps: bool = False) -> Path:
    """Learning curves comparing variants of one method (MAC-Flow Figs. 5-10, 12): one panel per task and
    metric, one curve per variant (``labels``: variant -> legend label), the mean over seeds with a
    ``CURVE_BAND`` band (a point with bars where a variant has one evaluation).

    metrics: [(column, y label)]. online_start: task -> step where online fine-tuning began (a dashed line;
    MAC-Flow Fig. 5). normalise_steps: x is step / the run's last step (Fig. 5's "normalized steps")."""
    tasks = sorted(evals["task"].unique())
    cols = min(len(tasks), 4)
    per_metric = int(np.ceil(len(tasks) / cols))
    rows = per_metric * len(metrics)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.7 * rows + 0.6), squeeze=False)
    colors = _colors(list(labels))
    for m, (column, ylabel) in enumerate(metrics):
        have = evals.dropna(subset=[column]) if column in evals else evals.iloc[:0]
        by_task = dict(iter(_stats(have, column).groupby("task", sort=False))) if not have.empty else {}
        for k, task in enumerate(tasks):
            ax = axes[m * per_metric + k // cols, k % cols]
            last = evals.loc[evals["task"] == task, "step"].max() if normalise_steps else 1
            if task in by_task:
                _curves(ax, by_task[task], colors, labels, x_scale=last, ms=2.5)
            if online_start and task in online_start:
                ax.axvline(online_start[task] / last, color="k", ls="--", lw=1, label="online fine-tuning starts")
            ax.set_title(task, fontsize="medium")
            ax.set_xlabel("normalised steps" if normalise_steps else "gradient steps", fontsize="small")
            ax.set_ylabel(ylabel, fontsize="small")
            ax.tick_params(labelsize="small")
        for k in range(len(tasks), per_metric * cols):
            axes[m * per_metric + k // cols, k % cols].axis("off")
    _grid_layout(fig, axes, rows, f"{title}\nshaded: {CURVE_BAND} (bars where a run has one evaluation)",
                 top_inches=0.8)
    return _save(fig, path, tight=False)


# ---- the games (MAC-Flow Figs. 13-16) --------------------------------------------------------------------
def _joint_hist(actions) -> np.ndarray:
    """[..., 2] discrete joint actions (any leading axes) -> 2x2 probabilities [a1, a2]."""
    a = np.asarray(actions).reshape(-1, 2)
    return np.bincount(a[:, 0] * 2 + a[:, 1], minlength=4).reshape(2, 2) / len(a)


def _heat(ax, p: np.ndarray, title: str, ylabel: bool = True, xlabel: bool = True) -> None:
    ax.imshow(p, cmap="Blues", vmin=0, vmax=1, origin="lower")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{p[i, j]:.2f}", ha="center", va="center", fontsize="medium",
                    color="white" if p[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    if xlabel:
        ax.set_xlabel("agent 2 action", fontsize="small")
    if ylabel:
        ax.set_ylabel("agent 1 action", fontsize="small")
    ax.set_title(title, fontsize="medium")


def landmark_trajectories(by_agents: dict, path: Path) -> Path:
    """MAC-Flow Fig. 13: rows dataset / joint flow / one-step policy, one column per number of agents.
    by_agents: n -> (rollouts from analysis.games.landmark_rollouts, budget text). Each panel's title gives its
    row's coverage (analysis.games.coverage) when the rollouts carry it."""
    ns = sorted(by_agents)
    rows = ("dataset", "joint flow", "one-step policy")
    fig, axes = plt.subplots(3, len(ns), figsize=(3.4 * len(ns), 10.4), squeeze=False)
    for c, n in enumerate(ns):
        roll, budget = by_agents[n]
        cmap = plt.get_cmap("hsv", n + 1)
        cov = roll.get("coverage", {})
        for r, name in enumerate(rows):
            ax = axes[r, c]
            traj = roll[name]
            for i in range(n):
                ax.plot(traj[:, i, 0], traj[:, i, 1], color=cmap(i), lw=1)
                ax.plot(traj[0, i, 0], traj[0, i, 1], "o", color=cmap(i), ms=2.5)
            ax.plot(roll["landmarks"][:, 0], roll["landmarks"][:, 1], "kx", ms=6)
            ax.set_xlim(-1.05, 1.05)
            ax.set_ylim(-1.05, 1.05)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            title = f"{name}, {n} agents"
            if name in cov:
                title += f"\n{100 * cov[name][1]:.0f}% covered, distance {cov[name][0]:.3f}"
            ax.set_title(title, fontsize="medium")
        axes[2, c].set_xlabel(budget.replace(", hidden", ",\nhidden"), fontsize="small")
    fig.suptitle("MAC-Flow Fig. 13: landmark covering, one episode (dots: starts, x: landmarks);\ndataset: its first "
                 "episode; policies: one shared start (seed 0). Coverage at the end of an episode:\nthe share of "
                 "landmarks with an agent within half their spacing, and the mean distance from a\nlandmark to its "
                 "nearest agent (dataset: all its episodes; policies: 20 episodes per seed)", fontsize="medium")
    fig.tight_layout()
    return _save(fig, path)


def coordination_distributions(igm: dict, no_igm: dict, path: Path, budget: str) -> Path:
    """MAC-Flow Fig. 14: joint-action distributions of (a) the data, (b) the joint flow, (c) the one-step
    policy with IGM, (d) the one-step policy without IGM (independent critics), pooled over seeds."""
    fig, axes = plt.subplots(2, 2, figsize=(8, 8.2))
    panels = ((igm["data"], "(a) dataset"), (igm["joint"], "(b) joint flow (stage I)"),
              (igm["onestep"], "(c) one-step policy, IGM"), (no_igm["onestep"], "(d) one-step policy, w/o IGM"))
    for ax, (a, t) in zip(axes.ravel(), panels):
        _heat(ax, _joint_hist(a), t)
    fig.suptitle(f"MAC-Flow Fig. 14: coordination game, P(a1, a2);\nreward (1,1) = 2, (0,1) = (1,0) = 1, (0,0) = 0\n"
                 f"{budget}; policies pooled over seeds,\n{igm['joint'].shape[1]} samples per seed; no interval "
                 f"(empirical frequencies)", fontsize="medium")
    fig.tight_layout()
    return _save(fig, path)


def xor_samples(s: dict, path: Path, budget: str) -> Path:
    """MAC-Flow Fig. 15: scatter of joint actions: data, joint flow, one-step policy (push-forward of z)."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, (key, t) in zip(axes, (("data", "dataset"), ("joint", "joint flow"), ("onestep", "one-step policy"))):
        a = np.asarray(s[key]).reshape(-1, 2)
        ax.scatter(a[:, 0], a[:, 1], s=2, alpha=0.25)
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-1.1, 1.1)
        ax.set_aspect("equal")
        ax.set_xlabel("agent 1 action")
        ax.set_ylabel("agent 2 action")
        r = float(np.mean(-np.clip(a[:, 0], -1, 1) * np.clip(a[:, 1], -1, 1)))
        ax.set_title(f"{t}\n(mean reward {r:.2f})", fontsize="medium")
    fig.suptitle(f"MAC-Flow Fig. 15: XOR game, reward -a1*a2 (optima (-1,1), (1,-1)).\n{budget}; "
                 f"samples pooled over seeds", fontsize="medium")
    fig.tight_layout()
    return _save(fig, path)


def payoff_sweep(by_zeta: dict, path: Path) -> Path:
    """MAC-Flow Fig. 16: (a) distributions of data / joint flow / one-step policy per zeta (a row each), (b)
    expected reward of each vs zeta, (c) W2(joint flow, one-step) and W2(data, joint flow) vs zeta; mean ± 2 std
    over seeds in (b) and (c), drawn under the distributions."""
    from benchmarks.envs.games import COORD_REWARD, w2_discrete

    zetas = sorted(by_zeta)
    fig = plt.figure(figsize=(2.0 * len(zetas) + 0.8, 12.5))
    gs = fig.add_gridspec(5, 2 * len(zetas), height_ratios=(1, 1, 1, 1.5, 0.05), hspace=0.55)
    rows = (("data", "dataset"), ("joint", "joint flow"), ("onestep", "one-step"))
    ret = {k: [] for k, _ in rows}
    w2j, w2d = [], []
    for c, z in enumerate(zetas):
        s, budget = by_zeta[z]
        for r, (k, name) in enumerate(rows):
            _heat(fig.add_subplot(gs[r, 2 * c:2 * c + 2]), _joint_hist(s[k]), f"{name}\nzeta = {z:g}", c == 0, r == 2)
        data_h = _joint_hist(s["data"])
        per_seed = [(_joint_hist(j), _joint_hist(o)) for j, o in zip(s["joint"], s["onestep"])]
        ret["data"].append([float((data_h * COORD_REWARD).sum())])
        ret["joint"].append([float((j * COORD_REWARD).sum()) for j, _ in per_seed])
        ret["onestep"].append([float((o * COORD_REWARD).sum()) for _, o in per_seed])
        w2j.append([w2_discrete(j.ravel(), o.ravel()) for j, o in per_seed])
        w2d.append([w2_discrete(data_h.ravel(), j.ravel()) for j, _ in per_seed])
    half = len(zetas)
    axb = fig.add_subplot(gs[3, :half])
    for (k, name), m in zip(rows, ("s", "o", "^")):
        v = [np.asarray(x) for x in ret[k]]
        axb.errorbar(zetas, [x.mean() for x in v], yerr=[2 * x.std() for x in v], marker=m, capsize=3, label=name)
    axb.set_xlabel("interaction strength zeta")
    axb.set_ylabel("expected reward")
    axb.set_title("(b) returns")
    axb.legend(fontsize="small")
    axc = fig.add_subplot(gs[3, half:])
    for v, name, m in ((w2j, "W2(joint flow, one-step)", "o"), (w2d, "W2(dataset, joint flow)", "s")):
        v = [np.asarray(x) for x in v]
        axc.errorbar(zetas, [x.mean() for x in v], yerr=[2 * x.std() for x in v], marker=m, capsize=3, label=name)
    axc.set_xlabel("interaction strength zeta")
    axc.set_title("(c) W2 (exact, joint actions in R^2)")
    axc.legend(fontsize="small")
    budget = by_zeta[zetas[0]][1]
    fig.suptitle(f"MAC-Flow Fig. 16: payoff game. (a) P(a1, a2) pooled over seeds;\n(b, c) mean ± 2 std over seeds. "
                 f"{budget}", fontsize="medium")
    return _save(fig, path)
