"""The smax suite: JaxMARL SMAX on generated data."""
from __future__ import annotations

from benchmarks.envs.smax import SMAX, missing
from benchmarks.tasks.generated import generated_suite


def suites():
    return [generated_suite(
        "smax", "JaxMARL SMAX 3m/8m/2s3z/5m_vs_6m vs the heuristic enemy (pure JAX), generated Good/Medium/Poor data",
        lambda sc: SMAX(sc).spec, SMAX, missing, ("3m-good", "3m-medium"), jax_env=True, reports_win_rate=True,
        describe=lambda sc, q: f"SMAX {sc}, {q} data: heuristic mixed with random legal actions")]
