"""``bench reproduce``: re-run a stored run from its spec.json into a new store and compare.

The recorded spec gives the same RunConfig (algorithm, task, seeds, steps, evaluation schedule, batch
size, overrides, data seed or dataset path, chunk length), so the re-run has the same run id. Before
training, every provenance field that differs on this machine (harness commit, package versions,
device, ...) is listed; the dataset must have the recorded content digest (else a DatasetError, as
different data is not a reproduction). After training, the per-seed final scores are compared.
On the same machine, code and data, JAX's PRNG and the jitted trainer give the same result bit for bit.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from algorithms.errors import BenchError
from benchmarks.store import Run, reproduce_dir, results_root
from benchmarks.training import provenance
from benchmarks.training.plan import RunConfig

_CONFIG_FIELDS = ("algo", "task", "steps", "eval_every", "eval_episodes", "batch_size", "data_seed", "dataset")


@dataclasses.dataclass
class Reproduction:
    run_id: str
    into: Path
    warnings: list  # (field, recorded value, value here) for each differing provenance field
    seeds: list  # (seed, recorded final return, reproduced final return)

    @property
    def identical(self) -> bool:
        return all(a == b for _, a, b in self.seeds)


def recorded_config(spec: dict) -> RunConfig:
    """The RunConfig a spec.json was written for (runs from before ``chunk`` was recorded used 1000)."""
    missing = [k for k in _CONFIG_FIELDS + ("seeds",) if k not in spec]
    if missing:
        raise BenchError(f"spec.json lacks {', '.join(missing)}; it was not written by `bench run`, so it cannot be "
                         f"re-run")
    kw = {k: spec[k] for k in _CONFIG_FIELDS}
    return RunConfig(seeds=tuple(spec["seeds"]), overrides=dict(spec.get("overrides") or {}),
                     allow_cost_override=bool(spec.get("allow_cost_override", bool(spec.get("cost_overrides")))),
                     chunk=int(spec.get("chunk", 1000)), preset=tuple(spec.get("preset") or ()),
                     protocol=spec.get("protocol") or "", **kw,
                     **{k: spec[k] for k in RunConfig.ONLINE_FIELDS if k in spec})  # a fine-tuned run's settings


def here(suite: str, cfg: RunConfig | None = None) -> dict:
    """The provenance of this machine and checkout, without a dataset (compared before training); with ``cfg``,
    the revision of the code that would train it."""
    import sys

    pkgs = provenance.CORE_PACKAGES + tuple(provenance.SUITE_PACKAGES.get(suite, ()))
    out = {"harness": provenance.harness(), "python": sys.version.split()[0],
           "packages": provenance.package_versions(pkgs), "machine": provenance.machine()}
    if suite in ("smacv1", "smacv2"):
        out["sc2_build"] = provenance.sc2_build()
    if cfg is not None:
        from benchmarks.tasks import get_task

        out["revision"] = provenance.revision(cfg.algo, get_task(cfg.task), online=bool(cfg.online_steps))
    return out


def reproduce(run_id: str, results=None, into=None, warn=print, progress=None) -> Reproduction:
    """Re-run ``run_id`` of the store ``results`` into the store ``into`` (default
    ``<results>/reproduce/<run_id>``); ``warn`` gets one line per differing provenance field before training."""
    from benchmarks.training.online import train  # offline runs and fine-tuned ones

    root = results_root(results)
    old = Run(root, run_id)
    if not old.spec_path.is_file():
        raise BenchError(f"no run '{run_id}' in {root} (no {old.spec_path}); the run ids are the directory names "
                         f"under the store, or pass --results DIR")
    spec = old.spec()
    recorded = old.final()
    if recorded is None:
        raise BenchError(f"run {run_id} has no final.json (failed or unfinished), so there is no score to reproduce; "
                         f"finish it with its `bench run` command first")
    cfg = recorded_config(spec)
    if cfg.run_id != run_id:
        raise BenchError(f"the spec.json of {run_id} hashes to run id {cfg.run_id}: it was edited or written by "
                         f"another harness version, so the recorded inputs are not the ones that ran")
    target = Path(into) if into else reproduce_dir(root, run_id)
    if target.resolve() == root.resolve():
        raise BenchError("--into must be another store than --results (the run is already finished there)")
    if Run(target, run_id).dir.exists():
        raise BenchError(f"{Run(target, run_id).dir} already exists (an earlier reproduction); pass another --into "
                         f"or delete that directory")
    prov = spec.get("provenance")
    warnings = []
    if prov is None:
        warn(f"run {run_id} was recorded before provenance existed: versions, device and data cannot be compared")
    else:
        recorded_here = {k: v for k, v in prov.items() if k != "dataset"}
        warnings = provenance.differences(recorded_here, here(spec.get("suite") or cfg.task.split("/")[0],
                                                              cfg if "revision" in prov else None))
        for field, a, b in warnings:
            warn(f"warning: {field} differs: recorded {a}, here {b}")
    expect = ((prov or {}).get("dataset") or {}).get("sha256")
    final = train(cfg, results=target, progress=progress, expect_data=expect)
    seeds = list(zip(recorded.get("seeds") or cfg.seeds, recorded.get("returns") or [], final["returns"]))
    return Reproduction(run_id, target, warnings, seeds)


def describe(rep: Reproduction) -> list:
    """Lines for the console: per seed, recorded and reproduced final return and their difference."""
    lines = [f"{'seed':>6} {'recorded':>14} {'reproduced':>14} {'difference':>12}"]
    for s, a, b in rep.seeds:
        lines.append(f"{s:>6} {a:>14.6g} {b:>14.6g} {b - a:>12.3g}")
    verdict = ("identical final returns for every seed" if rep.identical
               else "the final returns differ (see the warnings above for what changed)")
    return lines + [f"{verdict}; the re-run is in {rep.into / rep.run_id}"]

