"""``bench figures --paper vgm2p``: the VGM2P paper's tables and figures from the store (arXiv 2604.08174).

  table1.{md,tex,html}      Table 1 (SMACv1/v2): measured beside the published BC (MeanFlow) and VGM2P columns
  table2.{md,tex,html}      Table 2 (MA-MuJoCo): measured beside the published VGM2P column
  fig1_bc_vs_vgm2p.png      Figure 1: BC (FM), BC (MF) and VGM2P learning curves on 6-HalfCheetah and 5m_vs_6m
  fig2_igm_q.png            Figure 2: Q trained under IGM (Eq. 13) vs independently (Eq. 6), 6-HalfCheetah
  fig3_guidance.png         Figure 3: guidance weights omega in {3, 5, 10, 20}, 6-HalfCheetah and 5m_vs_6m
  fig4_running_time.png     Figure 4: running time (minutes) of VGM2P, MAC-Flow and VGM2P (FM), mean over each
                            environment's tasks
  fig5_smac_curves.png      Figure 5: VGM2P's learning curves on SMAC
  fig6_mamujoco_curves.png  Figure 6: VGM2P's learning curves on MA-MuJoCo
  index.md                  every item: its file or the one command that produces it

Every item's runs train under ``--protocol vgm2p-paper`` (Table 3: 10^6 steps on SMAC, 5x10^5 on MA-MuJoCo, batch
64, 6 seeds, 10 evaluation episodes; the cadence is MAC-Flow's 50K, so runs both papers compare are one run).
Choices where the paper names a method we have no plugin of: BC (FM) is ``flowbc``; BC (MF) is OM2P's mean-flow
loss without its Q term, ``om2p[q_weight=0]``; VGM2P (FM) is ``vgm2p[generator=flow;sampling_steps=10]`` (its
conditional flow matching with 10 Euler steps, Sec. 5.4), a cost override. Fig. 2's independent Q is
``vgm2p[td=independent]`` (each agent's Eq. 6). Figs. 1 and 3 name their tasks ("6HalfCheetah", "5m_vs_6m"):
every dataset of those scenarios.
"""
from __future__ import annotations

from pathlib import Path

from analysis.ablations import MAMUJOCO, RETURN, SMACV1, SMACV2, Item, Q_METRIC, draw

PROTOCOL = "vgm2p-paper"
BC_MF = "om2p[q_weight=0]"
VGM2P_FM = "vgm2p[generator=flow;sampling_steps=10]"
HALFCHEETAH = tuple(t for t in MAMUJOCO if "halfcheetah" in t)
FIVE_M = tuple(t for t in SMACV1 if "5m_vs_6m" in t)
TABLE_ALGOS = {"1": ("bc", "diffusionbc", "flowbc", BC_MF, "mabcq", "macql", "madiff-c", "dof", "macflow", "vgm2p"),
               "2": ("matd3bc", "macql", "icq", "omar", "omiga", "madiff-c", "macflow", "vgm2p")}
TABLE_SUITES = {"1": ("smacv1", "smacv2"), "2": ("mamujoco",)}


def _item(name, file, title, tasks, variants, metrics=(RETURN,), cost=False) -> Item:
    return Item(name, file, title, tasks, variants, metrics, protocol=PROTOCOL, paper="VGM2P", allow_cost_override=cost)


ITEMS = (
    _item("Figure 1", "fig1_bc_vs_vgm2p.png", "BC (FM), BC (MF) and VGM2P", HALFCHEETAH + FIVE_M,
          {"flowbc": "BC (FM)", BC_MF: "BC (MF)", "vgm2p": "VGM2P"}),
    _item("Figure 2", "fig2_igm_q.png", "Q trained under IGM vs independently", HALFCHEETAH,
          {"vgm2p": "IGM (Eq. 13)", "vgm2p[td=independent]": "independent (Eq. 6)"}, (RETURN, Q_METRIC)),
    _item("Figure 3", "fig3_guidance.png", "guidance weight omega", HALFCHEETAH + FIVE_M,
          {"vgm2p": "omega = 3", "vgm2p[omega=5]": "omega = 5", "vgm2p[omega=10]": "omega = 10",
           "vgm2p[omega=20]": "omega = 20"}),
    _item("Figure 5", "fig5_smac_curves.png", "VGM2P's learning curves on SMAC", SMACV1 + SMACV2, {"vgm2p": "VGM2P"}),
    _item("Figure 6", "fig6_mamujoco_curves.png", "VGM2P's learning curves on MA-MuJoCo", MAMUJOCO, {"vgm2p": "VGM2P"}),
)
# Figure 4: the running time of three methods on every task of SMACv1 and MA-MuJoCo
FIG4 = _item("Figure 4", "fig4_running_time.png", "running time (minutes), mean over each environment's tasks",
             SMACV1 + MAMUJOCO, {"vgm2p": "VGM2P", "macflow": "MAC-Flow", VGM2P_FM: "VGM2P (FM)"}, cost=True)


def suite_tasks(suite: str) -> tuple:
    return {"smacv1": SMACV1, "smacv2": SMACV2, "mamujoco": MAMUJOCO}[suite]


def running_time(data, item: Item, out: Path, store: str = "") -> tuple[list, list]:
    """Figure 4 from the runs' wall time (training and evaluation; ``train_time``: the gradient steps alone)."""
    from analysis import plots

    runs = data.runs
    cmd = f"`{item.command(store)}`"
    runs = runs[runs["variant"].isin(list(item.variants)) & runs["task"].isin(item.tasks)
                & runs["status"].eq("finished")] if not runs.empty else runs
    if runs.empty or runs["variant"].nunique() < 2:
        return [], [f"{item.name} ({item.title}): needs finished runs of at least two of "
                    f"{', '.join(item.variants)}; run {cmd}"]
    path = plots.running_time(runs, out / item.file, {v: l for v, l in item.variants.items()},
                              f"VGM2P {item.name}: {item.title}")
    missing = []
    absent = sorted(set(item.variants) - set(runs["variant"]))
    if absent or runs["task"].nunique() < len(item.tasks):
        missing.append(f"{item.name} drawn from {runs['task'].nunique()} of its {len(item.tasks)} tasks"
                       + (f", without {', '.join(absent)}" if absent else "") + f"; for all of them run {cmd}")
    return [path], missing
