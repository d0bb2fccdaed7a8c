"""SMAX (JaxMARL's StarCraft-like micromanagement) as a pure-JAX evaluation environment.

Maps 3m, 8m, 2s3z and 5m_vs_6m from ``jaxmarl.environments.smax.map_name_to_scenario``; our agents
are the allies, the enemies play JaxMARL's built-in heuristic (``HeuristicEnemySMAX``, attack the
closest enemy in range, otherwise advance). Default SMAX settings: unit-list observations, discrete
actions (4 moves, stop, one attack per enemy), 100 steps per episode at most.

* obs [N,O]: each ally's observation; state [S]: ``world_state``; legal [N,A]: ``get_avail_actions``
  (a dead agent may only take the stop action).
* reward: the team reward (identical for every ally): the enemies' normalised health lost this step,
  averaged over enemies, plus 1 for a won battle, so an episode's return is at most 2.
* info["won"]: every enemy dead while at least one ally lives (JaxMARL's win bonus condition).
* An episode ends when one team is dead (terminal) or after 100 steps (time limit, a truncation in
  the datasets).

``reset``/``step`` follow the JAX interface of benchmarks/envs/__init__.py, so evaluation rolls out
inside ``jit`` with episodes and seeds vectorised.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import sys

import jax
import jax.numpy as jnp

from algorithms.base import DISCRETE, EnvSpec
from algorithms.errors import DependencyError

MAPS = ("3m", "8m", "2s3z", "5m_vs_6m")
INSTALL = 'pip install "jaxmarl==0.2.0" "pandas==2.3.3"  (or: pip install -e .)'


def missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("jaxmarl") is None:
        return f"the SMAX suite needs jaxmarl: {INSTALL}"
    return None


@contextlib.contextmanager
def _quiet_stdout():
    """Silence stdout at the file-descriptor level (jaxmarl's import resets ``sys.stdout`` redirects)."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@functools.lru_cache(None)
def _make_raw(map_name: str):
    why = missing()
    if why:
        raise DependencyError(why)
    with _quiet_stdout():  # jaxmarl prints about optional submodules on import
        from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    return HeuristicEnemySMAX(scenario=map_name_to_scenario(map_name))


class SMAX:
    def __init__(self, map_name: str):
        if map_name not in MAPS:
            from algorithms.errors import unknown

            raise unknown("SMAX map", map_name, MAPS)
        self.map_name = map_name
        self.env = _make_raw(map_name)
        self.agents = list(self.env.agents)
        self.n = len(self.agents)
        self.n_enemies = self.env.num_enemies
        n_actions = self.env.action_spaces[self.agents[0]].n
        self.spec = EnvSpec(n_agents=self.n, obs_dim=int(self.env.obs_size), state_dim=int(self.env.state_size),
                            action_kind=DISCRETE, action_dim=int(n_actions), has_legal=True,
                            episode_length=int(self.env.max_steps))

    def _pack(self, obs, env_state):
        o = jnp.stack([obs[a] for a in self.agents]).astype(jnp.float32)
        avail = self.env.get_avail_actions(env_state)
        legal = jnp.stack([avail[a] for a in self.agents]).astype(bool)
        return o, legal, obs["world_state"].astype(jnp.float32)

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        o, legal, state = self._pack(obs, env_state)
        return env_state, o, legal, state

    def step(self, env_state, actions, key):
        acts = {a: actions[i] for i, a in enumerate(self.agents)}
        obs, env_state, rew, dones, _ = self.env.step_env(key, env_state, acts)
        o, legal, state = self._pack(obs, env_state)
        return env_state, o, legal, state, rew[self.agents[0]], dones["__all__"], {
            "won": self.won(env_state), "time_limit": self.time_limit(env_state)}

    def won(self, env_state):
        alive = env_state.state.unit_alive
        return jnp.all(~alive[self.n:]) & jnp.any(alive[:self.n])

    def time_limit(self, env_state):
        """True when the episode ended by the step limit rather than by a team's death."""
        alive = env_state.state.unit_alive
        battle_over = jnp.all(~alive[self.n:]) | jnp.all(~alive[:self.n])
        return (env_state.state.step >= self.env.max_steps) & ~battle_over

    # ---- the built-in heuristic for our side (behaviour policy of the datasets) --------------------
    def heuristic(self):
        """(init_state(), act(policy_state, obs [N,O], legal [N,A], key) -> (legal actions [N], policy_state))."""
        from jaxmarl.environments.smax.heuristic_enemy import (create_heuristic_policy,
                                                               get_heuristic_policy_initial_state)

        policy = create_heuristic_policy(self.env._env, 0, shoot=True, attack_mode="closest")

        def init():
            one = get_heuristic_policy_initial_state()
            return jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * self.n), one)

        stop = self.env.num_movement_actions - 1  # always legal

        def act(pstate, obs, legal, key):
            # the heuristic reads positions from the observation and can pick an action the environment
            # masks (a dead unit moving, a target just out of range): it then stops instead
            a, pstate = jax.vmap(policy)(jax.random.split(key, self.n), pstate, obs)
            ok = jnp.take_along_axis(legal, a[:, None], -1)[:, 0]
            return jnp.where(ok, a, stop), pstate

        return init, act
