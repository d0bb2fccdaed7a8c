"""`bench throughput`: training throughput of each plugin, scanned trainer vs a plain per-step loop.

The scanned trainer samples batches on device inside ``lax.scan`` (one Python call per chunk); the
plain loop is the reference code's style: numpy batch sampling on the host and one jitted update per
step. Both run the same plugin, task, batch size and network in one process, one after the other, and
the ratio is printed. Compilation is excluded from both timings.
"""
from __future__ import annotations

import time

from benchmarks.cli import _csv, subcommand


@subcommand("throughput")
def _add(sub):
    p = sub.add_parser("throughput", help="gradient steps/s per plugin: scanned trainer vs per-step loop",
                       description=__doc__, epilog="examples:\n  bench throughput\n  bench throughput --algos macflow,bc --steps 500",
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--algos", help="comma-separated algorithms (default: all registered)")
    p.add_argument("--steps", type=int, default=300, help="timed gradient steps per mode")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (e.g. hidden=64,64)")
    p.add_argument("--discrete-task", default="games/coordination")
    p.add_argument("--continuous-task", default="games/landmarks")
    p.set_defaults(func=cmd_throughput)


def measure(algo_cls, task, overrides: dict, steps: int, batch_size: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from algorithms.base import Batch
    from benchmarks.data.transitions import to_transitions, to_windows
    from benchmarks.train import init_states, make_chunk

    cfg = algo_cls.make_config(overrides, allow_cost_override=True)
    ds = task.make_dataset(0)
    host = to_transitions(ds) if algo_cls.sequence_length == 1 else to_windows(ds, algo_cls.sequence_length)
    dev = {k: jnp.asarray(v) for k, v in host.items()}

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


def cmd_throughput(args) -> int:
    import algorithms
    from benchmarks.cli import _overrides
    from benchmarks.suites import get_task
    from benchmarks.train import enable_compilation_cache
    from rich.console import Console
    from rich.table import Table

    enable_compilation_cache()
    names = _csv(args.algos) if args.algos else algorithms.names()
    classes = [algorithms.get(n) for n in names]
    overrides = _overrides(args.set)
    tasks = {"discrete": get_task(args.discrete_task), "continuous": get_task(args.continuous_task)}
    import jax

    table = Table(title=f"training throughput, gradient steps/s (batch {args.batch_size}, {args.steps} steps, "
                        f"device {jax.devices()[0].platform})")
    for col in ("algorithm", "task", "scanned trainer", "per-step loop", "ratio"):
        table.add_column(col, justify="right" if col not in ("algorithm", "task") else "left")
    console = Console()
    for cls in classes:
        kind = "continuous" if "continuous" in cls.supports else "discrete"
        task = tasks[kind]
        valid = {k: v for k, v in overrides.items() if k in {f.name for f in __import__("dataclasses").fields(cls.Config)}}
        r = measure(cls, task, valid, args.steps, args.batch_size)
        table.add_row(cls.name, task.id, f"{r['scanned']:.1f}", f"{r['loop']:.1f}", f"{r['ratio']:.2f}x")
        console.print(f"{cls.name}: scanned {r['scanned']:.1f} steps/s, loop {r['loop']:.1f} steps/s, ratio {r['ratio']:.2f}x")
    console.print(table)
    return 0
