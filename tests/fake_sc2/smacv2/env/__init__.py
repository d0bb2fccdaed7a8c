"""Test double of ``smacv2.env``: registers smacv2's maps (the same "3m", "8m", ... as smac, plus the 10gen maps on
32x32_flat) with pysc2 on import, as the real package does."""
from fakesc2 import FakeBattle, register_maps

register_maps({**{m: m for m in ("3m", "8m", "2s3z", "5m_vs_6m", "MMM")},
               **{f"10gen_{r}": "32x32_flat" for r in ("terran", "zerg", "protoss")}})


class StarCraftCapabilityEnvWrapper(FakeBattle):
    reward_scale = True

    def __init__(self, capability_config, map_name, seed=None, **kwargs):
        race = map_name.split("_")[1]
        scenario = f"{race}_{capability_config['n_units']}_vs_{capability_config['n_enemies']}"
        super().__init__(scenario, map_name, "32x32_flat", seed, **kwargs)
        self.capability_config = capability_config
