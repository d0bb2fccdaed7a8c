"""The mamujoco suite: MA-MuJoCo on OMIGA's datasets (MAC-Flow's Table 2 rows), evaluated in the environment
they were recorded in (benchmarks/envs/mamujoco_omiga.py).

Tasks are ``<robot>-<quality>`` over 6-halfcheetah / 3-hopper / 2-ant (the paper's names) and Expert /
Medium-Expert / Medium / Medium-Replay (``6-halfcheetah-medium-replay``; the datasets' spelling,
``6halfcheetah-medium-replay``, is accepted too). The data are the og-marl vaults that ``bench data download
--suite mamujoco --task <scenario>`` puts at ``$BENCH_DATA/omiga/mamujoco/<scenario>.vlt/<Quality>`` (the
catalogue's ``omiga/mamujoco`` entries: 6halfcheetah, 3hopper, 2ant). Without them a task fails before anything
starts, naming that command.

The paper reports raw returns. Normalised scores (tables' brackets, aggregates) use fixed references per robot,
shared by its four datasets: random = a uniformly random policy's mean return in this environment (measured,
``RANDOM``), expert = the mean episode return og-marl publishes for the robot's Expert dataset (``PUBLISHED``,
its datacard). docs/mamujoco.md gives the figures and the alternatives considered.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

from algorithms.errors import DatasetError, DependencyError
from benchmarks.data import catalogue
from benchmarks.envs import mamujoco_omiga as env
from benchmarks.tasks.base import Suite, Task

SUITE = "mamujoco"
SCENARIOS = ("6halfcheetah", "3hopper", "2ant")  # the datasets' (catalogue's) names
LABELS = {"6halfcheetah": "6-halfcheetah", "3hopper": "3-hopper", "2ant": "2-ant"}  # the tasks' (paper's)
QUALITIES = ("Expert", "Medium-Expert", "Medium", "Medium-Replay")
# og-marl's datacard (docs/dataset_cards/datacard_info.json at f4eb8f0), per dataset: episodes, rows, mean
# episode return, its std, min, max
PUBLISHED = {
    "6halfcheetah": {"Expert": (1000, 1_001_000, 2785.10, 1053.14, 317.94, 3866.09),
                     "Medium-Expert": (2000, 2_002_000, 2105.38, 1073.24, 251.94, 3866.09),
                     "Medium": (1000, 1_001_000, 1425.66, 520.12, 251.94, 2113.52),
                     "Medium-Replay": (1000, 1_001_000, 655.76, 590.40, -198.77, 2132.60)},
    "3hopper": {"Expert": (1481, 1_000_391, 2452.02, 1097.86, 95.27, 3762.69),
                "Medium-Expert": (5481, 1_919_782, 1190.61, 973.40, 95.27, 3762.69),
                "Medium": (4000, 919_391, 723.57, 211.66, 128.38, 2776.49),
                "Medium-Replay": (4160, 1_314_826, 746.42, 671.89, 70.76, 2801.15)},
    "2ant": {"Expert": (1000, 1_001_000, 2055.07, 22.07, 1994.03, 2124.15),
             "Medium-Expert": (2000, 2_002_000, 1736.88, 319.64, 840.77, 2124.15),
             "Medium": (1000, 1_001_000, 1418.70, 37.04, 840.77, 1473.86),
             "Medium-Replay": (1750, 1_751_750, 1029.51, 141.27, 895.37, 1517.06)},
}
# uniformly random actions in [-1, 1] in this environment: mean return over 100 episodes (OmigaBatch of 10 seeded
# 1000 + 10 b, b = 0..9; standard errors 8.8, 1.5, 8.3; tests/test_mamujoco_paper.py re-measures a smaller sample)
RANDOM = {"6halfcheetah": -286.48, "3hopper": 18.88, "2ant": -46.74}
DEFAULT_TASKS = ("3-hopper-medium", "6-halfcheetah-medium")


def refs(scenario: str) -> tuple:
    """(random, expert) returns of a robot (see the module docstring)."""
    return RANDOM[scenario], PUBLISHED[scenario]["Expert"][2]


def entry(scenario: str) -> catalogue.Entry:
    return catalogue.find("omiga", "mamujoco", scenario)


def dataset_path(scenario: str, quality: str) -> Path:
    return entry(scenario).vault(quality)


def download_command(scenario: str) -> str:
    return f"bench data download --suite {SUITE} --task {scenario}"


def missing_data(scenario: str, quality: str) -> Optional[str]:
    path = dataset_path(scenario, quality)
    if path.exists():
        return None
    return (f"the OMIGA dataset {scenario}/{quality} is not downloaded (expected at {path}): run "
            f"`{download_command(scenario)}`")


def load_dataset(scenario: str, quality: str):
    from benchmarks.data.vault import read_dataset

    why = missing_data(scenario, quality)
    if why:
        raise DatasetError(why)
    return read_dataset(dataset_path(scenario, quality))


def verify(scenario: str, path, deep: bool) -> list:
    from benchmarks.data.omiga_mujoco import verify as check

    return check(scenario, path, deep)


def _split(name: str) -> tuple:
    for sc in SCENARIOS:
        for q in QUALITIES:
            if name == task_name(sc, q):
                return sc, q
    raise DatasetError(f"{SUITE}/{name} is not a task of the suite")


def task_name(scenario: str, quality: str) -> str:
    return f"{LABELS[scenario]}-{quality.lower()}"


def _alias(name: str) -> Optional[str]:
    """The task a name in the datasets' spelling (``2ant-medium``) stands for."""
    for sc, label in LABELS.items():
        if name.startswith(sc + "-"):
            return label + name[len(sc):]
    return None


def preflight(names, launch: bool = False) -> None:
    """Before a run writes anything: gymnasium's MuJoCo environments and every task's vault are here."""
    why = env.missing()
    if why:
        raise DependencyError(f"the {SUITE} suite cannot run here: {why}")
    for name in names:
        why = missing_data(*_split(name))
        if why:
            raise DatasetError(f"task {SUITE}/{name}: {why}")


def available() -> Optional[str]:
    why = env.missing()
    if why:
        return why
    absent = [sc for sc in SCENARIOS if not entry(sc).vlt_dir().exists()]
    if len(absent) == len(SCENARIOS):  # some robots downloaded: preflight names what the chosen tasks miss
        return "datasets not downloaded: run " + "; ".join(f"`{download_command(sc)}`" for sc in absent)
    return None


def suites() -> list:
    tasks = {}
    for scenario in SCENARIOS:
        for quality in QUALITIES:
            @functools.lru_cache(None)
            def make(scenario=scenario, quality=quality):
                why = env.missing()
                if why:
                    raise DependencyError(f"task {SUITE}/{task_name(scenario, quality)} cannot run here: {why}")
                r = env.robot(scenario)
                return Task(SUITE, task_name(scenario, quality), env.spec_of(scenario),
                            lambda: env.OmigaMuJoCo(scenario), lambda seed: load_dataset(scenario, quality),
                            lambda: refs(scenario),
                            f"{scenario} ({r.n_agents}x{r.per_agent}), OMIGA's {quality} data, gymnasium v5 MuJoCo set "
                            f"up as OMIGA recorded it", jax_env=False,
                            data_path=lambda seed: dataset_path(scenario, quality),
                            verify=lambda path, deep: verify(scenario, path, deep))

            tasks[task_name(scenario, quality)] = make
    return [Suite(SUITE, "Multi-agent MuJoCo on OMIGA's datasets (MAC-Flow Table 2): 6-HalfCheetah, 3-Hopper, 2-Ant, "
                         "Expert/Medium-Expert/Medium/Medium-Replay, in gymnasium v5 MuJoCo set up as OMIGA recorded them",
                  tasks, DEFAULT_TASKS, available=available, preflight=preflight,
                  resolve=lambda name: tasks.get(_alias(name) or ""))]
