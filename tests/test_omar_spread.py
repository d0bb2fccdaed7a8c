"""OMAR's Cooperative Navigation (benchmarks/envs/omar_spread.py) and the known-answer checks that an environment is the
one OMAR's Spread data were recorded in (benchmarks/data/omar_spread.py), on vaults written in og-marl's layout from
episodes rolled out in the environment, and on corrupted ones the checks must refuse."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data import omar_spread as D
from benchmarks.envs import omar_spread as S
from test_vault import write_ogmarl_vault

EPISODES = 2000  # the random-policy check's episodes: the vaults' episodes come from the same compiled rollout
STREAMS, PER_STREAM = 5, 8  # OMAR's vaults hold 5 streams (one per data seed) of 25-step episodes


# ---- the world, by hand -----------------------------------------------------------------------------------------
def test_physics_velocity_first_with_soft_contact_force():
    pos = np.array([[0.0, 0.0], [0.2, 0.0], [2.0, 2.0]])  # agents 0 and 1 overlap by 0.1, agent 2 is far
    vel = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, -1.0]])
    act = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    # penetration k log(1 + exp(0.1 / k)) = 0.1 (k = 1e-3), times 100: a force of 10 pushing 0 and 1 apart
    np.testing.assert_allclose(S.contact_forces(pos), [[-10, 0], [10, 0], [0, 0]], atol=1e-9)
    p2, v2 = S.physics_step(pos, vel, act)
    # v' = 0.75 v + 0.1 (5 a + F), then p' = p + 0.1 v'
    np.testing.assert_allclose(v2, [[0.25, 0], [1.0, 0], [0, -0.25]], atol=1e-9)
    np.testing.assert_allclose(p2, [[0.025, 0], [0.3, 0], [2.0, 1.975]], atol=1e-9)
    p_mpe2, _ = S.physics_step(pos, vel, act, position_first=True)  # mpe2 moves with the old velocity
    np.testing.assert_allclose(p_mpe2, [[0.1, 0], [0.2, 0], [2.0, 1.9]], atol=1e-9)


def test_observation_layout_and_per_agent_reward():
    pos = np.array([[0.0, 0.0], [0.25, 0.0], [3.0, 0.0]])  # 0 and 1 collide (0.25 < 0.3), 2 alone
    vel = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    lms = np.array([[0.0, 0.05], [0.25, 0.5], [3.0, 4.0]])
    obs = S.observe(pos, vel, lms)
    assert obs.shape == (3, 18)
    np.testing.assert_allclose(obs[1], [0.3, 0.4, 0.25, 0.0, -0.25, 0.05, 0.0, 0.5, 2.75, 4.0,
                                        -0.25, 0.0, 2.75, 0.0, 0, 0, 0, 0])
    # landmarks: nearest agents at 0.05 (capped at 10), 0.5 (2) and 4 (0.25); minus 5 per other agent within 0.3
    np.testing.assert_allclose(S.rewards(pos, lms), [7.25, 7.25, 12.25])
    np.testing.assert_allclose(S.rewards_from_obs(obs), [7.25, 7.25, 12.25])
    apart = pos + np.array([[0.0, 0.0], [0.06, 0.0], [0.0, 0.0]])  # 0.31 apart: no penalty (0.29 would be)
    np.testing.assert_allclose(S.rewards(apart, lms), S.rewards_from_obs(S.observe(apart, vel, lms)))
    assert S.rewards(apart, lms)[0] > S.rewards(pos, lms)[0] + 4.5
    np.testing.assert_array_equal(S.state_of(obs), obs.reshape(54))
    pos_, vel_, lms_ = S.world_of(obs[None])
    np.testing.assert_allclose(pos_[0], pos)
    np.testing.assert_allclose(lms_[0], lms, atol=1e-12)


@pytest.mark.parametrize("length", [S.EPISODE_LENGTH, S.OGMARL_EPISODE_LENGTH])
def test_jax_environment_resets_in_the_box_clips_actions_and_never_ends_early(length):
    import jax

    env = S.Spread(length)
    step = jax.jit(env.step)
    es, obs, legal, state = env.reset(jax.random.PRNGKey(3))
    pos, vel, lms, _ = es
    assert obs.shape == (3, 18) and state.shape == (54,) and legal.shape == (3, 1)
    assert np.all(np.abs(np.asarray(pos)) <= 1) and np.all(np.abs(np.asarray(lms)) <= 1) and not np.any(vel)
    dones = []
    for t in range(length):
        es_big, *_ = step(es, np.full((3, 2), 3.0), None)
        es, obs, _, state, r, done, info = step(es, np.ones((3, 2)), None)
        np.testing.assert_allclose(np.asarray(es_big[0]), np.asarray(es[0]), atol=1e-6)  # clipped to [-1, 1]
        np.testing.assert_allclose(float(r), np.asarray(info["rewards"]).mean(), rtol=1e-6)
        dones.append(bool(done))
    assert dones == [False] * (length - 1) + [True]


def test_uniform_random_policy_scores_the_papers_random_reference():
    """MAC-Flow App. G.3 normalises with random 159.8; OMAR's own code gives 159.9 +- 0.9 over 5 000 episodes."""
    mean, se = D.random_score(EPISODES)
    assert abs(mean - S.REFS[0]) <= D.RANDOM_TOL and se < 1.6, (mean, se)


# ---- known-answer checks on vaults in og-marl's layout ------------------------------------------------------------
def ogmarl_layout(rec: dict) -> dict:
    """OMAR's vault layout: STREAMS streams of PER_STREAM 25-step episodes each, per-agent float32 rewards and flags,
    terminals on each episode's last row (how og-marl counts their 40 000 trajectories), state (B, T, 54)."""
    n = STREAMS * PER_STREAM
    lay = lambda x: np.ascontiguousarray(x[:n].reshape((STREAMS, PER_STREAM * x.shape[1]) + x.shape[2:]), np.float32)
    term = np.zeros(rec["rewards"].shape, np.float32)
    term[:, -1] = 1.0
    return {"observations": lay(rec["observations"]), "actions": lay(rec["actions"]), "rewards": lay(rec["rewards"]),
            "terminals": lay(term), "truncations": np.zeros_like(lay(term)), "infos": {"state": lay(rec["state"])}}


def resimulated(rec: dict, position_first: bool) -> dict:
    """The same initial worlds and actions stepped with the environment's physics in another integration order."""
    n = STREAMS * PER_STREAM
    pos, vel, lms = S.world_of(rec["observations"][:n, 0].astype(np.float64))
    obs, rews = [], []
    for t in range(S.EPISODE_LENGTH):
        obs.append(S.observe(pos, vel, lms))
        pos, vel = S.physics_step(pos, vel, rec["actions"][:n, t].astype(np.float64), np, position_first)
        rews.append(S.rewards(pos, lms))
    out = {k: v[:n] for k, v in rec.items()}
    out["observations"], out["rewards"] = np.stack(obs, 1), np.stack(rews, 1)
    out["state"] = S.state_of(out["observations"])
    return out


@pytest.fixture(scope="module")
def recorded():
    import jax

    return D.rollouts(jax.random.PRNGKey(11), EPISODES)


@pytest.fixture(scope="module")
def vaults(recorded, tmp_path_factory):
    """{name: vault path}: the environment's own data; the same worlds and actions in mpe2's integration order; the
    environment's data with mpe2-like rewards (minus the summed distances of the landmarks to their nearest agents)."""
    root = tmp_path_factory.mktemp("omar-vaults")
    good = ogmarl_layout(recorded)
    mpe2 = ogmarl_layout(resimulated(recorded, position_first=True))
    wrong = ogmarl_layout(recorded)
    pos, _, lms = S.world_of(np.concatenate([wrong["observations"][:, 1:], wrong["observations"][:, -1:]], 1))
    d = np.sqrt(((pos[..., :, None, :] - lms[..., None, :, :]) ** 2).sum(-1)).min(-2).sum(-1)
    wrong["rewards"] = np.repeat(-d[..., None], 3, -1).astype(np.float32)
    return {name: write_ogmarl_vault(root / name, exp, "simple_spread", "Random")
            for name, exp in (("good", good), ("mpe2", mpe2), ("wrong_reward", wrong))}


def _verdicts(checks) -> dict:
    return {c.name.split(":")[0]: c.passed for c in checks}


def test_checks_pass_on_data_recorded_in_the_environment(vaults):
    checks = D.checks(vaults["good"], deep=True, random_episodes=EPISODES)
    assert all(c.passed for c in checks), [c.line() for c in checks]
    assert len(checks) == 7
    by = {c.name: c for c in checks}
    replay = by["one step of the dynamics reproduces the next observations"]
    assert replay.measured < 1e-5 and f"{STREAMS * PER_STREAM * 24} transitions" in replay.detail
    assert by["reward recomputed from the next observations"].measured < 1e-4
    shallow = D.checks(vaults["good"], deep=False)  # metadata only
    assert [c.name for c in shallow] == [checks[0].name] and shallow[0].passed


def test_mpe2_integration_order_fails_the_dynamics_replay_only(vaults):
    checks = D.checks(vaults["mpe2"], deep=True, random_episodes=EPISODES)
    failed = [c for c in checks if not c.passed]
    assert [c.name for c in failed] == ["one step of the dynamics reproduces the next observations"]
    assert failed[0].measured > 100 * D.DYNAMICS_TOL and failed[0].line().startswith("FAIL")


def test_another_reward_function_fails_the_reward_check_only(vaults):
    failed = [c.name for c in D.checks(vaults["wrong_reward"], deep=True, random_episodes=EPISODES) if not c.passed]
    assert failed == ["reward recomputed from the next observations"]


def test_dimension_check_names_what_differs(tmp_path):
    exp = {"observations": np.zeros((1, 50, 3, 16), np.float32), "actions": np.zeros((1, 50, 3, 5), np.float32),
           "rewards": np.zeros((1, 50, 3), np.float32), "terminals": np.zeros((1, 50, 3), np.float32)}
    path = write_ogmarl_vault(tmp_path, exp, "simple_spread", "Expert")
    check, = D.checks(path, deep=True)  # deep stops at wrong dimensions
    assert not check.passed and "observations (3, 16)" in check.detail and "infos.state missing" in check.detail
