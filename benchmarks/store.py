"""The results store: one directory per run, safe to read while it is written and after a crash.

results/runs/<run_id>/
  spec.json       what was run (algorithm, task, seeds, config, overrides, steps, harness version)
  metrics.jsonl   append-only, one JSON object per (evaluation step, seed); flushed per write
  final.json      written atomically (tmp + rename) when the run finishes
  error.txt       the traceback of a failed run (atomic as well)
  ckpt/           orbax checkpoints (the latest kept), so a killed run resumes

The run id is a hash of the run's inputs, so the same command finds its earlier run.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from benchmarks.errors import BenchError

DEFAULT_RESULTS = "results/runs"


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


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


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

    def metrics(self) -> list[dict]:
        """Rows of metrics.jsonl; a torn last line (crash mid-write) is ignored."""
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
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
        text = "".join(json.dumps(r, sort_keys=True, default=_jsonable) + "\n" for r in new)
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


def runs(root: Path | str | None = None) -> list[Run]:
    root = results_root(root)
    if not root.exists():
        return []
    return [Run(root, p.name) for p in sorted(root.iterdir()) if (p / "spec.json").exists()]
