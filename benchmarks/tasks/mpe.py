"""The MPE suites.

* ``mpe``: the MAC-Flow paper's MPE data, OMAR's Cooperative Navigation (Spread) vaults (og-marl
  ``omar/mpe/simple_spread``: Expert, Medium, Medium-Replay, Random; 5 streams of 25-step episodes), fetched with
  ``bench data download --suite mpe`` and evaluated in the environment they were recorded in (OMAR's MPE, JAX:
  benchmarks/envs/omar_spread.py). Scores are normalised with the paper's references, 100 (S - 159.8) /
  (516.8 - 159.8) (App. G.3), so runs stand beside Table 2's MPE rows. Tasks ``spread-<quality>`` evaluate
  25-step episodes (OMAR's, the data's, the references'); ``spread-<quality>-26steps`` evaluate 26 steps as
  og-marl's MPE wrapper does (the MAC-Flow code lineage evaluates through it) and are not matched with the
  published numbers. Without the download a task fails before anything starts, naming the command.
  ``Task.verify`` runs the known-answer checks of benchmarks/data/omar_spread.py on the vault.
* ``mpe-gen``: MPE Spread (mpe2) on data the harness generates (benchmarks/data/collect.py), for work without the
  download and for tests; never beside published numbers.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

from algorithms.errors import DatasetError
from benchmarks.data import catalogue
from benchmarks.envs import mpe as mpe2_env
from benchmarks.envs import omar_spread
from benchmarks.tasks.base import Suite, Task
from benchmarks.tasks.generated import generated_suite

SCENARIO = "simple_spread"  # the catalogue's entry (omar/mpe/simple_spread.zip)
QUALITIES = ("Expert", "Medium", "Medium-Replay", "Random")
LONG = "-26steps"  # the task variants evaluated as og-marl's wrapper does
DOWNLOAD = f"bench data download --suite mpe --task {SCENARIO}"


def dataset_path(quality: str) -> Path:
    return catalogue.entries("mpe", SCENARIO)[0].vault(quality)


def _present(quality: str) -> bool:
    return (dataset_path(quality) / "metadata.json").is_file()


def load_dataset(quality: str):
    from benchmarks.data.vault import read_dataset

    path = dataset_path(quality)
    if not _present(quality):
        raise DatasetError(f"OMAR's Spread {quality} data (og-marl omar/mpe/{SCENARIO}) are not downloaded (expected "
                           f"at {path}): run `{DOWNLOAD}`")
    return read_dataset(path)


def _verify(path, deep: bool) -> list:
    from benchmarks.data.omar_spread import checks

    return checks(path, deep)


def paper_suite() -> Suite:
    tasks = {}
    for q in QUALITIES:
        for length in (omar_spread.EPISODE_LENGTH, omar_spread.OGMARL_EPISODE_LENGTH):
            name = f"spread-{q.lower()}" + ("" if length == omar_spread.EPISODE_LENGTH else LONG)

            @functools.lru_cache(None)
            def make(q=q, length=length, name=name):
                return Task("mpe", name, omar_spread.spec(length), lambda: omar_spread.Spread(length),
                            lambda seed: load_dataset(q), lambda: omar_spread.REFS,
                            f"OMAR's Spread {q} data, evaluated in OMAR's MPE ({length}-step episodes)",
                            jax_env=True, data_path=lambda seed: dataset_path(q), verify=_verify)

            tasks[name] = make

    def quality_of(name: str) -> str:
        base = name[:-len(LONG)] if name.endswith(LONG) else name
        return next(q for q in QUALITIES if base == f"spread-{q.lower()}")

    def available() -> Optional[str]:
        absent = [q for q in QUALITIES if not _present(q)]
        return f"OMAR's Spread data ({', '.join(absent)}) not downloaded: run `{DOWNLOAD}`" if absent else None

    def preflight(names, launch: bool = False) -> None:
        absent = sorted({quality_of(n) for n in names if not _present(quality_of(n))}, key=QUALITIES.index)
        if absent:
            raise DatasetError(f"OMAR's Spread {', '.join(absent)} data are not downloaded (expected under "
                               f"{dataset_path(absent[0]).parent}): run `{DOWNLOAD}`")

    return Suite("mpe", "MPE Cooperative Navigation (Spread) on OMAR's data (the MAC-Flow paper's), in OMAR's MPE "
                        "(pure JAX); needs the download", tasks, tuple(f"spread-{q.lower()}" for q in QUALITIES),
                 available=available, preflight=preflight)


def suites():
    gen = generated_suite(
        "mpe-gen", "MPE Spread (mpe2 simple_spread_v3, 3 agents, continuous), generated Expert/Medium/Medium-Replay/"
                   "Random data", lambda sc: mpe2_env.SPEC, lambda sc: mpe2_env.Spread(), mpe2_env.missing,
        ("spread-expert", "spread-medium"), jax_env=False,
        describe=lambda sc, q: f"MPE Spread, {q} data generated with mpe2 (bench data collect)")
    return [paper_suite(), gen]
