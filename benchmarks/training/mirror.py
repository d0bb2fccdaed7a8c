"""Metrics mirrored, while jobs train, to TensorBoard event files and to Weights & Biases (both opt-in).

The store stays the source of truth: the mirror only follows it. ``bench run --tensorboard [DIR]`` and
``--wandb [PROJECT]`` make the driver (the ``bench run`` process, never a worker) read each running job's
metrics.jsonl whenever the job reports progress and write the rows it has not mirrored yet: every numeric
column of an evaluation row (``eval/return``, ``eval/normalised``, ``eval/win_rate``, the mean training losses
``loss/*``, the plugin's diagnostics ``diag/*``, ``time/train_time``, ...) at its gradient step, one
TensorBoard run and one W&B run per seed. The run's config (algorithm, task, seeds, steps, the plugin's
effective config and overrides, cost overrides) and its provenance (spec.json's block: commit, packages,
device, dataset digest) are attached to each: as TensorBoard text summaries ``config`` and ``provenance``, and
as the W&B run's config.

TensorBoard: ``DIR`` (default ``<results>/tensorboard``) holds ``<suite>/<task>/<variant>#<run id>/seed-<s>``
(brackets of the variant as parentheses);
``tensorboard --logdir DIR`` shows the curves while the jobs run. Each run's directory keeps a small
``mirrored.json`` (how many rows of metrics.jsonl are in its event files), so running the command again
(a resume, or finished runs skipped) adds only new rows; after ``--fresh`` the old event files are replaced.

W&B (``pip install 'offline-marl-bench[wandb]'``): ``wandb login`` or ``WANDB_API_KEY``, or ``WANDB_MODE=offline``
(runs kept under ``<results>/wandb`` for ``wandb sync``). The W&B run id is the store's run id, the seed and the
run's first evaluation, so a resumed run continues its W&B run and a fresh one starts another.

A sink that fails (a full disk, the W&B service) prints one line and stops mirroring; training goes on.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Optional

from algorithms.errors import DependencyError
from benchmarks.store import Run, atomic_write_json, results_root

TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"
WANDB_PROJECT = "offline-marl-bench"
MARKER = "mirrored.json"
_NOT_SCALARS = ("kind", "step", "seed", "phase")
_GROUPS = {"return": "eval", "return_std": "eval", "normalised": "eval", "win_rate": "eval", "env_steps": "eval",
           "reward_scale_rate": "eval", "online_start": "eval", "train_time": "time", "wall_time": "time"}


def scalars(row: dict) -> dict:
    """{tag: value} of an evaluation row's numeric columns (losses and diagnostics keep their prefix)."""
    out = {}
    for k, v in row.items():
        if k in _NOT_SCALARS or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        out[k if "/" in k else f"{_GROUPS.get(k, 'eval')}/{k}"] = float(v)
    return out


def variant_label(spec: dict) -> str:
    """``algo`` or ``algo[key=value;...]`` with the run's own overrides (a suite preset's keys left out)."""
    preset = set(spec.get("preset") or ())
    own = {k: v for k, v in (spec.get("overrides") or {}).items() if k not in preset}
    inner = ";".join(f"{k}={'x'.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in sorted(own.items()))
    return f"{spec.get('algo', '?')}[{inner}]" if inner else str(spec.get("algo", "?"))


def attached(spec: dict) -> dict:
    """What a mirrored run carries: the run's config (spec.json without its provenance) and its provenance."""
    return {"config": {k: v for k, v in spec.items() if k != "provenance"}, "provenance": spec.get("provenance") or {}}


def _first(rows: list) -> str:
    """A fingerprint of a run's first evaluation row: another one means the run started again (--fresh)."""
    return hashlib.sha256(json.dumps(rows[0], sort_keys=True, default=str).encode()).hexdigest()[:12] if rows else ""


class TensorBoardSink:
    """Event files under ``root``, one directory per run and seed (tensorboardX writes them)."""

    name = "tensorboard"

    def __init__(self, root: Path):
        try:
            import tensorboardX  # noqa: F401
        except ModuleNotFoundError:
            raise DependencyError("--tensorboard needs tensorboardX: pip install -e '.' (it is a dependency of the "
                                  "harness) or pip install tensorboardX") from None
        self.root = Path(root)

    def run_dir(self, spec: dict, rid: str) -> Path:
        """``<suite>/<task>/<variant>#<run id>``, brackets as parentheses: TensorBoard globs its log directories,
        where ``[...]`` would be a character class (``bc(lr=0.001)#3f2a9c0d1e4b5a67``)."""
        task = str(spec.get("task", "?/?"))
        label = variant_label(spec).translate(str.maketrans("[]*?", "()__"))
        return self.root / Path(*task.split("/", 1)) / f"{label}#{rid}"

    def open(self, rid: str, spec: dict, first: str) -> int:
        """Rows of the run already in its event files (0 for a new or restarted run, whose old files go)."""
        d = self.run_dir(spec, rid)
        try:
            marker = json.loads((d / MARKER).read_text())
        except (OSError, ValueError):
            marker = {}
        if marker.get("first") == first:
            return int(marker.get("rows", 0))
        if d.exists():
            shutil.rmtree(d)
        return 0

    def write(self, rid: str, spec: dict, rows: list, done: int, first: str) -> None:
        """Each sync writes a new event file per seed and closes it: tensorboardX queues events for a writer thread
        that its flush() does not wait for, while close() does, so TensorBoard sees the rows at once."""
        from tensorboardX import SummaryWriter

        d = self.run_dir(spec, rid)
        before = done - len(rows)
        for seed in dict.fromkeys(r.get("seed") for r in rows):
            w = SummaryWriter(str(d / f"seed-{seed}"), filename_suffix=f".{before}")
            try:
                if before == 0:  # the run's first rows: its config and provenance, once
                    for name, value in attached(spec).items():
                        w.add_text(name, "```\n" + json.dumps(value, indent=2, sort_keys=True, default=str) + "\n```", 0)
                for r in rows:
                    if r.get("seed") == seed:
                        for tag, v in scalars(r).items():
                            w.add_scalar(tag, v, int(r["step"]))
            finally:
                w.close()
        atomic_write_json(d / MARKER, {"rows": done, "first": first, "run_id": rid})

    def close(self, rid: str) -> None:
        pass


class WandbSink:
    """One W&B run per store run and seed, in ``project`` (offline runs under ``dir``)."""

    name = "wandb"

    def __init__(self, project: str, directory: Path):
        self.wandb = require_wandb()
        self.project, self.dir = project, Path(directory)
        self.runs: dict = {}

    def open(self, rid: str, spec: dict, first: str) -> int:
        return 0  # W&B keeps the steps a resumed run logged already; rows below them are skipped in write

    def write(self, rid: str, spec: dict, rows: list, done: int, first: str) -> None:
        for r in rows:
            key = (rid, r.get("seed"))
            if key not in self.runs:
                self.dir.mkdir(parents=True, exist_ok=True)
                label = variant_label(spec)
                self.runs[key] = self.wandb.init(
                    project=self.project, dir=str(self.dir), id=f"{rid}-{r.get('seed')}-{first[:6]}",
                    name=f"{label} {spec.get('task')} seed {r.get('seed')}", group=str(spec.get("task")),
                    job_type=label, config=attached(spec), resume="allow", reinit="create_new",
                    settings=self.wandb.Settings(silent=True, console="off"))
            run = self.runs[key]
            if int(r["step"]) >= int(getattr(run, "starting_step", 0) or 0):
                run.log(scalars(r), step=int(r["step"]))

    def close(self, rid: str) -> None:
        for key in [k for k in self.runs if k[0] == rid]:
            self.runs.pop(key).finish()


def require_wandb():
    """The wandb module, configured (a key, or WANDB_MODE offline/disabled); a one-line error otherwise."""
    try:
        import wandb
    except ModuleNotFoundError:
        raise DependencyError("--wandb needs the wandb package: pip install 'offline-marl-bench[wandb]' (or pip "
                              "install wandb), then `wandb login`") from None
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode not in ("offline", "dryrun", "disabled") and not wandb.login(prompt=False, verify=False):
        raise DependencyError("--wandb: Weights & Biases is not configured here; run `wandb login` or set "
                              "WANDB_API_KEY, or set WANDB_MODE=offline to keep the runs locally for `wandb sync`")
    return wandb


class Mirror:
    """Follows the store's metrics of the runs it is told about and writes new rows to its sinks."""

    def __init__(self, root, sinks: list, say=print):
        self.root, self.sinks, self.say = Path(root), list(sinks), say
        self.state: dict = {}  # run id -> {"size", "first", sink name -> rows mirrored}

    def sync(self, rid: str, status: Optional[str] = None) -> int:
        """Mirror the rows of run ``rid`` that are new since the last call; close it when ``status`` says it
        ended. Returns how many rows were new (never raises: a failing sink is dropped with one line)."""
        run = Run(self.root, rid)
        try:
            size = run.metrics_path.stat().st_size
        except OSError:
            size = -1
        st = self.state.setdefault(rid, {"size": None})
        new = 0
        if size != st["size"] and size >= 0 and run.spec_path.exists():
            st["size"] = size
            rows = [r for r in run.metrics() if r.get("kind", "eval") == "eval"]
            if not rows:
                return 0
            first = _first(rows)
            if st.get("first") != first:
                st.clear()
                st.update(size=size, first=first)
            spec = run.spec()
            for sink in list(self.sinks):
                try:
                    if sink.name not in st:
                        st[sink.name] = sink.open(rid, spec, first)
                    todo = rows[st[sink.name]:]
                    if todo:
                        sink.write(rid, spec, todo, len(rows), first)
                        st[sink.name] = len(rows)
                        new = max(new, len(todo))
                except Exception as exc:  # noqa: BLE001 - the store has the metrics; say so once and go on
                    self.sinks.remove(sink)
                    self.say(f"{sink.name} mirror stopped ({type(exc).__name__}: {str(exc)[:200]}); the metrics are "
                             f"in the store ({run.metrics_path})")
        if status in ("done", "failed", "skipped"):
            self.close(rid)
        return new

    def close(self, rid: Optional[str] = None) -> None:
        for sink in self.sinks:
            for r in ([rid] if rid else list(self.state)):
                try:
                    sink.close(r)
                except Exception:  # noqa: BLE001 - closing a mirror never fails a command
                    pass


def make_mirror(args, root, say=print) -> Optional[Mirror]:
    """The Mirror ``bench run``'s --tensorboard / --wandb ask for (None without either); raises the one-line
    error of a missing or unconfigured package before anything runs."""
    tb, wb = getattr(args, "tensorboard", None), getattr(args, "wandb", None)
    sinks = []
    if tb is not None:
        sinks.append(TensorBoardSink(Path(tb).expanduser() if tb else results_root(root) / TENSORBOARD_DIR))
    if wb is not None:
        sinks.append(WandbSink(wb or WANDB_PROJECT, results_root(root) / WANDB_DIR))
    return Mirror(results_root(root), sinks, say) if sinks else None
