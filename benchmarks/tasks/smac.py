"""The smacv1 and smacv2 suites: StarCraft II maps (benchmarks/envs/smac.py, smacv2.py) on og-marl / OMIGA
vaults fetched with ``bench data download`` (benchmarks/data/catalogue.py).

Task names are ``<map>-<quality>`` (``3m-good``); the data are og-marl vaults in
``$BENCH_DATA/<source>/<env>/<map>.vlt/<Quality>``. The environment modules are used through their
module attributes (``smac.missing_env``), so a test double can stand in for StarCraft II.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

from algorithms.base import EnvSpec
from algorithms.errors import DatasetError, DependencyError
from benchmarks.data import catalogue
from benchmarks.data.vault import read_dataset
from benchmarks.envs import smac, smacv2
from benchmarks.tasks.base import Suite, Task

# scenario -> (seed -> env with the smac API), per package; looked up when a task builds its env
FACTORIES: dict = {"smac": smac.v1_factory, "smacv2": smacv2.v2_factory}


def dataset_path(suite: str, scenario: str, quality: str) -> Path:
    return catalogue.entries(suite, scenario)[0].vault(quality)


def load_dataset(suite: str, scenario: str, quality: str):
    path = dataset_path(suite, scenario, quality)
    if not path.exists():
        raise DatasetError(f"the {suite} dataset {scenario}/{quality} is not downloaded (expected at {path}): run "
                           f"`bench data download --suite {suite} --task {scenario}`")
    ds = read_dataset(path)
    maps = smac.V1_MAPS if suite == "smacv1" else smacv2.MAPS
    info = maps[scenario]
    got = (ds.observations.shape[-1], ds.state.shape[-1])
    if info.source == "omiga" and got != (info.obs_dim, info.state_dim):
        raise DatasetError(
            f"the OMIGA {scenario} data at {path} have MAPPO-style features (obs {got[0]}, state {got[1]}: agent id, "
            f"agent-specific state) that oxwhirl's smac does not produce (obs {info.obs_dim}, state {info.state_dim}); "
            f"evaluating them needs OMIGA's own StarCraft II wrapper, which this harness does not include. Train "
            f"smacv1/{scenario} with --dataset on data recorded with smac instead")
    return ds


def make_env(spec: EnvSpec, package: str, scenario: str) -> "smac.SMACMaker":
    """``Task.make_env``: fails here (before any training) when the package or StarCraft II is missing."""
    why = smac.missing_env(package)
    if why:
        raise DependencyError(f"{package} scenario {scenario} cannot run here: {why}")
    return smac.SMACMaker(spec, FACTORIES[package](scenario), package)


def make_suite(suite: str, maps: dict, qualities: dict, package: str, description: str):
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
                            jax_env=False, reports_win_rate=True)

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

    return Suite(suite, description, tasks, tuple(tasks), available=available)


def suites() -> list:
    v1 = make_suite("smacv1", smac.V1_MAPS, {m: smac.V1_QUALITIES for m in smac.V1_MAPS}, "smac",
                    "StarCraft II micromanagement (SMAC v1) on og-marl / OMIGA data; needs smac + StarCraft II")
    v2 = make_suite("smacv2", smacv2.MAPS, smacv2.QUALITIES, "smacv2",
                    "StarCraft II with procedurally generated teams (SMACv2) on og-marl Replay data; "
                    "needs smacv2 + StarCraft II")
    return [v1, v2]
