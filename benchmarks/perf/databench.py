"""``bench perf databench``: load time and peak memory of a real-size dataset, against the dataset's own bytes.

Writes an og-marl vault of a given number of transitions in a suite's shapes (default: SMAC 8m, 8 agents,
observations of 80, 14 actions, state of 168; synthetic values, episodes of the map's length), then loads it
in a fresh Python process per mode and reports the wall time of the load and the peak resident memory
above the process's baseline (VmHWM - VmRSS after the imports, from /proc), divided by the bytes of the
dataset's own arrays. Modes:

* ``indexed``       what the trainer does: read the vault, build DeviceData (one copy, index arrays)
* ``windows``       the same for a sequence model (windows of 16 steps gathered by index, never stored)
* ``materialised``  what the trainer did before: every transition a row, next_* fields copied again,
                    then copied to the device (``to_transitions`` + ``jax.device_put``)
* ``info``          ``bench data info``: the card from metadata, rewards and episode ends only
* ``analyse``       ``bench data analyse``: returns, episode lengths and joint coverage in one pass over the vault

Goal of the one-copy design: peak <= 1.2 x the dataset's bytes for ``indexed`` and ``windows``, and a
load time bounded by reading the vault once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODES = ("indexed", "windows", "materialised", "info", "analyse")
WINDOW = 16
SHAPES = {  # name -> (agents, obs, actions, state, episode length): the og-marl datacard shapes
    "smacv1/8m": (8, 80, 14, 168, 120),
    "smacv1/3m": (3, 30, 9, 48, 60),
    "smacv1/2s3z": (5, 80, 11, 120, 120),
}


def write_vault(path: Path, shapes: str, transitions: int, seed: int = 0) -> dict:
    """A synthetic discrete dataset of ``transitions`` steps in ``shapes`` written as a vault at ``path``."""
    import numpy as np

    from benchmarks.data.transitions import Dataset
    from benchmarks.data.vault import write_dataset

    n, o, a, s, limit = SHAPES[shapes]
    rng = np.random.default_rng(seed)
    T = int(transitions)
    obs = np.empty((1, T, n, o), np.float32)
    state = np.empty((1, T, s), np.float32)
    for t0 in range(0, T, 65536):  # float32 draws a slice at a time: no float64 temporaries of the whole array
        t1 = min(T, t0 + 65536)
        obs[0, t0:t1] = rng.random((t1 - t0, n, o), np.float32)
        state[0, t0:t1] = rng.random((t1 - t0, s), np.float32)
    legal = rng.random((1, T, n, a), np.float32) < 0.7
    legal[..., 0] = True
    actions = np.argmax(legal * rng.random((1, T, n, a), np.float32), -1).astype(np.int32)
    terminals = np.zeros((1, T), bool)
    terminals[0, limit - 1::limit] = True
    ds = Dataset(observations=obs, actions=actions, rewards=rng.random((1, T), np.float32), terminals=terminals,
                 truncations=np.zeros((1, T), bool), legal=legal, state=state,
                 card={"generator": f"bench databench: synthetic {shapes} shapes", "seed": seed})
    write_dataset(ds, path, overwrite=True)
    return {"bytes": dataset_bytes(ds), "transitions": T}


def dataset_bytes(ds) -> int:
    from benchmarks.data.device import dataset_bytes as nbytes

    return nbytes(ds)


_CHILD = r"""
import json, os, sys, time
def status(key):
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
import jax, jax.numpy as jnp, numpy as np
from benchmarks.data.device import DeviceData
from benchmarks.data.transitions import to_transitions
from benchmarks.data.vault import describe, read_dataset
jnp.zeros(1).block_until_ready()
mode, path, window = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = status("VmRSS:")
t0 = time.perf_counter()
if mode == "info":
    describe(path)
elif mode == "analyse":
    from benchmarks.data.analyse import analyse_vault
    analyse_vault(path)
else:
    ds = read_dataset(path)
    if mode == "materialised":
        arrays = {k: jax.device_put(v) for k, v in to_transitions(ds).items()}
        jax.block_until_ready(arrays)
    else:
        data = DeviceData.from_dataset(ds, window if mode == "windows" else 1)
        jax.block_until_ready(data)
        # one gathered batch, so the index path is exercised end to end
        jax.block_until_ready(data.sample(jax.random.PRNGKey(0), 64))
print(json.dumps({"seconds": time.perf_counter() - t0, "peak": status("VmHWM:") - base}))
"""


def measure_load(path: Path, mode: str, window: int = WINDOW) -> dict:
    """Load time and peak memory above baseline of one mode, in a fresh process."""
    if sys.platform != "linux":
        raise RuntimeError("bench databench reads peak memory from /proc (Linux only)")
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(window)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"loading in mode '{mode}' failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - t0
    return out
