"""The score rule: which evaluation of a run a table or aggregate reports, declared and never mixed.

* ``final``  the last evaluation (final.json; the default: the MAC-Flow paper's tables report the
             performance of the trained policy, App. E, with no best-checkpoint selection);
* ``best``   per seed, the evaluation with the highest return (optimistic: selection on the test episodes);
* ``last-K`` per seed, the mean of the last K evaluations (e.g. ``last-3``).

``parse`` validates the name (a one-line BenchError otherwise), ``pick`` applies a rule to one seed's
evaluation rows, and ``caption`` is the sentence every table and aggregate states.
"""
from __future__ import annotations

from algorithms.errors import BenchError

DEFAULT = "final"


def parse(rule: str | None) -> str:
    rule = (rule or DEFAULT).strip().lower()
    if rule in ("final", "best"):
        return rule
    if rule.startswith("last-") and rule[5:].isdigit() and int(rule[5:]) >= 1:
        return rule
    raise BenchError(f"unknown score rule '{rule}': use final, best or last-K with K >= 1 (e.g. --score last-3)")


def pick(rule: str, rows: list) -> dict:
    """{'return', 'normalised', 'win_rate', 'steps'} of one seed's evaluation rows (sorted by step) under ``rule``."""
    rows = sorted(rows, key=lambda r: r["step"])
    if rule == "final":
        chosen = rows[-1:]
    elif rule == "best":
        chosen = [max(rows, key=lambda r: r["return"])]
    else:
        chosen = rows[-int(rule[5:]):]

    def mean(key):
        vals = [r[key] for r in chosen if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    return {"return": mean("return"), "normalised": mean("normalised"), "win_rate": mean("win_rate"),
            "steps": [r["step"] for r in chosen]}


def caption(rule: str) -> str:
    if rule == "final":
        return "score rule: final (last evaluation)"
    if rule == "best":
        return "score rule: best (highest evaluation per seed; optimistic)"
    return f"score rule: {rule} (mean of the last {rule[5:]} evaluations per seed)"
