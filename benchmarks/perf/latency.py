"""The inference-time protocol (DESIGN.md section 9) and ``bench latency``.

For each algorithm: build a state for the task's EnvSpec with the plugin's paper-default config (the
networks the paper pays for: [512]*4 MLPs, 200 denoising steps, ...), compile ``act`` for one joint
decision of N agents ahead of time (``jit(...).lower(...).compile()``, so compilation is never inside
the timed region), run ``warmup`` untimed calls, then time ``repeats`` calls one by one, each ended by
``block_until_ready``; the algorithms of one task take turns in blocks of 10 calls, so load from other
processes on a shared machine falls on all of them alike, and an algorithm stops after ``--budget``
seconds of timed calls once it has 3 (a 200-step U-Net sampler can take seconds per decision on a CPU;
the record keeps the number of calls actually timed). Reported: median and inter-quartile range per decision and per agent, the
network evaluations declared by ``cost()`` and counted in ``act``'s jaxpr (``count_nfe``), the device.

Results go to the store as ``<results root>/latency/<algo>__<label>__<device>.json`` (one file per
algorithm, task/agent count and device; a new measurement replaces the old one). Run directories
are the only sub-directories with a spec.json, so this folder never looks like a run.

Command line: ``bench latency`` (benchmarks/cli/latency.py)::

    bench latency --algos macflow,bc,flowbc
    bench latency --algos macflow,dof --agents 2,4,8,16,40 --repeats 200
    bench latency --algos macflow,bc --task games/coordination --json
"""
from __future__ import annotations

import dataclasses
import datetime
import time

from algorithms.errors import BenchError

DEFAULT_TASK = "games/landmarks"
DEFAULT_REPEATS = 100
DEFAULT_WARMUP = 10
DEFAULT_BUDGET = 60.0  # seconds of timed calls per algorithm, after at least 3 calls


def machine() -> dict:
    """What the timings were measured on: the same record as a run's provenance (one implementation)."""
    from benchmarks.training.provenance import machine as host

    return host()


BLOCK = 10  # calls per algorithm before the next one takes its turn


class Timer:
    """One algorithm ready to be timed: state built and ``act`` compiled (outside any timed region)."""

    def __init__(self, algo_name: str, spec, label: str, warmup: int = DEFAULT_WARMUP, overrides: dict | None = None,
                 allow_cost_override: bool = False, seed: int = 0, budget_s: float = DEFAULT_BUDGET):
        import jax
        import jax.numpy as jnp

        import algorithms
        from algorithms.base import cost_overrides

        self.cls = cls = algorithms.get(algo_name)
        cls.check_spec(spec)
        self.cfg = cls.make_config(overrides or {}, allow_cost_override=allow_cost_override)
        self.spec, self.label, self.warmup = spec, label, warmup
        self.cost_overrides = cost_overrides(cls, self.cfg)
        key = jax.random.PRNGKey(seed)
        self.state = cls.init(key, spec, self.cfg)
        n = spec.n_agents
        self.args = (self.state, jax.random.normal(jax.random.fold_in(key, 1), (n, spec.obs_dim)),
                     jnp.ones((n, spec.legal_dim), bool), jax.random.fold_in(key, 2))
        t0 = time.perf_counter()
        self.compiled = jax.jit(cls.act).lower(*self.args).compile()  # compilation: never timed
        self.compile_s = time.perf_counter() - t0
        for _ in range(max(warmup, 1)):
            t0 = time.perf_counter()
            jax.block_until_ready(self.compiled(*self.args))
            self.warm_s = time.perf_counter() - t0  # the last warm-up call: sizes the timing blocks
            if self.warm_s > budget_s / 3:  # a sampler this slow is warm after one call
                break
        self.times: list = []

    def time_calls(self, n: int) -> None:
        import jax

        for _ in range(n):
            t = time.perf_counter()
            jax.block_until_ready(self.compiled(*self.args))
            self.times.append(time.perf_counter() - t)

    def record(self) -> dict:
        import jax
        import numpy as np

        from algorithms.base import config_dict
        from algorithms.nets import count_nfe

        ms = np.asarray(self.times) * 1e3
        q1, med, q3 = np.percentile(ms, [25, 50, 75])
        declared = self.cls.cost(self.spec, self.cfg)
        counted = count_nfe(self.cls.act, *self.args)
        n = self.spec.n_agents
        mach = machine()
        return {
            "name": self.cls.name, "label": self.label, "n_agents": n, "median_ms": float(med),
            "iqr_ms": float(q3 - q1), "q1_ms": float(q1), "q3_ms": float(q3), "per_agent_ms": float(med / n),
            "mean_ms": float(ms.mean()), "nfe": int(declared.nfe), "nfe_counted": int(counted),
            "per_agent_cost": declared.per_agent, "centralised": bool(declared.centralised), "repeats": len(ms),
            "warmup": self.warmup, "compile_s": self.compile_s, "device": mach["device"], "machine": mach,
            "params": int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.state.params))),
            "config": config_dict(self.cfg), "cost_overrides": self.cost_overrides,
            "env_spec": dataclasses.asdict(self.spec), "harness_version": _version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }


def measure_many(timers: list, repeats: int = DEFAULT_REPEATS, budget_s: float = DEFAULT_BUDGET) -> list[dict]:
    """Time every prepared algorithm up to ``repeats`` times, in interleaved blocks of up to ``BLOCK`` calls, so
    that a burst of load from other processes on a shared machine falls on all algorithms alike. An algorithm
    whose timed calls already add up to ``budget_s`` seconds stops once it has 3 (a 200-step U-Net sampler
    on a CPU can take many seconds per decision); the record says how many calls were timed."""
    if repeats < 3:
        raise BenchError(f"--repeats must be at least 3 to give an inter-quartile range, got {repeats}")
    while True:
        active = [t for t in timers if len(t.times) < repeats and (len(t.times) < 3 or sum(t.times) < budget_s)]
        if not active:
            break
        for t in active:
            n = min(BLOCK, repeats - len(t.times))
            if t.warm_s * n > budget_s:  # slow: one call per turn
                n = 1
            t.time_calls(n)
    return [t.record() | {"budget_s": budget_s} for t in timers]


def measure(algo_name: str, spec, label: str, repeats: int = DEFAULT_REPEATS, warmup: int = DEFAULT_WARMUP,
            overrides: dict | None = None, allow_cost_override: bool = False, seed: int = 0,
            budget_s: float = DEFAULT_BUDGET) -> dict:
    """Time one joint decision of ``spec.n_agents`` agents for ``algo_name``; returns one result record."""
    return measure_many([Timer(algo_name, spec, label, warmup, overrides, allow_cost_override, seed, budget_s)],
                        repeats, budget_s)[0]


def _version() -> str:
    from benchmarks import __version__

    return __version__


def specs_for(task: str | None, agents: tuple | None) -> list[tuple]:
    """[(label, EnvSpec)] for --task or for --agents (the landmarks game with N agents)."""
    if task and agents:
        raise BenchError("use either --task or --agents (which times games/landmarks-N), not both")
    if agents:
        from benchmarks.envs.games import Landmarks

        return [(f"games/landmarks-{n}", Landmarks(n).spec) for n in agents]
    from benchmarks.tasks import get_task

    t = get_task(task or DEFAULT_TASK)
    return [(t.id, t.spec)]


# The short measurement that ends `bench run`'s embedded default: seconds per algorithm, enough for the
# report's score-vs-inference-time figure and the leaderboard's latency column (`bench latency` for more).
QUICK_REPEATS = 30
QUICK_WARMUP = 3
QUICK_BUDGET = 2.0


def quick(names: list, root, task: str = DEFAULT_TASK, repeats: int = QUICK_REPEATS, warmup: int = QUICK_WARMUP,
          budget_s: float = QUICK_BUDGET) -> tuple[list, list]:
    """Time ``names`` at their paper-default configurations on ``task`` with the protocol above (few repeats,
    a small budget) and store the records like ``bench latency`` does. Algorithms that already have a
    paper-default record for this task in the store are not timed again, so a repeated ``bench run``
    stays instant. Returns (new records, [why an algorithm was not timed])."""
    return measure_missing(names, root, task, None, repeats, warmup, budget_s)


def missing(names, root, task: str | None = None, agents: tuple | None = None) -> list:
    """[(algorithm, label, EnvSpec)] of the paper-default measurements ``names`` on ``task`` (or the landmark game
    with each of ``agents``) that the store at ``root`` does not hold yet (and that the plugin's actions allow)."""
    import algorithms
    from benchmarks.store import latency_records

    have = {(r.get("name"), r.get("label")) for r in latency_records(root) if not r.get("cost_overrides")}
    return [(algorithms.get(n).name, label, spec) for label, spec in specs_for(task, agents) for n in dict.fromkeys(names)
            if (algorithms.get(n).name, label) not in have and spec.action_kind in algorithms.get(n).supports]


def measure_missing(names: list, root, task: str | None = None, agents: tuple | None = None,
                    repeats: int = DEFAULT_REPEATS, warmup: int = DEFAULT_WARMUP,
                    budget_s: float = DEFAULT_BUDGET) -> tuple[list, list]:
    """Time the measurements :func:`missing` names (per label, the algorithms interleaved) and store them like
    ``bench latency``; returns (new records, [why an algorithm was not timed])."""
    import algorithms

    todo = missing(names, root, task, agents)
    skipped = []
    for label, spec in specs_for(task, agents):
        for n in dict.fromkeys(names):
            name = algorithms.get(n).name
            if spec.action_kind not in algorithms.get(n).supports:
                skipped.append(f"{name}: does not support the {spec.action_kind} actions of {label}")
            elif (name, label, spec) not in todo:
                skipped.append(f"{name}: already measured on {label} (bench latency re-measures it)")
    records = []
    for label in dict.fromkeys(lab for _, lab, _ in todo):
        timers = [Timer(n, spec, lab, warmup, budget_s=budget_s) for n, lab, spec in todo if lab == label]
        records += measure_many(timers, repeats, budget_s)
    from benchmarks.store import save_latency

    for rec in records:
        rec["path"] = str(save_latency(rec, root))
    return records, skipped
