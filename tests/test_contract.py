"""Registry-driven contract tests: every registered plugin, for every action kind it supports."""
from __future__ import annotations

import pytest

import algorithms
from benchmarks.training import contract

CASES = [(name, kind) for name in sorted(algorithms.all_algorithms()) for kind in contract.kinds(name)]


# The checks live in benchmarks/training/contract.py, so `bench test-plugin NAME` runs them on a plugin installed
# from anywhere; here they run on every registered plugin, one xdist group per plugin (conftest), sharing each
# (plugin, kind)'s compiled update and act through contract.setup's cache.
@pytest.mark.parametrize("name,kind", CASES)
def test_update_trains_every_network_and_its_loss_falls_on_a_fixed_batch(name, kind):
    contract.check_update(name, kind)


@pytest.mark.parametrize("name,kind", CASES)
def test_acts_legally(name, kind):
    contract.check_legal_actions(name, kind)


@pytest.mark.parametrize("name,kind", CASES)
def test_decentralised_execution(name, kind):
    why = contract.check_decentralised(name, kind)
    if why:
        pytest.skip(why)


@pytest.mark.parametrize("name,kind", CASES)
def test_deterministic_given_seed(name, kind):
    contract.check_deterministic(name, kind)


@pytest.mark.parametrize("name,kind", CASES)
def test_declared_cost_matches_network_evaluations(name, kind):
    contract.check_cost(name, kind)


@pytest.mark.parametrize("name", sorted(algorithms.all_algorithms()))
def test_paper_defaults_are_not_cut(name):
    """Cost-defining settings can only change through an explicit override."""
    contract.check_paper_defaults_kept(name)
    if name == "flowbc":  # its string setting changes the declared cost: 10 Euler steps -> one distilled pass
        from benchmarks.tasks import get_task

        cls, spec = algorithms.get(name), get_task("games/xor").spec
        assert cls.cost(spec, cls.make_config({"act_with": "onestep"}, allow_cost_override=True)).nfe == 1
        assert cls.cost(spec, cls.Config()).nfe == 10


def test_builtin_plugins_follow_the_naming_rule_and_live_in_their_methods_file():
    import importlib

    for module in algorithms._BUILTIN:
        registered = [cls for cls in algorithms.all_algorithms().values() if cls.__module__ == f"algorithms.{module}"]
        assert registered, f"algorithms/{module}.py registers no plugin"
        for cls in registered:
            assert algorithms.NAME_RULE.match(cls.name), cls.name
            assert cls.name.split("-")[0] == module, f"{cls.name} lives in algorithms/{module}.py"
        importlib.import_module(f"algorithms.{module}")
    for old, new in algorithms.ALIASES.items():
        assert algorithms.get(old) is algorithms.get(new)


def test_every_config_field_says_what_it_is():
    """One comment per Config field (same line or the line above): what it is, its value and its source."""
    for name in sorted(algorithms.all_algorithms()):
        contract.check_config_comments(name)
