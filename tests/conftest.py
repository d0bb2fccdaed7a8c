import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("BENCH_JAX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "jax"))

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["BENCH_JAX_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

# Small networks for contract tests (benchmarks/training/contract.py, which `bench test-plugin` runs too); every
# cost-defining setting (denoising / Euler steps) stays at the paper's default so that the declared cost is checked
# as the method really runs.
from benchmarks.training.contract import TEST_SIZE as TINY, small_overrides as tiny_overrides  # noqa: E402,F401


def known_failure(key, table: dict, raises=AssertionError) -> list:
    """A strict xfail with the table's measured reason when ``key`` is a known failure, else no mark. Only
    ``raises`` (the failed threshold's AssertionError) counts as the known failure: a crash or a NaN loss
    caught by another check still fails the test."""
    return [pytest.mark.xfail(strict=True, raises=raises, reason=table[key])] if key in table else []


@pytest.fixture
def results(tmp_path):
    return tmp_path / "runs"


def generated_data_dir(tmp_path_factory, budget: str):
    """A fresh BENCH_DATA directory with BENCH_COLLECT_BUDGET = ``budget`` for a module's tests (a
    generator for module-scoped fixtures: the environment and the in-memory dataset cache are restored)."""
    from benchmarks.data import collect

    root = tmp_path_factory.mktemp("bench-data")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_DATA", str(root))
    mp.setenv("BENCH_COLLECT_BUDGET", budget)
    collect._MEMORY.clear()
    yield root
    mp.undo()
    collect._MEMORY.clear()


# ---- scheduling on pytest-xdist workers (``--dist loadgroup`` in pyproject's addopts) ----------------------
# A test file is one group, so its module-scoped fixtures (trained once) stay on one worker, except the
# contract tests: one group per plugin (all action kinds), so the plugins' compilations are shared within a
# group and spread over both workers; the MPE learning runs, a group each; and the tests of the _SPREAD files,
# each training its own plugin, a group each. Groups are handed out in the
# order below, the costliest first, so no long file starts last (measured with --durations=0 on a cold
# compilation cache).
_FIRST = ("test_known_answer", "test_diffusion_plugins", "test_games", "test_value_baselines", "test_flow_plugins",
          "test_online", "test_collect", "test_runner", "test_train")
_SPREAD = ("test_known_answer", "test_diffusion_plugins")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    def group(item):
        module = item.path.stem
        if module == "test_contract" and hasattr(item, "callspec"):
            params = item.callspec.params
            return f"contract-{params.get('name', '')}"
        if "mpe_data" in getattr(item, "fixturenames", ()):
            # the slow MPE runs (7-65 min each, under load) are their own groups, so `-m slow` shares them over
            # both workers; what they share is only the generated data (16 s per worker)
            return f"{module}-{item.name}"
        if module == "test_devices":
            # its Ray cluster and test_runner's never run at once: a second head node starting beside the first
            # was seen to advertise another address than --node-ip-address, and the join failed
            return "test_runner"
        if module in _SPREAD:
            # each test trains its own plugin (no shared fixture in the default run): a group each, so both
            # workers share the file's minutes
            return f"{module}-{item.name}"
        return module

    def rank(item):
        module = item.path.stem
        return (_FIRST.index(module) if module in _FIRST else len(_FIRST) + (module != "test_contract"),)

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    items.sort(key=rank)  # stable: a file's tests stay together and in their order
