"""One command per paper: every run its items need, planned as one deduplicated set of jobs.

``bench figures --paper macflow --regenerate`` (and ``--paper vgm2p``) asks :func:`make_plan` for the runs that
the paper's tables and figures need. Each item states its needs as the options of one ``bench run`` (a
:class:`Need`: tasks, algorithms or variants, protocol) or as fixed jobs (the games figures'), and the latency
timings it needs (a :class:`Timing`). Every need is planned by ``benchmarks.training.plan.plan_jobs`` exactly as
``bench run`` would plan it, so a job has the run id the item's own command would give it; jobs with one run id
are one job serving every item that asked for it (a MAC-Flow run on an MA-MuJoCo task under the protocol serves
Table 2 and Figs. 6-10 and 12 at once; under VGM2P's protocol, whose schedule is MAC-Flow's on the suites both
ran, the same run serves both papers). Each job is then looked up in the store (finished, resumable from a
checkpoint, to run) and in its suite (``cannot run here`` with the suite's reason, e.g. StarCraft II missing).

Item keys for ``--items``: ``table1``, ``fig13`` (``fig1`` is MAC-Flow's Figure 1 / 4), and ``games`` for the
games figures (3, 13-16).
"""
from __future__ import annotations

import argparse
import dataclasses
import re

PAPERS = ("macflow", "vgm2p")
GAMES_ITEMS = ("Figure 3", "Figure 13", "Figure 14", "Figure 15", "Figure 16")


@dataclasses.dataclass(frozen=True)
class Need:
    """The runs some paper items need: the options of one ``bench run``, or fixed jobs (``configs``)."""

    items: tuple
    tasks: tuple = ()
    algos: tuple = ()  # names or NAME[KEY=VALUE;...] variants
    protocol: str = ""
    online_steps: int = 0
    allow_cost_override: bool = False
    configs: tuple = ()  # RunConfigs, planned already (the games figures' budget)

    def run_configs(self) -> list:
        if self.configs:
            return list(self.configs)
        from benchmarks.training import plan

        args = argparse.Namespace(
            suite=None, tasks=None, task=",".join(self.tasks), algos=",".join(self.algos),
            seeds=",".join(map(str, plan.DEFAULT_SEEDS)), steps=None, eval_every=plan.DEFAULT_EVAL_EVERY,
            eval_episodes=plan.DEFAULT_EVAL_EPISODES, batch_size=plan.DEFAULT_BATCH_SIZE, set=None,
            allow_cost_override=self.allow_cost_override, dataset=None, paper_size=False, split_seeds=False,
            protocol=self.protocol or None, online_steps=self.online_steps)
        return plan.plan_jobs(args, preflight=False)


@dataclasses.dataclass(frozen=True)
class Timing:
    """``bench latency`` measurements an item needs: ``algos`` at their paper-default configurations, on the
    default task (``agents`` empty) or on the landmark game with each number of agents."""

    items: tuple
    algos: tuple
    agents: tuple = ()

    def command(self, store: str = "") -> str:
        agents = f" --agents {','.join(map(str, self.agents))}" if self.agents else ""
        return f"bench latency --algos {','.join(self.algos)}{agents}{store}"


def item_key(item: str) -> str:
    """'Figure 13' -> 'fig13', 'Table 2' -> 'table2', 'Figure 1 / 4' -> 'fig1'."""
    m = re.match(r"(Figure|Table) (\d+)", item)
    return f"{'fig' if m.group(1) == 'Figure' else 'table'}{m.group(2)}" if m else item.lower()


def _registered(names) -> tuple:
    from analysis.figures import _registered as registered

    return tuple(registered(names))


def _games_items(task: str) -> tuple:
    """The games figures a run on ``task`` is drawn in (Fig. 3 samples the 3-agent landmark game's diagnostics)."""
    if re.fullmatch(r"games/landmarks(-3)?(-\d+traj)?", task):
        return ("Figure 3", "Figure 13")
    if task.startswith("games/landmarks"):
        return ("Figure 13",)
    return ("Figure 14",) if "coordination" in task else ("Figure 15",) if "xor" in task else ("Figure 16",)


def needs(paper: str, budget=None) -> tuple[list, list]:
    """([Need], [Timing]) of every item of ``paper`` that data can produce."""
    if paper == "macflow":
        from analysis import ablations
        from analysis.figures import AGENTS, TABLE3_ALGOS, TABLE_ALGOS
        from analysis.games import GAMES_BUDGET, games_jobs
        from benchmarks.training.plan import PAPER_PROTOCOL

        out = [Need((f"Table {t}",), tuple(x for s in suites for x in ablations.SUITE_TASKS[s]),
                    _registered(TABLE_ALGOS[t]), PAPER_PROTOCOL)
               for t, suites in (("1", ("smacv1", "smacv2")), ("2", ("mamujoco", "mpe")))]
        out += [Need((i.name,), i.tasks, _registered(i.variants), i.protocol, ablations.ONLINE_STEPS if i.online else 0,
                     i.allow_cost_override) for i in ablations.ITEMS]
        out += [Need(_games_items(cfg.task), configs=(cfg,)) for cfg in games_jobs(budget or GAMES_BUDGET)]
        fig1 = tuple(dict.fromkeys(_registered(("macflow", "flowbc", "bc", "dof", "diffusionbc"))
                                   + _registered(TABLE_ALGOS["1"] + TABLE_ALGOS["2"])))
        timings = [Timing(("Figure 1 / 4",), fig1),
                   Timing(("Table 3",), _registered(TABLE3_ALGOS), tuple(int(a) for a in AGENTS.split(",")))]
        return out, timings
    if paper == "vgm2p":
        from analysis import vgm2p

        out = [Need((f"Table {t}",), tuple(x for s in vgm2p.TABLE_SUITES[t] for x in vgm2p.suite_tasks(s)),
                    _registered(vgm2p.TABLE_ALGOS[t]), vgm2p.PROTOCOL) for t in ("1", "2")]
        return out + [Need((i.name,), i.tasks, _registered(i.variants), i.protocol, 0, i.allow_cost_override)
                      for i in vgm2p.ITEMS + (vgm2p.FIG4,)], []
    from algorithms.errors import BenchError

    raise BenchError(f"no run plan for paper '{paper}'; choose one of {', '.join(PAPERS)}")


@dataclasses.dataclass
class PlannedJob:
    cfg: object  # RunConfig
    items: list
    state: str = "to run"  # "finished" | "resumable" | "to run" | "cannot run here"
    why: str = ""  # the suite's reason when it cannot run here


@dataclasses.dataclass
class Plan:
    paper: str
    jobs: list  # PlannedJob, one per run id
    requested: int  # jobs the items asked for before deduplication
    timings: list  # Timing

    def with_state(self, *states) -> list:
        return [j for j in self.jobs if j.state in states]

    @property
    def runnable(self) -> list:
        return self.with_state("to run", "resumable")


def make_plan(paper: str, root, items: tuple = (), budget=None) -> Plan:
    """The deduplicated jobs of ``paper``'s items (``items``: keys or item names to keep; empty: all), each with
    its state in the store at ``root`` and here."""
    from benchmarks.store import Run, results_root
    from benchmarks.tasks import get_suite

    ns, timings = needs(paper, budget)
    if items:
        keep = {item_key(i) for i in items if i != "games"} | ({item_key(i) for i in GAMES_ITEMS} if "games" in items else set())
        known = {item_key(i) for n in ns for i in n.items} | {item_key(i) for t in timings for i in t.items}
        unknown = sorted(keep - known)
        if unknown:
            from algorithms.errors import BenchError

            raise BenchError(f"--items: unknown item(s) {', '.join(unknown)} of paper '{paper}'; choose from games, "
                             f"{', '.join(sorted(known, key=lambda k: (k[0], int(re.sub(r'[^0-9]', '', k) or 0))))}")
        ns = [n for n in ns if keep & {item_key(i) for i in n.items}]
        timings = [t for t in timings if keep & {item_key(i) for i in t.items}]
    root = results_root(root)
    jobs: dict = {}
    requested = 0
    for need in ns:
        for cfg in need.run_configs():
            requested += 1
            job = jobs.setdefault(cfg.run_id, PlannedJob(cfg, []))
            job.items += [i for i in need.items if i not in job.items]
    why_not: dict = {}
    for job in jobs.values():
        run = Run(root, job.cfg.run_id)
        suite = job.cfg.task.split("/", 1)[0]
        if suite not in why_not:
            why_not[suite] = get_suite(suite).available() or ""
        if run.finished:
            job.state = "finished"
        elif why_not[suite]:
            job.state, job.why = "cannot run here", why_not[suite]
        elif run.checkpoint_step():
            job.state = "resumable"
    return Plan(paper, list(jobs.values()), requested, timings)
