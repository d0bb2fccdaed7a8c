"""OM2P's two measurable claims (arXiv 2508.06269, abstract): "up to a 3.8x reduction in GPU memory usage and up
to a 10.8x speed-up in training time" against the generative baselines. Only the abstract is public, so the
baselines here are every generative policy the harness has, at its paper-default configuration: the diffusion
policies (Diffusion BC, MADiff-C/D, DoF: 200 denoising steps), the flows (Flow BC, MAC-Flow, MA-FQL: 10 Euler
steps), VGM2P's MeanFlow, and OM2P with the exact (jvp) MeanFlow derivative its derivative-free estimate replaces.

Measured in one process, one after the other, on one task's shapes (synthetic data: the values do not change the
cost), at one batch size: for each plugin, XLA's planned memory of one compiled update (``memory_analysis()``:
temporaries + arguments + outputs - aliased, the way ``bench throughput`` reports a chunk) and the gradient steps
per second of the scanned trainer (one seed, compilation excluded, best of ``rounds``). A claim is "up to" a ratio,
so it holds when the largest baseline / OM2P ratio reaches it; every ratio is listed. A baseline whose planned
memory exceeds ``max_bytes`` is compiled (its memory is known) but not run.
"""
from __future__ import annotations

import time

BASELINES = ("diffusionbc", "madiff-c", "madiff-d", "dof", "flowbc", "macflow", "mafql", "vgm2p", "om2p[derivative=jvp]")
CLAIMS = {"memory": 3.8, "speed": 10.8}
MAX_BYTES = 2.5 * 2**30  # this shared machine's per-process budget; a larger update is compiled, not run


def _variant(text: str) -> tuple:
    from benchmarks.training.plan import algo_variants

    [(name, over)] = algo_variants(text)
    return name, over


def measure(task_id: str, batch_size: int = 64, steps: int = 5, rounds: int = 2, algos=None,
            max_bytes: float = MAX_BYTES, progress=print) -> dict:
    """{"task", "batch_size", "steps", "rows": [{"algo", "memory_bytes", "steps_per_s" or None, "note"}], "om2p": row}."""
    import jax
    import jax.numpy as jnp

    import algorithms
    from benchmarks.data.device import DeviceData
    from benchmarks.perf.estimate import synthetic_dataset
    from benchmarks.tasks import get_task
    from benchmarks.training.train import init_states, make_chunk

    spec = get_task(task_id).spec
    rows = []
    for text in ("om2p",) + tuple(algos or BASELINES):
        name, over = _variant(text)
        cls = algorithms.get(name)
        if spec.action_kind not in cls.supports:
            continue
        cfg = cls.make_config(over)
        past, length = cls.window(cfg)
        ds = synthetic_dataset(spec, 8, max(spec.episode_length, length + past + 2))
        data = DeviceData.from_dataset(ds, length, rtg_discount=cls.rtg_discount(cfg), past=past)
        states = init_states(cls, spec, cfg, (0,))
        one = jax.tree.map(lambda x: x[0], states)
        batch = data.sample(jax.random.PRNGKey(0), batch_size)
        mem = jax.jit(cls.update).lower(one, batch, jax.random.PRNGKey(1)).compile().memory_analysis()
        total = int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
                    - mem.alias_size_in_bytes)
        row = {"algo": text, "memory_bytes": total, "steps_per_s": None, "note": ""}
        if total > max_bytes:
            row["note"] = f"planned {total / 2**30:.1f} GiB: compiled, not run here"
        else:
            chunk = make_chunk(cls, batch_size, steps)
            keys = jnp.stack([jax.random.PRNGKey(7)])
            states, _ = chunk(states, keys, data)  # compile + warm-up
            jax.block_until_ready(states)
            best = float("inf")
            for r in range(rounds):
                t0 = time.perf_counter()
                states, _ = chunk(states, jnp.stack([jax.random.PRNGKey(8 + r)]), data)
                jax.block_until_ready(states)
                best = min(best, time.perf_counter() - t0)
            row["steps_per_s"] = steps / best
        rows.append(row)
        if progress:
            sps = f"{row['steps_per_s']:.2f} steps/s" if row["steps_per_s"] else row["note"]
            progress(f"  {text}: {total / 2**20:.0f} MiB per update, {sps}")
    out = {"task": task_id, "batch_size": batch_size, "steps": steps, "rounds": rounds,
           "device": jax.devices()[0].platform, "rows": rows, "date": time.strftime("%Y-%m-%d")}
    return {**out, "claims": claims(out)}


def claims(result: dict) -> list:
    """[(claim, paper's ratio, measured largest ratio, against which baseline, holds)] and the per-baseline ratios."""
    rows = result["rows"]
    om2p = next(r for r in rows if r["algo"] == "om2p")
    base = [r for r in rows if r["algo"] != "om2p"]
    mem = {r["algo"]: r["memory_bytes"] / om2p["memory_bytes"] for r in base}
    speed = {r["algo"]: om2p["steps_per_s"] / r["steps_per_s"] for r in base if r["steps_per_s"] and om2p["steps_per_s"]}
    out = []
    for key, ratios, what in (("memory", mem, "less memory per update"), ("speed", speed, "faster training")):
        if not ratios:
            continue
        top = max(ratios, key=ratios.get)
        out.append({"claim": f"up to {CLAIMS[key]}x {what}", "paper": CLAIMS[key], "measured": ratios[top],
                    "against": top, "holds": ratios[top] >= CLAIMS[key], "ratios": ratios})
    return out
