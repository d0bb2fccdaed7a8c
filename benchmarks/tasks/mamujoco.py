"""The mamujoco suite: Multi-agent MuJoCo on data from the harness's own TD3 runs."""
from __future__ import annotations

from benchmarks.envs.mamujoco import MaMuJoCo, missing, spec_of
from benchmarks.tasks.generated import generated_suite


def suites():
    return [generated_suite(
        "mamujoco-gen", "Multi-agent MuJoCo (gymnasium-robotics mamujoco_v1): 6-HalfCheetah, 3-Hopper, 2-Ant with "
                    "Expert/Medium/Medium-Replay/Medium-Expert data from TD3 runs of the harness",
        spec_of, MaMuJoCo, missing, ("3-hopper-expert", "3-hopper-medium"), jax_env=False,
        describe=lambda sc, q: f"MaMuJoCo {sc}, {q} data from the harness's own TD3 run")]
