"""StarCraft II (SMAC, oxwhirl's ``smac`` package) as a Python batch env (the smacv1 / smacv2 suites and
their data: benchmarks/tasks/smac.py).

Neither oxwhirl smac / smacv2 nor StarCraft II installs from PyPI (``pip install smac`` installs SMAC3,
an unrelated hyper-parameter optimiser), so both are optional extras; both may be installed side by side,
since the harness never imports them itself (benchmarks/envs/sc2proc.py runs each in its own process)::

    pip install "smac @ git+https://github.com/oxwhirl/smac.git"        # smacv1  (extra: .[smac])
    pip install "smacv2 @ git+https://github.com/oxwhirl/smacv2.git"    # smacv2  (extra: .[smacv2])
    StarCraft II 4.10 for Linux (SC2.4.10.zip from Blizzard's s2client-proto) unzipped to ~/StarCraftII
    or to $SC2PATH; smac's SMAC_Maps.zip and smacv2's SMAC_Maps.zip (32x32_flat) in $SC2PATH/Maps/SMAC_Maps

The adapter follows the batch-env interface of :mod:`benchmarks.envs`: E episodes step together and each
step makes one jitted ``act`` call for all of them. They run on at most $BENCH_SC2_PARALLEL (default 8)
StarCraft II processes, in waves (a process is about a gigabyte; seeds x episodes are often hundreds).
Observations, legal actions and state come from ``get_obs`` / ``get_avail_actions`` / ``get_state`` with
SMAC's defaults, as og-marl recorded them: no agent id in the observation, and the state ends with every
agent's last action one-hot (``state_last_action=True``; 3m: 48 = 21 + 3 x 9). The reward is SMAC's team
reward (default reward scaling, max about 20), ``done`` is SMAC's ``terminated`` (a time-limit end
included, as og-marl stores it), and ``won`` is ``info["battle_won"]``. The score and win rate of an
evaluation match og-marl's ``evaluate``.

Task names are ``<map>-<quality>`` (``3m-good``); the data are og-marl vaults in
``$BENCH_DATA/<source>/<env>/<map>.vlt/<Quality>`` fetched with ``bench data download``.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from algorithms.errors import DatasetError, DependencyError

if TYPE_CHECKING:  # algorithms.base loads flax (3 s): kept out of the StarCraft host processes (sc2proc)
    from algorithms.base import EnvSpec

SC2_HINT = ("StarCraft II 4.10 (Linux: SC2.4.10.zip from github.com/Blizzard/s2client-proto, unzipped to "
            "~/StarCraftII, or set SC2PATH) with the maps in $SC2PATH/Maps")
INSTALL = {
    "smac": 'pip install "smac @ git+https://github.com/oxwhirl/smac.git" (not `pip install smac`, which is SMAC3)',
    "smacv2": 'pip install "smacv2 @ git+https://github.com/oxwhirl/smacv2.git"',
}


@dataclasses.dataclass(frozen=True)
class MapInfo:
    """Shapes of a map as stored in its og-marl data (SMAC defaults: no agent id in the observation, the
    agents' last actions in the state) and the environment's episode limit."""

    n_agents: int
    obs_dim: int
    state_dim: int
    n_actions: int
    limit: int  # SMAC episode limit
    source: str  # og-marl catalogue source of its data
    refs: tuple  # (random, expert) returns for normalisation


# obs/state/actions of og_marl maps from og-marl's datacards, episode limits from smac's map registry.
# 2c_vs_64zg is not here: its only data (OMIGA's) do not fit oxwhirl smac (see REMOVED_MAPS).
# Normalisation: 0 (an agent team that deals no damage) to 20 (SMAC's maximum scaled return).
V1_MAPS = {
    "3m": MapInfo(3, 30, 48, 9, 60, "og_marl", (0.0, 20.0)),
    "8m": MapInfo(8, 80, 168, 14, 120, "og_marl", (0.0, 20.0)),
    "2s3z": MapInfo(5, 80, 120, 11, 120, "og_marl", (0.0, 20.0)),
    "5m_vs_6m": MapInfo(5, 55, 98, 12, 70, "og_marl", (0.0, 20.0)),
}
REMOVED_MAPS = {
    "2c_vs_64zg": "its only data, OMIGA's vaults, were recorded with OMIGA's own StarCraft II wrapper (obs 478, "
                  "state 1350 per og-marl's datacard), which oxwhirl smac does not produce (obs 332, state 342); "
                  "the harness does not include that wrapper",
}
V1_QUALITIES = ("Good", "Medium", "Poor")


def sc2_path() -> Path:
    return Path(os.environ.get("SC2PATH", os.path.expanduser("~/StarCraftII")))


BUILD_410 = "Base75689"  # the Versions/ folder of StarCraft II 4.10 (SC2.4.10.zip), the build SMAC's data use
MAP_DIR = "SMAC_Maps"  # smac's and smacv2's maps both live in $SC2PATH/Maps/SMAC_Maps (pysc2 map directory)
MAPS_HINT = {
    "smac": "unzip SMAC_Maps.zip (github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip) "
            "into $SC2PATH/Maps",
    "smacv2": "unzip smacv2's SMAC_Maps.zip (github.com/oxwhirl/smacv2/releases/download/maps/SMAC_Maps.zip) so that "
              "its files are in $SC2PATH/Maps/SMAC_Maps (smac's map zip does not contain 32x32_flat)",
}


def _where() -> str:
    p = sc2_path()
    return f"SC2PATH={os.environ['SC2PATH']}" if "SC2PATH" in os.environ else f"{p} (SC2PATH is not set)"


def sc2_builds() -> list:
    """The game builds installed (``Versions/Base<build>`` folders), oldest first; [] when none."""
    versions = sc2_path() / "Versions"
    if not versions.is_dir():
        return []
    return sorted((d.name for d in versions.iterdir() if d.is_dir() and d.name.startswith("Base")),
                  key=lambda n: int(n[4:]) if n[4:].isdigit() else 0)


def sc2_build_note() -> Optional[str]:
    """None when the 4.10 build is installed (or no build is), else a note naming the builds found.

    A warning, not an error: other builds run, but the og-marl data and SMAC's published numbers come
    from 4.10 and results of different builds are not comparable."""
    builds = sc2_builds()
    if not builds or BUILD_410 in builds:
        return None
    return (f"StarCraft II build {', '.join(builds)} found, not 4.10 ({BUILD_410}): scores are not comparable "
            f"with the og-marl data's (install {SC2_HINT})")


def missing_sc2() -> Optional[str]:
    """None when $SC2PATH holds a StarCraft II install with at least one game build, else the fix."""
    p = sc2_path()
    if not (p / "Versions").is_dir():
        return f"StarCraft II not found at {_where()}: install {SC2_HINT}"
    if not sc2_builds():
        return (f"StarCraft II at {_where()} has no game build (its Versions folder has no Base<build> folder; an "
                f"interrupted download or unzip): reinstall {SC2_HINT}")
    return None


def missing_maps(package: str, map_names) -> Optional[str]:
    """None when every ``$SC2PATH/Maps/SMAC_Maps/<map>.SC2Map`` exists, else the missing files and the fix."""
    folder = sc2_path() / "Maps" / MAP_DIR
    absent = [str(folder / f"{m}.SC2Map") for m in dict.fromkeys(map_names) if not (folder / f"{m}.SC2Map").is_file()]
    if not absent:
        return None
    return f"map file {', '.join(absent)} missing: {MAPS_HINT[package]}"


def missing_package(package: str) -> Optional[str]:
    """None when oxwhirl's package is installed, else the install command.

    Looked up with ``importlib.util.find_spec`` on the top-level name, which imports nothing: smac and
    smacv2 both register pysc2 maps of the same names, and pysc2 raises DuplicateMapError once both are
    loaded in one process. Its ``env`` subpackage tells oxwhirl's smac from SMAC3 (also named ``smac``)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a module without a spec (e.g. a stand-in placed in sys.modules)
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not any((Path(loc) / "env").is_dir() for loc in locations):
        return f"the {package} package is missing: {INSTALL[package]}"
    return None


def missing_env(package: str, map_names=()) -> Optional[str]:
    """Everything missing to run ``package`` on ``map_names``: the package, StarCraft II, the map files."""
    why = [w for w in (missing_package(package), missing_sc2()) if w]
    if not why and map_names:
        why = [w for w in (missing_maps(package, map_names),) if w]
    return "; ".join(why) if why else None


FIELDS = ("n_agents", "obs_shape", "state_shape", "n_actions", "episode_limit")


def spec_info(spec: EnvSpec) -> tuple:
    """The task's side of :func:`check_env_info`, in the order of ``FIELDS``."""
    return spec.n_agents, spec.obs_dim, spec.state_dim, spec.action_dim, spec.episode_length


def check_env_info(info: dict, spec: EnvSpec, what: str = "the StarCraft II environment") -> None:
    """Raise DatasetError unless ``get_env_info()`` agrees with the task's shapes and episode limit.

    Policies are trained on the data's shapes and evaluated for ``spec.episode_length`` steps, so an
    environment that differs in any of them cannot evaluate the task; checked before training."""
    got = tuple(int(info[f]) for f in FIELDS)
    want = spec_info(spec)
    if got != want:
        diff = "; ".join(f"{f} {g} where the task has {w}" for f, g, w in zip(FIELDS, got, want) if g != w)
        raise DatasetError(
            f"{what} does not match its task: get_env_info() gives {diff}. The task's data were recorded with "
            f"other environment settings (or the harness's table is wrong), so policies trained on them cannot "
            f"be evaluated here; nothing was trained")


# ---- the batch env ---------------------------------------------------------------------------------
class SMACBatch:
    """E SMAC episodes stepped together on at most K StarCraft II instances (interface: benchmarks/envs/__init__.py).

    Each StarCraft II instance is a process of about a gigabyte, so E = seeds x episodes (hundreds) cannot
    all run at once. Episode i runs on instance i % K, in wave i // K: when an instance's episode ends it
    is reset for its next episode at the following step. Episodes waiting for their wave report done=False,
    reward 0, zero observations and all-legal masks (their actions are ignored), so every episode's return
    is exactly its own. The batch needs at most ``max_steps`` = limit x waves steps.
    """

    def __init__(self, envs: list, spec: EnvSpec, n_episodes: Optional[int] = None, owns: bool = True):
        self.envs, self.spec, self.owns = envs, spec, owns  # owns=False: close() leaves the instances running
        self.K, self.E, self.N = len(envs), n_episodes or len(envs), spec.n_agents
        self.waves = -(-self.E // max(self.K, 1))
        self.max_steps = spec.episode_length * self.waves
        self.done = np.zeros(self.E, bool)
        self.illegal = 0  # actions outside the legal mask, replaced by the first legal action
        self._obs = np.zeros((self.E, self.N, spec.obs_dim), np.float32)
        self._legal = np.ones((self.E, self.N, spec.action_dim), bool)
        self._state = np.zeros((self.E, spec.state_dim), np.float32)
        self._t = np.zeros(self.E, np.int64)  # steps taken by each episode
        self._current = [None] * self.K  # episode running on each instance
        if envs:
            try:
                check_env_info(envs[0].get_env_info(), spec)
            except DatasetError:
                self.close()
                raise

    def _read(self, i: int, env) -> None:
        self._obs[i] = np.asarray(env.get_obs(), np.float32).reshape(self.N, -1)
        self._legal[i] = np.asarray(env.get_avail_actions()).reshape(self.N, -1) > 0
        self._state[i] = np.asarray(env.get_state(), np.float32).reshape(-1)

    def _start(self, k: int, i: Optional[int]) -> None:
        self._current[k] = i
        if i is not None and i < self.E:
            self.envs[k].reset()
            self._read(i, self.envs[k])
        else:
            self._current[k] = None

    def reset(self):
        self.done[:] = False
        self._t[:] = 0
        self._obs[:] = 0.0
        self._legal[:] = True
        self._state[:] = 0.0
        for k in range(self.K):
            self._start(k, k)
        return self._obs.copy(), self._legal.copy(), self._state.copy()

    def step(self, actions):
        actions = np.asarray(actions).reshape(self.E, self.N).astype(np.int64)
        reward = np.zeros(self.E, np.float32)
        won = np.zeros(self.E, bool)
        for k, env in enumerate(self.envs):
            i = self._current[k]
            if i is None:
                continue
            a = actions[i].copy()
            ok = (a >= 0) & (a < self.spec.action_dim)
            ok[ok] = self._legal[i, np.flatnonzero(ok), a[ok]]
            if not ok.all():
                self.illegal += int((~ok).sum())
                a[~ok] = np.argmax(self._legal[i, ~ok], -1)
            r, terminated, info = env.step([int(x) for x in a])
            self._t[i] += 1
            reward[i] = float(r)
            if terminated or self._t[i] >= self.spec.episode_length:
                self.done[i] = True
                won[i] = bool((info or {}).get("battle_won", False))
                self._start(k, i + self.K)  # this instance's next episode begins at the next step
            else:
                self._read(i, env)
        return (self._obs.copy(), self._legal.copy(), self._state.copy(), reward, self.done.copy(),
                {"won": won, "illegal": self.illegal})

    def close(self):
        if not self.owns:
            return
        for env in self.envs:
            try:
                env.close()
            except Exception:  # a crashed SC2 process: nothing left to close
                pass


def max_instances() -> int:
    """Parallel StarCraft II instances per evaluation: $BENCH_SC2_PARALLEL, default 8."""
    try:
        return max(1, int(os.environ.get("BENCH_SC2_PARALLEL", "8")))
    except ValueError:
        raise DependencyError("BENCH_SC2_PARALLEL must be a positive integer (StarCraft II instances run at once)"
                              ) from None


@dataclasses.dataclass
class SMACMaker:
    """``Task.make_env()`` for SMAC: ``batch(n_envs, seed)`` runs n_envs episodes on at most
    ``max_instances()`` StarCraft II processes, in waves.

    ``factory(seed) -> env`` builds one environment with the smac API. ``spec.episode_length`` of the
    maker (not of the task) is raised to the batch's ``max_steps`` when episodes run in waves, so that a
    caller stepping ``spec.episode_length`` times (benchmarks.training.evaluate) sees every wave finish.

    ``keep=True`` (the tasks' makers) keeps the instances alive from one ``batch`` to the next, as og-marl
    does: smacv2 fixes an instance's reward scale from the enemy team of its first episode, so fresh
    instances per evaluation would put every evaluation's returns on a different scale. The instances are
    then seeded once, by the first ``batch``'s seed; they close with :meth:`close` or their host process.
    """

    spec: EnvSpec
    factory: Callable[[int], object]
    package: str = "smac"
    max_envs: Optional[int] = None
    keep: bool = False

    def batch(self, n_envs: int, seed: int) -> SMACBatch:
        k = min(n_envs, self.max_envs or max_instances())
        envs = list(self._pool[:k]) if self.keep else []
        start = len(envs)  # instances built by this call
        try:
            for i in range(start, k):
                envs.append(self.factory(seed + i))
        except BaseException:
            for env in envs[start:]:
                env.close()
            raise
        if self.keep:
            self._pool.extend(envs[start:])
        b = SMACBatch(envs, self._base, n_envs, owns=not self.keep)
        self.spec = dataclasses.replace(self._base, episode_length=b.max_steps)
        return b

    def reward_scales(self) -> list:
        """smacv2's / smac's ``reward_scale_rate`` and ``max_reward`` of each kept instance (None where an
        instance has no such attribute): the scale the returns of its episodes were computed under."""
        out = []
        for env in self._pool:
            get = getattr(env, "attr", None)
            if get is not None:
                out.append({"reward_scale_rate": get("reward_scale_rate"), "max_reward": get("max_reward")})
            else:
                out.append({"reward_scale_rate": getattr(env, "reward_scale_rate", None),
                            "max_reward": getattr(env, "max_reward", None)})
        return out

    def close(self) -> None:
        for env in self._pool:
            try:
                env.close()
            except Exception:  # a crashed SC2 process: nothing left to close
                pass
        self._pool = []

    def __post_init__(self):
        self._base = self.spec
        self._pool: list = []


def v1_factory(map_name: str) -> Callable[[int], object]:
    def make(seed: int):
        why = missing_env("smac")
        if why:
            raise DependencyError(f"SMAC map {map_name} cannot run here: {why}")
        from smac.env import StarCraft2Env

        return StarCraft2Env(map_name=map_name, seed=seed)

    return make


def map_spec(info: MapInfo) -> "EnvSpec":
    """The task's EnvSpec of a map: its data's shapes and the environment's episode limit."""
    from algorithms.base import DISCRETE, EnvSpec

    return EnvSpec(n_agents=info.n_agents, obs_dim=info.obs_dim, state_dim=info.state_dim, action_kind=DISCRETE,
                   action_dim=info.n_actions, has_legal=True, episode_length=info.limit)
