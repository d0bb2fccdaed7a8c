"""``bench evalbench``: evaluation throughput of every suite's evaluator, batched vs one episode at a time.

For one task per suite it builds the trainer's evaluator (``make_evaluator`` for JAX environments,
``make_python_evaluator`` for Python ones) around a freshly initialised policy (BC with a 64-64 net by
default, ``--algo`` to change it), warms it up (compilation is never timed), then times:

* batched: E episodes in one evaluator call (JAX: all episodes in one jitted, vmapped scan; Python:
  E environments stepped together with one jitted ``act`` per step);
* one at a time: evaluator calls of a single episode, repeated (at most 4 episodes for Python envs,
  whose episodes can be long; rates are per second either way).

Environment steps are those simulated: a JAX rollout scans every episode to the time limit (finished
episodes keep being masked), a Python batch counts only the steps of running episodes.
"""
from __future__ import annotations

import argparse
import time

from benchmarks.cli import _csv, subcommand

DEFAULT_TASKS = {"games": "games/landmarks", "smax": "smax/3m-good", "mpe": "mpe/spread-expert",
                 "mamujoco": "mamujoco/3-hopper-expert", "smacv1": "smacv1/3m-good",
                 "smacv2": "smacv2/terran_5_vs_5-replay"}


class _Counting:
    """Wraps a Python env maker and counts the steps of running episodes."""

    def __init__(self, maker):
        self.maker, self.spec, self.steps = maker, maker.spec, 0

    def batch(self, n_envs, seed):
        return _CountingBatch(self, self.maker.batch(n_envs, seed), n_envs)


class _CountingBatch:
    def __init__(self, counter, env, n_envs):
        self.counter, self.env, self.n_envs = counter, env, n_envs

    def reset(self):
        import numpy as np

        self.done = np.zeros(self.n_envs, bool)
        return self.env.reset()

    def step(self, actions):
        import numpy as np

        self.counter.steps += int((~self.done).sum())
        out = self.env.step(actions)
        self.done = np.asarray(out[4], bool)
        return out

    def close(self):
        self.env.close()


def bench_task(task, algo_name: str, episodes: int, repeats: int, overrides: dict) -> dict:
    import jax
    import jax.numpy as jnp

    import algorithms
    from benchmarks.evaluate import make_evaluator, make_python_evaluator
    from benchmarks.train import init_states

    algo = algorithms.get(algo_name)
    cfg = algo.make_config(overrides)
    states = init_states(algo, task.spec, cfg, (0,))
    keys = lambda i: jnp.stack([jax.random.PRNGKey(1000 + i)])
    out = {"task": task.id, "kind": "jax" if task.jax_env else "python", "episodes": episodes}
    for mode, n_eps, calls in (("batched", episodes, repeats),
                               ("single", 1, episodes * repeats if task.jax_env else min(episodes, 4))):
        if task.jax_env:
            ev = make_evaluator(task.make_env(), algo, n_eps)
            jax.block_until_ready(ev(states, keys(0)))  # compile
            t0 = time.perf_counter()
            for i in range(calls):
                jax.block_until_ready(ev(states, keys(i + 1)))
            dt = time.perf_counter() - t0
            steps = calls * n_eps * task.spec.episode_length
        else:
            maker = _Counting(task.make_env())
            ev = make_python_evaluator(maker, algo, n_eps)
            ev(states, keys(0))  # compiles act
            maker.steps = 0
            t0 = time.perf_counter()
            for i in range(calls):
                ev(states, keys(i + 1))
            dt = time.perf_counter() - t0
            steps = maker.steps
        out[mode] = {"steps_per_s": steps / dt, "episodes_per_s": calls * n_eps / dt, "seconds": dt,
                     "episodes_run": calls * n_eps}
    out["speedup"] = out["batched"]["steps_per_s"] / max(out["single"]["steps_per_s"], 1e-12)
    return out


@subcommand("evalbench")
def _add(sub):
    p = sub.add_parser("evalbench", help="evaluation throughput per suite: batched vs one episode at a time",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  bench evalbench\n  bench evalbench --suites smax,mpe --episodes 64")
    p.add_argument("--suites", help=f"comma-separated suites (default: {','.join(DEFAULT_TASKS)}; unavailable ones "
                                    "are listed with the reason)")
    p.add_argument("--episodes", type=int, default=32, help="episodes per batched evaluation")
    p.add_argument("--repeats", type=int, default=2, help="timed batched evaluations")
    p.add_argument("--algo", default="bc", help="policy whose act is evaluated (freshly initialised)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (default hidden=64,64)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_evalbench)


def cmd_evalbench(args) -> int:
    import json

    from benchmarks.cli import _overrides
    from benchmarks.errors import BenchError
    from benchmarks.suites import all_suites, get_suite, get_task
    from benchmarks.train import enable_compilation_cache

    if args.episodes <= 0 or args.repeats <= 0:
        raise BenchError("--episodes and --repeats must be positive")
    enable_compilation_cache()
    names = _csv(args.suites) if args.suites else [s for s in DEFAULT_TASKS if s in all_suites()]
    overrides = _overrides(args.set) or {"hidden": "64,64"}
    rows, skipped = [], []
    for name in names:
        suite = get_suite(name)
        why = suite.available()
        if why:
            skipped.append((name, why))
            continue
        task = get_task(DEFAULT_TASKS.get(name) or f"{name}/{suite.default_tasks[0]}")
        rows.append(bench_task(task, args.algo, args.episodes, args.repeats, overrides))
    if args.json:
        print(json.dumps({"results": rows, "skipped": dict(skipped)}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"evaluation throughput ({args.algo} act, {args.episodes} episodes per batch; "
                        "compile excluded)")
    for col in ("task", "env", "batched steps/s", "batched episodes/s", "1-by-1 steps/s", "1-by-1 episodes/s",
                "speed-up"):
        table.add_column(col, justify="left" if col in ("task", "env") else "right")
    for r in rows:
        b, s = r["batched"], r["single"]
        table.add_row(r["task"], r["kind"], f"{b['steps_per_s']:,.0f}", f"{b['episodes_per_s']:,.1f}",
                      f"{s['steps_per_s']:,.0f}", f"{s['episodes_per_s']:,.2f}", f"{r['speedup']:.1f}x")
    console = Console(width=max(Console().width, 130))
    console.print(table)
    for name, why in skipped:
        console.print(f"[dim]{name}: skipped ({why})[/dim]")
    return 0
