"""``bench perf onlinebench``: environment steps per second of the online phase against the raw batched environment.

For each task it builds what ``bench run --online-steps`` runs (benchmarks/training/online.py) around a freshly
initialised policy (BC with a 64-64 net by default, one seed) and an empty replay buffer, fills the buffer with
a warm-up (compilation is never timed), then times:

* online: iterations of the online phase -- act, step the E environments, add the transitions, one gradient
  step -- counted as environment steps (E per iteration);
* raw: the same batched environment alone, stepped with uniformly random actions: JAX environments in one
  jitted scan of the vmapped step (finished episodes reset in place, as the online loop does), Python ones on
  the host as the online loop steps them (a new batch when all episodes are over).

The ratio says what the learning costs on top of the simulation. Figures depend on the machine and on its load.
"""
from __future__ import annotations

import time

DEFAULT_TASKS = ("games/landmarks", "mpe-gen/spread-expert")


def _random_actions(spec, key, shape):
    import jax
    import jax.numpy as jnp

    if spec.discrete:
        return jax.random.randint(key, shape + (spec.n_agents,), 0, spec.action_dim)
    return jax.random.uniform(key, shape + (spec.n_agents, spec.action_dim), minval=spec.action_low,
                              maxval=spec.action_high)


def raw_jax(env, n_envs: int, iterations: int, repeats: int) -> float:
    """Environment steps/s of the vmapped environment alone (random actions, resets in place)."""
    import jax
    import jax.numpy as jnp

    spec = env.spec

    def run(key):
        es, obs, legal, gs = jax.vmap(env.reset)(jax.random.split(key, n_envs))

        def body(c, k):
            es, acc = c
            ka, ks, kr = jax.random.split(k, 3)
            a = _random_actions(spec, ka, (n_envs,))
            es2, obs, legal, gs, r, done, _ = jax.vmap(env.step)(es, a, jax.random.split(ks, n_envs))
            fresh = jax.vmap(env.reset)(jax.random.split(kr, n_envs))[0]
            es2 = jax.tree.map(lambda f, s: jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s),
                               fresh, es2)
            return (es2, acc + r.sum() + obs.sum()), None

        (_, acc), _ = jax.lax.scan(body, (es, jnp.zeros(())), jax.random.split(key, iterations))
        return acc

    fn = jax.jit(run)
    jax.block_until_ready(fn(jax.random.PRNGKey(0)))
    best = float("inf")
    for i in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(jax.random.PRNGKey(i + 1)))
        best = min(best, time.perf_counter() - t)
    return iterations * n_envs / best


def raw_python(maker, n_envs: int, iterations: int) -> float:
    """Environment steps/s of the Python batch environment alone (random actions, a new batch when all are over)."""
    import numpy as np

    spec, rng = maker.spec, np.random.default_rng(0)
    shape = (n_envs, spec.n_agents) if spec.discrete else (n_envs, spec.n_agents, spec.action_dim)
    env, steps, k = maker.batch(n_envs, 1), 0, 0
    obs, legal, _ = env.reset()
    alive = np.ones(n_envs, bool)
    t = time.perf_counter()
    for _ in range(iterations):
        if spec.discrete:  # a uniformly random legal action
            p = legal / legal.sum(-1, keepdims=True)
            a = (p.cumsum(-1) > rng.random(p.shape[:-1] + (1,))).argmax(-1)
        else:
            a = rng.uniform(spec.action_low, spec.action_high, shape).astype(np.float32)
        obs, legal, _, _, done, _ = env.step(a)
        steps += int(alive.sum())
        alive &= ~np.asarray(done, bool)
        if not alive.any():
            env.close()
            k += 1
            env = maker.batch(n_envs, 1 + k)
            obs, legal, _ = env.reset()
            alive[:] = True
    elapsed = time.perf_counter() - t
    env.close()
    return steps / elapsed


def bench_task(task, algo_name: str, n_envs: int, iterations: int, repeats: int, overrides: dict) -> dict:
    """{task, kind, envs, online_steps_per_s, raw_steps_per_s, ratio} for one task."""
    import jax
    import jax.numpy as jnp

    import algorithms
    from benchmarks.training import online
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import init_states, training_keys

    algo = algorithms.get(algo_name)
    algo.check_spec(task.spec)
    cfg = algo.make_config(overrides)
    run_cfg = RunConfig(algo_name, task.id, (0,), online_steps=iterations * (repeats + 1), online_envs=n_envs,
                        online_warmup=64 * n_envs)
    parts = online.Parts(algo, task.spec, online.Replay(task.spec, online.capacity(run_cfg), run_cfg.batch_size),
                         online.explorer(algo, task.spec, 0.0), run_cfg.batch_size, False)
    seeds = (0,)
    tree = {"state": init_states(algo, task.spec, cfg, seeds),
            "buffer": jax.vmap(lambda _: parts.replay.init())(jnp.arange(1)), "collected": jnp.zeros(1, jnp.int32)}
    key = training_keys(seeds)
    if task.jax_env:
        env = task.make_env()
        rollouts = online.JaxRollouts(parts, env, n_envs)
        tree["env"] = rollouts.init_carry(jnp.stack([jax.random.PRNGKey(1)]))
    else:
        maker = task.make_env()
        rollouts = online.HostRollouts(parts, maker, n_envs, 1, env_seed=1)
        tree["round"] = jnp.asarray(0, jnp.int32)
    tree, key = jax.device_put((tree, key), jax.devices()[0])
    try:
        tree, key, _ = rollouts.run(tree, key, None, 64, learn=False)  # warm-up: compiles the one program
        tree, key, _ = rollouts.run(tree, key, None, min(iterations, 50), learn=True)
        jax.block_until_ready(tree["state"])
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            tree, key, m = rollouts.run(tree, key, None, iterations, learn=True)
            jax.block_until_ready((tree["state"], m))
            best = min(best, time.perf_counter() - t)
    finally:
        if hasattr(rollouts, "close"):
            rollouts.close()
    online_rate = iterations * n_envs / best
    raw = raw_jax(env, n_envs, iterations, repeats) if task.jax_env else raw_python(maker, n_envs, iterations)
    return {"task": task.id, "kind": "jax" if task.jax_env else "python", "envs": n_envs, "algo": algo_name,
            "iterations": iterations, "online_steps_per_s": online_rate, "raw_steps_per_s": raw,
            "ratio": online_rate / raw, "device": jax.devices()[0].platform}
