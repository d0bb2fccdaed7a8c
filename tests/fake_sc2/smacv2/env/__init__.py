"""Test double of ``smacv2.env``: registers smacv2's maps (the same "3m", "8m", ... as smac, plus the 10gen maps on
32x32_flat) with pysc2 on import, as the real package does."""
import numpy as np

from fakesc2 import FakeBattle, register_maps


class Distribution:
    """Like smacv2's distributions: an unseeded ``numpy.random.default_rng()`` of its own."""

    def __init__(self, config):
        self.config = config
        self.rng = np.random.default_rng()

    def generate(self):
        return {"team": list(self.rng.integers(0, 3, size=self.config.get("n_units", 5)))}

MAPS = register_maps({**{m: m for m in ("3m", "8m", "2s3z", "5m_vs_6m", "MMM")},
               **{f"10gen_{r}": "32x32_flat" for r in ("terran", "zerg", "protoss")}})


class StarCraftCapabilityEnvWrapper(FakeBattle):
    reward_scale = True

    def __init__(self, capability_config, map_name, seed=None, **kwargs):
        race = map_name.split("_")[1]
        scenario = f"{race}_{capability_config['n_units']}_vs_{capability_config['n_enemies']}"
        super().__init__(scenario, map_name, "32x32_flat", seed, **kwargs)
        self.capability_config = capability_config
        self.env_key_to_distribution_map = {k: Distribution({**v, "n_units": capability_config["n_units"]})
                                            for k, v in capability_config.items() if isinstance(v, dict)}

    def draw_max_reward(self):
        """The first episode's random enemy team (from the team distribution) decides the reward scale."""
        return float(sum(self.env_key_to_distribution_map["team_gen"].generate()["team"]) + 10)
