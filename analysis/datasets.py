"""The figure of ``bench data analyse``: what is in one or several datasets, side by side.

One PNG of three panels over the analysed datasets (benchmarks/data/analyse.py), e.g. the qualities of one
scenario: the distribution of episode returns (a violin per dataset, with its quartiles), the distribution of
episode lengths, and og-marl's coverage plot, the number of distinct (state, joint action) pairs that occur
k times against k on log-log axes, with each dataset's joint SACo in the legend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.plots import _colors, _save, plt


def figure(analyses: list, path: Path, title: str = "") -> Path:
    names = [a.name for a in analyses]
    colors = _colors(names)
    fig, axes = plt.subplots(1, 3, figsize=(4.2 * 3, 3.8))
    ax = axes[0]
    shown = [(i, a) for i, a in enumerate(analyses) if len(a.returns)]
    if shown:
        parts = ax.violinplot([a.returns for _, a in shown], positions=[i for i, _ in shown], showextrema=False,
                              quantiles=[[0.25, 0.5, 0.75]] * len(shown))
        for body, (_, a) in zip(parts["bodies"], shown):
            body.set_facecolor(colors[a.name])
            body.set_alpha(0.6)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("episode return")
    ax.set_title("returns (violin; lines: quartiles)")

    ax = axes[1]
    lengths = [a.lengths for a in analyses if len(a.lengths)]
    if lengths:
        hi = max(int(x.max()) for x in lengths)
        lo = min(int(x.min()) for x in lengths)
        edges = np.arange(lo, hi + 2) - 0.5 if hi - lo <= 60 else np.linspace(lo, hi + 1, 41)
        for a in analyses:
            if len(a.lengths):
                ax.hist(a.lengths, edges, histtype="step", linewidth=1.6, color=colors[a.name], label=a.name)
    ax.set_xlabel("episode length (timesteps)")
    ax.set_ylabel("episodes")
    ax.set_title("episode lengths")

    ax = axes[2]
    for a in analyses:
        cf = a.coverage["count_frequencies"]
        if cf["count"]:
            ax.scatter(cf["count"], cf["pairs"], s=14, color=colors[a.name],
                       label=f"{a.name}: SACo {a.coverage['joint_saco']:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("occurrences k of a (state, joint action) pair")
    ax.set_ylabel("distinct pairs occurring k times")
    ax.set_title("joint coverage (og-marl's SACo)")
    ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
