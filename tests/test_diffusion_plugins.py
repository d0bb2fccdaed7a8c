"""Diffusion BC, MADiff (-c / -d) and DoF: the DDPM pieces, per-decision cost scaling, expressiveness on
the xor game, and cost-override handling. The registry-driven contract tests (tests/test_contract.py)
cover the rest of the contract for these plugins."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
from algorithms.diffusion import ddpm_sample, make_schedule
from algorithms.nets import count_nfe, nfe_tag
from benchmarks.envs.games import COORD_REWARD, Landmarks
from algorithms.errors import ConfigError
from benchmarks.tasks import get_task
from benchmarks.training.train import init_states, load_data, make_chunk
from tests.learning import factorised_on_xor, xor_stats

DDPM_PLUGINS = ("diffusionbc", "madiff-c", "madiff-d", "dof")


# ---- the shared DDPM ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddpm_sampler_with_the_exact_noise_model_recovers_the_data(kind):
    """For Gaussian data N(mu, s^2) the optimal eps predictor is known in closed form; 200 ancestral
    steps with it must give back the data distribution (checks schedule, posterior and loop)."""
    sched = make_schedule(kind, 200)
    assert np.all(np.diff(np.asarray(sched.abar)) < 0) and float(sched.abar[-1]) < 1e-2
    mu, s = 0.3, 0.2

    def eps(x, k):
        ab = sched.abar[k]
        return nfe_tag(jnp.sqrt(1 - ab) * (x - jnp.sqrt(ab) * mu) / (ab * s**2 + 1 - ab))

    x = ddpm_sample(eps, sched, jax.random.normal(jax.random.PRNGKey(0), (20_000, 1)), jax.random.PRNGKey(1), clip=None)
    assert abs(float(x.mean()) - mu) < 0.01
    assert abs(float(x.std()) - s) < 0.02
    assert count_nfe(lambda z: ddpm_sample(eps, sched, z, jax.random.PRNGKey(1)), jnp.zeros((4, 1))) == 200


# ---- per-decision work: madiff-d grows with N, dof does not (MAC-Flow Table 3) -------------------------
def _act_flops(name, n_agents):
    cls = algorithms.get(name)
    spec = Landmarks(n_agents).spec
    cfg = cls.make_config({"dim": 16, "dim_mults": (1, 2), "inv_hidden": (32, 32)})
    state = jax.eval_shape(lambda k: cls.init(k, spec, cfg), jax.random.PRNGKey(0))  # shapes suffice
    obs = jnp.zeros((1, n_agents, spec.obs_dim))
    legal = jnp.ones((1, n_agents, 1), bool)
    lowered = jax.jit(cls.act).lower(state, obs, legal, jax.random.PRNGKey(0))
    # XLA's HLO cost analysis (the same numbers as lowered.compile().cost_analysis() without paying for
    # the compilation); the denoising loop's body is counted once, which is what a per-step comparison needs
    analysis = lowered.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])


def test_per_agent_work_grows_with_agents_for_madiff_d_and_not_for_dof():
    per_agent = {name: {n: _act_flops(name, n) / n for n in (2, 4, 8)} for name in ("madiff-d", "dof")}
    print("\nFLOPs per agent per decision (one denoising step + inverse dynamics):")
    for name, row in per_agent.items():
        print(f"  {name:9s} " + "  ".join(f"N={n}: {v:.3g}" for n, v in row.items()))
    md, dof = per_agent["madiff-d"], per_agent["dof"]
    # madiff-d: every agent denoises the joint N-agent trajectory -> per-agent work ~ N (ideal ratios 2, 4)
    assert md[4] / md[2] > 1.6 and md[8] / md[2] > 3.0
    # dof: every agent denoises only its own slice -> per-agent work flat (obs_dim grows with N here,
    # 2 + 2N, which only touches the first and last convolutions)
    assert dof[8] / dof[2] < 1.5


def test_act_runs_the_unet_over_the_history_and_the_planned_steps():
    """``act`` (what ``bench latency`` times) is one decision with a fresh observation history, so its U-Net
    runs over history + H steps: 20 + 8 = 28 at the default, 3.5 x the convolution work of history 0; the
    acting carry keeps the last ``history`` observations, oldest first."""
    from algorithms.madiff import HORIZON

    cls = algorithms.get("madiff-c")
    with_history = _act_flops("madiff-c", 3)
    cfg = cls.make_config({"dim": 16, "dim_mults": (1, 2), "inv_hidden": (32, 32), "history": 0})
    spec = Landmarks(3).spec
    state = jax.eval_shape(lambda k: cls.init(k, spec, cfg), jax.random.PRNGKey(0))
    lowered = jax.jit(cls.act).lower(state, jnp.zeros((1, 3, spec.obs_dim)), jnp.ones((1, 3, 1), bool),
                                     jax.random.PRNGKey(0))
    analysis = lowered.cost_analysis()
    without = float((analysis[0] if isinstance(analysis, (list, tuple)) else analysis)["flops"])
    assert cls.Config().history == 20 and cls.window(cls.Config()) == (20, 20 + HORIZON)
    assert 2.5 < with_history / without < 4.0, (with_history, without)
    # the carry: history copies of the first observation, then shifted by one step per decision
    state = cls.init(jax.random.PRNGKey(0), spec, cls.make_config({"dim": 8, "dim_mults": (1,), "history": 3}))
    o = [jnp.full((2, 3, spec.obs_dim), float(i)) for i in range(3)]
    carry = cls.act_carry_init(state, o[0], jnp.ones((2, 3, 1), bool))
    assert carry.shape == (2, 3, 3, spec.obs_dim) and float(jnp.abs(carry).max()) == 0.0
    step = jax.jit(cls.act_step)
    for i in (0, 1, 2):
        a, carry = step(state, carry, o[i], jnp.ones((2, 3, 1), bool), jax.random.PRNGKey(i))
        assert a.shape == (2, 3, 2)
    np.testing.assert_array_equal(np.asarray(carry[0, 0, :, 0]), [0.0, 1.0, 2.0])


# ---- expressiveness on xor ------------------------------------------------------------------------------
def _train_and_sample(name, overrides, steps, n=400, batch=128):
    """Train one seed of ``name`` on xor, then sample ``n`` joint actions: ([n, 2] actions, final metrics)."""
    cls = algorithms.get(name)
    task = get_task("games/xor")
    cfg = cls.make_config(overrides)

    class _RC:  # the trainer's own data path (windows for the trajectory models)
        dataset, data_seed = None, 0

    _, data = load_data(task, cls, _RC, cfg)
    states = init_states(cls, task.spec, cfg, (0,))
    states, metrics = make_chunk(cls, batch, steps)(states, jax.random.PRNGKey(1)[None], data)
    state = jax.tree.map(lambda x: x[0], states)
    obs = jnp.ones((n, 2, 1))
    a = jax.jit(cls.act)(state, obs, jnp.ones((n, 2, 1), bool), jax.random.PRNGKey(2))
    return np.asarray(a)[..., 0], {k: float(v[0]) for k, v in metrics.items()}


# ---- the U-Net planners on xor: joint planning executed centrally or agent by agent --------------------------
# Slow, and away from the defaults (lr 1e-3, 600 steps; at the default lr 2e-4 with U-Net dim 8 the planners had not
# reached xor's modes after 3 000 steps, median |a| 0.70): what joint planning can represent, which an independent
# sampler cannot. (That DoF's and MADiff-D's agents sample independently here is what any independent sampler
# does, so no test asserts it.) The planners' default-run test is return guidance at their defaults (below).
PLANNER_XOR = {"dim": 16, "dim_mults": (1, 2), "inv_dyn": False, "history": 0, "lr": 1e-3}


@pytest.mark.slow
def test_xor_joint_model_madiff_c_reproduces_both_anti_aligned_modes():
    """MADiff-C denoises both agents' (action, observation) trajectories jointly, with attention across
    agents, so it can represent the coupled modes (-0.9, 0.9) / (0.9, -0.9). xor observations are
    constant, so actions are diffused inside the trajectory (inv_dyn=False, the official code's other
    mode); an inverse-dynamics model cannot see actions in constant observations."""
    a, m = _train_and_sample("madiff-c", PLANNER_XOR, 600)
    st = xor_stats(a)
    print("\nmadiff-c on xor:", st, m)
    assert st["anti_aligned"] > 0.75, st
    assert min(st["mode_fractions"]) > 0.15, st


# Diffusion BC at its defaults (lr 3e-4, K = 200), width [64, 64], 1 500 steps (600 at lr 1e-3 before). Measured
# (2 seeds, 1 000 steps): 0.98-0.99 of each marginal beyond 0.5, median |a| 0.88-0.90, 0.39-0.50 positive, same
# sign 0.52. Slow: its default-run test, with a broken variant, is the sampler test on games/stitch
# (tests/test_known_answer.py).
@pytest.mark.slow
def test_xor_diffusionbc_gives_bimodal_marginals_but_independent_agents():
    """Diffusion BC (independent noise per agent) samples each agent from its own distribution, so the joint
    samples are the PRODUCT of the marginals: each agent is bimodal at the data's +-0.9 (asserted: most mass
    beyond 0.5, the median |a| at 0.9, not at the mean 0 nor the action bound), but the agents do not coordinate:
    about half the samples land on the aligned, zero-density points (0.9, 0.9) / (-0.9, -0.9). The claim
    "reproduces both anti-aligned modes" belongs to joint models executed centrally (madiff-c above)."""
    name = "diffusionbc"
    a, m = _train_and_sample(name, {"hidden": (64, 64)}, 1500)
    st = xor_stats(a)
    print(f"\n{name} on xor:", st, m)
    assert not factorised_on_xor(st), factorised_on_xor(st)


# ---- return conditioning and guidance: the planners' default-run learning test ---------------------------
GUIDANCE_STEPS = 4000  # at the default lr 2e-4, so the EMA (from step 2 000) is what the planners execute with


# all three in the default run, a test (and an xdist group) each: one U-Net training each, 2-4 min of a worker
# under load (measured alone: madiff-c 231 s, madiff-d 233 s, dof 141 s)
@pytest.mark.parametrize("name", ["madiff-c", "madiff-d", "dof"])
def test_return_guidance_plays_the_payoff_games_optimum_and_not_without_the_condition(name):
    """games/payoff-0.5 (MAC-Flow App. H.7): team reward (1,1) = 2, (1,0) = (0,1) = 1, (0,0) = 0; the data is 25%
    of each joint action. Known answers: the optimum is 2; behaviour cloning (each agent's marginal, P(a_i = 1) =
    0.5) and uniform random give 1.0. Each planner conditions on a high return (test_ret 0.9 of the data's range,
    classifier-free guidance w = 1.2): MADiff-C with one chain for the team (centralised), MADiff-D with a chain
    per agent over the joint trajectory from its own observation (each keeps its own slice, so the agents
    coordinate only if every chain imagines (1, 1)), DoF with per-agent factorised chains, each conditioned on its
    own return. Pass: mean return > 1.6. The broken variant: the same trained model sampled without the return
    condition (w = 0, the unconditional branch, what return conditioning adds removed), which samples the data's
    marginals. Measured (madiff-c, seeds 0, 1): 1.916, 1.906 guided (P(a_i = 1) 0.95), 0.742, 0.804 at w = 0. At
    U-Net dim 8 and the default lr the condition was not learned after 8 000 steps (coordination; payoff-0.5
    after 4 000: guided and unguided 1.0).

    At their defaults (K = 200 DDPM steps, w = 1.2, test_ret 0.9, dropout 0.25, EMA from step 2 000 every 10,
    lr 2e-4) with the games preset of ``bench run`` (U-Net dim 32, mults (1, 2), the paper's 128, (1, 4, 8); action
    diffusion, the bandit's observation being constant; history 0); GUIDANCE_STEPS updates, one seed."""
    cls = algorithms.get(name)
    task = get_task("games/payoff-0.5")
    over = cls.preset_for("games/payoff-0.5")
    assert over == {"dim": 32, "dim_mults": (1, 2), "inv_dyn": False, "history": 0}
    cfg = cls.make_config(over)
    assert cfg.diffusion_steps == 200 and cfg.guidance_w == 1.2 and cfg.test_ret == 0.9 and cfg.lr == 2e-4

    class _RC:
        dataset, data_seed = None, 0

    _, data = load_data(task, cls, _RC, cfg)
    states, _ = make_chunk(cls, 64, GUIDANCE_STEPS)(init_states(cls, task.spec, cfg, (0,)), jax.random.PRNGKey(1)[None], data)
    state = jax.tree.map(lambda x: x[0], states)
    obs, legal = jnp.ones((200, 2, 1)), jnp.ones((200, 2, 2), bool)  # 200 joint samples
    reward = jnp.asarray(COORD_REWARD)

    def mean_return(st):
        a = jax.jit(cls.act)(st, obs, legal, jax.random.PRNGKey(3))
        return float(reward[a[:, 0], a[:, 1]].mean()), np.asarray(a).mean(0).round(2).tolist()

    guided, p_guided = mean_return(state)
    unguided, p_unguided = mean_return(state.replace(cfg=cls.make_config({**over, "guidance_w": 0.0})))
    print(f"\n{name} on payoff-0.5: mean return {guided:.3f} guided (P(a_i = 1) {p_guided}), {unguided:.3f} at w = 0 "
          f"({p_unguided})")
    assert guided > 1.6, guided  # BC 1.0, random 1.0, optimum 2
    assert unguided <= 1.6, unguided  # the broken variant: the data's marginals


# ---- bad input: cost-changing settings -----------------------------------------------------------------
@pytest.mark.parametrize("name", DDPM_PLUGINS)
def test_fewer_denoising_steps_need_an_explicit_override(name):
    cls = algorithms.get(name)
    assert cls.Config().diffusion_steps == 200 and "diffusion_steps" in cls.cost_defining
    spec = get_task("games/landmarks").spec
    assert cls.cost(spec, cls.Config()).nfe == 200 + (0 if name == "diffusionbc" else 1)
    with pytest.raises(ConfigError, match="allow-cost-override"):
        cls.make_config({"diffusion_steps": "20"})
    cfg = cls.make_config({"diffusion_steps": "20"}, allow_cost_override=True)
    assert cls.cost(spec, cfg).nfe == 20 + (0 if name == "diffusionbc" else 1)


def test_cli_rejects_a_cost_override_unless_allowed(tmp_path):
    from benchmarks.cli import build_parser
    from benchmarks.training.plan import plan_jobs

    # diffusion_bc: the plugin's old name, still accepted as an alias of diffusionbc
    argv = ["run", "--suite", "games", "--tasks", "xor", "--algos", "diffusion_bc,madiff-d,dof",
            "--set", "diffusion_steps=20", "--results", str(tmp_path)]
    with pytest.raises(ConfigError, match="allow-cost-override"):
        plan_jobs(build_parser().parse_args(argv))
    jobs = plan_jobs(build_parser().parse_args(argv + ["--allow-cost-override"]))
    assert {j.algo for j in jobs} == {"diffusionbc", "madiff-d", "dof"} and all(j.allow_cost_override for j in jobs)
    # what the trainer records of a cost override: tests/test_train.py::test_cost_overrides_are_recorded
    cls = algorithms.get("diffusionbc")
    cfg = cls.make_config({"diffusion_steps": 20}, allow_cost_override=True)
    assert cls.cost(get_task("games/xor").spec, cfg).nfe == 20


# ---- MADiff's return condition: the reward-to-go to the episode's end ----------------------------------
@pytest.mark.parametrize("name", ["madiff-c", "madiff-d", "dof"])
def test_planners_condition_on_the_reward_to_go_to_the_episode_end(name):
    """On landmarks (25-step episodes, per-step team rewards) the trainer's windows carry the discounted
    reward-to-go (gamma = the plugin's discount, 0.99) from each window's first step to its episode's end
    (checked against a by-hand sum over the episode), and that is what the planner conditions on by
    default; ``return_condition="window"`` is the old 8-step window return, a different number."""
    from algorithms.madiff import HORIZON, Planner

    cls = algorithms.get(name)
    task = get_task("games/landmarks")
    cfg = cls.default_config()
    assert cfg.return_condition == "episode" and cls.rtg_discount(cfg) == cfg.discount == 0.99

    class _RC:
        dataset, data_seed = None, 0

    ds, data = load_data(task, cls, _RC, cfg)
    rows = jnp.arange(0, 50, 7)
    batch = data.batch_at(rows)
    r, ends = ds.rewards.reshape(-1), (ds.terminals | ds.truncations).reshape(-1)
    for row, t in enumerate(np.asarray(data.start[rows])):
        end = t + int(np.argmax(ends[t:]))
        want = sum(0.99 ** (u - t) * r[u] for u in range(t, end + 1))
        np.testing.assert_allclose(float(Planner._return(cfg, batch)[row]), want, rtol=1e-5)
    window = Planner._return(cls.make_config({"return_condition": "window"}), batch)
    assert batch.reward.shape[1] == cfg.history + HORIZON == 28  # 20 past steps (the default history) + 8 planned
    assert float(jnp.abs(window - Planner._return(cfg, batch)).max()) > 0.1
    with pytest.raises(ConfigError, match="reward-to-go"):
        Planner._return(cfg, batch.replace(rtg=None))


# ---- the planners' EMA and DoF's W-concat ----------------------------------------------------------------
PLANNER_TINY = {"dim": 8, "dim_mults": (1,), "inv_dyn": False, "history": 0}  # the EMA's defaults unchanged


def _coordination_windows(cls, cfg):
    class _RC:
        dataset, data_seed = None, 0

    return load_data(get_task("games/coordination"), cls, _RC, cfg)[1]


def test_planner_ema_copies_until_its_start_step_then_averages_every_ema_every_steps():
    """MADiff trainer: before step ``ema_start`` (2 000) the EMA is the parameters; from it, every ``ema_every``
    (10) steps ema <- decay ema + (1 - decay) params (decay 0.995), unchanged in between; execution plans with
    the EMA. Checked from a state at step 1 998 (no test trains 2 000 steps of the U-Net by default)."""
    from algorithms.nets import polyak

    cls = algorithms.get("madiff-c")
    cfg = cls.make_config(PLANNER_TINY)
    assert (cfg.ema_start, cfg.ema_every, cfg.ema_decay) == (2000, 10, 0.995)
    task = get_task("games/coordination")
    state = cls.init(jax.random.PRNGKey(0), task.spec, cfg)
    state = state.replace(step=jnp.asarray(1998, jnp.int32))
    batch = _coordination_windows(cls, cfg).sample(jax.random.PRNGKey(1), 32)
    update = jax.jit(cls.update)
    leaves = lambda t: jax.tree.leaves(t)
    same = lambda a, b: all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves(a), leaves(b)))
    close = lambda a, b: all(np.allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7) for x, y in zip(leaves(a), leaves(b)))
    history = []
    for i in range(13):  # steps 1 999 .. 2 011
        prev = state
        state, _ = update(state, batch, jax.random.PRNGKey(10 + i))
        history.append((int(state.step), prev, state))
    for step, prev, now in history:
        assert not same(now.params, prev.params), step  # the parameters move every step
        if step < 2000:
            assert same(now.target["ema"], now.params), f"step {step}: the EMA must be a copy before ema_start"
        elif step % 10 == 0:
            assert close(now.target["ema"], polyak(prev.target["ema"], now.params, 0.005)), f"step {step}: no EMA update"
            assert not same(now.target["ema"], now.params)
        else:
            assert same(now.target["ema"], prev.target["ema"]), f"step {step}: the EMA moved between its updates"
    # execution uses the EMA: replacing the online parameters changes no action, replacing the EMA does
    obs, legal = jnp.ones((16, 2, 1)), jnp.ones((16, 2, 2), bool)
    act = jax.jit(cls.act)
    a = np.asarray(act(state, obs, legal, jax.random.PRNGKey(5)))
    noise = lambda t: jax.tree.map(lambda x: x + 0.5 * jax.random.normal(jax.random.PRNGKey(6), x.shape), t)
    np.testing.assert_array_equal(np.asarray(act(state.replace(params=noise(state.params)), obs, legal, jax.random.PRNGKey(5))), a)
    x = lambda s: np.asarray(cls.plan(s, jnp.zeros((16, 2, 0, 1)), obs, jax.random.PRNGKey(5)))
    assert not np.allclose(x(state.replace(target={"ema": noise(state.target["ema"])})), x(state))


def test_dof_w_concat_weighs_each_agents_predicted_noise_and_learns_the_weights():
    """W-concat on (the default): agent i's predicted noise is w_i / mean_j w_j times the shared U-Net's
    (normalised, so w = 1 is plain concatenation), and w is trained; off (``w_concat=False``, plain Concat): no
    weights, the U-Net's prediction itself. Known values with w = (1, 3): factors 0.5 and 1.5."""
    from algorithms.madiff import Planner

    cls = algorithms.get("dof")
    task = get_task("games/coordination")
    on = cls.make_config(PLANNER_TINY)
    off = cls.make_config({**PLANNER_TINY, "w_concat": False})
    assert on.w_concat is True and cls.Config().w_concat is True
    st_on = cls.init(jax.random.PRNGKey(0), task.spec, on)
    st_off = cls.init(jax.random.PRNGKey(0), task.spec, off)
    assert "agent_w" not in st_off.params and np.array_equal(np.asarray(st_on.params["agent_w"]), [1.0, 1.0])
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 2, 8, 3))
    k, ret, on_ = jnp.full((4,), 50), jnp.full((4, 2), 0.9), jnp.ones((4,))
    eps = lambda cfg, params: np.asarray(cls._eps(task.spec, cfg, params, x, k, ret, on_))
    plain = eps(off, st_on.params)  # the same U-Net parameters, W-concat off
    np.testing.assert_allclose(eps(on, st_on.params), plain, rtol=1e-6)  # w = 1: plain concatenation
    weighted = eps(on, {**st_on.params, "agent_w": jnp.array([1.0, 3.0])})
    np.testing.assert_allclose(weighted[:, 0], 0.5 * plain[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weighted[:, 1], 1.5 * plain[:, 1], rtol=1e-5, atol=1e-6)
    assert issubclass(cls, Planner)
    # the weights are learned: a few updates move them off 1
    batch = _coordination_windows(cls, on).sample(jax.random.PRNGKey(2), 32)
    update = jax.jit(cls.update)
    st = st_on
    for i in range(5):
        st, _ = update(st, batch, jax.random.PRNGKey(i))
    assert float(jnp.abs(st.params["agent_w"] - 1.0).max()) > 1e-4, st.params["agent_w"]
