"""OMAR's Spread data (og-marl ``omar/mpe/simple_spread``) against the environment of benchmarks/envs/omar_spread.py.

``rollouts`` records episodes of the uniform random policy in that environment (actions, per-agent rewards,
observations and state; one jitted program vmapped over episodes); ``random_score`` is that policy's score.

``checks(path, deep)`` returns the known-answer checks (benchmarks/data/verify.py ``Check``) that a vault holds
data recorded in that environment, i.e. that the environment the ``mpe`` suite evaluates in is the data's:

* dimensions (always; from the vault's metadata): 3 agents, observations 18, actions 2, per-agent rewards,
  state 54;
* with ``deep``, reading the data:
  - the episodes last 25 steps and the 4 communication slots of every observation are 0;
  - the state holds the three observations in agent order (on the first ``STATE_ROWS`` rows of each stream);
  - the reward recomputed from the next observations equals the stored reward, per agent (the reward is a
    function of the world after the step, which agent i's next observation shows whole);
  - one step of the dynamics from the stored observations and actions reproduces the next observations
    (float64 from the stored float32 values; tolerance ``DYNAMICS_TOL``), which mpe2's integration order fails;
  - a uniform random policy scores within ``RANDOM_TOL`` of the MAC-Flow paper's random reference 159.8 over
    ``RANDOM_EPISODES`` episodes.

Rows are transitions (o_t, a_t, r_t) with o_{t+1} the next row, og-marl's convention; the last row of an
episode (terminal or truncated) has no next observation in the vault and is not replayed.
"""
from __future__ import annotations

import functools

import numpy as np

from benchmarks.data.verify import Check
from benchmarks.envs import omar_spread as env

REWARD_TOL = 1e-3  # per-agent rewards are O(1..30); float32 storage and 1/d at d >= 0.1 keep errors ~1e-5
DYNAMICS_TOL = 1e-4  # float32 observations of O(1); mpe2's order is off by dt * dv ~ 1e-2
COLLISION_AMBIGUITY = 1e-5  # agents this close to the collision distance may flip the penalty under rounding
STATE_ROWS = 100_000  # rows per stream on which the state is compared with the observations
RANDOM_EPISODES = 4000
RANDOM_TOL = 4.0
CHUNK_ROWS = 100_000  # rows replayed at a time (bounded float64 temporaries)


# ---- recording episodes in the environment ----------------------------------------------------------------
@functools.lru_cache(None)
def _episodes_fn(episode_length: int, position_first: bool):
    """jit(vmap over episode keys) of one episode of the uniform random policy, recorded (one compilation per
    setting and number of episodes in a process)."""
    import jax

    world = env.Spread(episode_length, position_first=position_first)

    def episode(k):
        k0, k1 = jax.random.split(k)
        es, obs, _, state = world.reset(k0)

        def body(c, kk):
            es, obs, state = c
            ka, ks = jax.random.split(kk)
            a = jax.random.uniform(ka, (env.N_AGENTS, 2), minval=-1.0, maxval=1.0)
            es2, obs2, _, state2, _, _, info = world.step(es, a, ks)
            return (es2, obs2, state2), {"observations": obs, "actions": a, "rewards": info["rewards"], "state": state}

        (_, last, _), rec = jax.lax.scan(body, (es, obs, state), jax.random.split(k1, episode_length))
        rec["next_observations"] = last
        return rec

    return jax.jit(jax.vmap(episode))


def rollouts(key, n_episodes: int, episode_length: int = env.EPISODE_LENGTH, position_first: bool = False) -> dict:
    """Episodes of the uniform random policy (actions uniform in [-1, 1]^2) in the environment, as NumPy arrays
    [E, T, ...]: observations [E,T,N,18] (before each step), actions [E,T,N,2], rewards [E,T,N] (per agent, after
    the step), state [E,T,54], and ``next_observations`` [E,N,18] after the last step."""
    import jax

    out = _episodes_fn(episode_length, position_first)(jax.random.split(key, n_episodes))
    return {k: np.asarray(v) for k, v in out.items()}


@functools.lru_cache(None)
def random_score(n_episodes: int = RANDOM_EPISODES, seed: int = 0,
                 episode_length: int = env.EPISODE_LENGTH) -> tuple[float, float]:
    """(mean, standard error) of the uniform random policy's score: per episode, the sum over steps of the mean
    over agents of the rewards."""
    import jax

    rets = rollouts(jax.random.PRNGKey(seed), n_episodes, episode_length)["rewards"].mean(-1).sum(-1)
    return float(rets.mean()), float(rets.std() / np.sqrt(len(rets)))


# ---- the checks ------------------------------------------------------------------------------------------
def _shape(text: str) -> tuple:
    return tuple(int(x) for x in str(text).strip("()[] ").split(",") if x.strip())


def dimension_check(path) -> Check:
    """3 agents, observations 18, continuous actions 2, per-agent rewards, state 54, from the metadata."""
    from benchmarks.data.vault import vault_fields

    fields = {k: _shape(v[0]) for k, v in vault_fields(path)["fields"].items()}
    want = {"observations": (env.N_AGENTS, env.OBS_DIM), "actions": (env.N_AGENTS, 2),
            "rewards": (env.N_AGENTS,), "infos.state": (env.STATE_DIM,)}
    got = {k: fields.get(k, fields.get(k.split(".")[-1], ())) for k in want}
    bad = [f"{k} {got[k][2:] or 'missing'} (expected {v})" for k, v in want.items() if got[k][2:] != v]
    return Check("dimensions (3 agents, observations 18, actions 2, per-agent rewards, state 54)", not bad,
                 detail="; ".join(bad) or f"observations {got['observations']}, state {got['infos.state']}")


def _flag(x: np.ndarray) -> np.ndarray:
    """[B, T] bool from per-agent (B, T, N) or team (B, T) float flags."""
    x = np.asarray(x)
    return (x > 0.5).all(-1) if x.ndim == 3 else x > 0.5


def _pairs(done: np.ndarray):
    """(b, t) indices of rows whose next row continues the episode, per stream, in chunks of CHUNK_ROWS."""
    B, T = done.shape
    for b in range(B):
        t = np.flatnonzero(~done[b, :-1])
        for i in range(0, len(t), CHUNK_ROWS):
            yield b, t[i:i + CHUNK_ROWS]


def replay_errors(raw: dict, position_first: bool = False) -> dict:
    """Known-answer figures of stored experience (``read_raw`` fields, (B, T, ...)): the max abs error of the
    reward recomputed from the next observation and of the next observation replayed from (o_t, a_t), the rows
    checked, the rows left out of the reward check for a collision distance within ``COLLISION_AMBIGUITY`` of
    0.3, the episode lengths found and the max abs communication slot."""
    obs, actions = raw["observations"], raw["actions"]
    rewards = np.asarray(raw["rewards"])
    done = _flag(raw["terminals"]) | (_flag(raw["truncations"]) if "truncations" in raw else False)
    out = {"reward_err": 0.0, "dynamics_err": 0.0, "rows": 0, "ambiguous": 0, "comm": 0.0, "lengths": set()}
    for b in range(done.shape[0]):
        ends = np.flatnonzero(done[b])
        out["lengths"] |= set(np.diff(np.concatenate([[-1], ends])).tolist())
    for b, t in _pairs(done):
        o, o2 = obs[b, t].astype(np.float64), obs[b, t + 1].astype(np.float64)
        a = actions[b, t].astype(np.float64)
        pos, vel, lm = env.world_of(o)
        p2, v2 = env.physics_step(pos, vel, a, np, position_first)
        out["dynamics_err"] = max(out["dynamics_err"], float(np.abs(env.observe(p2, v2, lm) - o2).max()))
        pred = env.rewards_from_obs(o2)
        stored = rewards[b, t].astype(np.float64)
        if stored.ndim == 1:  # a team reward: the mean over agents
            pred = pred.mean(-1)
        others = np.sqrt((o2[..., env.OTHERS].reshape(o2.shape[:-1] + (2, 2)) ** 2).sum(-1))
        near = (np.abs(others - env.COLLISION_DISTANCE) < COLLISION_AMBIGUITY).any((-1, -2))
        err = np.abs(pred - stored)
        err = err[~near] if err.ndim == 1 else err[~near].reshape(-1)
        out["reward_err"] = max(out["reward_err"], float(err.max()) if err.size else 0.0)
        out["ambiguous"] += int(near.sum())
        out["rows"] += len(t)
        out["comm"] = max(out["comm"], float(np.abs(o[..., env.COMM]).max()))
    return out


def checks(path, deep: bool = False, random_episodes: int = RANDOM_EPISODES) -> list:
    """The known-answer checks of the vault at ``path`` (see the module docstring)."""
    from benchmarks.data.vault import read_raw

    dims = dimension_check(path)
    if not deep or not dims.passed:
        return [dims]
    raw = read_raw(path, fields=("observations", "actions", "rewards", "terminals", "truncations"))
    f = replay_errors(raw)
    lengths = sorted(f["lengths"])
    out = [dims,
           Check("episodes last 25 steps", lengths == [env.EPISODE_LENGTH], detail=f"episode lengths found {lengths}"),
           Check("communication slots are 0", f["comm"] == 0.0, f["comm"], 0.0)]
    del raw
    state = read_raw(path, timesteps=STATE_ROWS, fields=("observations", "infos.state"))
    st = state.get("infos", {}).get("state", state.get("state"))
    err = float(np.abs(st - env.state_of(state["observations"])).max()) if st is not None else float("inf")
    out.append(Check("state holds the three observations in agent order", err == 0.0, err, 0.0,
                     f"first {st.shape[1] if st is not None else 0} rows of each stream"))
    some = f["rows"] > 0  # a vault without a single transition inside an episode proves nothing
    out.append(Check("reward recomputed from the next observations", some and f["reward_err"] <= REWARD_TOL,
                     f["reward_err"], REWARD_TOL, f"{f['rows']} transitions per agent; {f['ambiguous']} left out with "
                                                  f"an agent within {COLLISION_AMBIGUITY:g} of the collision distance"))
    out.append(Check("one step of the dynamics reproduces the next observations",
                     some and f["dynamics_err"] <= DYNAMICS_TOL, f["dynamics_err"], DYNAMICS_TOL,
                     f"{f['rows']} transitions, max abs error over the 18 dimensions"))
    out.append(random_check(random_episodes))
    return out


def random_check(n_episodes: int = RANDOM_EPISODES) -> Check:
    mean, se = random_score(n_episodes)
    lo = env.REFS[0]
    return Check(f"uniform random policy scores within {RANDOM_TOL:g} of {lo}", abs(mean - lo) <= RANDOM_TOL,
                 mean, RANDOM_TOL, f"{mean:.1f} +- {se:.1f} (s.e.) over {n_episodes} episodes of 25 steps")
