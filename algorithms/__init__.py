"""The algorithm registry.

``register`` adds a plugin class under its ``name``; built-in plugins register themselves when this
package is imported, and outside packages add theirs through the entry-point group
``bench.algorithms`` (``[project.entry-points."bench.algorithms"] myalgo = "mypkg.myalgo:MyAlgo"``).
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Dict, Type

from benchmarks.errors import BenchError, unknown

from .base import Algorithm, Batch, Cost, EnvSpec, State, build_config  # noqa: F401

_REGISTRY: Dict[str, Type[Algorithm]] = {}
_BUILTIN = (
    "bc",
    "flow_bc",
    "macflow",
    "diffusion_bc",
    "madiff",
    "dof",
    "mabcq",
    "macql",
    "matd3bc",
    "icq",
    "omar",
    "omiga",
    "mafql",
    "vgm2p",
    "om2p",
)
_loaded = False


def register(cls: Type[Algorithm]) -> Type[Algorithm]:
    """Class decorator: make ``cls`` available as ``cls.name``."""
    if not cls.name:
        raise BenchError(f"{cls.__qualname__} has no 'name'; set name = '...' on the class")
    missing = [f for f in Algorithm.REQUIRED if not callable(getattr(cls, f, None))]
    if missing:
        raise BenchError(f"algorithm '{cls.name}' ({cls.__module__}) does not define {', '.join(missing)}; "
                         "every plugin defines init, update, act and cost as static methods (see algorithms/bc.py)")
    for suite, preset in cls.suite_presets.items():
        bad = set(preset) & set(cls.cost_defining)
        if bad:
            raise BenchError(f"algorithm '{cls.name}': suite preset '{suite}' sets cost-defining "
                             f"{', '.join(sorted(bad))}; a preset may only resize networks, the method's cost "
                             "settings stay at the paper's")
        build_config(cls, preset)  # unknown keys / bad types fail here, not in the middle of a run
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise BenchError(f"algorithm name '{cls.name}' is taken by {other.__module__}.{other.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTIN:
        importlib.import_module(f"algorithms.{mod}")
    for ep in entry_points(group="bench.algorithms"):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken third-party plugin must not break the harness
            import warnings

            warnings.warn(f"could not load algorithm plugin '{ep.name}' ({ep.value}): {exc}")
            continue
        if ep.name not in _REGISTRY:
            if not getattr(cls, "name", ""):
                cls.name = ep.name
            register(cls)


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> Type[Algorithm]:
    _load()
    if name not in _REGISTRY:
        raise unknown("algorithm", name, _REGISTRY)
    return _REGISTRY[name]


def all_algorithms() -> Dict[str, Type[Algorithm]]:
    _load()
    return dict(_REGISTRY)
