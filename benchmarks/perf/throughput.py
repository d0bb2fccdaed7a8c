"""`bench throughput`: training throughput of each plugin, scanned trainer vs a plain per-step loop.

The scanned trainer samples batches on device inside ``lax.scan`` (one Python call per chunk); the
plain loop is the reference code's style: numpy batch sampling on the host and one jitted update per
step. Both run the same plugin, task, batch size and network in one process, one after the other, and
the ratio is printed. Compilation is excluded from both timings.
"""
from __future__ import annotations

import time


def measure(algo_cls, task, overrides: dict, steps: int, batch_size: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from algorithms.base import Batch
    from benchmarks.data.device import DeviceData
    from benchmarks.data.transitions import to_transitions, to_windows
    from benchmarks.training.train import init_states, make_chunk

    cfg = algo_cls.make_config(overrides, allow_cost_override=True)
    ds = task.make_dataset(0)
    dev = DeviceData.from_dataset(ds, algo_cls.sequence_length)  # the trainer's data: one copy, gathered by index
    # the reference loop's data: materialised rows on the host, sampled with numpy
    host = to_transitions(ds) if algo_cls.sequence_length == 1 else to_windows(ds, algo_cls.sequence_length)

    # scanned: one chunk of `steps` updates (vmapped over a single seed, as the trainer runs it)
    chunk = make_chunk(algo_cls, batch_size, steps)
    states = init_states(algo_cls, task.spec, cfg, (0,))
    keys = jnp.stack([jax.random.PRNGKey(1)])
    states, _ = chunk(states, keys, dev)  # compile + warm-up
    jax.block_until_ready(states)
    t0 = time.perf_counter()
    states, m = chunk(states, keys, dev)
    jax.block_until_ready(states)
    scanned = steps / (time.perf_counter() - t0)

    # plain loop: host numpy sampling + one jitted update per step
    state = init_states(algo_cls, task.spec, cfg, (0,))
    state = jax.tree.map(lambda x: x[0], state)
    update = jax.jit(algo_cls.update, donate_argnums=0)
    rng = np.random.default_rng(0)
    n = len(host["reward"])

    def host_batch():
        idx = rng.integers(0, n, batch_size)
        return Batch(**{k: v[idx] for k, v in host.items()})

    key = jax.random.PRNGKey(2)
    for i in range(3):
        state, _ = update(state, host_batch(), jax.random.fold_in(key, i))
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for i in range(steps):
        state, metrics = update(state, host_batch(), jax.random.fold_in(key, 100 + i))
        float(metrics["loss"])  # the reference loop logs every step, which syncs with the device
    jax.block_until_ready(state)
    loop = steps / (time.perf_counter() - t0)
    return {"scanned": scanned, "loop": loop, "ratio": scanned / loop}
