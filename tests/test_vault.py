"""og-marl vault format: round trips, the reference's transition semantics, and clear errors for bad data."""
from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest

from benchmarks.data.transitions import Dataset, check_against, to_transitions, to_windows
from benchmarks.data.vault import data_dir, read_dataset, read_raw, write_dataset
from algorithms.errors import DatasetError


def discrete_dataset(seed=0, B=2, T=40, N=3, O=30, S=48, A=9, ep_len=7) -> Dataset:
    """A SMAC-shaped dataset (3m: 3 agents, obs 30, state 48, 9 actions) of ``ep_len``-step episodes.

    The behaviour attacks (action 6) whenever it is legal; the reward counts the attackers."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(B, T, N, O)).astype(np.float32)
    legal = np.ones((B, T, N, A), bool)
    legal[..., 0] = False
    legal[:, ::3, :, 7:] = False  # some steps without the high attack actions
    actions = np.where(rng.random((B, T, N)) < 0.9, 6, 1).astype(np.int32)
    rewards = (actions == 6).sum(-1).astype(np.float32)
    term = np.zeros((B, T), bool)
    term[:, ep_len - 1::ep_len] = True
    trunc = np.zeros((B, T), bool)
    state = rng.normal(size=(B, T, S)).astype(np.float32)
    return Dataset(obs, actions, rewards, term, trunc, legal, state, card={"generator": "test attack policy", "seed": seed})


# ---- an og-marl vault written directly with flashbax, as og-marl's recorder lays it out --------------
def write_ogmarl_vault(root, exp: dict, scenario="toy", uid="Good"):
    from flashbax.buffers.trajectory_buffer import TrajectoryBufferState
    from flashbax.vault import Vault

    T = exp["observations"].shape[1]
    with contextlib.redirect_stdout(io.StringIO()):
        v = Vault(vault_name=f"{scenario}.vlt", experience_structure=exp, rel_dir=str(root), vault_uid=uid)
        v.write(TrajectoryBufferState(experience=exp, current_index=np.int32(T), is_full=False), source_interval=(0, T))
    return root / f"{scenario}.vlt" / uid


def ogmarl_experience():
    """B=2 streams of T=12 rows, 2 agents; per-agent float flags; -inf padding; actions [B,T,N,1]."""
    rng = np.random.default_rng(3)
    B, T, N, O, A, S = 2, 12, 2, 5, 4, 6
    obs = rng.normal(size=(B, T, N, O)).astype(np.float32)
    obs[:, :, 1, 3:] = -np.inf  # agent 1 has a shorter observation, padded with -inf (OMAR MPE)
    act = rng.integers(0, A, size=(B, T, N, 1)).astype(np.int32)  # trailing size-1 action axis
    legals = np.ones((B, T, N, A), np.float32)
    legals[:, 1::4, :, 0] = 0.0
    act[:, 1::4, :, 0] = np.maximum(act[:, 1::4, :, 0], 1)  # behaviour obeys the mask
    team_r = rng.normal(size=(B, T)).astype(np.float32)
    rewards = np.repeat(team_r[:, :, None], N, -1)
    term = np.zeros((B, T, N), np.float32)
    trunc = np.zeros((B, T, N), np.float32)
    # stream 0: episode rows 0-3 terminal at 3; 4-7 truncated at 7; 8-11 incomplete tail
    term[0, 3] = 1
    trunc[0, 7] = 1
    # stream 1: terminal at 2, truncated at 5, terminal and truncated at 9; 10-11 tail
    term[1, 2] = 1
    trunc[1, 5] = 1
    term[1, 9] = 1
    trunc[1, 9] = 1
    state = rng.normal(size=(B, T, S)).astype(np.float32)
    return {"observations": obs, "actions": act, "rewards": rewards, "terminals": term, "truncations": trunc,
            "infos": {"legals": legals, "state": state}}


def independent_transitions(exp):
    """The reference's semantics, written out row by row."""
    obs = np.where(np.isneginf(exp["observations"]), 0.0, exp["observations"])
    B, T = obs.shape[:2]
    term = exp["terminals"].all(-1) > 0
    trunc = exp["truncations"].all(-1) > 0
    rows = []
    for b in range(B):
        for t in range(T):
            if term[b, t]:
                nxt = t  # no successor; unused because terminal = 1
            elif trunc[b, t] or t == T - 1:
                continue  # no o' stored: truncated or cut by the end of the stream
            else:
                nxt = t + 1
            rows.append(dict(obs=obs[b, t], actions=exp["actions"][b, t, :, 0], reward=exp["rewards"][b, t, 0],
                             next_obs=obs[b, nxt], terminal=float(term[b, t]), legal=exp["infos"]["legals"][b, t] > 0,
                             next_legal=exp["infos"]["legals"][b, nxt] > 0, state=exp["infos"]["state"][b, t],
                             next_state=exp["infos"]["state"][b, nxt]))
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def test_ogmarl_layout_reads_into_exact_transitions(tmp_path):
    exp = ogmarl_experience()
    path = write_ogmarl_vault(tmp_path, exp)
    ds = read_dataset(path)
    assert ds.actions.shape == (2, 12, 2) and ds.actions.dtype == np.int32  # trailing axis squeezed
    assert np.isfinite(ds.observations).all() and (ds.observations[:, :, 1, 3:] == 0).all()
    assert ds.rewards.shape == (2, 12) and ds.terminals.dtype == bool
    tr = to_transitions(ds)
    want = independent_transitions(exp)
    assert len(tr["reward"]) == len(want["reward"]) == 20
    for k, v in want.items():
        np.testing.assert_array_equal(tr[k], v.astype(tr[k].dtype), err_msg=k)
    # complete episodes: stream 0 ends at 3 and 7, stream 1 at 2, 5 and 9 -> 5 returns
    rets = ds.episode_returns()
    r = exp["rewards"][..., 0]
    np.testing.assert_allclose(rets, [r[0, :4].sum(), r[0, 4:8].sum(), r[1, :3].sum(), r[1, 3:6].sum(), r[1, 6:10].sum()],
                               rtol=1e-6)


def test_windows_never_cross_an_episode_end(tmp_path):
    exp = ogmarl_experience()
    ds = read_dataset(write_ogmarl_vault(tmp_path, exp))
    w = to_windows(ds, 4)
    ep_id = np.cumsum(np.concatenate([np.zeros((2, 1), bool), (ds.terminals | ds.truncations)[:, :-1]], 1), 1)
    flat_obs = ds.observations.reshape(-1, *ds.observations.shape[2:])
    # locate every window step in the data and check validity semantics
    for i in range(len(w["reward"])):
        locs = []
        for s in range(4):
            hit = np.flatnonzero((flat_obs == w["obs"][i, s]).all(axis=(1, 2)))
            locs.append(divmod(int(hit[0]), 12))
        valid = w["valid"][i] > 0
        assert valid[0]
        eps = {ep_id[b, t] + 100 * b for (b, t), v in zip(locs, valid) if v}
        assert len(eps) == 1  # valid steps lie in one episode
        ts = [t for (b, t), v in zip(locs, valid) if v]
        assert ts == list(range(ts[0], ts[0] + len(ts)))  # consecutive
    assert len(w["reward"]) == len(to_transitions(ds)["reward"])  # one window per transition start


def test_write_then_read_is_exact_and_readable_by_flashbax(tmp_path):
    ds = discrete_dataset()
    path = write_dataset(ds, tmp_path / "3m.vlt" / "Good", metadata={"generator": "attack policy", "seed": 7})
    assert path == tmp_path / "3m.vlt" / "Good" and sorted(os.listdir(path.parent)) == ["Good"]
    back = read_dataset(path)
    for f in ("observations", "actions", "rewards", "terminals", "truncations", "legal", "state"):
        a, b = getattr(ds, f), getattr(back, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    card = json.loads((path / "card.json").read_text())
    assert card["generator"] == "attack policy" and card["seed"] == 7
    assert card["episodes"] == len(ds.episode_returns()) and card["transitions"] == ds.rewards.size
    assert card["return_mean"] == pytest.approx(ds.episode_returns().mean())
    # og-marl's own reader (flashbax Vault) sees the per-agent layout
    from flashbax.vault import Vault

    with contextlib.redirect_stdout(io.StringIO()):
        exp = Vault(vault_name="3m.vlt", rel_dir=str(tmp_path), vault_uid="Good").read().experience
    assert exp["rewards"].shape == (2, 40, 3) and exp["terminals"].shape == (2, 40, 3)
    assert exp["infos"]["legals"].shape == (2, 40, 3, 9) and exp["infos"]["state"].shape == (2, 40, 48)
    np.testing.assert_array_equal(np.asarray(exp["actions"]), ds.actions)


def test_continuous_round_trip_keeps_one_dim_actions(tmp_path):
    from benchmarks.data.games import xor_dataset

    ds = xor_dataset(size=50)  # actions [1, 50, 2, 1] float: a genuine 1-D continuous action
    back = read_dataset(write_dataset(ds, tmp_path / "xor.vlt" / "Expert"))
    assert back.actions.shape == (1, 50, 2, 1) and back.actions.dtype == np.float32
    np.testing.assert_array_equal(back.actions, ds.actions)
    assert back.legal.shape == (1, 50, 2, 1) and back.legal.all()


def test_interrupted_write_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    from flashbax.vault import Vault

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Vault, "write", boom)
    with pytest.raises(RuntimeError):
        write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good")
    assert os.listdir(tmp_path / "3m.vlt") == []  # no final dir, no temp dir left


def test_existing_dataset_needs_overwrite(tmp_path):
    path = write_dataset(discrete_dataset(seed=0), tmp_path / "3m.vlt" / "Good")
    with pytest.raises(DatasetError, match="already exists"):
        write_dataset(discrete_dataset(seed=1), path)
    write_dataset(discrete_dataset(seed=1), path, overwrite=True)
    assert read_dataset(path).card["seed"] == 1 and sorted(os.listdir(path.parent)) == ["Good"]


def test_bad_datasets_get_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="bench data download"):
        read_dataset(tmp_path / "nothing.vlt" / "Good")
    # a .vlt with several qualities must name one
    write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good")
    write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Poor")
    with pytest.raises(DatasetError, match="several datasets"):
        read_dataset(tmp_path / "3m.vlt")
    # corrupt metadata
    bad = write_dataset(discrete_dataset(), tmp_path / "x.vlt" / "Good")
    (bad / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetError, match="corrupt"):
        read_dataset(bad)
    # corrupt database
    bad2 = write_dataset(discrete_dataset(), tmp_path / "y.vlt" / "Good")
    (bad2 / "manifest.ocdbt").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="corrupt"):
        read_dataset(bad2)
    # a field with the wrong shape names the field and the expected shape
    exp = ogmarl_experience()
    exp["rewards"] = exp["rewards"][:, :, :1].repeat(3, -1)  # 3 agents' rewards for 2 agents
    with pytest.raises(DatasetError, match=r"'rewards'.*\(B, T, N\)"):
        read_dataset(write_ogmarl_vault(tmp_path, exp, scenario="badr"))
    exp = ogmarl_experience()
    del exp["actions"]
    with pytest.raises(DatasetError, match="no field 'actions'"):
        read_dataset(write_ogmarl_vault(tmp_path, exp, scenario="noact"))
    exp = ogmarl_experience()
    exp["observations"][0, 0, 0, 0] = np.nan
    with pytest.raises(DatasetError, match="'observations' contains NaN"):
        read_dataset(write_ogmarl_vault(tmp_path, exp, scenario="nan"))


def test_dataset_for_another_task_is_rejected():
    from algorithms.base import DISCRETE, EnvSpec

    spec_3m = EnvSpec(n_agents=3, obs_dim=30, state_dim=48, action_kind=DISCRETE, action_dim=9, has_legal=True)
    check_against(discrete_dataset(), spec_3m)
    with pytest.raises(DatasetError, match=r"'observations' has shape \(2, 40, 8, 80\).*expects \(2, 40, 3, 30\)"):
        check_against(discrete_dataset(N=8, O=80, S=168, A=14), spec_3m)
    with pytest.raises(DatasetError, match=r"'state'.*expects \(2, 40, 48\)"):
        check_against(discrete_dataset(S=50), spec_3m)


def test_partial_read_and_data_dir(tmp_path, monkeypatch):
    path = write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good")
    raw = read_raw(path, timesteps=5)
    assert raw["observations"].shape == (2, 5, 3, 30) and raw["infos"]["legals"].shape == (2, 5, 3, 9)
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    monkeypatch.delenv("BENCH_DATA")
    assert "bench" in str(data_dir())


def test_cli_info_json(tmp_path, capsys):
    from benchmarks.cli import main

    path = write_dataset(discrete_dataset(), tmp_path / "3m.vlt" / "Good", metadata={"generator": "g", "seed": 3})
    assert main(["data", "info", str(path), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["episodes"] == 10 and card["transitions"] == 80 and card["agents"] == 3 and card["obs_dim"] == 30
    assert card["action_kind"] == "discrete" and card["action_dim"] == 9 and card["generator"] == "g"
    assert {"return_mean", "return_std", "return_min", "return_max"} <= set(card)
    assert main(["data", "verify", str(tmp_path)]) == 0
    assert main(["data", "info", str(tmp_path / "missing")]) == 2


def test_episode_returns_match_a_plain_loop():
    rng = np.random.default_rng(5)
    ds = discrete_dataset(B=3, T=50)
    ds.rewards = rng.normal(size=(3, 50)).astype(np.float32)
    ds.terminals = rng.random((3, 50)) < 0.1
    ds.truncations = rng.random((3, 50)) < 0.05
    ds.terminals[1] = False
    ds.truncations[1] = False  # a stream with no complete episode
    want = []
    for b in range(3):
        acc = 0.0
        for t in range(50):
            acc += float(ds.rewards[b, t])
            if ds.terminals[b, t] or ds.truncations[b, t]:
                want.append(acc)
                acc = 0.0
    np.testing.assert_allclose(ds.episode_returns(), want, rtol=1e-6, atol=1e-6)
    assert ds.summary()["episodes"] == len(want)


def test_vault_without_state_and_with_top_level_legals(tmp_path):
    exp = ogmarl_experience()
    legals = exp["infos"].pop("legals")
    del exp["infos"]
    exp["legals"] = legals
    ds = read_dataset(write_ogmarl_vault(tmp_path, exp, scenario="flat"))
    assert ds.state.shape == (2, 12, 0)
    np.testing.assert_array_equal(ds.legal, legals > 0)


def test_a_zip_or_file_is_not_a_vault(tmp_path):
    f = tmp_path / "3m.zip"
    f.write_bytes(b"PK")
    with pytest.raises(DatasetError, match="is a file, not a vault"):
        read_dataset(f)


def test_publish_never_merges_two_writers(tmp_path):
    from benchmarks.data.vault import _publish

    final = tmp_path / "Good"
    (final / "d").mkdir(parents=True)
    (final / "from_a").write_text("a")
    tmp = tmp_path / ".Good.partial"
    (tmp / "d").mkdir(parents=True)
    (tmp / "from_b").write_text("b")
    with pytest.raises(DatasetError, match="appeared"):
        _publish(tmp, final, overwrite=False)
    assert sorted(os.listdir(final)) == ["d", "from_a"]
    _publish(tmp, final, overwrite=True)
    assert sorted(os.listdir(final)) == ["d", "from_b"] and not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Good"]  # the old copy is gone


# ---- one copy of the data: sampling by index, a card from metadata ------------------------------------
def _per_agent_state_experience(replicated: bool):
    exp = ogmarl_experience()
    s = exp["infos"]["state"]
    per = np.repeat(s[:, :, None], 2, 2)
    if not replicated:
        per[:, :, 1] += 1.0
    exp["infos"]["state"] = per
    return exp


def _variants():
    """og-marl layouts that normalise differently: per-agent flags and -inf padding, no state and top-level
    legals, per-agent (replicated / agent-specific) state, no legal masks, continuous actions, and our writer."""
    flat = ogmarl_experience()
    flat["legals"] = flat["infos"].pop("legals")
    del flat["infos"]
    no_legals = ogmarl_experience()
    del no_legals["infos"]["legals"]
    cont = ogmarl_experience()
    cont["actions"] = np.random.default_rng(1).uniform(-1, 1, (2, 12, 2, 3)).astype(np.float32)
    cont["infos"]["legals"] = np.ones((2, 12, 2, 1), np.float32)
    return {"ogmarl": ogmarl_experience(), "flat": flat, "rep-state": _per_agent_state_experience(True),
            "agent-state": _per_agent_state_experience(False), "no-legals": no_legals, "continuous": cont}


@pytest.mark.parametrize("variant", sorted(_variants()))
def test_sampling_by_index_gives_exactly_the_materialised_transitions_and_windows(tmp_path, variant):
    """DeviceData (the dataset at one copy, index arrays) yields row for row what to_transitions / to_windows
    materialise, for every transition and every window length used by the sequence models."""
    import jax.numpy as jnp

    from benchmarks.data.device import DeviceData

    ds = read_dataset(write_ogmarl_vault(tmp_path, _variants()[variant]))
    # (length, past): past > 0 are MADiff's windows with an observation history (its `history` steps first)
    for length, past in ((1, 0), (2, 0), (4, 0), (9, 0), (9, 3), (14, 10)):
        rtg = 0.9 if length in (1, 9) else None  # the reward-to-go row (MADiff) when asked for
        dev = DeviceData.from_dataset(ds, length, rtg_discount=rtg, past=past)
        want = to_transitions(ds, rtg) if length == 1 else to_windows(ds, length, rtg, past=past)
        assert ("rtg" in want) == (rtg is not None) == (dev.rtg is not None)
        got = dev.batch_at(jnp.arange(dev.size))
        assert dev.size == len(want["reward"])
        for k, v in want.items():
            g = np.asarray(getattr(got, k))
            assert g.dtype == v.dtype, (length, k)
            np.testing.assert_array_equal(g, v, err_msg=f"{variant}, length {length}, past {past}, field {k}")
        if past:  # by hand: a window's step `past` is its own transition; the history before the episode's
            # first step repeats that step with valid 0 (MADiff's official padding, use_zero_padding=False)
            np.testing.assert_array_equal(np.asarray(got.obs[:, past]), np.asarray(dev.obs[dev.start]))
            ep_first = np.asarray(dev.first)
            for row in range(0, dev.size, 5):
                t0 = int(dev.start[row])
                for j in range(past):
                    t = t0 - past + j
                    assert float(got.valid[row, j]) == float(t >= ep_first[row]), (row, j)
                    np.testing.assert_array_equal(np.asarray(got.obs[row, j]),
                                                  np.asarray(dev.obs[max(t, ep_first[row])]))
    with pytest.raises(DatasetError, match="past"):
        DeviceData.from_dataset(ds, 4, past=4)


def test_returns_to_go_run_to_each_episode_end_and_never_past_it():
    """Known answer: R_t = r_t + gamma R_t+1 inside an episode, restarting after a terminal, a truncation and
    at the end of each stream (nothing bootstrapped past the data)."""
    from benchmarks.data.transitions import returns_to_go

    r = np.array([[1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1]], np.float32)
    term = np.array([[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], bool)
    trunc = np.array([[0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]], bool)
    g = 0.5
    want = np.array([[1 + g * 2, 2, 3 + g * 4, 4, 5 + g * 6, 6],
                     [1 + g + g**2 + g**3 + g**4 + g**5, 1 + g + g**2 + g**3 + g**4, 1 + g + g**2 + g**3, 1 + g + g**2,
                      1 + g, 1]])
    np.testing.assert_allclose(returns_to_go(r, term, trunc, g), want, rtol=1e-6)


def test_the_device_copy_of_a_read_vault_is_the_vault_itself_on_a_cpu(tmp_path):
    """Fields are read into 64-byte aligned arrays, which XLA's CPU client uses in place: no second copy."""
    import jax

    from benchmarks.data.device import DeviceData
    from benchmarks.data.transitions import is_aligned

    if jax.devices()[0].platform != "cpu":
        pytest.skip("zero-copy device arrays are a property of the CPU backend")
    ds = read_dataset(write_ogmarl_vault(tmp_path, ogmarl_experience()))
    assert is_aligned(ds.observations) and is_aligned(ds.state) and is_aligned(ds.legal)
    dev = DeviceData.from_dataset(ds)
    assert dev.obs.unsafe_buffer_pointer() == ds.observations.ctypes.data
    assert dev.state.unsafe_buffer_pointer() == ds.state.ctypes.data


@pytest.mark.parametrize("variant", sorted(_variants()))
def test_info_card_from_metadata_and_episode_ends_equals_the_full_read(tmp_path, variant):
    from benchmarks.data.vault import dataset_card, describe

    path = write_ogmarl_vault(tmp_path, _variants()[variant])
    ds = read_dataset(path)
    full = dataset_card(ds)
    full.update({k: ds.card[k] for k in ("path", "scenario", "quality")})
    fast = describe(path)
    assert fast.keys() == full.keys()
    for k, v in full.items():
        if isinstance(v, float):
            np.testing.assert_allclose(fast[k], v, rtol=1e-9, err_msg=k)
        else:
            assert fast[k] == v, k
