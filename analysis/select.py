"""Hyper-parameter selection in reports, only when asked, with its rule and tuning budget declared.

``bench run --sweep KEY=V1,V2,...`` trains one run per configuration (a grid over several keys), each recorded
with the keys its sweep varied (spec.json ``sweep``). Without selection every configuration is its own column,
e.g. ``macflow[alpha=3]``, an untuned result. ``bench report --select best-config`` replaces the configurations
of one sweep by one tuned column per algorithm setting, e.g. ``macflow[tuned alpha]``: on each dataset (task),
the configuration with the highest mean return over its seeds under the report's score rule. Such a column is
never shared with an untuned run: runs that were not part of a sweep keep their own columns.

Selecting on the evaluation returns that are then reported is optimistic (Kurenkov & Kolesnikov, ICML 2022:
offline RL comparisons depend on the online evaluation spent on tuning), so every caption states the rule and
the tuning budget: configurations x the evaluation episodes they ran (every evaluation of every seed counts,
since each was an episode in the environment).
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from algorithms.errors import BenchError

RULES = ("best-config",)


def parse(rule: str | None) -> str:
    """'' (no selection) or a rule of RULES; a one-line BenchError otherwise."""
    if not rule:
        return ""
    if rule not in RULES:
        raise BenchError(f"unknown selection '{rule}': use --select {' or '.join(RULES)} (or leave it out to show every "
                         f"configuration of a sweep as its own column)")
    return rule


@dataclasses.dataclass
class Selection:
    rule: str
    choices: pd.DataFrame  # one row per tuned column and task: variant, task, chosen, configurations, episodes
    caption: str

    @property
    def empty(self) -> bool:
        return self.choices.empty


def tuned_name(base: str, keys: str) -> str:
    """'macflow' + 'alpha,lr' -> 'macflow[tuned alpha,lr]'; 'macflow[q_weight=0]' -> 'macflow[q_weight=0;tuned alpha,lr]'."""
    tag = f"tuned {keys}"
    return f"{base[:-1]};{tag}]" if base.endswith("]") else f"{base}[{tag}]"


def spent_episodes(data, run_ids) -> int:
    """Evaluation episodes the runs ran: their evaluation rows (one per seed and evaluation) x episodes each."""
    ev, runs = data.evals, data.runs
    if ev.empty or runs.empty:
        return 0
    per = dict(zip(runs["run_id"], runs["eval_episodes"])) if "eval_episodes" in runs else {}
    rows = ev[ev["run_id"].isin(set(run_ids))].groupby("run_id").size()
    return int(sum(n * int(per.get(r) or 0) for r, n in rows.items()))


def best_config(finals: pd.DataFrame, data, score_rule: str) -> tuple[pd.DataFrame, Selection]:
    """``finals`` with each sweep's configurations replaced, per task, by the best one as a tuned variant (the
    finals are already under ``score_rule``)."""
    cols = ["variant", "task", "chosen", "configurations", "episodes", "score"]
    if finals.empty or "sweep" not in finals or not (finals["sweep"].fillna("") != "").any():
        return finals, Selection("best-config", pd.DataFrame(columns=cols), "no sweep runs to select from")
    swept = finals[finals["sweep"].fillna("") != ""]
    keep = [finals[finals["sweep"].fillna("") == ""]]
    choices = []
    for (base, keys, task), grp in swept.groupby(["sweep_base", "sweep", "task"], sort=True):
        means = grp.groupby("variant")["return"].mean()
        chosen = means.idxmax()
        name = tuned_name(base, keys)
        rows = grp[grp["variant"] == chosen].assign(variant=name, flagged=grp["flagged"].any())
        keep.append(rows)
        choices.append({"variant": name, "task": task, "chosen": chosen, "configurations": int(len(means)),
                        "episodes": spent_episodes(data, set(grp["run_id"])), "score": float(means.max())})
    out = pd.concat(keep, ignore_index=True)
    ch = pd.DataFrame(choices, columns=cols)
    return out, Selection("best-config", ch, describe(ch))


def _span(values) -> str:
    lo, hi = int(min(values)), int(max(values))
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def describe(choices: pd.DataFrame) -> str:
    """The caption: the selection rule and the tuning budget (configurations x evaluation episodes spent)."""
    if choices.empty:
        return "no sweep runs to select from"
    per = []
    for v, g in choices.groupby("variant", sort=True):
        per.append(f"{v}: {_span(g['configurations'])} configurations x {_span(g['episodes'] / g['configurations'])} "
                   f"evaluation episodes each = {_span(g['episodes'])} episodes per dataset")
    return ("selection: best-config (columns '[tuned ...]': per dataset, the sweep configuration with the highest "
            "mean return over seeds under the score rule, chosen on the evaluation episodes it reports: optimistic); "
            "tuning budget: " + "; ".join(per))


def footnote(choices: pd.DataFrame) -> str:
    """Which configuration each tuned column took on each task."""
    return "tuned columns chose: " + "; ".join(
        f"{r['variant']} on {r['task']}: {r['chosen']} (of {r['configurations']})" for _, r in choices.iterrows())



def full_caption(score_rule: str, selection: "Selection | None") -> str:
    """The score rule's caption, and the selection's (rule and tuning budget) when the report selected."""
    from analysis.score import caption

    return caption(score_rule) + (f"; {selection.caption}" if selection is not None and not selection.empty else "")
