"""A test double of StarCraft II behind oxwhirl smac's API, shared by the ``smac`` and ``smacv2`` doubles here.

Each environment is a toy battle: one enemy with ``hp`` health; action 0 = no-op (illegal while alive), 1 = stop,
2-5 = move, 6.. = attack (legal while the enemy lives). Each attacker deals 1 damage and earns reward 1; killing
the enemy wins (+10); illegal actions raise, as in SMAC. Like the real game, the first ``reset`` launches
StarCraft II: it looks the map up in pysc2's registry (DuplicateMapError when smac and smacv2 are both loaded),
opens ``$SC2PATH/Maps/SMAC_Maps/<file>.SC2Map`` (an error when missing) and appends a line to
``$FAKE_SC2_LOG`` if that is set (tests count launches with it; ``close`` of a launched game adds a line
ending in "closed"). The smacv2 flavour draws its reward scale
(``max_reward``) from its first episode's random enemy team, once per instance, as smacv2 does.
"""
import os
from pathlib import Path

import numpy as np

from pysc2.maps import lib

# get_env_info() of the real environments: (n_agents, obs_shape, state_shape, n_actions, episode_limit).
# Recorded (2026-11-30) from the real packages installed from their sources in a scratch virtualenv
# (oxwhirl/smac d6aab33, oxwhirl/smacv2 577ab5a, PySC2 4.0.0 and protobuf 3.20.3 from PyPI; StarCraft II absent,
# which get_env_info() does not need): each environment built by the harness's own factories
# (benchmarks.envs.smac.v1_factory / smacv2.v2_factory, seed 0), one process per package. They agree with
# og-marl's datacards (og-marl f4eb8f03). 2c_vs_64zg is oxwhirl smac's layout; its OMIGA data have 478 / 1350.
REAL_ENV_INFO = {
    "3m": (3, 30, 48, 9, 60),
    "8m": (8, 80, 168, 14, 120),
    "2s3z": (5, 80, 120, 11, 120),
    "5m_vs_6m": (5, 55, 98, 12, 70),
    "2c_vs_64zg": (2, 332, 342, 70, 400),
    "terran_5_vs_5": (5, 82, 120, 11, 200),
    "zerg_5_vs_5": (5, 82, 120, 11, 200),
    "terran_10_vs_10": (10, 162, 290, 16, 200),
}


def register_maps(names: dict) -> list:
    """pysc2 map classes ``name -> file`` in the SMAC_Maps directory (what each package does on import); the
    caller keeps the returned classes (pysc2 finds maps through ``__subclasses__``, which holds them weakly)."""
    base = type("SMACMap", (lib.Map,), {"directory": "SMAC_Maps"})
    return [base] + [type(name, (base,), {"filename": file}) for name, file in names.items()]


class FakeBattle:
    reward_scale = False  # smacv2: a per-instance reward scale fixed at the first episode

    def __init__(self, scenario: str, map_name: str, map_file: str, seed=None, hp=6, **kwargs):
        self.n, self.o, self.s, self.a, self.limit = REAL_ENV_INFO[scenario]
        self.scenario, self.map_name, self.map_file, self.kwargs = scenario, map_name, map_file, kwargs
        self.seed, self.hp0 = seed, hp
        self.rng = np.random.default_rng(seed)
        self.launched = False
        self.max_reward = None
        self.reward_scale_rate = 20

    def get_env_info(self):
        return {"n_agents": self.n, "obs_shape": self.o, "state_shape": self.s, "n_actions": self.a,
                "episode_limit": self.limit}

    def _launch(self):
        lib.get(self.map_name)
        path = Path(os.environ.get("SC2PATH", "~/StarCraftII")).expanduser() / "Maps" / "SMAC_Maps"
        if not (path / f"{self.map_file}.SC2Map").is_file():
            raise FileNotFoundError(f"Map file not found: {path / (self.map_file + '.SC2Map')}")
        if os.environ.get("FAKE_SC2_LOG"):
            with open(os.environ["FAKE_SC2_LOG"], "a") as f:
                f.write(f"{os.getpid()} {self.scenario} {self.seed}\n")
        self.launched = True

    def reset(self):
        if not self.launched:
            self._launch()
        if self.reward_scale and self.max_reward is None:
            self.max_reward = self.draw_max_reward()
        self.t, self.hp = 0, self.hp0
        return self.get_obs(), self.get_state()

    def get_obs(self):
        return [self.rng.normal(size=self.o).astype(np.float32) + self.hp for _ in range(self.n)]

    def get_state(self):
        return np.full(self.s, self.hp, np.float32)

    def get_avail_agent_actions(self, i):
        return [0, 1, 1, 1, 1, 1] + [int(self.hp > 0)] * (self.a - 6)

    def get_avail_actions(self):
        return [self.get_avail_agent_actions(i) for i in range(self.n)]

    def step(self, actions):
        assert len(actions) == self.n
        for i, a in enumerate(actions):
            assert self.get_avail_agent_actions(i)[a] == 1, f"Agent {i} cannot perform action {a}"
        self.t += 1
        attackers = sum(a >= 6 for a in actions)
        self.hp -= attackers
        reward = float(attackers)
        if self.reward_scale:  # smacv2: rewards scaled by this instance's max_reward
            reward *= self.reward_scale_rate / self.max_reward
        if self.hp <= 0:
            return reward + 10.0, True, {"battle_won": True}
        if self.t >= self.limit:
            return reward, True, {"battle_won": False, "episode_limit": True}
        return reward, False, {}

    def close(self):
        if self.launched and os.environ.get("FAKE_SC2_LOG"):
            with open(os.environ["FAKE_SC2_LOG"], "a") as f:
                f.write(f"{os.getpid()} {self.scenario} {self.seed} closed\n")
        self.launched = False
