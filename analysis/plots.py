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
    """One panel per aggregate (median, IQM, mean, optimality gap), a row per variant sorted by IQM: the 95% CI as
    a bar and the point estimate as a black tick (the layout of rliable's plot_interval_estimates)."""
    from analysis.aggregate import METRICS

    algos = sorted(point, key=lambda a: point[a][1])
    colors = [_colors(algos)[a] for a in algos]
    y = np.arange(len(algos))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 0.6 * len(algos) + 1.0), sharey=True)
    for i, (ax, name) in enumerate(zip(axes, METRICS)):
        lo = np.array([interval[a][0, i] for a in algos])
        hi = np.array([interval[a][1, i] for a in algos])
        ax.barh(y, hi - lo, left=lo, height=0.6, color=colors, alpha=0.75)
        ax.vlines([point[a][i] for a in algos], y - 0.3, y + 0.3, color="k", lw=1.5)
        ax.set_title(name, fontsize="large")
        ax.xaxis.set_major_locator(plt.MaxNLocator(3))
        ax.grid(True, axis="x", alpha=0.25)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(y, algos)
    fig.supxlabel(f"normalised score / 100 (point estimate, {CI_NAME})", fontsize="medium")
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
        ax.set_title(task, fontsize="small")
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
            ax.set_title(task, fontsize="small")
            ax.set_xlabel("normalised steps" if normalise_steps else "gradient steps", fontsize="small")
            ax.set_ylabel(ylabel, fontsize="small")
            ax.tick_params(labelsize="x-small")
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


def _heat(ax, p: np.ndarray, title: str) -> None:
    ax.imshow(p, cmap="Blues", vmin=0, vmax=1, origin="lower")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{p[i, j]:.2f}", ha="center", va="center", fontsize="small",
                    color="white" if p[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    ax.set_xlabel("agent 2 action", fontsize="x-small")
    ax.set_ylabel("agent 1 action", fontsize="x-small")
    ax.set_title(title, fontsize="small")


def landmark_trajectories(by_agents: dict, path: Path) -> Path:
    """MAC-Flow Fig. 13: rows dataset / joint flow / one-step policy, one column per number of agents.
    by_agents: n -> (rollouts from analysis.games.landmark_rollouts, budget text)."""
    ns = sorted(by_agents)
    rows = ("dataset", "joint flow", "one-step policy")
    fig, axes = plt.subplots(3, len(ns), figsize=(3.3 * len(ns), 9.6), squeeze=False)
    for c, n in enumerate(ns):
        roll, budget = by_agents[n]
        cmap = plt.get_cmap("hsv", n + 1)
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
            ax.set_title(f"{name}, {n} agents", fontsize="small")
        axes[2, c].set_xlabel(budget, fontsize="x-small")
    fig.suptitle("MAC-Flow Fig. 13: landmark covering, one episode (dots: starts, x: landmarks); the dataset row is "
                 "its first episode, the policies share one start (seed 0 of the run)", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def coordination_distributions(igm: dict, no_igm: dict, path: Path, budget: str) -> Path:
    """MAC-Flow Fig. 14: joint-action distributions of (a) the data, (b) the joint flow, (c) the one-step
    policy with IGM, (d) the one-step policy without IGM (independent critics), pooled over seeds."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    panels = ((igm["data"], "(a) dataset"), (igm["joint"], "(b) joint flow (stage I)"),
              (igm["onestep"], "(c) one-step policy, IGM"), (no_igm["onestep"], "(d) one-step policy, w/o IGM"))
    for ax, (a, t) in zip(axes, panels):
        _heat(ax, _joint_hist(a), t)
    fig.suptitle(f"MAC-Flow Fig. 14: coordination game, P(a1, a2); reward (1,1)=2, (0,1)=(1,0)=1, (0,0)=0. "
                 f"{budget}; policies pooled over seeds, {igm['joint'].shape[1]} samples per seed; no interval "
                 f"(empirical frequencies)", fontsize="small")
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
        ax.set_title(f"{t} (mean reward {r:.2f})", fontsize="small")
    fig.suptitle(f"MAC-Flow Fig. 15: XOR game, reward -a1*a2 (optima (-1,1), (1,-1)). {budget}; "
                 f"samples pooled over seeds", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def payoff_sweep(by_zeta: dict, path: Path) -> Path:
    """MAC-Flow Fig. 16: (a) distributions of data / joint flow / one-step policy per zeta, (b) expected
    reward of each vs zeta, (c) W2(joint flow, one-step) and W2(data, joint flow) vs zeta; mean ± 2 std over
    seeds in (b) and (c)."""
    from benchmarks.envs.games import COORD_REWARD, w2_discrete

    zetas = sorted(by_zeta)
    fig = plt.figure(figsize=(2.4 * len(zetas) + 7, 7.2))
    gs = fig.add_gridspec(3, len(zetas) + 3)
    rows = (("data", "dataset"), ("joint", "joint flow"), ("onestep", "one-step"))
    ret = {k: [] for k, _ in rows}
    w2j, w2d = [], []
    for c, z in enumerate(zetas):
        s, budget = by_zeta[z]
        for r, (k, name) in enumerate(rows):
            _heat(fig.add_subplot(gs[r, c]), _joint_hist(s[k]), f"{name}, zeta={z:g}")
        data_h = _joint_hist(s["data"])
        per_seed = [(_joint_hist(j), _joint_hist(o)) for j, o in zip(s["joint"], s["onestep"])]
        ret["data"].append([float((data_h * COORD_REWARD).sum())])
        ret["joint"].append([float((j * COORD_REWARD).sum()) for j, _ in per_seed])
        ret["onestep"].append([float((o * COORD_REWARD).sum()) for _, o in per_seed])
        w2j.append([w2_discrete(j.ravel(), o.ravel()) for j, o in per_seed])
        w2d.append([w2_discrete(data_h.ravel(), j.ravel()) for j, _ in per_seed])
    axb = fig.add_subplot(gs[0:3, len(zetas):len(zetas) + 1 + 1])
    for (k, name), m in zip(rows, ("s", "o", "^")):
        v = [np.asarray(x) for x in ret[k]]
        axb.errorbar(zetas, [x.mean() for x in v], yerr=[2 * x.std() for x in v], marker=m, capsize=3, label=name)
    axb.set_xlabel("interaction strength zeta")
    axb.set_ylabel("expected reward")
    axb.set_title("(b) returns", fontsize="small")
    axb.legend(fontsize="x-small")
    axc = fig.add_subplot(gs[0:3, len(zetas) + 2])
    for v, name, m in ((w2j, "W2(joint flow, one-step)", "o"), (w2d, "W2(dataset, joint flow)", "s")):
        v = [np.asarray(x) for x in v]
        axc.errorbar(zetas, [x.mean() for x in v], yerr=[2 * x.std() for x in v], marker=m, capsize=3, label=name)
    axc.set_xlabel("interaction strength zeta")
    axc.set_title("(c) W2 (exact, joint actions in R^2)", fontsize="small")
    axc.legend(fontsize="x-small")
    budget = by_zeta[zetas[0]][1]
    fig.suptitle(f"MAC-Flow Fig. 16: payoff game, (a) P(a1, a2) pooled over seeds; (b, c) mean ± 2 std over seeds. "
                 f"{budget}", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)
