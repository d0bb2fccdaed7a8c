"""OMIGA's MA-MuJoCo datasets (og-marl vaults ``omiga/mamujoco/<robot>.vlt/<Quality>``): their layout, a
recorder that writes it from the environment of benchmarks/envs/mamujoco_omiga.py, and the known-answer
checks that the environment is the one the data were recorded in.

Layout (og-marl's datacard: observations [1, T, N, D+N], actions [1, T, N, k], rewards / terminals /
truncations [1, T, N], infos.state [1, T, D+N], no legal masks): HalfCheetah and Ant episodes hold 1 001 rows
for 1 000 steps, so a row is (o_t, a_t, r_t) and each episode ends with one more row holding the observation
reached by its last step, flagged terminal (OMIGA's own loader treats that row as the terminal state and
never uses its action or reward). ``record`` writes this layout; the action and reward of that last row are
unknown in the published data and written as 0 here. ``infos.state`` is taken to be agent 0's observation
(OMIGA's per-agent state equals the agent's observation); ``verify`` says what a vault's really is.

Checks (``verify``; a list of benchmarks.data.verify.Check):

* dimensions; undoing the z-score recovers the one-hot id of each agent and the same raw vector for every
  agent (Ant: zeros in the 84 contact dimensions); what ``infos.state`` holds; the episode layout;
* deep: the simulator set to the recovered state and stepped with the stored actions reproduces the next
  observation and the stored reward (median over sampled rows, within ``TOLERANCE``), the falling steps of
  Hopper and Ant pay v2's healthy reward, and on Ant the concatenated action map is told apart from
  mamujoco_v1's [2,3,4,5] / [6,7,0,1].

Tolerances. The data were recorded with MuJoCo 2.0; here runs MuJoCo 4.0. Replaying the same states and
controls in MuJoCo 2.2.0 (the oldest on PyPI) and 4.0.0, one step (docs/mamujoco.md): HalfCheetah agrees to
1e-13, Hopper's next observation differs by a median 7.6e-3 (reward 2.3e-4), Ant's by 0.21 (reward 0.020);
a wrong Ant action map moves the next observation by a median 6.7. Each tolerance is about five times the
measured median (at least 0.01): a real download failing by a small margin points at 2.0 -> 2.2 changes
that could not be measured here, a corrupted one misses by far more.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from benchmarks.data.verify import Check
from benchmarks.envs.mamujoco_omiga import EPISODE_LENGTH, Body, concatenated, observe, recover, robot

# (next observation, reward): tolerances on the median replay error over sampled rows
TOLERANCE = {"6halfcheetah": (0.01, 0.01), "3hopper": (0.04, 0.01), "2ant": (1.0, 0.1)}
REPLAY_ROWS = 1000  # rows replayed by a deep check
CHECK_ROWS = 50_000  # rows read by the cheap checks (the first ones: about 50 episodes)
ID_TOL = 1e-3  # id slots back in raw units vs an exact one-hot
SAME_TOL = 1e-4  # agents' recovered raw vectors, relative to 1 + |x|
ID_CHECK = "undoing the z-score recovers each agent's one-hot id"
SAME_CHECK = "every agent observes the same raw single-agent vector"
STATE_CHECKS = (ID_CHECK, SAME_CHECK)  # without them the observations give no simulator state to replay


# ---- recording --------------------------------------------------------------------------------------
def gait_policy(n_agents: int, per_agent: int, seed: int, noise: float = 0.4) -> Callable:
    """A behaviour for tests and measurements: a sine gait per actuator with uniform noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, (n_agents, per_agent))

    def act(t: int, obs: np.ndarray) -> np.ndarray:
        return np.clip(0.8 * np.sin(0.25 * t + phase) + noise * rng.uniform(-1, 1, phase.shape), -1.0, 1.0)

    return act


def record(scenario: str, episodes: int, seed: int = 0, horizon: int = EPISODE_LENGTH, policy=None,
           action_map: Optional[tuple] = None) -> dict:
    """Roll ``episodes`` episodes out and return them as an og-marl experience tree in OMIGA's layout (numpy
    arrays [1, T, ...]; each episode: its steps, then the final observation's row flagged terminal).

    ``horizon`` < 1000 ends episodes early (small test vaults); ``action_map`` replaces the concatenation
    (agent -> actuators), to record data the checks must refuse."""
    r = robot(scenario)
    body = Body(scenario)
    policy = policy or gait_policy(r.n_agents, r.per_agent, seed)
    obs, act, rew, term = [], [], [], []
    try:
        for ep in range(episodes):
            raw = body.reset(seed=seed * 100_003 + ep)
            for t in range(horizon):
                o = observe(raw, r.n_agents)
                a = np.asarray(policy(t, o), np.float32).reshape(r.n_agents, r.per_agent)
                raw, reward, fell = body.step(a, action_map)
                obs.append(o), act.append(a), rew.append(reward), term.append(0.0)
                if fell:
                    break
            obs.append(observe(raw, r.n_agents)), act.append(np.zeros((r.n_agents, r.per_agent), np.float32))
            rew.append(0.0), term.append(1.0)
    finally:
        body.close()
    o = np.stack(obs)[None]
    per_agent = lambda x: np.repeat(np.asarray(x, np.float32)[None, :, None], r.n_agents, -1)
    return {"observations": o, "actions": np.stack(act)[None].astype(np.float32), "rewards": per_agent(rew),
            "terminals": per_agent(term), "truncations": per_agent(np.zeros(len(term))),
            "infos": {"state": np.ascontiguousarray(o[:, :, 0])}}


# ---- checks -----------------------------------------------------------------------------------------
def _read(path, rows: int) -> dict:
    from benchmarks.data.vault import read_raw

    exp = read_raw(path, timesteps=rows)
    flat = {k: v for k, v in exp.items() if k != "infos"}
    flat.update({f"infos.{k}": v for k, v in (exp.get("infos") or {}).items()})
    return flat


def _ends(flat: dict) -> np.ndarray:
    term = np.asarray(flat["terminals"])[0]
    trunc = np.asarray(flat.get("truncations", np.zeros_like(term)))[0]
    red = lambda x: (x > 0.5).all(-1) if x.ndim == 2 else x > 0.5
    return red(term) | red(trunc)


def _episode_rows(ends: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(ends)
    return np.diff(np.concatenate([[-1], idx]))


def cheap_checks(scenario: str, flat: dict) -> list:
    r = robot(scenario)
    n, d = r.n_agents, r.raw_dim
    obs = np.asarray(flat["observations"])
    act = np.asarray(flat["actions"])
    checks = []
    want = {"observations": (n, d + n), "actions": (n, r.per_agent)}
    got = {"observations": obs.shape[2:], "actions": act.shape[2:]}
    state = flat.get("infos.state")
    if state is not None:
        want["infos.state"], got["infos.state"] = (d + n,), np.asarray(state).shape[2:]
    bad = [f"{k} {tuple(got[k])} (expected {w})" for k, w in want.items() if tuple(got[k]) != w]
    checks.append(Check("dimensions", not bad, detail="; ".join(bad) or
                        f"{n} agents, observations {d}+{n}, actions {r.per_agent} per agent, state {d + n}"))
    if bad:
        return checks
    raw, ids, id_err = recover(obs[0], n)
    wrong_id = int((ids != np.arange(n)).sum())
    checks.append(Check(ID_CHECK, wrong_id == 0 and id_err.max() <= ID_TOL,
                        float(id_err.max()), ID_TOL, f"{wrong_id} agent-rows hold another agent's id; "
                                                     f"{obs.shape[1]} rows read"))
    spread = float((np.abs(raw - raw[:, :1]) / (1.0 + np.abs(raw[:, :1]))).max())
    checks.append(Check(SAME_CHECK, spread <= SAME_TOL, spread, SAME_TOL,
                        f"largest difference from agent 0's, relative to 1 + |x|"))
    if r.zeros:
        z = float(np.abs(raw[..., d - r.zeros:]).max())
        checks.append(Check(f"the {r.zeros} contact dimensions are zero (MuJoCo 2.0's cfrc_ext)", z <= SAME_TOL, z,
                            SAME_TOL))
    if state is not None:
        s = np.asarray(state, np.float64)[0]
        diffs = [float(np.abs(s - obs[0, :, i]).max()) for i in range(n)]
        k = int(np.argmin(diffs))
        checks.append(Check("infos.state is one agent's observation", diffs[k] <= 1e-6, diffs[k], 1e-6,
                            f"closest: agent {k}'s" + ("" if diffs[k] <= 1e-6 else "; the state holds something else")))
    return checks


def layout_check(ends: np.ndarray) -> Check:
    """Episodes may hold at most 1 001 rows; a 1 001-row episode shows the final-observation row."""
    rows = _episode_rows(ends)
    if not len(rows):
        return Check("episode layout", False, detail="no episode end in the rows read")
    longest = int(rows.max())
    if longest > EPISODE_LENGTH + 1:
        return Check("episode layout", False, float(longest), EPISODE_LENGTH + 1,
                     f"an episode holds {longest} rows, more than the 1000-step limit allows")
    how = ("each episode ends with a row holding its final observation, flagged terminal (OMIGA's layout)"
           if longest == EPISODE_LENGTH + 1 else "no 1001-row episode among these; the layout cannot be told")
    return Check("episode layout", True, float(longest), EPISODE_LENGTH + 1,
                 f"{len(rows)} episodes, longest {longest} rows; {how}")


def replay(scenario: str, flat: dict, rows: int = REPLAY_ROWS, seed: int = 0, action_map: Optional[tuple] = None):
    """Replay sampled rows, and every last step of an episode (up to ``rows`` more, where falls are): (obs errors
    [M] max |raw next - replayed| in raw units, reward errors [M], fell [M] whether the replayed step fell,
    skipped)."""
    r = robot(scenario)
    obs = np.asarray(flat["observations"])[0]
    act = np.asarray(flat["actions"], np.float64)[0]
    rew = np.asarray(flat["rewards"], np.float64)[0]
    rew = rew if rew.ndim == 1 else rew.mean(-1)
    ends = _ends(flat)
    raw = recover(obs, r.n_agents)[0].mean(1)  # [T, D]: the agents agree (checked apart)
    T = len(raw)
    pairs = np.flatnonzero(~ends[:T - 1])
    last = pairs[ends[pairs + 1]][:rows]  # steps into an episode's final row: the falls are among them
    if len(pairs) > rows:
        pairs = np.random.default_rng(seed).choice(pairs, rows, replace=False)
    pairs = np.union1d(pairs, last)
    shown = r.raw_dim - r.zeros  # observation dims that come from the state (Ant's contacts do not)
    body = Body(scenario)
    nv = body.env.model.nv
    obs_err, rew_err, fell, skipped = [], [], [], 0
    try:
        for t in pairs:
            vel = raw[t, shown - nv:shown]
            if np.abs(vel).max() >= r.qvel_clip - 1e-4:  # v2 clipped the velocity: the state is not recoverable
                skipped += 1
                continue
            lag = 0.0
            if r.frame_progress and t > 0 and not ends[t - 1]:  # Ant reads progress from a lagging frame
                body.set_raw(raw[t - 1])
                body.step(act[t - 1], action_map)
                lag = body.lag()
            body.set_raw(raw[t])
            nxt, reward, down = body.step(act[t], action_map)
            reward -= lag / body.dt
            obs_err.append(np.abs(nxt[:shown] - raw[t + 1, :shown]).max())
            rew_err.append(abs(reward - rew[t]))
            fell.append(down)
    finally:
        body.close()
    return np.asarray(obs_err), np.asarray(rew_err), np.asarray(fell, bool), skipped


def _stats(x: np.ndarray) -> str:
    return f"median {np.median(x):.3g}, 90% {np.percentile(x, 90):.3g}, max {x.max():.3g} over {len(x)} rows"


def replay_checks(scenario: str, flat: dict, rows: int = REPLAY_ROWS) -> list:
    obs_tol, rew_tol = TOLERANCE[scenario]
    r = robot(scenario)
    o, w, fell, skipped = replay(scenario, flat, rows)
    if not len(o):
        return [Check("one step replayed from the recovered state", False, detail="no row could be replayed")]
    note = f"; {skipped} rows skipped (velocity clipped at 10 in the observation)" if skipped else ""
    checks = [Check("one step replayed reproduces the next observation", float(np.median(o)) <= obs_tol,
                    float(np.median(o)), obs_tol, _stats(o) + note),
              Check("the replayed reward equals the stored reward", float(np.median(w)) <= rew_tol,
                    float(np.median(w)), rew_tol, _stats(w))]
    if r.pays_healthy_on_end:  # a difference on the falling steps alone hides in the median over all rows
        name = "the falling step pays v2's healthy reward"
        checks.append(Check(name, float(np.median(w[fell])) <= rew_tol, float(np.median(w[fell])), rew_tol,
                            f"reward error on the replayed falls: {_stats(w[fell])}") if fell.any() else
                      Check(name, True, detail="no replayed step fell"))
    if r.other_map:  # Ant: the partition of mamujoco_v1 drives other legs
        other = replay(scenario, flat, rows, action_map=r.other_map)[0]
        ours, theirs = float(np.median(o)), float(np.median(other))
        checks.append(Check("OMIGA's action map (agents' actions concatenated), not mamujoco_v1's",
                            ours <= obs_tol < theirs, ours, obs_tol,
                            f"median next-observation error {ours:.3g} with the concatenation {concatenated(r)}, "
                            f"{theirs:.3g} with mamujoco_v1's {r.other_map}"))
    return checks


def verify(scenario: str, path, deep: bool = False, rows: int = CHECK_ROWS) -> list:
    """Known-answer checks of the vault at ``path`` against the environment (see the module docstring)."""
    flat = _read(Path(path), rows)
    checks = cheap_checks(scenario, flat)
    if not checks[0].passed:
        return checks
    checks.append(layout_check(_ends(flat)))
    if deep:
        unusable = [c.name for c in checks if not c.passed and c.name in STATE_CHECKS]
        checks += ([Check("one step replayed from the recovered state", False,
                          detail=f"not run: the observations give no state ({unusable[0]} failed)")]
                   if unusable else replay_checks(scenario, flat))
    return checks
