"""An algorithm from another package: the template copied into a throwaway package with a 'bench.algorithms'
entry point (a dist-info directory on sys.path, nothing installed), checked by `bench test-plugin` from outside
the repository; a plugin whose import fails, or whose name breaks the naming rule, named with its error wherever
it is asked for (the registry, `bench list algos`, and `bench run`'s planning subprocess)."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import algorithms
from algorithms.errors import BenchError
from benchmarks.cli import main

ROOT = Path(__file__).resolve().parents[1]
MISSING = "no_such_dependency_of_a_plugin"


def outside_package(where: Path) -> Path:
    """site/ holding package 'outsidepkg' (a copy of the template algorithms/bc.py named 'outsidebc', a plugin
    whose import fails, one that breaks the naming rule) and its dist-info with three entry points."""
    site = where / "site"
    pkg = site / "outsidepkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    template = (ROOT / "algorithms" / "bc.py").read_text()
    assert 'name = "bc"' in template and "class BC(" in template
    (pkg / "outsidebc.py").write_text(template.replace('name = "bc"', 'name = "outsidebc"')
                                      .replace("class BC(", "class OutsideBC("))
    (pkg / "broken.py").write_text(f"import {MISSING}\n")
    (pkg / "badname.py").write_text("from algorithms.bc import BC\n\n\nclass Bad(BC):\n    name = 'Bad_Name'\n")
    info = site / "outsidepkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outsidepkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bench.algorithms]\noutsidebc = outsidepkg.outsidebc:OutsideBC\n"
                                           "brokenplug = outsidepkg.broken:Broken\nbadname = outsidepkg.badname:Bad\n")
    return site


@pytest.fixture
def outside_registry(tmp_path, monkeypatch):
    """The registry loaded afresh with the outside package on sys.path (restored afterwards)."""
    algorithms._load()  # the built-in plugins, before the outside package is on the path
    site = outside_package(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(algorithms, "_REGISTRY", dict(algorithms._REGISTRY))
    monkeypatch.setattr(algorithms, "FAILED", {})
    monkeypatch.setattr(algorithms, "_loaded", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        algorithms._load()
    yield site
    for name in [m for m in sys.modules if m == "outsidepkg" or m.startswith("outsidepkg.")]:
        del sys.modules[name]


def test_a_plugin_that_fails_to_load_is_named_with_its_error(outside_registry, tmp_path, capsys):
    assert "outsidebc" in algorithms.names()
    assert algorithms.get("outsidebc").__module__ == "outsidepkg.outsidebc"
    assert "brokenplug" not in algorithms.names() and "badname" not in algorithms.names()
    with pytest.raises(BenchError, match=f"'brokenplug' is installed but could not be loaded: .*"
                                                    f"ModuleNotFoundError: No module named '{MISSING}'"):
        algorithms.get("brokenplug")
    with pytest.raises(BenchError, match="'Bad_Name' .* breaks the naming rule: a plugin's name is"):
        algorithms.get("badname")
    assert main(["list", "algos"]) == 0
    out = capsys.readouterr().out
    assert "outsidebc" in out and f"brokenplug     NOT LOADED: entry point brokenplug = outsidepkg.broken:Broken" in out
    root = tmp_path / "runs"
    assert main(["run", "--task", "games/xor", "--algos", "bc,brokenplug", "--results", str(root), "--no-ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "brokenplug" in err[0] and f"No module named '{MISSING}'" in err[0], err
    assert not root.exists()


def _bench(argv, site: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    """`bench ARGV` in a fresh interpreter, from ``cwd`` (outside the repository), with the outside package on the
    path; fails if anything imported the repository's tests."""
    code = ("import sys; from benchmarks.cli import main; rc = main(sys.argv[1:]); "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'tests'], 'imported tests'; sys.exit(rc)")
    path = os.pathsep.join([str(site), str(ROOT)])
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=path, PYTHONWARNINGS="ignore", **env), timeout=600)


def test_bench_run_names_the_import_error_from_its_planning_subprocess(tmp_path):
    """The driver of `bench run` plans in a subprocess (it never imports JAX); the plugin's import error crosses it."""
    site = outside_package(tmp_path)
    r = _bench(["run", "--task", "games/xor", "--algos", "brokenplug", "--results", str(tmp_path / "runs"),
                "--no-progress"], site, tmp_path)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert err[0].startswith("bench: error: algorithm 'brokenplug' is installed but could not be loaded")
    assert f"No module named '{MISSING}'" in err[0] and not (tmp_path / "runs").exists()


def test_bench_test_plugin_checks_an_outside_plugin_from_outside_the_repository(tmp_path):
    """The template works from another package (absolute imports) and passes the contract checks, run by the
    documented one-line command from a directory outside the repository (the compilation cache is
    $BENCH_JAX_CACHE's, here the tests' own). One action kind keeps the test short (the checks per kind are the
    same code)."""
    site = outside_package(tmp_path)
    r = _bench(["test-plugin", "outsidebc", "--kind", "discrete"], site, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "contract checks of 'outsidebc' (outsidepkg.outsidebc.OutsideBC)"
    checks = [ln for ln in lines if ln.startswith(("ok ", "n/a ", "FAIL "))]
    assert len(checks) == 8 and all(ln.startswith("ok ") for ln in checks), lines
    assert "ok    declared cost equals act's network evaluations (discrete)" in lines
    assert lines[-1].startswith("all checks passed")


def test_bench_test_plugin_fails_one_line_per_broken_check(monkeypatch, capsys):
    """The same command on a plugin that breaks the contract (it declares 2 network evaluations, act runs 1). Only
    the naming and cost checks run (they compile nothing; the full table ran above)."""
    from algorithms.base import Cost
    from algorithms.bc import BC
    from benchmarks.training import contract

    monkeypatch.setattr(contract, "CHECKS", tuple(c for c in contract.CHECKS
                                                 if c[1] in (contract.check_name, contract.check_cost)))

    class WrongCost(BC):
        name = "wrongcost"

        @staticmethod
        def cost(spec, cfg):
            return Cost(nfe=2, per_agent="O(1)")

    algorithms._load()
    monkeypatch.setitem(algorithms._REGISTRY, "wrongcost", WrongCost)
    assert main(["test-plugin", "wrongcost", "--kind", "discrete"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert ("FAIL  declared cost equals act's network evaluations (discrete): wrongcost: cost() declares 2 network "
            "evaluations, act runs 1") in lines, lines
    assert lines[1:] == ["ok    name follows the naming rule", lines[2], lines[3]] and lines[3].startswith("FAILED: 1 check")
