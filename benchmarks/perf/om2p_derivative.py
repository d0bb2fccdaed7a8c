"""``bench perf om2p-derivative``: training cost of OM2P's exact (jvp) vs derivative-free (finite-difference)
MeanFlow derivative, measured on the same task, batch and network in one run.

For each variant the gradient step is compiled once; memory is read from XLA's compiled
``memory_analysis()`` (temporary buffers of one update, plus arguments and outputs), and training
time is the wall time of a jitted ``lax.scan`` over ``--steps`` updates on device-resident data
(compilation excluded, best of ``--repeats``). The OM2P abstract claims up to 3.8x less GPU memory and
up to 10.8x faster training for its design; its released code's exact path builds a full
batch x batch Jacobian, whereas ours is one forward-mode jvp, so the saving measured here is against
the efficient exact path.
"""
from __future__ import annotations

import time



def measure(task_id: str, batch_size: int, steps: int, repeats: int, overrides: dict) -> dict:
    import jax

    import algorithms
    from algorithms.errors import BenchError
    from benchmarks.tasks import get_task
    from algorithms.meanflow import as_vector
    from algorithms.nets import with_agent_id
    from benchmarks.training.plan import RunConfig
    from benchmarks.training.train import load_data, sample_batch

    if steps <= 0 or repeats <= 0 or batch_size <= 0:
        raise BenchError("--steps, --repeats and --batch-size must be positive")
    cls = algorithms.get("om2p")
    task = get_task(task_id)
    cls.check_spec(task.spec)
    _, data = load_data(task, cls, RunConfig(algo="om2p", task=task_id))
    out = {}
    for derivative in ("jvp", "fd"):
        cfg = cls.make_config({**overrides, "derivative": derivative})
        state = cls.init(jax.random.PRNGKey(0), task.spec, cfg)
        batch = sample_batch(data, jax.random.PRNGKey(1), batch_size)
        o = batch.obs if not cfg.shared else with_agent_id(batch.obs)
        x = as_vector(task.spec, batch.actions)

        def full(s, b, k):  # one whole OM2P update (critic, mean-flow BC, Q term, optimiser)
            return cls.update(s, b, k)[0]

        def mf_only(s, b, k):  # gradient of the mean-flow loss alone: where the derivative is computed
            return jax.grad(cls.mf_loss)(s.params["actor"], task.spec, cfg, o, x, k)

        for part, fn in (("update", full), ("mf-loss grad", mf_only)):
            mem = jax.jit(fn).lower(state, batch, jax.random.PRNGKey(2)).compile().memory_analysis()

            def chunk(s, key, fn=fn):
                def body(carry, k):
                    kb, ku = jax.random.split(k)
                    out = fn(carry, sample_batch(data, kb, batch_size), ku)
                    return (out if part == "update" else carry), jax.tree.leaves(out)[0].sum()

                return jax.lax.scan(body, s, jax.random.split(key, steps))

            run = jax.jit(chunk)
            t0 = time.perf_counter()
            jax.block_until_ready(run(state, jax.random.PRNGKey(3)))  # compile + warm-up
            compile_s = time.perf_counter() - t0
            best = float("inf")
            for r in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(run(state, jax.random.PRNGKey(4 + r)))
                best = min(best, time.perf_counter() - t0)
            out[(part, derivative)] = {
                "temp_bytes": int(mem.temp_size_in_bytes),
                "total_bytes": int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
                                   - mem.alias_size_in_bytes),
                "ms_per_step": 1e3 * best / steps,
                "compile_s": compile_s,
            }
    return out
