"""The smacv1 and smacv2 suites: StarCraft II maps (benchmarks/envs/smac.py, smacv2.py) on og-marl / OMIGA
vaults fetched with ``bench data download`` (benchmarks/data/catalogue.py).

Task names are ``<map>-<quality>`` (``3m-good``); the data are og-marl vaults in
``$BENCH_DATA/<source>/<env>/<map>.vlt/<Quality>``. The environment modules are used through their
module attributes (``smac.missing_env``), so a test double can stand in for StarCraft II.

Environments are built in one host process per package (benchmarks/envs/sc2proc.py: smac and smacv2
cannot share a process), and each suite's ``preflight`` checks a run's tasks before training. 2c_vs_64zg
is listed as removed (``Suite.removed``, reason in ``smac.REMOVED_MAPS``).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

from algorithms.base import EnvSpec
from algorithms.errors import DatasetError, DependencyError
from benchmarks.data import catalogue
from benchmarks.data.vault import read_dataset
from benchmarks.envs import sc2proc, smac, smacv2
from benchmarks.tasks.base import Suite, Task


def _hosted(package: str):
    """scenario -> (seed -> env): the environment built and stepped in ``package``'s host process
    (benchmarks/envs/sc2proc.py), so smac and smacv2 never load in one process."""
    return lambda scenario: (lambda seed: sc2proc.host(package).make(scenario, seed))


# scenario -> (seed -> env with the smac API), per package; looked up when a task builds its env
FACTORIES: dict = {"smac": _hosted("smac"), "smacv2": _hosted("smacv2")}


def dataset_path(suite: str, scenario: str, quality: str) -> Path:
    return catalogue.entries(suite, scenario)[0].vault(quality)


def load_dataset(suite: str, scenario: str, quality: str):
    path = dataset_path(suite, scenario, quality)
    if not path.exists():
        raise DatasetError(f"the {suite} dataset {scenario}/{quality} is not downloaded (expected at {path}): run "
                           f"`bench data download --suite {suite} --task {scenario}`")
    ds = read_dataset(path)
    return ds


def make_env(spec: EnvSpec, package: str, scenario: str) -> "smac.SMACMaker":
    """``Task.make_env``: fails here (before any training) when the package, StarCraft II or a map is missing.
    The maker keeps its StarCraft II instances for every evaluation of the job (``SMACMaker.keep``)."""
    why = smac.missing_env(package, sc2proc.map_names(package, [scenario]))
    if why:
        raise DependencyError(f"{package} scenario {scenario} cannot run here: {why}")
    return smac.SMACMaker(spec, FACTORIES[package](scenario), package, keep=True)


def preflight(package: str, maps: dict, scenarios, launch: bool = False) -> None:
    """Before any training: the package, StarCraft II and every map file ``scenarios`` need, then each
    scenario's ``get_env_info()`` (shapes and episode limit) against the task's, in the package's host
    process; ``launch`` also starts one StarCraft II instance. Raises DependencyError / DatasetError."""
    scenarios = list(dict.fromkeys(scenarios))
    why = smac.missing_env(package, sc2proc.map_names(package, scenarios))
    if why:
        raise DependencyError(f"{package} cannot run {', '.join(scenarios)} here: {why}")
    for scenario, info in sc2proc.probe(package, scenarios, launch).items():
        smac.check_env_info(info, smac.map_spec(maps[scenario]), f"{package} scenario {scenario}")


def make_suite(suite: str, maps: dict, qualities: dict, package: str, description: str, removed: dict = None):
    """A Suite of ``<map>-<quality>`` tasks; ``available()`` names what to install or download."""
    tasks = {}
    for scenario, info in maps.items():
        for q in qualities[scenario]:
            @functools.lru_cache(None)
            def make(scenario=scenario, info=info, q=q):
                spec = smac.map_spec(info)
                return Task(suite, f"{scenario}-{q.lower()}", spec,
                            lambda: make_env(spec, package, scenario),
                            lambda seed: load_dataset(suite, scenario, q), lambda: info.refs,
                            f"{scenario} ({info.source} {q} data), {info.n_agents} agents, {package} + StarCraft II",
                            jax_env=False, reports_win_rate=True,
                            data_path=lambda seed: dataset_path(suite, scenario, q))

            tasks[f"{scenario}-{q.lower()}"] = make

    def available() -> Optional[str]:
        why = smac.missing_env(package)
        if why:
            return why
        absent = [s for s in maps if not dataset_path(suite, s, qualities[s][0]).parent.exists()]
        if absent:
            return "datasets not downloaded: run " + "; ".join(f"`bench data download --suite {suite} --task {s}`"
                                                                  for s in absent)
        return None

    def check(names, launch: bool = False) -> None:
        preflight(package, maps, [n.rsplit("-", 1)[0] for n in names], launch)

    gone = {f"{m}-{q.lower()}": why for m, (why, qs) in (removed or {}).items() for q in qs}
    return Suite(suite, description, tasks, tuple(tasks), available=available, preflight=check, removed=gone)


def suites() -> list:
    v1 = make_suite("smacv1", smac.V1_MAPS, {m: smac.V1_QUALITIES for m in smac.V1_MAPS}, "smac",
                    "StarCraft II micromanagement (SMAC v1) on og-marl data; needs smac + StarCraft II",
                    {m: (why, smac.V1_QUALITIES) for m, why in smac.REMOVED_MAPS.items()})
    v2 = make_suite("smacv2", smacv2.MAPS, smacv2.QUALITIES, "smacv2",
                    "StarCraft II with procedurally generated teams (SMACv2) on og-marl Replay data; "
                    "needs smacv2 + StarCraft II")
    return [v1, v2]
