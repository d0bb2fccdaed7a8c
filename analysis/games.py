"""The MAC-Flow paper's games figures (Figs. 13-16; Fig. 3 is drawn from evaluation rows by analysis.figures).

These figures need samples of the trained policies, not only evaluation rows: the joint flow (stage I,
``sample_joint``) and the one-step policy (``sample_onestep``; deployment is ``act``). ``bench figures``
restores each run's last checkpoint from the store (``<run>/ckpt``, kept by every run) and samples it,
so nothing beyond what ``bench run`` writes is stored, and the figures follow the store. ``GAMES_RUNS``
lists the runs, and :func:`games_jobs` plans them at a budget (``bench figures --paper macflow --games``
trains the missing ones, then draws).

  fig13_landmarks.png     dataset / joint flow / one-step trajectories, 3, 10 and 40 agents (App. H.4)
  fig14_coordination.png  joint-action distributions: data, joint flow, one-step with IGM, w/o IGM (H.5)
  fig15_xor.png           data, joint flow, one-step policy (H.6)
  fig16_payoff.png        per zeta: distributions, expected returns, W2(joint, one-step) (H.7)

The budget of the command (``GAMES_BUDGET``): 1 000 gradient steps at batch 64 (App. H.4 trains the
landmark game 1 000 iterations at batch 64), 2 seeds, evaluation every 100 steps, and networks of width
[64, 64] instead of [512]x4 (the only shrunk setting; every figure says so). The one-step policy's
distribution is the push-forward of z ~ N(0, I) (Prop. 4.2); the games' deployment uses z = 0 (discrete)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from benchmarks.envs.games import PAYOFF_ZETAS

SAMPLES = 2000  # joint actions drawn per seed from each policy
ABLATION_KEYS = ("critic", "q_weight", "flow", "next_action", "mixer")  # overrides that make another method
LANDMARK_AGENTS = (3, 10, 40)
PAYOFF = tuple(f"games/payoff-{z:g}" for z in PAYOFF_ZETAS)
# (task, own overrides of the variant): what the games figures sample
GAMES_RUNS = tuple([(f"games/landmarks{'' if n == 3 else f'-{n}'}", {}) for n in LANDMARK_AGENTS]
                   + [("games/coordination", {}), ("games/coordination", {"critic": "independent"}),
                      ("games/xor", {})] + [(t, {}) for t in PAYOFF])


@dataclasses.dataclass(frozen=True)
class Budget:
    steps: int = 1000  # App. H.4: 1 000 iterations
    eval_every: int = 100
    eval_episodes: int = 100
    seeds: tuple = (0, 1)
    hidden: str = "64,64"  # the paper's [512]x4 shrunk for a CPU in minutes

    def text(self) -> str:
        return (f"{self.steps} gradient steps, batch 64, {len(self.seeds)} seeds, networks [{self.hidden}] "
                f"(paper [512]x4)")


GAMES_BUDGET = Budget()


def games_jobs(budget: Budget = GAMES_BUDGET) -> list:
    """The RunConfigs of the games figures at ``budget`` (the same command finds the same runs)."""
    import algorithms
    from benchmarks.training.plan import RunConfig

    cls = algorithms.get("macflow")
    jobs = []
    for task, own in GAMES_RUNS:
        # the plugin's suite preset, as `bench run` applies it (alpha on the discrete bandit games), the width
        # and the variant's own settings winning over it
        preset = {k: v for k, v in cls.preset_for(task).items() if k not in own and k != "hidden"}
        jobs.append(RunConfig("macflow", task, tuple(budget.seeds), budget.steps, budget.eval_every,
                              budget.eval_episodes, 64, {**preset, "hidden": budget.hidden, **own},
                              preset=tuple(preset)))
    return jobs


def find_run(data, task: str, own: dict):
    """The finished macflow run on ``task`` whose ablation overrides are exactly ``own`` (other overrides,
    e.g. the width, allowed): the one with the most steps, then the newest. None when there is none."""
    from benchmarks.store import Run

    runs = data.runs
    if runs.empty:
        return None
    cands = []
    for rid in runs.loc[(runs["algo"] == "macflow") & (runs["task"] == task) & (runs["status"] == "finished"), "run_id"]:
        run = Run(data.root, rid)
        over = run.spec().get("overrides") or {}
        if {k: str(v) for k, v in over.items() if k in ABLATION_KEYS} == {k: str(v) for k, v in own.items()}:
            if run.checkpoint_step() == run.spec().get("steps"):
                cands.append((run.spec().get("steps") or 0, run.final_path.stat().st_mtime, rid))
    return Run(data.root, max(cands)[2]) if cands else None


def _sweep(data, keyed_tasks, sample) -> dict:
    """{key: (sample(run), its budget)} over (key, task) pairs, for the tasks whose default macflow run exists."""
    out = {}
    for key, task in keyed_tasks:
        run = find_run(data, task, {})
        if run is not None:
            out[key] = (sample(run), _budget_of(run))
    return out


def _budget_of(run) -> str:
    spec = run.spec()
    hidden = (spec.get("config") or {}).get("hidden")
    width = "x".join(map(str, hidden)) if hidden else "?"
    return f"{spec.get('steps')} steps, batch {spec.get('batch_size')}, {len(spec.get('seeds') or ())} seeds, hidden {width}"


def restore(run):
    from benchmarks.training.reproduce import recorded_config
    from benchmarks.training.train import restore_trained

    return restore_trained(recorded_config(run.spec()), run.root)


def bandit_samples(run, n: int = SAMPLES) -> dict:
    """{"joint": [S, n, 2(, 1)], "onestep": [...], "act": [...]} per seed, and the dataset's joint actions."""
    import jax
    import jax.numpy as jnp

    from benchmarks.training.train import seed_slice

    cls, task, states = restore(run)
    spec = task.spec
    obs, legal = jnp.ones((n, spec.n_agents, spec.obs_dim)), jnp.ones((n, spec.n_agents, spec.legal_dim), bool)
    out = {"joint": [], "onestep": [], "act": []}
    fns = {"joint": jax.jit(cls.sample_joint), "onestep": jax.jit(cls.sample_onestep), "act": jax.jit(cls.act)}
    for i in range(len(run.spec()["seeds"])):
        st = seed_slice(states, i)
        for k, fn in fns.items():
            out[k].append(np.asarray(fn(st, obs, legal, jax.random.PRNGKey(100 + i))))
    out = {k: np.stack(v) for k, v in out.items()}
    ds = task.make_dataset(run.spec().get("data_seed", 0))
    out["data"] = np.asarray(ds.actions).reshape((-1,) + np.asarray(ds.actions).shape[2:])
    out["reward"] = task.make_env().reward
    return out


def landmark_rollouts(run, episode_seed: int = 0) -> dict:
    """Positions [T+1, N, 2] of one episode (the same start) under the joint flow and the one-step policy of
    seed 0, and of the dataset's first episode."""
    import jax
    import jax.numpy as jnp

    from benchmarks.training.train import seed_slice

    cls, task, states = restore(run)
    st = seed_slice(states, 0)
    env = task.make_env()
    out = {}
    for name, fn in (("joint flow", cls.sample_joint), ("one-step policy", cls.sample_onestep)):
        f = jax.jit(fn)
        (pos, t), obs, legal, _ = env.reset(jax.random.PRNGKey(episode_seed))
        traj = [np.asarray(pos)]
        for k in range(task.spec.episode_length):
            a = f(st, obs[None], legal[None], jax.random.PRNGKey(1000 + k))[0]
            (pos, t), obs, legal, _, _, _, _ = env.step((pos, t), a, None)
            traj.append(np.asarray(pos))
        out[name] = np.stack(traj)
    ds = task.make_dataset(run.spec().get("data_seed", 0))
    out["dataset"] = np.asarray(ds.observations)[0, :, :, :2]
    out["landmarks"] = env.landmarks
    return out


# ---- drawing ------------------------------------------------------------------------------------------------
def write_games_figures(data, out: Path, store: str = "") -> tuple[list, list]:
    """([written], [missing]) for Figs. 13-16 from the runs in ``data`` (analysis.load.StoreData)."""
    from analysis import plots

    cmd = f"`bench figures --paper macflow --games{store}`"
    written, missing = [], []
    lm = _sweep(data, [(n, f"games/landmarks{'' if n == 3 else f'-{n}'}") for n in LANDMARK_AGENTS], landmark_rollouts)
    if lm:
        written.append(plots.landmark_trajectories(lm, out / "fig13_landmarks.png"))
    if len(lm) < len(LANDMARK_AGENTS):
        missing.append(f"Figure 13 (landmark trajectories): {'only ' + ', '.join(map(str, lm)) if lm else 'no'} "
                       f"agent count(s) of {', '.join(map(str, LANDMARK_AGENTS))} trained; run {cmd}")
    igm, no_igm = find_run(data, "games/coordination", {}), find_run(data, "games/coordination", {"critic": "independent"})
    if igm is not None and no_igm is not None:
        a, b = bandit_samples(igm), bandit_samples(no_igm)
        written.append(plots.coordination_distributions(a, b, out / "fig14_coordination.png",
                                                        _budget_of(igm)))
    else:
        missing.append(f"Figure 14 (coordination game): needs macflow and macflow[critic=independent] on "
                       f"games/coordination; run {cmd}")
    xor = find_run(data, "games/xor", {})
    if xor is not None:
        written.append(plots.xor_samples(bandit_samples(xor), out / "fig15_xor.png", _budget_of(xor)))
    else:
        missing.append(f"Figure 15 (XOR): needs macflow on games/xor; run {cmd}")
    pay = _sweep(data, zip(PAYOFF_ZETAS, PAYOFF), bandit_samples)
    if pay:
        written.append(plots.payoff_sweep(pay, out / "fig16_payoff.png"))
    if len(pay) < len(PAYOFF_ZETAS):
        missing.append(f"Figure 16 (payoff sweep): {len(pay)} of {len(PAYOFF_ZETAS)} interaction strengths "
                       f"trained; run {cmd}")
    return written, missing
