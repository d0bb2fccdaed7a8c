"""The mpe-gen suite: MPE Spread (mpe2) on data the harness generates (benchmarks/data/collect.py), for work without
the download and for tests; never beside published numbers."""
from __future__ import annotations

from benchmarks.envs.mpe import SPEC, Spread, missing
from benchmarks.tasks.generated import generated_suite


def suites():
    return [generated_suite(
        "mpe-gen", "MPE Spread (mpe2 simple_spread_v3, 3 agents, continuous), generated Expert/Medium/Medium-Replay/"
                   "Random data", lambda sc: SPEC, lambda sc: Spread(), missing, ("spread-expert", "spread-medium"),
        jax_env=False, describe=lambda sc, q: f"MPE Spread, {q} data generated with mpe2 (bench data collect)")]
