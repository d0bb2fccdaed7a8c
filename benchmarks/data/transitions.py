"""The in-memory dataset (og-marl vault layout) and its conversion to transitions and windows.

A :class:`Dataset` holds B independent streams of T timesteps, exactly like an og-marl vault:
observations [B,T,N,O], actions [B,T,N] (int) or [B,T,N,A], rewards [B,T] (team), terminals and
truncations [B,T] (bool), legal [B,T,N,L] (bool), state [B,T,S]. Episodes follow each other inside a
stream; an episode ends where ``terminals | truncations``.

Semantics (og-marl reference): the bootstrap mask is ``terminals`` only; a transition never crosses an
episode boundary, so the last step of an episode that was *truncated* (or cut off by the end of the
stream) has no successor and is dropped, while a *terminal* last step is kept with terminal = 1.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from algorithms.errors import DatasetError

ALIGN = 64  # bytes; XLA's CPU client aliases host buffers with this alignment instead of copying them
CHUNK_BYTES = 2 ** 26  # work on big arrays a time slice of about this size at a time (bounded temporaries)


@dataclasses.dataclass
class Dataset:
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    truncations: np.ndarray
    legal: np.ndarray
    state: np.ndarray
    card: dict = dataclasses.field(default_factory=dict)

    @property
    def n_agents(self) -> int:
        return self.observations.shape[2]

    def episode_returns(self) -> np.ndarray:
        """Undiscounted team return of every complete episode."""
        return episode_returns(self.rewards, self.terminals, self.truncations)

    def summary(self) -> dict:
        return summary(self.rewards, self.terminals, self.truncations, self.observations.shape)


def episode_returns(rewards: np.ndarray, terminals: np.ndarray, truncations: np.ndarray) -> np.ndarray:
    """Undiscounted team return of every complete episode of [B, T] team rewards and episode ends."""
    out = []
    ends = terminals | truncations
    for b in range(rewards.shape[0]):  # vectorised per stream: og-marl vaults hold ~1e6 rows
        idx = np.flatnonzero(ends[b])
        if len(idx):
            csum = np.cumsum(rewards[b, : idx[-1] + 1], dtype=np.float64)
            out.append(np.diff(np.concatenate([[0.0], csum[idx]])))
    return np.concatenate(out) if out else np.zeros(0, np.float64)


def episode_lengths(terminals: np.ndarray, truncations: np.ndarray) -> np.ndarray:
    """Timesteps of every complete episode of [B, T] episode ends, in the order of ``episode_returns``."""
    out = []
    ends = terminals | truncations
    for b in range(ends.shape[0]):
        idx = np.flatnonzero(ends[b])
        if len(idx):
            out.append(np.diff(np.concatenate([[-1], idx])))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def episode_bounds(terminals: np.ndarray, truncations: np.ndarray) -> np.ndarray:
    """[E, 3] int64 (stream, first timestep, last timestep) of every complete episode, in the order of
    ``episode_returns``; timesteps after a stream's last episode end belong to no complete episode."""
    out = []
    ends = terminals | truncations
    for b in range(ends.shape[0]):
        last = np.flatnonzero(ends[b])
        first = np.concatenate([[0], last[:-1] + 1])
        out.append(np.stack([np.full(len(last), b), first, last], 1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, 3), np.int64)


def content_digest(ds: "Dataset") -> str:
    """sha256 over every array of the dataset (shape, dtype and bytes): equal only for identical data (what a
    run's provenance records as the dataset's ``sha256``, and a derived dataset's card as its parents')."""
    import hashlib

    h = hashlib.sha256()
    for name in ("observations", "actions", "rewards", "terminals", "truncations", "legal", "state"):
        a = np.ascontiguousarray(getattr(ds, name))
        h.update(f"{name}{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


def summary(rewards: np.ndarray, terminals: np.ndarray, truncations: np.ndarray, obs_shape: tuple) -> dict:
    """Episodes, transitions, agents, obs_dim and return statistics: what a dataset card states."""
    rets = episode_returns(rewards, terminals, truncations)
    return {
        "episodes": int(len(rets)),
        "transitions": int(rewards.size),
        "agents": int(obs_shape[2]),
        "obs_dim": int(obs_shape[-1]),
        "return_mean": float(rets.mean()) if len(rets) else float("nan"),
        "return_std": float(rets.std()) if len(rets) else float("nan"),
        "return_min": float(rets.min()) if len(rets) else float("nan"),
        "return_max": float(rets.max()) if len(rets) else float("nan"),
    }


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data start on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(n + ALIGN, np.uint8)
    off = (-buf.ctypes.data) % ALIGN
    return buf[off:off + n].view(dtype).reshape(shape)


def is_aligned(x: np.ndarray) -> bool:
    return x.flags.c_contiguous and x.ctypes.data % ALIGN == 0


def time_slices(x: np.ndarray, target: int = CHUNK_BYTES):
    """Slices [:, t0:t1] of a [B, T, ...] array of about ``target`` bytes each (views)."""
    T = x.shape[1]
    per_step = max(1, x[:, :1].nbytes)
    step = max(1, target // per_step)
    for t0 in range(0, T, step):
        yield slice(t0, min(T, t0 + step))


def check_against(ds: Dataset, spec) -> None:
    """Fail with a message naming the field and the expected shape when ``ds`` does not fit ``spec``."""
    B, T = ds.rewards.shape[:2]
    n, o = spec.n_agents, spec.obs_dim
    expect = {
        "observations": (B, T, n, o),
        "actions": (B, T, n) if spec.discrete else (B, T, n, spec.action_dim),
        "terminals": (B, T),
        "truncations": (B, T),
        "legal": (B, T, n, spec.legal_dim),
        "rewards": (B, T),
    }
    if spec.state_dim:
        expect["state"] = (B, T, spec.state_dim)
    for field, shape in expect.items():
        got = getattr(ds, field).shape
        if tuple(got) != tuple(shape):
            raise DatasetError(
                f"dataset field '{field}' has shape {tuple(got)}, the task expects {tuple(shape)} "
                f"(B={B} streams, T={T} steps, {n} agents, obs_dim {o}, {spec.action_kind} actions of size "
                f"{spec.action_dim}). Is this dataset for another task?"
            )
    if spec.discrete and not np.issubdtype(ds.actions.dtype, np.integer):
        raise DatasetError(f"dataset field 'actions' has dtype {ds.actions.dtype}; a discrete task expects integers")
    if spec.discrete:
        a = ds.actions
        if a.size and (a.min() < 0 or a.max() >= spec.action_dim):
            raise DatasetError(f"dataset field 'actions' has values outside [0, {spec.action_dim})")


def _valid_transition(terminals: np.ndarray, truncations: np.ndarray) -> np.ndarray:
    """[B,T] mask of timesteps that form a transition (see the module docstring)."""
    ends = terminals | truncations
    has_next = np.ones_like(terminals)
    has_next[:, -1] = False
    return terminals | (~ends & has_next)


def returns_to_go(rewards: np.ndarray, terminals: np.ndarray, truncations: np.ndarray, discount: float) -> np.ndarray:
    """[B, T] float32: R_t = sum_{t' >= t} gamma^(t' - t) r_t' up to the end of t's episode (a terminal, a
    truncation or the end of the stream: nothing is bootstrapped past the recorded data)."""
    ends = terminals | truncations
    out = np.zeros(rewards.shape, np.float64)
    acc = np.zeros(rewards.shape[0], np.float64)
    for t in range(rewards.shape[1] - 1, -1, -1):
        acc = rewards[:, t] + discount * np.where(ends[:, t], 0.0, acc)
        out[:, t] = acc
    return out.astype(np.float32)


def episode_steps(terminals: np.ndarray, truncations: np.ndarray) -> np.ndarray:
    """[B, T] int32: each step's index in its episode (0 at a stream's start and after every end)."""
    begins = np.zeros(terminals.shape, bool)
    begins[:, 0] = True
    begins[:, 1:] = (terminals | truncations)[:, :-1]
    t = np.broadcast_to(np.arange(terminals.shape[1]), terminals.shape)
    return (t - np.maximum.accumulate(np.where(begins, t, 0), axis=1)).astype(np.int32)


def to_transitions(ds: Dataset, rtg_discount: float | None = None) -> dict:
    """Flatten to a dict of arrays [M, ...] with the fields of :class:`algorithms.base.Batch` (``rtg`` only
    when ``rtg_discount`` is given: the discounted reward-to-go, see :func:`returns_to_go`)."""
    valid = _valid_transition(ds.terminals, ds.truncations)
    b_idx, t_idx = np.nonzero(valid)
    t_next = np.minimum(t_idx + 1, ds.rewards.shape[1] - 1)
    # a terminal last step has no successor in the stream; its next_* fields are unused (terminal = 1)
    t_next = np.where(ds.terminals[b_idx, t_idx], t_idx, t_next)
    take = lambda x, t: np.ascontiguousarray(x[b_idx, t])
    out = {
        "obs": take(ds.observations, t_idx).astype(np.float32),
        "actions": take(ds.actions, t_idx),
        "reward": take(ds.rewards, t_idx).astype(np.float32),
        "next_obs": take(ds.observations, t_next).astype(np.float32),
        "terminal": take(ds.terminals, t_idx).astype(np.float32),
        "legal": take(ds.legal, t_idx).astype(bool),
        "next_legal": take(ds.legal, t_next).astype(bool),
        "state": take(ds.state, t_idx).astype(np.float32),
        "next_state": take(ds.state, t_next).astype(np.float32),
        "valid": np.ones(len(b_idx), np.float32),
        "step": episode_steps(ds.terminals, ds.truncations)[b_idx, t_idx],
    }
    if not np.issubdtype(out["actions"].dtype, np.integer):
        out["actions"] = out["actions"].astype(np.float32)
    else:
        out["actions"] = out["actions"].astype(np.int32)
    if rtg_discount is not None:
        out["rtg"] = returns_to_go(ds.rewards, ds.terminals, ds.truncations, rtg_discount)[b_idx, t_idx]
    return out


def to_windows(ds: Dataset, length: int, rtg_discount: float | None = None, past: int = 0) -> dict:
    """Windows of ``length`` consecutive transitions that start inside an episode and never cross its end.

    Every field gets a time axis [M, length, ...]; steps past the episode's last transition are
    padded by repeating it and marked ``valid`` = 0 (so trajectory models can mask them). With ``past``
    > 0 the window of transition s spans steps s - past .. s - past + length - 1 (an observation history);
    steps before the episode's first repeat that first step and are marked ``valid`` = 0 too.
    """
    tr_valid = _valid_transition(ds.terminals, ds.truncations)
    ends = ds.terminals | ds.truncations
    B, T = ds.rewards.shape
    starts_b, idx_t, mask = [], [], []
    for b in range(B):
        ep_start = 0
        for t in range(T):
            if ends[b, t] or t == T - 1:
                last = t if tr_valid[b, t] else t - 1  # last step that forms a transition
                for s in range(ep_start, last + 1):
                    steps = np.arange(s - past, s - past + length)
                    starts_b.append(b)
                    idx_t.append(np.clip(steps, ep_start, last))
                    mask.append((steps <= last) & (steps >= ep_start))
                ep_start = t + 1
    if not starts_b:
        raise DatasetError("dataset has no complete transition to build windows from")
    b_idx = np.asarray(starts_b)[:, None]
    t_idx = np.stack(idx_t)
    t_next = np.minimum(t_idx + 1, T - 1)
    t_next = np.where(ds.terminals[b_idx, t_idx], t_idx, t_next)
    take = lambda x, t: np.ascontiguousarray(x[b_idx, t])
    acts = take(ds.actions, t_idx)
    out = {
        "obs": take(ds.observations, t_idx).astype(np.float32),
        "actions": acts.astype(np.int32) if np.issubdtype(acts.dtype, np.integer) else acts.astype(np.float32),
        "reward": take(ds.rewards, t_idx).astype(np.float32),
        "next_obs": take(ds.observations, t_next).astype(np.float32),
        "terminal": take(ds.terminals, t_idx).astype(np.float32),
        "legal": take(ds.legal, t_idx).astype(bool),
        "next_legal": take(ds.legal, t_next).astype(bool),
        "state": take(ds.state, t_idx).astype(np.float32),
        "next_state": take(ds.state, t_next).astype(np.float32),
        "valid": np.stack(mask).astype(np.float32),
        "step": episode_steps(ds.terminals, ds.truncations)[b_idx, t_idx],
    }
    if rtg_discount is not None:
        out["rtg"] = returns_to_go(ds.rewards, ds.terminals, ds.truncations, rtg_discount)[b_idx, t_idx]
    return out


def from_episodes(episodes: list[dict], card: dict) -> Dataset:
    """Concatenate episodes (dicts of [T_e, ...] arrays) into one og-marl stream (B = 1)."""
    cat = {k: np.concatenate([e[k] for e in episodes])[None] for k in episodes[0]}
    ds = Dataset(observations=cat["obs"].astype(np.float32), actions=cat["actions"],
                 rewards=cat["reward"].astype(np.float32),
                 terminals=cat["terminal"].astype(bool), truncations=cat["truncation"].astype(bool),
                 legal=cat["legal"].astype(bool), state=cat["state"].astype(np.float32), card=card)
    ds.card.update(ds.summary())
    return ds
