"""New datasets cut from or joined of others (``bench data derive``), each a vault with its own card.

Three rules, on whole episodes (a derived dataset is made of complete episodes: the steps after a stream's
last terminal or truncation belong to no episode and are left out, and its card counts them):

* ``subsample``: ``episodes`` episodes, or a ``fraction`` of them, drawn uniformly without replacement
  (og-marl's ``subsample_smaller`` draws episodes until a number of transitions; here the unit is the episode);
* ``target``: episodes drawn so that their returns follow a target distribution over ``bins`` equal-width
  bins of the source's return range (og-marl's ``subsample_bespoke``): ``uniform``, ``normal:MEAN,STD``, or
  ``like:PATH`` (another dataset's return histogram). Each bin gets the episodes the target gives it, drawn
  without replacement; where a bin holds fewer, all of them are taken and the card states the shortfall
  (og-marl draws the missing ones again, with replacement: duplicated episodes, which this never does).
  Without a size, it is the largest that meets the target in every bin;
* ``combine``: every episode of several datasets of one task (same agents, observation, action and state
  shapes), one after the other (og-marl's ``combine_vaults``).

Selected episodes keep their order in the source, laid end to end in one stream. The card's ``derived``
block holds the rule, its settings and seed, and every parent's path, content sha256 (the digest a run's
provenance records for the data it trained on), episodes, transitions and mean return; a run trained on the
derived vault (``bench run --dataset PATH``) records it in its provenance.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from algorithms.errors import DatasetError
from benchmarks.data.transitions import Dataset, content_digest, episode_bounds, episode_returns

FIELDS = ("observations", "actions", "rewards", "terminals", "truncations", "legal", "state")
# card entries a derived dataset inherits from its (first) parent: what it was generated for, and its references
INHERITED = ("suite", "scenario", "generated_for", "refs")


def parent_record(ds: Dataset, label: str) -> dict:
    s = ds.summary()
    return {"source": label, "sha256": content_digest(ds), "episodes": s["episodes"], "transitions": s["transitions"],
            "return_mean": s["return_mean"]}


def take_episodes(ds: Dataset, bounds: np.ndarray) -> Dataset:
    """The episodes ``bounds`` ([E, 3] stream, first, last) of ``ds``, in that order, as one stream."""
    if not len(bounds):
        raise DatasetError("the rule selects no episode; choose more episodes or another rule")
    out = {}
    for f in FIELDS:
        x = getattr(ds, f)
        out[f] = np.concatenate([x[b, s:e + 1] for b, s, e in bounds])[None]
    return Dataset(**out, card={})


def _complete(ds: Dataset) -> tuple:
    bounds = episode_bounds(ds.terminals, ds.truncations)
    if not len(bounds):
        raise DatasetError("the dataset holds no complete episode (no terminal or truncation); nothing to derive from")
    return bounds, episode_returns(ds.rewards, ds.terminals, ds.truncations)


def subsample(ds: Dataset, episodes: Optional[int] = None, fraction: Optional[float] = None,
              seed: int = 0) -> tuple[Dataset, dict]:
    """``episodes`` episodes or a ``fraction`` of them, uniformly without replacement; (dataset, rule)."""
    bounds, _ = _complete(ds)
    total = len(bounds)
    if (episodes is None) == (fraction is None):
        raise DatasetError("subsample takes either --episodes N or --fraction F")
    if fraction is not None:
        if not 0.0 < fraction <= 1.0:
            raise DatasetError(f"--fraction must be in (0, 1], got {fraction}")
        episodes = max(1, round(fraction * total))
    if not 0 < episodes <= total:
        raise DatasetError(f"--episodes must be between 1 and the dataset's {total} complete episodes, got {episodes}")
    pick = np.sort(np.random.default_rng(seed).choice(total, episodes, replace=False))
    rule = {"rule": "subsample", "episodes": int(episodes), "fraction": fraction, "seed": seed,
            "text": f"{episodes} of {total} episodes drawn uniformly without replacement (seed {seed})"}
    return take_episodes(ds, bounds[pick]), rule


def target_pdf(target: str, edges: np.ndarray, like: Optional[np.ndarray] = None) -> np.ndarray:
    """The target's probability per bin of ``edges``: ``uniform``, ``normal:MEAN,STD`` or ``like:...`` (whose
    returns are ``like``)."""
    kind, _, arg = target.partition(":")
    if kind == "uniform" and not arg:
        p = np.ones(len(edges) - 1)
    elif kind == "normal":
        try:
            mean, std = (float(v) for v in arg.split(","))
        except ValueError:
            raise DatasetError(f"--returns normal takes normal:MEAN,STD, e.g. normal:10,2; got '{target}'") from None
        if not std > 0:
            raise DatasetError(f"--returns normal:MEAN,STD needs STD > 0, got {std}")
        cdf = np.array([0.5 * (1 + math.erf((e - mean) / (std * math.sqrt(2)))) for e in edges])
        p = np.diff(cdf)
    elif kind == "like" and like is not None:
        p = np.histogram(np.clip(like, edges[0], edges[-1]), edges)[0].astype(np.float64)
    else:
        raise DatasetError(f"--returns takes uniform, normal:MEAN,STD or like:PATH, got '{target}'")
    if not p.sum() > 0:
        raise DatasetError(f"the target '{target}' puts no mass on the source's returns [{edges[0]:.4g}, "
                           f"{edges[-1]:.4g}]; choose a target inside that range")
    return p / p.sum()


def _allocate(n: int, p: np.ndarray) -> np.ndarray:
    """n split over bins in proportion to p, as integers summing to n (largest remainders)."""
    raw = n * p
    out = np.floor(raw).astype(np.int64)
    rest = n - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def target_returns(ds: Dataset, target: str, episodes: Optional[int] = None, bins: int = 20, seed: int = 0,
                   like: Optional[np.ndarray] = None) -> tuple[Dataset, dict]:
    """Episodes whose returns follow ``target`` over ``bins`` bins of the source's return range; (dataset, rule)."""
    bounds, returns = _complete(ds)
    if bins < 1:
        raise DatasetError(f"--bins must be a positive integer, got {bins}")
    lo, hi = float(returns.min()), float(returns.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, returns, side="right") - 1, 0, bins - 1)
    have = np.bincount(which, minlength=bins)
    p = target_pdf(target, edges, like)
    if episodes is None:  # the largest size that every bin can supply
        episodes = int(min(have[k] / p[k] for k in range(bins) if p[k] > 0))
        while episodes > 0 and np.any(_allocate(episodes, p) > have):
            episodes -= 1
        if episodes == 0:
            empty = [k for k in range(bins) if p[k] > 0 and have[k] == 0]
            k = empty[0] if empty else int(np.argmax(p))
            raise DatasetError(f"the source has no episode with a return in [{edges[k]:.4g}, {edges[k + 1]:.4g}), "
                               f"where the target puts {100 * p[k]:.1f}% of its episodes; give --episodes N to accept "
                               f"a shortfall (recorded in the card), or choose another target")
    if episodes <= 0:
        raise DatasetError(f"--episodes must be positive, got {episodes}")
    want = _allocate(episodes, p)
    rng = np.random.default_rng(seed)
    pick = []
    for k in range(bins):
        idx = np.flatnonzero(which == k)
        pick.append(rng.choice(idx, min(want[k], len(idx)), replace=False))
    pick = np.sort(np.concatenate(pick)).astype(np.int64)
    got = np.bincount(which[pick], minlength=bins)
    short = int((want - got).sum())
    rule = {"rule": "target", "target": target, "episodes": int(episodes), "bins": bins, "seed": seed,
            "edges": edges.tolist(), "target_counts": want.tolist(), "counts": got.tolist(), "shortfall": short,
            "text": f"{len(pick)} of {len(bounds)} episodes drawn so that returns follow '{target}' over {bins} bins "
                    f"(seed {seed})" + (f"; {short} short of the target's {episodes}" if short else "")}
    return take_episodes(ds, bounds[pick]), rule


def _shape(ds: Dataset) -> dict:
    integer = np.issubdtype(ds.actions.dtype, np.integer)
    return {"agents": ds.observations.shape[2], "obs_dim": ds.observations.shape[3],
            "actions": "discrete" if integer else f"continuous {ds.actions.shape[3:]}",
            "legal": ds.legal.shape[3], "state_dim": ds.state.shape[2]}


def combine(datasets: list, labels: list) -> tuple[Dataset, dict]:
    """Every complete episode of ``datasets`` (of one task: equal shapes), one dataset after the other."""
    if len(datasets) < 2:
        raise DatasetError("combine takes two or more datasets")
    first = _shape(datasets[0])
    for ds, label in zip(datasets[1:], labels[1:]):
        if _shape(ds) != first:
            raise DatasetError(f"{label} does not fit {labels[0]}: {_shape(ds)} against {first}; combine datasets "
                               f"of one task only")
    parts = [take_episodes(ds, _complete(ds)[0]) for ds in datasets]
    out = Dataset(**{f: np.concatenate([getattr(p, f) for p in parts], axis=1) for f in FIELDS}, card={})
    return out, {"rule": "combine", "text": f"every complete episode of {len(datasets)} datasets, one after the other"}


def derived_card(rule: dict, parents: list, cards: list) -> dict:
    """The card of a derived dataset: the inherited entries of its first parent and the ``derived`` block."""
    card = {k: cards[0][k] for k in INHERITED if k in (cards[0] or {})}
    card["generator"] = f"derived: {rule['text']}"
    card["derived"] = {**rule, "parents": parents}
    return card


def write_derived(ds: Dataset, rule: dict, parents: list, cards: list, path: str | Path, overwrite: bool = False,
                  dropped: int = 0) -> Path:
    """Write a derived dataset as an og-marl vault at ``path`` with its card (see the module docstring)."""
    from benchmarks.data.vault import write_dataset

    card = derived_card(rule, parents, cards)
    if dropped:
        card["derived"]["steps_outside_episodes"] = dropped
    return write_dataset(ds, path, metadata=card, overwrite=overwrite)


def steps_outside_episodes(ds: Dataset) -> int:
    """Timesteps after each stream's last episode end (they belong to no complete episode)."""
    bounds = episode_bounds(ds.terminals, ds.truncations)
    return int(ds.rewards.size - (bounds[:, 2] - bounds[:, 1] + 1).sum()) if len(bounds) else int(ds.rewards.size)
