"""SMACv2 (oxwhirl's ``smacv2`` package) for the smacv2 suite, with og-marl's environment settings.

og-marl recorded its SMACv2 data with ``StarCraftCapabilityEnvWrapper`` on the ``10gen_terran`` /
``10gen_zerg`` maps: procedurally drawn teams (weighted unit types, one exception unit type that may
not fill a team), ``surrounded_and_reflect`` start positions on a 32x32 map, and
``conic_fov=False, obs_own_pos=True, use_unit_ranges=True, min_attack_range=2``. The adapter builds the
same environment and steps it through :class:`benchmarks.envs.smac.SMACBatch` (same API as smac).

Two settings of og-marl's recording differ from smacv2's own example configs and are kept here so the
evaluation environment is the one the data came from: the terran teams name ``baneling`` (not
``medivac``) as the exception unit type, so medivacs are drawn like the other types; and
og-marl's config gives the start-position distribution ``n_enemies=5`` for terran_10_vs_10 too, which
is without effect: smacv2's wrapper overwrites every distribution's ``n_enemies`` with the team's (10).
``OGMARL_SETTINGS = False`` switches to smacv2's example configs.

Install: ``pip install "smacv2 @ git+https://github.com/oxwhirl/smacv2.git"``, StarCraft II 4.10 in
$SC2PATH and the smacv2 maps (``SMAC_Maps`` from the smacv2 repository) in $SC2PATH/Maps.
"""
from __future__ import annotations

import copy
from typing import Callable

from benchmarks.envs.smac import MapInfo, missing_env
from algorithms.errors import DependencyError

OGMARL_SETTINGS = True  # the environment og-marl recorded its data in (see the module docstring)
RACES = {
    "terran": (("marine", "marauder", "medivac"), ("medivac",), (0.45, 0.45, 0.1)),
    "zerg": (("zergling", "baneling", "hydralisk"), ("baneling",), (0.45, 0.1, 0.45)),
}
# obs / state / actions from og-marl's datacards; episode limit 200: smacv2's map registry for the 10gen maps
# (400 stood there for two weeks of smacv2's history only). Every 10gen map loads 32x32_flat.SC2Map.
MAPS = {
    "terran_5_vs_5": MapInfo(5, 82, 120, 11, 200, "og_marl", (0.0, 20.0)),
    "zerg_5_vs_5": MapInfo(5, 82, 120, 11, 200, "og_marl", (0.0, 20.0)),
    "terran_10_vs_10": MapInfo(10, 162, 290, 16, 200, "og_marl", (0.0, 20.0)),
}
QUALITIES = {m: ("Replay",) for m in MAPS}
MAP_FILE = "32x32_flat"  # $SC2PATH/Maps/SMAC_Maps/32x32_flat.SC2Map, from smacv2's map zip (not in smac's)


def distribution_config(scenario: str) -> tuple:
    """(map_name, capability_config) of a scenario ``<race>_<n>_vs_<m>``."""
    race, n, _, m = scenario.split("_")
    units, exceptions, weights = RACES[race]
    n, m = int(n), int(m)
    start_enemies = m
    if OGMARL_SETTINGS:
        exceptions = ("baneling",)
        start_enemies = 5
    config = {
        "n_units": n,
        "n_enemies": m,
        "team_gen": {"dist_type": "weighted_teams", "unit_types": list(units), "exception_unit_types": list(exceptions),
                     "weights": list(weights), "observe": True},
        "start_positions": {"dist_type": "surrounded_and_reflect", "p": 0.5, "n_enemies": start_enemies,
                            "map_x": 32, "map_y": 32},
    }
    return f"10gen_{race}", config


def v2_factory(scenario: str) -> Callable[[int], object]:
    map_name, config = distribution_config(scenario)

    def make(seed: int):
        why = missing_env("smacv2")
        if why:
            raise DependencyError(f"SMACv2 scenario {scenario} cannot run here: {why}")
        from smacv2.env import StarCraftCapabilityEnvWrapper

        env = StarCraftCapabilityEnvWrapper(capability_config=copy.deepcopy(config), map_name=map_name, seed=seed,
                                            debug=False, conic_fov=False, obs_own_pos=True, use_unit_ranges=True,
                                            min_attack_range=2)
        seed_scenarios(env, seed)
        return env

    return make


def seed_scenarios(env, seed: int) -> int:
    """Seed the scenario generators of a smacv2 wrapper; returns how many generators were seeded.

    smacv2 gives its distributions no seed: each draws from its own ``numpy.random.default_rng()`` (OS
    entropy), and team shuffles use Python's global ``random``. ``seed`` only reaches the game. Here every
    ``rng`` attribute of the distributions in ``env.env_key_to_distribution_map`` (nested ones too) is
    replaced by a generator seeded from (seed, its position), and Python's ``random`` of the host process
    is seeded. What stays unseeded: the shuffles draw from that one process-wide ``random``, so the same
    teams come back only for the same sequence of environments and episodes in the process; a smacv2
    version that renames these attributes is seeded nowhere (0 is returned)."""
    import random

    import numpy as np

    random.seed(seed)
    found, seen = [], set()

    def walk(obj):
        if id(obj) in seen or not hasattr(obj, "__dict__"):
            return
        seen.add(id(obj))
        for name, value in sorted(vars(obj).items()):
            if name == "rng" and isinstance(value, np.random.Generator):
                found.append((obj, name))
            elif hasattr(value, "generate") or hasattr(value, "rng"):
                walk(value)

    for dist in getattr(env, "env_key_to_distribution_map", {}).values():
        walk(dist)
    for k, (obj, name) in enumerate(found):
        setattr(obj, name, np.random.default_rng([seed, k]))
    return len(found)
