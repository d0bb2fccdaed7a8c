"""The algorithm registry.

``register`` adds a plugin class under its ``name``; built-in plugins register themselves when this
package is imported, and outside packages add theirs through the entry-point group
``bench.algorithms`` (``[project.entry-points."bench.algorithms"] myalgo = "mypkg.myalgo:MyAlgo"``).

Naming rule (every plugin, built-in or from another package; ``register`` refuses a name that breaks it):
a plugin's name is lower-case letters and digits, as users type it (``macflow``, ``flowbc``,
``diffusionbc``); variants of one method add ``-<variant>`` (``madiff-c``, ``madiff-d``). A built-in plugin
lives in ``algorithms/<name without the variant>.py``; an entry point's name is its plugin's name. Names
that changed when the rule was applied stay accepted through ``ALIASES``. Shared building blocks
(``base``, ``errors``, ``nets``, ``value``, ``flows``, ``diffusion``, ``temporal``, ``meanflow``, ``retention``, ``estimators``) are
not plugins.

A plugin of another package that cannot be loaded (its import raises, or it breaks a rule above) does not
break the harness: it is left out of the registry with its error, and asking for it by name (``bench run
--algos NAME``, ``bench latency``, ``bench test-plugin``...) raises that error instead of "unknown algorithm";
``bench list algos`` shows it with the error.
"""
from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Dict, Type

from algorithms.errors import BenchError, DependencyError, unknown

# The contract (algorithms/base.py) imports JAX; it is loaded on first use, so that importing this
# package for its errors or names (the CLI, the Ray driver) stays free of JAX.
_CONTRACT = ("Algorithm", "Batch", "Cost", "EnvSpec", "State", "build_config")


def __getattr__(name: str):
    if name in _CONTRACT:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module 'algorithms' has no attribute '{name}'")

_REGISTRY: "Dict[str, Type[Algorithm]]" = {}
_BUILTIN = (  # module names; each module registers its plugin(s)
    "bc",
    "flowbc",
    "macflow",
    "diffusionbc",
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
    "oryx",
)
# names users typed before the naming rule -> the plugin's name now
ALIASES: Dict[str, str] = {"diffusion_bc": "diffusionbc", "flow_bc": "flowbc", "madiff_c": "madiff-c",
                           "madiff_d": "madiff-d"}
# the naming rule of every plugin (register checks it; tests/test_contract.py checks that each built-in lives in
# its method's file)
NAME_RULE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)?$")
NAME_RULE_TEXT = ("a plugin's name is lower-case letters and digits, with '-<variant>' for a variant of one method "
                  "(e.g. 'myalgo', 'myalgo-c')")
# entry points of other packages that could not be loaded: name -> "where: the error"
FAILED: Dict[str, str] = {}
_loaded = False


if TYPE_CHECKING:  # pragma: no cover
    from .base import Algorithm


def register(cls: "Type[Algorithm]") -> "Type[Algorithm]":
    """Class decorator: make ``cls`` available as ``cls.name``."""
    from .base import Algorithm, build_config

    if not cls.name:
        raise BenchError(f"{cls.__qualname__} has no 'name'; set name = '...' on the class")
    if not NAME_RULE.match(cls.name):
        raise BenchError(f"algorithm name '{cls.name}' ({cls.__module__}) breaks the naming rule: {NAME_RULE_TEXT}")
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
    bad = set(cls.tiny) & set(cls.cost_defining)
    if bad:
        raise BenchError(f"algorithm '{cls.name}': its test sizes ('tiny') set cost-defining {', '.join(sorted(bad))}; "
                         "tests check the declared cost as the method really runs")
    build_config(cls, cls.tiny)
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
            if ep.name not in _REGISTRY:
                if not getattr(cls, "name", ""):
                    cls.name = ep.name
                register(cls)
            if cls.name != ep.name:
                raise BenchError(f"it loads the plugin named '{cls.name}'; give the entry point its plugin's name")
        except Exception as exc:  # a broken third-party plugin must not break the harness: kept with its error
            import warnings

            FAILED[ep.name] = f"entry point {ep.name} = {ep.value} failed to load: {type(exc).__name__}: {exc}"
            warnings.warn(f"algorithm plugin '{ep.name}': {FAILED[ep.name]}")


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def canonical(name: str) -> str:
    """The registered name for ``name`` or one of its old spellings (``ALIASES``); unknown names pass through."""
    return name if name in _REGISTRY else ALIASES.get(name, name)


def get(name: str) -> "Type[Algorithm]":
    _load()
    name = canonical(name)
    if name not in _REGISTRY:
        if name in FAILED:
            raise DependencyError(f"algorithm '{name}' is installed but could not be loaded: {FAILED[name]}; fix "
                                  "that package (or uninstall it)")
        raise unknown("algorithm", name, _REGISTRY)
    return _REGISTRY[name]


def all_algorithms() -> "Dict[str, Type[Algorithm]]":
    _load()
    return dict(_REGISTRY)
