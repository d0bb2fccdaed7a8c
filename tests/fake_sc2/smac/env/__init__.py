"""Test double of ``smac.env``: registers smac's maps with pysc2 on import, as the real package does."""
from fakesc2 import FakeBattle, register_maps

MAPS = register_maps({m: m for m in ("3m", "8m", "2s3z", "5m_vs_6m", "2c_vs_64zg", "MMM")})


class StarCraft2Env(FakeBattle):
    def __init__(self, map_name="8m", seed=None, **kwargs):
        super().__init__(map_name, map_name, map_name, seed, **kwargs)
