"""The MAC-Flow paper's learning-curve figures (Figs. 5-10, 12): variants of one method on the same tasks.

Each item names the variants it compares as ``analysis`` names them (``macflow[critic=central]``: an
algorithm and its overrides) and the tasks it runs on, so ``bench figures`` either draws it from the
store or names the one ``bench run`` that trains it (``--algos`` takes ``NAME[KEY=VALUE;...]`` variants).

The paper's text does not list the tasks of every figure; where it does not, the choice is ours and said
here: Fig. 5 (offline-to-online): MPE Spread's four datasets (App. E gives the 500K + 500K schedule; the
figure's tasks are not in the text). Fig. 6 (RQ4) "across all scenarios" and Fig. 7 (RQ5, "MA-MuJoCo and
MPE" per its caption): MA-MuJoCo and MPE. Figs. 8, 9: "all MA-MuJoCo datasets". Fig. 10 "four
benchmarks": one medium-quality dataset per suite. Fig. 12: every task of Tables 1 and 2.
"w/o distillation" (Fig. 6) is "a pure BC flow policy that requires an ODE solver": the ``flowbc``
plugin (per-agent flow BC, 10 Euler steps). "w/o IGM" (Fig. 7) is ``critic=independent``; the
centralised critic (Fig. 8) ``critic=central``; the individual flows of Fig. 9 ``flow=individual``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from benchmarks.training.plan import PAPER_PROTOCOL

MAMUJOCO = tuple(f"mamujoco/{e}-{d}" for e in ("6-halfcheetah", "3-hopper", "2-ant")
                 for d in ("expert", "medium", "medium-replay", "medium-expert"))
MPE = tuple(f"mpe/spread-{d}" for d in ("expert", "medium", "medium-replay", "random"))
SMACV1 = tuple(f"smacv1/{m}-{q}" for m in ("3m", "8m", "2s3z", "5m_vs_6m") for q in ("good", "medium", "poor"))
SMACV2 = tuple(f"smacv2/{m}-replay" for m in ("terran_5_vs_5", "zerg_5_vs_5", "terran_10_vs_10"))
SUITE_TASKS = {"smacv1": SMACV1, "smacv2": SMACV2, "mamujoco": MAMUJOCO, "mpe": MPE}
FOUR = ("smacv1/8m-medium", "smacv2/terran_5_vs_5-replay", "mamujoco/2-ant-medium", "mpe/spread-medium")
ONLINE_STEPS = 500_000  # App. E: 500K online steps after the 500K offline ones
RETURN = ("normalised", "normalised score")
Q_METRIC = ("loss/q", "Q of the policy's actions (loss/q)")  # macflow's update logs "q" = mean Q_tot(o, mu_w)


@dataclasses.dataclass(frozen=True)
class Item:
    name: str  # "Figure 6"
    file: str
    title: str
    tasks: tuple
    variants: dict  # variant -> legend label
    metrics: tuple = (RETURN,)
    online: bool = False  # Fig. 5: offline then online phase (rows with a ``phase`` column)
    protocol: str = PAPER_PROTOCOL  # the schedule its runs train at (benchmarks.training.plan.PROTOCOLS)
    paper: str = "MAC-Flow"  # whose figure it is (the title's prefix)
    allow_cost_override: bool = False  # a variant changes a cost-defining setting (VGM2P(FM)'s 10 Euler steps)

    def command(self, store: str = "") -> str:
        algos = ",".join(self.variants)
        algos = f"'{algos}'" if "[" in algos else algos
        online = f" --online-steps {ONLINE_STEPS}" if self.online else ""
        cost = " --allow-cost-override" if self.allow_cost_override else ""
        return (f"bench run --task {','.join(self.tasks)} --algos {algos} --protocol {self.protocol}{online}{cost}"
                f"{store}")


ITEMS = (
    Item("Figure 5", "fig5_offline_to_online.png", "offline-to-online (RQ3): 500K offline then 500K online steps",
         MPE, {"macflow": "MAC-Flow", "macql": "MA-CQL", "matd3bc": "MA-TD3+BC", "omar": "OMAR"}, online=True),
    Item("Figure 6", "fig6_distillation_ablation.png", "ablation of the distillation phase and its RL objective (RQ4)",
         MAMUJOCO + MPE, {"macflow": "MAC-Flow", "macflow[q_weight=0]": "w/o Q maximisation",
                          "flowbc": "w/o distillation (BC flow, ODE solver)"}),
    Item("Figure 7", "fig7_igm.png", "IGM vs no IGM (RQ5): return and Q learning curves", MAMUJOCO + MPE,
         {"macflow": "with IGM", "macflow[critic=independent]": "w/o IGM (independent critics)"},
         metrics=(RETURN, Q_METRIC)),
    Item("Figure 8", "fig8_central_critic.png", "individual Q under IGM vs a centralised Q (App. H.1)", MAMUJOCO,
         {"macflow": "individual Q + IGM", "macflow[critic=central]": "centralised Q"}),
    Item("Figure 9", "fig9_flow_type.png", "joint vs individual BC flow in stage I (App. H.1)", MAMUJOCO,
         {"macflow": "joint flow (ours)", "macflow[flow=individual]": "individual flows"}),
    Item("Figure 10", "fig10_macflow_vs_mafql.png", "MAC-Flow vs MA-FQL on four benchmarks (App. H.1)", FOUR,
         {"macflow": "MAC-Flow", "mafql": "MA-FQL"}),
    Item("Figure 12", "fig12_learning_curves.png", "full learning curves of MAC-Flow (App. H.3)",
         SMACV1 + SMACV2 + MAMUJOCO + MPE, {"macflow": "MAC-Flow"}),
)


def draw(item: Item, data, out: Path, store: str = "", runs_shown=None) -> tuple[list, list]:
    """([written paths], [missing sentences]) for one item, from ``data`` (analysis.load.StoreData).
    ``runs_shown``: the runs a report shows (analysis.load.shown_runs; computed here when not given): one setting
    and code revision per (variant, task), all its seeds."""
    from analysis import plots
    from analysis.load import latest_finals, shown_runs

    runs_shown = runs_shown if runs_shown is not None else shown_runs(data, latest_finals(data))
    ev = data.evals
    names = {v: v for v in item.variants}
    if item.online:  # a fine-tuned run is its own variant, NAME[online=STEPS] (analysis.load): drawn as NAME
        names.update({f"{v}[online={ONLINE_STEPS}]": v for v in item.variants})
    ev = ev[ev["task"].isin(item.tasks) & ev["variant"].isin(list(names))] if not ev.empty else ev
    cmd = f"`{item.command(store)}`"
    need = 1 if len(item.variants) == 1 else 2
    if item.online:
        has_online = not ev.empty and "phase" in ev and (ev["phase"] == "online").any()
        if not has_online:
            return [], [f"{item.name} ({item.title}): no runs with an online phase; run {cmd}"]
        tuned = set(ev.loc[ev["phase"] == "online", "run_id"])  # only runs with an online phase, not their parents
        ev = ev[ev["run_id"].isin(tuned) & ev["phase"].notna()]
    ev = ev.assign(variant=ev["variant"].map(names)) if not ev.empty else ev
    shown = ev.groupby("task")["variant"].nunique() if not ev.empty else pd.Series(dtype=int)
    tasks = shown[shown >= need].index
    if len(tasks) == 0:
        return [], [f"{item.name} ({item.title}): no task has {'its run' if need == 1 else 'two of its variants'} "
                    f"in the store; run {cmd}"]
    ev = ev[ev["task"].isin(tasks) & ev["run_id"].isin(runs_shown)]
    online_start = None
    if item.online:
        off = ev[ev["phase"] == "offline"]
        online_start = off.groupby("task")["step"].max().to_dict()
    off_proto = ev.loc[ev["off_protocol"].fillna("").astype(bool), "run_id"].nunique() if "off_protocol" in ev else 0
    title = f"{item.paper} {item.name}: {item.title}"
    if off_proto:
        title += f" ({off_proto} run(s) not at --protocol {item.protocol})"
    path = plots.variant_curves(ev, out / item.file, {v: l for v, l in item.variants.items() if v in set(ev["variant"])},
                                list(item.metrics), title, online_start=online_start, normalise_steps=item.online)
    missing = []
    absent = [t for t in item.tasks if t not in set(tasks)]
    partial = sorted(set(item.variants) - set(ev["variant"]))
    if absent or partial or off_proto:
        what = []
        if absent:
            what.append(f"{len(absent)} of its {len(item.tasks)} tasks have no runs")
        if partial:
            what.append(f"no runs of {', '.join(partial)}")
        if off_proto:
            what.append(f"{off_proto} run(s) not at the paper's protocol")
        missing.append(f"{item.name} drawn from part of its runs ({'; '.join(what)}); for all of them run {cmd}")
    return [path], missing
