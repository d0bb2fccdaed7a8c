"""Figures with matplotlib (Agg backend, no display needed) and rliable's plot helpers.

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


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _colors(names) -> dict:
    import seaborn as sns

    pal = sns.color_palette("colorblind", len(names))
    return dict(zip(names, pal))


def aggregate_intervals(point: dict, interval: dict, path: Path) -> Path:
    from rliable import plot_utils

    from analysis.aggregate import METRICS

    algos = sorted(point, key=lambda a: point[a][1])
    fig, _ = plot_utils.plot_interval_estimates(point, interval, metric_names=list(METRICS), algorithms=algos,
                                                colors=_colors(algos),
                                                xlabel=f"normalised score / 100 (point estimate, {CI_NAME})",
                                                subfigure_width=4.2, row_height=0.6, max_ticks=3,
                                                xlabel_y_coordinate=-0.3 if len(algos) < 4 else -0.15)
    return _save(fig, path)


def performance_profiles(taus, profiles: dict, cis: dict, path: Path) -> Path:
    from matplotlib.lines import Line2D
    from rliable import plot_utils

    colors = _colors(list(profiles))
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax, colors=colors,
                                         xlabel=r"normalised score / 100 ($\tau$)",
                                         ylabel=r"fraction of runs with score $> \tau$", labelsize="medium",
                                         ticklabelsize="small")
    ax.legend([Line2D([0], [0], color=colors[a], lw=2) for a in profiles], list(profiles), loc="upper right",
              fontsize="small", title=f"shaded: {CI_NAME}", title_fontsize="x-small")
    return _save(fig, path)


def probability_of_improvement(poi: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 0.35 * len(poi) + 1))
    labels = [f"P({x} > {y})" for x, y in zip(poi["x"], poi["y"])]
    y = np.arange(len(poi))
    ax.barh(y, poi["P(X>Y)"], xerr=[poi["P(X>Y)"] - poi["lo"], poi["hi"] - poi["P(X>Y)"]], color="#4c72b0", alpha=0.8)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"probability of improvement ({CI_NAME})")
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
    colors = _colors(sorted(evals["variant"].unique()))
    for ax, task in zip(axes.ravel(), tasks):
        sub = evals[evals["task"] == task]
        for v, g in sub.groupby("variant"):
            st = g.groupby("step")[column].agg(["mean", "std"]).reset_index()
            half = 2 * st["std"].fillna(0)  # one seed: no spread to show
            if len(st) == 1:
                ax.errorbar(st["step"], st["mean"], yerr=half, fmt="o", ms=6, capsize=3, color=colors[v], label=v)
            else:
                ax.plot(st["step"], st["mean"], marker="o", ms=3, color=colors[v], label=v)
                ax.fill_between(st["step"], st["mean"] - half, st["mean"] + half, color=colors[v], alpha=0.2)
        if "online_start" in sub:  # offline-to-online runs: where the online phase starts (MAC-Flow Fig. 5)
            for k, x in enumerate(sorted(sub["online_start"].dropna().unique())):
                ax.axvline(x, color="grey", ls="--", lw=1, label="online phase starts" if k == 0 else None)
        ax.set_title(task, fontsize="small")
        ax.set_xlabel("gradient steps")
        ax.set_ylabel(column)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize="x-small")
    fig.suptitle(f"{column}: {CURVE_BAND} (bars where a run has one evaluation)", fontsize="small")
    fig.tight_layout()
    return fig


def learning_curves(evals: pd.DataFrame, path: Path, column: str = "normalised") -> Path:
    return _save(learning_curves_figure(evals, column), path)


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


def distillation_diagnostics(evals: pd.DataFrame, path: Path) -> Path:
    """MAC-Flow Fig. 3: distillation loss, value gap and the L_Q * W2 bound over training."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    g = evals.groupby("step")
    steps = np.array(sorted(evals["step"].unique()))

    def band(ax, col, label, color):
        st = g[col].agg(["mean", "std"]).reindex(steps)
        ax.plot(steps, st["mean"], color=color, label=label)
        half = 2 * st["std"].fillna(0)
        ax.plot(steps, st["mean"], ls="", marker="o", ms=3, color=color)  # visible with a single evaluation
        ax.fill_between(steps, st["mean"] - half, st["mean"] + half, color=color, alpha=0.2)

    band(axes[0], "diag/distill", "distillation loss E||mu_w - mu_phi||^2", "C0")
    band(axes[1], "diag/value_gap", "value gap |Q(mu_w) - Q(mu_phi)|", "C1")
    band(axes[1], "diag/gap_bound", "bound L_Q * W2", "C3")
    band(axes[2], "diag/w2_bound", "W2 (distillation)", "C2")
    band(axes[2], "diag/lipschitz_q", "L_Q", "C4")
    for ax, t in zip(axes, ("distillation loss", "value gap vs Prop. 4.3 bound", "bound factors")):
        ax.set_xlabel("gradient steps")
        ax.set_title(t, fontsize="medium")
        ax.legend(fontsize="x-small")
    axes[1].set_yscale("symlog", linthresh=1e-3)
    fig.suptitle(f"shaded: {CURVE_BAND}", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def training_time(runs: pd.DataFrame, path: Path) -> Path:
    """Training wall time per 1 000 gradient steps (all seeds of a run train together), per task."""
    r = runs.dropna(subset=["train_time"]).copy()
    r["sec_per_1k"] = r["train_time"] / r["steps"] * 1000
    piv = r.pivot_table(index="task", columns="variant", values="sec_per_1k", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(piv)), 3.8))
    piv.plot.bar(ax=ax, rot=30)
    ax.set_ylabel("training seconds per 1k steps (all seeds)")
    ax.set_title("mean over runs; no interval (one timing per run)", fontsize="small")
    ax.set_xlabel("")
    ax.legend(fontsize="small")
    return _save(fig, path)
