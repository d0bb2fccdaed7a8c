"""``bench perf evalbench``: evaluation throughput of every suite's evaluator, batched vs one episode at a time.

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

import time


DEFAULT_TASKS = {"games": "games/landmarks", "smax": "smax/3m-good", "mpe": "mpe/spread-expert",
                 "mpe-gen": "mpe-gen/spread-expert", "mamujoco-gen": "mamujoco-gen/3-hopper-expert",
                 "smacv1": "smacv1/3m-good",
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
    from benchmarks.training.evaluate import make_evaluator, make_python_evaluator
    from benchmarks.training.train import init_states

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
