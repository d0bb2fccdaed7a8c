"""A dataset on the device at one copy: its own arrays, flattened, and index arrays; batches are gathered.

The materialised form (``to_transitions`` / ``to_windows`` in transitions.py) copies every field into
one row per transition (and ``next_obs`` / ``next_state`` / ``next_legal`` again, shifted by one step), or
into one row per window of L steps, multiplying memory by up to 2 x L. Here the dataset's fields stay as
they are, with the streams laid end to end ([B, T, ...] -> [B*T, ...], a view), and three int32 index
arrays say where every transition starts (``start``), where its successor is (``nxt``: the next step, or
itself for a terminal step whose next fields are never used) and where its episode's last transition and
first step are (``last``, ``first``: the bounds of a window, whose steps outside them repeat the bound).
Row i of :meth:`DeviceData.batch_at` is exactly row i of the materialised arrays
(same order, same values; tests/test_vault.py checks every row), so training samples the same
transitions from the same random indices as before.

On a CPU, host arrays that are 64-byte aligned become device arrays without a copy (``jax.device_put``
aliases them), so a vault read into aligned buffers (vault.py) is held once, host and device alike.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from algorithms.base import Batch
from algorithms.errors import DatasetError
from benchmarks.data.transitions import Dataset, _valid_transition, returns_to_go

def indices(ds: Dataset) -> dict:
    """{start, nxt, last, first}: int32 flat indices into [B*T] of every transition (see the module docstring)."""
    B, T = ds.rewards.shape
    valid = _valid_transition(ds.terminals, ds.truncations).reshape(-1)
    start = np.flatnonzero(valid)
    if B * T >= 2 ** 31:
        raise DatasetError(f"the dataset has {B * T} timesteps; index arrays are int32 (at most 2^31 - 1)")
    terminal = ds.terminals.reshape(-1)
    nxt = np.where(terminal[start], start, start + 1)
    # episodes: a new one begins at every stream start and after every end (terminal or truncation)
    ends = (ds.terminals | ds.truncations).copy()
    ends[:, -1] = True
    begins = np.zeros(B * T, np.int64)
    begins[1:] = ends.reshape(-1)[:-1]
    begins[::T] = 1
    episode = np.cumsum(begins)[start]
    # the last valid transition of each episode: the last start with that episode id (starts are sorted)
    last = start[np.searchsorted(episode, episode, side="right") - 1]
    # and its first step (where a window's history stops: earlier steps repeat it)
    first = np.flatnonzero(begins)[episode - 1]
    return {"start": start.astype(np.int32), "nxt": nxt.astype(np.int32), "last": last.astype(np.int32),
            "first": first.astype(np.int32)}


def _put(x: np.ndarray, dtype) -> jax.Array:
    """The device array of ``x`` as ``dtype`` (no copy on a CPU when it is aligned and already ``dtype``)."""
    x = x.astype(dtype, copy=False)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return jax.device_put(x)


@flax.struct.dataclass
class DeviceData:
    """The dataset's fields [B*T, ...] on the device, and the transition index arrays [M]."""

    obs: jax.Array
    actions: jax.Array
    reward: jax.Array
    terminal: jax.Array  # bool
    legal: jax.Array
    state: jax.Array
    start: jax.Array
    nxt: jax.Array
    last: jax.Array
    first: jax.Array  # [M] flat index of each transition's episode's first step (a window's history stops there)
    rtg: jax.Array | None = None  # [B*T] discounted reward-to-go to the episode's end, if the plugin asks for it
    length: int = flax.struct.field(pytree_node=False, default=1)  # 1: transitions; L > 1: windows of L steps
    # windows: how many of the L steps come before the sampled transition (an observation history; steps before
    # the episode's first repeat it, valid 0, as MADiff's official dataset pads with use_zero_padding=False)
    past: int = flax.struct.field(pytree_node=False, default=0)

    @classmethod
    def from_dataset(cls, ds: Dataset, length: int = 1, rtg_discount: float | None = None,
                     past: int = 0) -> "DeviceData":
        """``rtg_discount``: also hold the per-step discounted reward-to-go (one float per row, computed once);
        ``past``: the first ``past`` of a window's ``length`` steps precede its transition (see ``past``)."""
        if not 0 <= past < max(length, 1) or (past and length < 2):
            raise DatasetError(f"a window of {length} steps cannot hold {past} past steps; use 0 <= past < length")
        idx = indices(ds)
        if not len(idx["start"]):
            raise DatasetError("dataset has no complete transition" + (" to build windows from" if length > 1 else ""))
        flat = lambda x: x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])  # a view: the streams end to end
        integer = np.issubdtype(ds.actions.dtype, np.integer)
        return cls(obs=_put(flat(ds.observations), np.float32),
                   actions=_put(flat(ds.actions), np.int32 if integer else np.float32),
                   reward=_put(flat(ds.rewards), np.float32), terminal=_put(flat(ds.terminals), bool),
                   legal=_put(flat(ds.legal), bool), state=_put(flat(ds.state), np.float32),
                   start=jax.device_put(idx["start"]), nxt=jax.device_put(idx["nxt"]),
                   last=jax.device_put(idx["last"]), length=int(length), past=int(past),
                   first=jax.device_put(idx["first"]),
                   rtg=None if rtg_discount is None else _put(
                       flat(returns_to_go(ds.rewards, ds.terminals, ds.truncations, rtg_discount)), np.float32))

    @property
    def size(self) -> int:
        """M: the number of transitions (= of windows)."""
        return self.start.shape[0]

    def nbytes(self) -> int:
        return int(sum(x.nbytes for x in jax.tree.leaves(self)))

    def batch_at(self, i: jax.Array) -> Batch:
        """Rows ``i`` [n] of the materialised transitions ([n, ...]) or windows ([n, L, ...])."""
        t = self.start[i]
        if self.length == 1:
            valid = jnp.ones(t.shape, jnp.float32)
            first = self.first[i]
        else:
            t = t[:, None] + jnp.arange(-self.past, self.length - self.past)
            first, last = self.first[i][:, None], self.last[i][:, None]
            valid = ((t >= first) & (t <= last)).astype(jnp.float32)
            t = jnp.clip(t, first, last)
        nt = jnp.where(self.terminal[t], t, t + 1) if self.length > 1 else self.nxt[i]
        return Batch(obs=self.obs[t], actions=self.actions[t], reward=self.reward[t], next_obs=self.obs[nt],
                     terminal=self.terminal[t].astype(jnp.float32), legal=self.legal[t], next_legal=self.legal[nt],
                     state=self.state[t], next_state=self.state[nt], valid=valid,
                     rtg=None if self.rtg is None else self.rtg[t], step=t - first)

    def sample(self, key, batch_size: int) -> Batch:
        """A uniform batch of transitions (windows): the same indices the materialised arrays were sampled at."""
        return self.batch_at(jax.random.randint(key, (batch_size,), 0, self.size))


def dataset_bytes(ds: Dataset) -> int:
    """Bytes of the dataset's own arrays (what one copy of it costs)."""
    return int(sum(getattr(ds, f).nbytes for f in ("observations", "actions", "rewards", "terminals", "truncations",
                                                  "legal", "state")))
