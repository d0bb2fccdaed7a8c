"""The results store: one directory per run, safe to read while it is written and after a crash.

This module owns every path under a results root; the other layers read and write through it.

results/runs/<run_id>/
  spec.json       what was run (algorithm, task, seeds, config, overrides, steps, harness version) and what
                  it was made with (``provenance``: benchmarks/training/provenance.py; ``resumed_with`` when a
                  resume ran with other code, packages, device or data)
  metrics.jsonl   append-only, one JSON object per (evaluation step, seed); flushed per write
  final.json      written atomically (tmp + rename) when the run finishes
  error.txt       the traceback of a failed run (atomic as well)
  ckpt/           orbax checkpoints (the latest kept), so a killed run resumes
  node.json       where the job ran: ``hostname``, ``node_id`` (Ray node id; null with --no-ray),
                  ``node_ip``, ``pid``, ``device`` (what its JAX trained on, e.g. cpu, gpu:NVIDIA H100),
                  ``gpu_ids`` (the GPUs Ray gave it) and ``cuda_visible_devices`` of the latest attempt, and
                  ``attempts``: one entry per start of the job with the same fields plus ``gpus`` (the GPU
                  share asked for), ``started``, ``resumed_from_step`` (checkpoint step it resumed from, 0 for
                  a fresh start), ``ended`` and ``status`` (done / failed; an attempt without ``ended`` was
                  killed). Written atomically.
  .lock           an advisory lock (fcntl) held while a job runs, so two workers (two ``bench run`` of
                  the same command, or an orphaned worker of a killed one) never write one run at once.
results/runs/latency/<algo>__<label>__<device>.json
                  one ``bench latency`` record per algorithm, task/agent count and device (a new
                  measurement replaces the old one)
results/runs/report/
                  what ``bench report`` writes (the whole store)
results/runs/report/last-run/
                  the report ``bench run`` writes at its end, of the runs that command covered only
results/runs/reproduce/<run_id>/
                  the default store of ``bench reproduce <run_id>`` (a results root of its own)
results/runs/superseded/<run_id>/<n>/
                  a run made by code or data that changed since, moved aside (spec, metrics, final, error,
                  checkpoints; ``superseded.json`` says why and when) when ``bench run`` trains it again: the
                  n-th result the run id had, never deleted

The run id is a hash of the run's inputs, so the same command finds its earlier run. Run directories
are the only sub-directories with a spec.json, so latency/ and report/ never look like runs.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

from algorithms.errors import BenchError

DEFAULT_RESULTS = "results/runs"
LATENCY_DIR = "latency"
REPORT_DIR = "report"
LAST_RUN_DIR = "last-run"  # inside REPORT_DIR
REPRODUCE_DIR = "reproduce"
SUPERSEDED_DIR = "superseded"


def results_root(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("BENCH_RESULTS") or DEFAULT_RESULTS)


def run_id(inputs: dict) -> str:
    blob = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj, indent: int | None = 2) -> None:
    """``obj`` as strict JSON (``strict``: NaN and infinities as null), written atomically; ``indent=None`` writes
    it compact (json's C encoder only runs then: ten times faster for large exports)."""
    atomic_write_text(path, json.dumps(strict(obj), indent=indent, sort_keys=True, default=_jsonable, allow_nan=False)
                      + "\n")


def strict(obj):
    """``obj`` as strict JSON can hold it: NaN and infinities (Python or numpy floats) become None (null), numpy
    scalars and arrays plain numbers and lists. json.dumps would write NaN tokens, which are not JSON: jq and
    strict parsers reject the whole file."""
    if type(obj).__module__ == "numpy":
        obj = obj.tolist() if hasattr(obj, "tolist") else obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def _jsonable(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(x)


def check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise BenchError(f"results directory '{root}' is not writable ({exc.strerror}); pass --results DIR") from None


class Run:
    def __init__(self, root: Path, rid: str):
        self.root = Path(root)
        self.id = rid
        self.dir = self.root / rid

    # paths
    spec_path = property(lambda self: self.dir / "spec.json")
    metrics_path = property(lambda self: self.dir / "metrics.jsonl")
    final_path = property(lambda self: self.dir / "final.json")
    error_path = property(lambda self: self.dir / "error.txt")
    ckpt_dir = property(lambda self: self.dir / "ckpt")

    @property
    def finished(self) -> bool:
        return self.final_path.exists()

    def start(self, spec: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.spec_path.exists():
            atomic_write_json(self.spec_path, spec)
        if self.error_path.exists():  # a retry: the old error no longer describes the run
            self.error_path.unlink()

    def spec(self) -> dict:
        return json.loads(self.spec_path.read_text())

    def rewrite_spec(self, spec: dict) -> None:
        """Replace spec.json atomically (a resume recording a provenance change; the inputs never change)."""
        atomic_write_json(self.spec_path, spec)

    def metrics(self) -> list[dict]:
        """Rows of metrics.jsonl; a torn last line (crash mid-write) is ignored."""
        try:
            text = self.metrics_path.read_text()
        except FileNotFoundError:
            return []
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:  # one parse for the whole file (a run of the paper's protocol has over a hundred rows)
            return json.loads("[" + ",".join(lines) + "]")
        except json.JSONDecodeError:
            pass
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def append_metrics(self, rows: Iterable[dict]) -> int:
        """Append rows not already present (same step, seed and kind): a resumed run never duplicates."""
        seen = {(r.get("step"), r.get("seed"), r.get("kind")) for r in self.metrics()}
        new = [r for r in rows if (r.get("step"), r.get("seed"), r.get("kind")) not in seen]
        if not new:
            return 0
        self.dir.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(strict(r), sort_keys=True, default=_jsonable, allow_nan=False) + "\n" for r in new)
        # repair a torn last line left by a crash before appending
        if self.metrics_path.exists():
            with open(self.metrics_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell():
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        text = "\n" + text
        with open(self.metrics_path, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        return len(new)

    def finish(self, final: dict) -> None:
        atomic_write_json(self.final_path, final)

    def fail(self, text: str) -> None:
        atomic_write_text(self.error_path, text)

    def final(self) -> dict | None:
        return json.loads(self.final_path.read_text()) if self.finished else None

    def forget(self) -> None:
        """--fresh: drop the earlier result, its metrics, its error and its checkpoints (spec.json stays)."""
        for p in (self.final_path, self.metrics_path, self.error_path):
            p.unlink(missing_ok=True)
        shutil.rmtree(self.ckpt_dir, ignore_errors=True)

    def supersede(self, why: str) -> Path:
        """Move this run's result (spec, metrics, final, error, checkpoints) to ``superseded/<id>/<n>/`` with a
        ``superseded.json`` saying ``why``, so the run id can be trained again; node.json (every attempt of the
        id) and the lock stay. Returns where the old result went."""
        parent = self.root / SUPERSEDED_DIR / self.id
        parent.mkdir(parents=True, exist_ok=True)
        n = 1 + max((int(p.name) for p in parent.iterdir() if p.name.isdigit()), default=0)
        dest = parent / str(n)
        dest.mkdir()
        for p in (self.spec_path, self.metrics_path, self.final_path, self.error_path, self.ckpt_dir):
            if p.exists():
                os.replace(p, dest / p.name)
        atomic_write_json(dest / "superseded.json", {"run_id": self.id, "why": why, "moved": time.time()})
        return dest

    def checkpoint_step(self) -> int:
        """The latest finished orbax checkpoint step (0 if none); orbax's tmp dirs do not count."""
        if not self.ckpt_dir.is_dir():
            return 0
        steps = [int(p.name) for p in self.ckpt_dir.iterdir() if p.name.isdigit()]
        return max(steps, default=0)

    # where the job ran
    node_path = property(lambda self: self.dir / "node.json")

    def node(self) -> dict:
        """node.json (an empty record when there is none yet or it is unreadable)."""
        try:
            return json.loads(self.node_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {"run_id": self.id, "attempts": []}

    def record_attempt(self, node: dict, **fields) -> None:
        """Start an attempt (``fields`` without ``status``) or end the latest one (``status=done|failed``)."""
        doc = self.node()
        attempts = doc.setdefault("attempts", [])
        if fields.get("status") is None:  # a new attempt
            attempts.append({**node, "started": time.time(), **fields})
        else:
            attempts[-1].update(fields, ended=time.time())
        doc.update({k: attempts[-1].get(k) for k in ("hostname", "node_id", "node_ip", "pid", "device", "gpu_ids",
                                                     "cuda_visible_devices") if k in attempts[-1]})
        atomic_write_json(self.node_path, doc)

    def lock(self) -> "RunLock":
        return RunLock(self.dir / ".lock")


class RunLock:
    """fcntl lock on <run>/.lock; released by the kernel when the holder dies."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def runs(root: Path | str | None = None) -> list[Run]:
    """Every run directory under ``root`` (the sub-directories with a spec.json), in name order."""
    root = results_root(root)
    if not root.exists():
        return []
    names = sorted(e.name for e in os.scandir(root) if e.is_dir())
    return [Run(root, n) for n in names if os.path.exists(os.path.join(root, n, "spec.json"))]


# ---- latency records (bench latency) -------------------------------------------------------------------
def latency_dir(root) -> Path:
    return Path(root) / LATENCY_DIR


def save_latency(record: dict, root) -> Path:
    """Store one latency record (keys ``name``, ``label``, ``device``); replaces the same measurement's."""
    dev = re.sub(r"[^A-Za-z0-9]+", "-", record["device"]).strip("-")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", record["label"]).strip("-")
    path = latency_dir(root) / f"{record['name']}__{label}__{dev}.json"
    atomic_write_json(path, record)
    return path


def latency_records(root) -> list[dict]:
    """Every latency record in the store (unreadable files are skipped)."""
    d = latency_dir(root)
    out = []
    for p in sorted(d.glob("*.json")) if d.exists() else []:
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def reproduce_dir(root, rid: str) -> Path:
    """Where ``bench reproduce`` re-runs ``rid`` by default: a fresh store inside the original one."""
    return results_root(root) / REPRODUCE_DIR / rid


def report_dir(root=None) -> Path:
    """Where ``bench report`` writes by default."""
    return results_root(root) / REPORT_DIR


def last_run_report_dir(root=None) -> Path:
    """Where ``bench run`` writes the report of its own runs (never over the store's whole report)."""
    return report_dir(root) / LAST_RUN_DIR
