"""`bench perf throughput`: training throughput of each plugin, scanned trainer vs a plain per-step loop.

The scanned trainer samples batches on device inside ``lax.scan`` (one Python call per chunk); the
plain loop is the reference code's style: numpy batch sampling on the host and one jitted update per
step. Both run the same plugin, task, batch size and network in one process and the ratio is printed.
Compilation is excluded from both timings. The modes are timed in interleaved rounds (loop, then each
seed count of the scanned trainer, then again) and each keeps its best round, so a load that comes and
goes on a shared machine slows both alike instead of biasing the ratio. The machine's matrix-multiply
peak is timed in the same rounds (a 2048 x 2048 float32 product before each round and after the last;
the best is kept), so the fraction of the peak compares two rates measured under the same load: on the
2-core CI machine type a peak timed once per process ranged over 118-165 GFLOP/s within minutes.
"""
from __future__ import annotations

import time


def gemm_peak(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate in FLOP/s: the best of ``repeats`` n x n products."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    mm = jax.jit(lambda x: x @ x)
    jax.block_until_ready(mm(a))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(mm(a))
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def measure(algo_cls, task, overrides: dict, steps: int, batch_size: int, seeds: tuple = (1,),
            peak: bool = True, rounds: int = 3, seed_batching: str = "auto") -> dict:
    """Gradient steps/s of the per-step loop (one seed) and of the scanned trainer with each number of seeds
    in one program (seed-steps/s, ``seed_batching`` as the trainer's ``make_chunk``), the FLOPs of one update (XLA's, loop bodies once; and the matrix multiplies' with
    loops counted, :func:`algorithms.nets.count_matmul_flops`, from which the fraction of the matmul peak is
    computed), and the memory XLA plans for each scanned chunk. With ``peak`` the matmul peak is timed
    between the rounds (best kept) and the fractions of it are reported."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from algorithms.base import Batch
    from algorithms.nets import count_matmul_flops
    from benchmarks.data.device import DeviceData
    from benchmarks.data.transitions import to_transitions, to_windows
    from benchmarks.training.train import init_states, make_chunk

    cfg = algo_cls.make_config(overrides, allow_cost_override=True)
    ds = task.make_dataset(0)
    rtg = algo_cls.rtg_discount(cfg)
    # the trainer's data: one copy, gathered by index
    past, length = algo_cls.window(cfg)
    dev = DeviceData.from_dataset(ds, length, rtg_discount=rtg, past=past)
    # the reference loop's data: materialised rows on the host, sampled with numpy
    host = to_transitions(ds, rtg) if length == 1 else to_windows(ds, length, rtg, past=past)

    # scanned: one chunk of `steps` updates over the seeds (one seed: the seed axis dropped), as the trainer
    chunk = make_chunk(algo_cls, batch_size, steps, seed_batching)
    memory, runs = {}, {}
    for k in seeds:
        states = init_states(algo_cls, task.spec, cfg, tuple(range(k)))
        keys = jnp.stack([jax.random.PRNGKey(1 + i) for i in range(k)])
        mem = chunk.lower(states, keys, dev).compile().memory_analysis()
        memory[k] = int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
                        - mem.alias_size_in_bytes) if mem is not None else None
        states, _ = chunk(states, keys, dev)  # compile + warm-up
        jax.block_until_ready(states)
        runs[k] = [states, keys]

    def time_scanned(k):
        t0 = time.perf_counter()
        runs[k][0], _ = chunk(runs[k][0], runs[k][1], dev)
        jax.block_until_ready(runs[k][0])
        return time.perf_counter() - t0

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
    cost = jax.jit(algo_cls.update).lower(state, host_batch(), key).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float((cost or {}).get("flops", float("nan")))
    # XLA's cost analysis counts a loop body once (MAC-Flow's and MA-FQL's 10-step Euler teachers: 25-30% of
    # their work uncounted); the fraction of the matmul peak uses the matmul FLOPs with loops counted
    flops = count_matmul_flops(algo_cls.update, state, host_batch(), key)
    for i in range(3):
        state, _ = update(state, host_batch(), jax.random.fold_in(key, i))
    jax.block_until_ready(state)

    def time_loop(r):
        nonlocal state
        t0 = time.perf_counter()
        for i in range(steps):
            state, metrics = update(state, host_batch(), jax.random.fold_in(key, 100 + r * steps + i))
            float(metrics["loss"])  # the reference loop logs every step, which syncs with the device
        jax.block_until_ready(state)
        return time.perf_counter() - t0

    best = {"loop": float("inf"), **{k: float("inf") for k in seeds}}
    peaks = []
    for r in range(rounds):
        if peak:
            peaks.append(gemm_peak(repeats=3))
        best["loop"] = min(best["loop"], time_loop(r))
        for k in seeds:
            best[k] = min(best[k], time_scanned(k))
    if peak:
        peaks.append(gemm_peak(repeats=3))
    loop = steps / best["loop"]
    scanned = {k: k * steps / best[k] for k in seeds}
    one = scanned.get(1, scanned[min(scanned)] / min(scanned))
    out = {"loop": loop, "scanned": one, "ratio": one / loop, "seed_steps_per_s": scanned, "chunk_bytes": memory,
           "gflop_per_update": xla_flops / 1e9, "matmul_gflop_per_update": flops / 1e9}
    if peak:
        top = max(peaks)
        out["gemm_peak_gflops"] = top / 1e9
        out["gemm_peak_gflops_rounds"] = [p / 1e9 for p in peaks]
        out["fraction_of_peak"] = {k: flops * v / top for k, v in scanned.items()}
        out["fraction_of_peak_loop"] = flops * loop / top
    return out
