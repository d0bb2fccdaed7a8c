"""``bench test-plugin NAME``: the contract checks on an installed plugin, from anywhere."""
from __future__ import annotations


def add(sub):
    from benchmarks.training.contract import TASK_OF_KIND

    p = sub.add_parser(
        "test-plugin", help="check that an algorithm plugin keeps the contract (the contract tests, without pytest)",
        description="Run the contract checks of tests/test_contract.py on one registered plugin: a built-in one or "
                    "one another package installs through the 'bench.algorithms' entry point. Per action kind it "
                    "supports (" + ", ".join(f"{k} on {t}" for k, t in TASK_OF_KIND.items()) + ", small networks, "
                    "cost-defining settings at the paper's): the update is finite and its loss falls, actions are "
                    "legal, execution is decentralised (unless declared centralised), results are deterministic "
                    "given the seed, and cost() declares the network evaluations act performs. Per plugin: the "
                    "naming rule, cost-defining settings guarded by --allow-cost-override, a comment on every "
                    "Config field. Prints one line per check; exits 1 if any fails. Compiled programs are cached "
                    "in $BENCH_JAX_CACHE (default ~/.cache/bench/jax), never in the current directory.",
        epilog="examples:\n  bench test-plugin bc\n  bench test-plugin myalgo\n  bench test-plugin myalgo --kind discrete")
    p.add_argument("name", metavar="NAME", help="the plugin's registered name (bench list algos)")
    p.add_argument("--kind", action="append", choices=sorted(TASK_OF_KIND),
                   help="check this action kind only (repeatable); default: every kind the plugin supports")
    p.set_defaults(func=cmd_test_plugin)


def cmd_test_plugin(args) -> int:
    import time

    import algorithms
    from benchmarks.training import contract
    from benchmarks.training.train import enable_compilation_cache

    cls = algorithms.get(args.name)  # a plugin that failed to load: its error, one line, exit 2
    enable_compilation_cache()
    t0 = time.monotonic()
    print(f"contract checks of '{cls.name}' ({cls.__module__}.{cls.__qualname__})", flush=True)
    failed = contract.run(cls.name, args.kind, say=lambda line: print(line, flush=True))
    print(f"{'FAILED: ' + str(failed) + ' check(s)' if failed else 'all checks passed'} "
          f"in {time.monotonic() - t0:.0f} s")
    return 1 if failed else 0
