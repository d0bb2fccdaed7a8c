"""The MAC-Flow paper's games figures (Figs. 13-16; Fig. 3 is drawn from evaluation rows by analysis.figures), and
the paper's claims about each, measured (:class:`Claim`).

These figures need samples of the trained policies, not only evaluation rows: the joint flow (stage I,
``sample_joint``) and the one-step policy (``sample_onestep``; deployment is ``act``). ``bench figures``
restores each run's last checkpoint from the store (``<run>/ckpt``, kept by every run) and samples it,
so nothing beyond what ``bench run`` writes is stored, and the figures follow the store. ``Budget.runs``
lists the runs, and :func:`games_jobs` plans them (``bench figures --paper macflow --games`` trains the missing
ones, then draws).

  fig13_landmarks.png     dataset / joint flow / one-step trajectories, 3, 10 and 40 agents, with each row's
                          coverage of the landmarks at the end of an episode (App. H.4)
  fig14_coordination.png  joint-action distributions: data, joint flow, one-step with IGM, w/o IGM (H.5)
  fig15_xor.png           data, joint flow, one-step policy (H.6)
  fig16_payoff.png        per zeta: distributions, expected returns, W2(joint, one-step) (H.7)

The budget (``GAMES_BUDGET``, :class:`Budget`): 1 000 gradient steps at batch 64, 2 seeds, evaluation every 100
steps; the landmark game at App. H.4's settings (50 trajectories, the paper's [512]x4 networks) and XOR at the
paper's networks, the discrete bandit games with the games preset's [64, 64] (every figure names its budget). The one-step policy's distribution is
the push-forward of z ~ N(0, I) (Prop. 4.2); the games' deployment uses z = 0 (discrete)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from benchmarks.envs.games import LANDMARK_RADIUS, PAYOFF_ZETAS

SAMPLES = 2000  # joint actions drawn per seed from each policy
COVERAGE_EPISODES = 20  # episodes per seed over which Fig. 13's coverage is averaged
ABLATION_KEYS = ("critic", "q_weight", "flow", "next_action", "mixer")  # overrides that make another method
LANDMARK_AGENTS = (3, 10, 40)
PAPER_SIZE = ("games/landmarks", "games/xor")  # the games run at the paper's networks (see Budget)
PAYOFF = tuple(f"games/payoff-{z:g}" for z in PAYOFF_ZETAS)


@dataclasses.dataclass(frozen=True)
class Budget:
    """What ``bench figures --paper macflow --games`` trains. The landmark game (Fig. 3, Fig. 13) runs at App.
    H.4's settings: 1 000 iterations at batch 64 on a dataset of 50 trajectories, with the paper's networks
    [512]x4 (App. E, G.4), and so does XOR (Fig. 15: at [64, 64] its joint flow smeared the two modes into the
    segment between them, 57% of its samples at a mode against 95% at [512]x4); the discrete bandit games
    (Figs. 14, 16) keep the games preset's [64, 64], at which their claims show (docs/paper-figures.md)."""

    steps: int = 1000  # App. H.4: 1 000 iterations
    eval_every: int = 100
    eval_episodes: int = 100
    seeds: tuple = (0, 1)
    hidden: str = "64,64"  # the discrete bandit games' networks (the games preset; the paper gives none for them)
    paper_hidden: str = ""  # the landmark game's and XOR's; "": the paper's [512]x4 (MAC-Flow App. E, G.4)
    trajectories: int = 50  # App. H.4: an offline dataset of 50 trajectories

    def landmark_task(self, n: int) -> str:
        return f"games/landmarks-{n}-{self.trajectories}traj"

    def runs(self) -> tuple:
        """(task, own overrides of the variant) of every run the games figures sample."""
        return tuple([(self.landmark_task(n), {}) for n in LANDMARK_AGENTS]
                     + [("games/coordination", {}), ("games/coordination", {"critic": "independent"}),
                        ("games/xor", {})] + [(t, {}) for t in PAYOFF])

    def width(self, task: str) -> str:
        """The ``hidden`` override of a run on ``task`` ("": none, the paper's networks)."""
        return self.paper_hidden if task.startswith(PAPER_SIZE) else self.hidden

    def text(self) -> str:
        width = f"[{self.paper_hidden}]" if self.paper_hidden else "[512]x4 (paper)"
        return (f"{self.steps} gradient steps, batch 64, {len(self.seeds)} seeds; landmark game ({self.trajectories} "
                f"trajectories) and XOR: networks {width}; coordination and payoff: networks [{self.hidden}]")


GAMES_BUDGET = Budget()
GAMES_RUNS = GAMES_BUDGET.runs()


def games_jobs(budget: Budget = GAMES_BUDGET) -> list:
    """The RunConfigs of the games figures at ``budget`` (the same command finds the same runs)."""
    import algorithms
    from benchmarks.training.plan import RunConfig

    cls = algorithms.get("macflow")
    jobs = []
    for task, own in budget.runs():
        # the plugin's suite preset, as `bench run` applies it (alpha on the discrete bandit games), the width
        # and the variant's own settings winning over it
        preset = {k: v for k, v in cls.preset_for(task).items() if k not in own and k != "hidden"}
        width = budget.width(task)
        fig3 = {"fig3_diagnostics": True} if task == budget.landmark_task(3) else {}  # Fig. 3's (b) and (d)
        jobs.append(RunConfig("macflow", task, tuple(budget.seeds), budget.steps, budget.eval_every,
                              budget.eval_episodes, 64, {**preset, **({"hidden": width} if width else {}), **fig3, **own},
                              preset=tuple(preset)))
    return jobs


def landmark_task_ids(n: int, data=None) -> tuple:
    """Task ids of the landmark game with ``n`` agents: App. H.4's 50 trajectories first, then the default dataset,
    then any other number of trajectories the store (``data``) has runs on."""
    import re

    base = "games/landmarks" if n == 3 else f"games/landmarks-{n}"
    pattern = rf"games/landmarks{'(-3)?' if n == 3 else f'-{n}'}(-\d+traj)?"
    seen = [] if data is None or data.runs.empty else sorted(t for t in set(data.runs["task"]) if re.fullmatch(pattern, t))
    return tuple(dict.fromkeys((GAMES_BUDGET.landmark_task(n), base, *seen)))


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


def find_landmark_run(data, n: int):
    """The finished default macflow run of the landmark game with ``n`` agents: on App. H.4's 50 trajectories if
    there is one, else on the task's default dataset."""
    for task in landmark_task_ids(n, data):
        run = find_run(data, task, {})
        if run is not None:
            return run
    return None


def coverage(final, landmarks) -> tuple:
    """Fig. 13's coverage of end-of-episode positions ``final`` [E, N, 2]: (mean over episodes and landmarks of the
    distance from a landmark to its nearest agent, fraction of landmarks whose nearest agent is within half the
    distance between neighbouring landmarks, R sin(pi / N), i.e. closer to it than to any other landmark's spot)."""
    final, landmarks = np.asarray(final, float), np.asarray(landmarks, float)
    d = np.linalg.norm(final[:, None, :, :] - landmarks[None, :, None, :], axis=-1).min(-1)  # [E, L]
    half = LANDMARK_RADIUS * np.sin(np.pi / len(landmarks))
    return float(d.mean()), float((d < half).mean())


def _final_positions(env, fn, state, key, episodes: int):
    """End positions [E, N, 2] of ``episodes`` episodes of policy ``fn`` (a sampler of macflow), one jitted program."""
    import jax

    def one(k):
        k_reset, k_run = jax.random.split(k)
        (pos, t), obs, legal, _ = env.reset(k_reset)

        def body(c, kk):
            pos, t, obs, legal = c
            a = fn(state, obs[None], legal[None], kk)[0]
            (pos, t), obs, legal, _, _, _, _ = env.step((pos, t), a, None)
            return (pos, t, obs, legal), None

        (pos, _, _, _), _ = jax.lax.scan(body, (pos, t, obs, legal), jax.random.split(k_run, env.spec.episode_length))
        return pos

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, episodes)))


POLICIES = (("joint flow", "sample_joint"), ("one-step policy", "sample_onestep"))


def landmark_rollouts(run, episode_seed: int = 0, episodes: int = COVERAGE_EPISODES) -> dict:
    """Positions [T+1, N, 2] of one episode (the same start) under the joint flow and the one-step policy of
    seed 0, and of the dataset's first episode; and ``coverage``: {"dataset" | "start" | policy: (mean distance,
    fraction covered)} of :func:`coverage` over the dataset's episodes, their start positions, and ``episodes``
    fresh episodes per seed of each policy (all seeds pooled)."""
    import jax

    from benchmarks.envs.games import LANDMARK_DT
    from benchmarks.training.train import seed_slice

    cls, task, states = restore(run)
    env = task.make_env()
    out, cov = {}, {}
    for name, attr in POLICIES:
        fn = getattr(cls, attr)
        f = jax.jit(fn)
        st = seed_slice(states, 0)
        (pos, t), obs, legal, _ = env.reset(jax.random.PRNGKey(episode_seed))
        traj = [np.asarray(pos)]
        for k in range(task.spec.episode_length):
            a = f(st, obs[None], legal[None], jax.random.PRNGKey(1000 + k))[0]
            (pos, t), obs, legal, _, _, _, _ = env.step((pos, t), a, None)
            traj.append(np.asarray(pos))
        out[name] = np.stack(traj)
        finals = [_final_positions(env, fn, seed_slice(states, i), jax.random.PRNGKey(2000 + i), episodes)
                  for i in range(len(run.spec()["seeds"]))]
        cov[name] = coverage(np.concatenate(finals), env.landmarks)
    ds = task.make_dataset(run.spec().get("data_seed", 0))
    obs, acts = np.asarray(ds.observations), np.asarray(ds.actions)
    out["dataset"] = obs[0, :, :, :2]
    cov["dataset"] = coverage(np.clip(obs[:, -1, :, :2] + LANDMARK_DT * np.clip(acts[:, -1], -1, 1), -1, 1), env.landmarks)
    cov["start"] = coverage(obs[:, 0, :, :2], env.landmarks)
    out["landmarks"] = env.landmarks
    out["coverage"] = cov
    return out


# ---- the papers' claims, measured -----------------------------------------------------------------------------
@dataclasses.dataclass
class Claim:
    """One claim of the paper about a figure, the number that decides it, and whether our figure shows it."""

    item: str  # "Figure 13"
    claim: str  # the paper's claim, in a few words
    measured: str  # the deciding number(s), e.g. "joint flow covers 97% of landmarks (dataset 100%)"
    holds: bool

    def line(self) -> str:
        return f"{self.item}: {self.claim}: {'shown' if self.holds else 'NOT shown'} ({self.measured})"


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def fig3_claims(diag) -> list:
    """Sec. 4.3's four claims from macflow's diag/* rows (one per evaluation and seed) of one run."""
    g = diag.groupby("step")
    mean = lambda col: g[col].mean() if col in diag else None
    distill, gap, bound = mean("diag/distill"), mean("diag/value_gap"), mean("diag/gap_bound")
    out = []
    rho = _spearman(distill, gap)
    first, last = distill.index.min(), distill.index.max()
    out.append(Claim("Figure 3 (a)", "the value gap decreases in tandem with the distillation loss",
                     f"distillation loss {distill[first]:.3g} -> {distill[last]:.3g}, value gap {gap[first]:.3g} -> "
                     f"{gap[last]:.3g} from step {first} to {last}; Spearman correlation over checkpoints {rho:.2f}",
                     bool(distill[last] < distill[first] and gap[last] < gap[first] and rho > 0)))
    mj, mo = mean("diag/mi_joint"), mean("diag/mi_onestep")
    if mj is not None and mj.notna().any():
        peak = mj.idxmax()
        out.append(Claim("Figure 3 (b)", "the joint flow's MI(a^i, a^j) is high early and decreases; the factorised "
                         "policy's stays below about 0.1",
                         f"joint flow {mj[first]:.3f} nats at step {first}, peak {mj[peak]:.3f} at step {peak}, "
                         f"{mj[last]:.3f} at step {last}; one-step policies at most {mo.max():.3f}",
                         bool(mj[last] < mj[peak] and peak < last and mo.max() < 0.1)))
    below = float((diag["diag/value_gap"] <= diag["diag/gap_bound"]).mean())
    out.append(Claim("Figure 3 (c)", "the value gap stays below L_Q * W2 at every checkpoint",
                     f"{100 * below:.0f}% of {len(diag)} checkpoint x seed values below the bound; gap/bound at the "
                     f"last step {gap[last] / bound[last]:.2f}", below == 1.0))
    ks = [c.rsplit("_", 1)[1] for c in diag if str(c).startswith("diag/pw_gap_")]
    if ks:
        pg = np.concatenate([diag[f"diag/pw_gap_{k}"] for k in ks])
        pb = np.concatenate([diag[f"diag/pw_lq_{k}"] * diag[f"diag/pw_w2_{k}"] for k in ks])
        ok = np.isfinite(pg) & np.isfinite(pb)
        frac = float(np.mean(pg[ok] <= pb[ok]))
        out.append(Claim("Figure 3 (d)", "every point-wise value gap lies under the L_Q * W2 envelope",
                         f"{100 * frac:.1f}% of {int(ok.sum())} (observation, checkpoint, seed) points under it",
                         frac == 1.0))
    return out


def fig13_claims(lm: dict) -> list:
    """App. H.4: up to 40 agents the joint flow partitions agents across the landmarks and the one-step policies
    reach them; measured as the fraction of landmarks covered at the end of an episode (:func:`coverage`)."""
    out = []
    for n in sorted(lm):
        if n == 3:
            continue
        cov = lm[n][0]["coverage"]
        data = cov["dataset"][1]
        text = "; ".join(f"{k} {cov[k][1] * 100:.0f}% covered, mean distance {cov[k][0]:.3f}"
                         for k in ("dataset", "joint flow", "one-step policy", "start"))
        out.append(Claim(f"Figure 13 ({n} agents)", "the joint flow partitions the agents across the landmarks and "
                         "the one-step policies reach them, as the dataset does", text,
                         all(cov[k][1] >= 0.9 * data for k in ("joint flow", "one-step policy"))))
    return out


def _tv(p, q) -> float:
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum())


def fig14_claims(igm: dict, no_igm: dict) -> list:
    from analysis.plots import _joint_hist

    data, joint = _joint_hist(igm["data"]), _joint_hist(igm["joint"])
    one, ind = _joint_hist(igm["onestep"]), _joint_hist(no_igm["onestep"])
    return [Claim("Figure 14 (b)", "the joint flow reproduces the data's frequencies, not the rare optimum (1,1)",
                  f"TV(joint flow, data) {_tv(joint, data):.3f}; P(1,1) joint {joint[1, 1]:.2f}, data {data[1, 1]:.2f}",
                  _tv(joint, data) <= 0.1),
            Claim("Figure 14 (c)", "the one-step policy under IGM concentrates its mass on (1,1)",
                  f"P(1,1) {one[1, 1]:.2f}", bool(one[1, 1] >= 0.5)),
            Claim("Figure 14 (d)", "without IGM the one-step policy is a near-uniform product",
                  f"TV(w/o IGM, uniform) {_tv(ind, np.full((2, 2), 0.25)):.3f}; P(1,1) {ind[1, 1]:.2f}",
                  _tv(ind, np.full((2, 2), 0.25)) <= 0.15)]


XOR_MODE_RADIUS = 0.25  # a joint action "at a mode": within this max-norm distance of one of the data's two modes


def fig15_claims(s: dict) -> list:
    """App. H.6: the joint flow reconstructs the data's two sharp, disconnected anti-aligned modes (the share of its
    samples at a mode, against the data's), the factorised policies collapse to a near-independent product."""
    from benchmarks.envs.games import XOR_MODES

    def stats(key):
        a = np.asarray(s[key]).reshape(-1, 2)
        at_mode = np.min([np.max(np.abs(a - m), -1) for m in XOR_MODES], 0) < XOR_MODE_RADIUS
        return float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]), float(np.mean(at_mode))

    (cd, md), (cj, mj), (co, mo) = stats("data"), stats("joint"), stats("onestep")
    return [Claim("Figure 15 (centre)", "the joint flow reconstructs the two sharp anti-aligned modes",
                  f"samples within {XOR_MODE_RADIUS} of a mode: joint flow {100 * mj:.0f}%, data {100 * md:.0f}%; "
                  f"corr(a1, a2) {cj:.2f} (data {cd:.2f})", bool(mj >= 0.9 * md)),
            Claim("Figure 15 (right)", "the factorised policies collapse to a near-independent product",
                  f"corr(a1, a2) {co:.2f}; samples at a mode {100 * mo:.0f}%", bool(abs(co) <= 0.2))]


def fig16_claims(pay: dict) -> list:
    from analysis.plots import _joint_hist
    from benchmarks.envs.games import COORD_REWARD, w2_discrete

    zetas = sorted(pay)
    tv, jret, dret, oret, w2 = [], [], [], [], []
    for z in zetas:
        s = pay[z][0]
        d = _joint_hist(s["data"])
        tv.append(_tv(_joint_hist(s["joint"]), d))
        dret.append(float((d * COORD_REWARD).sum()))
        jret.append(np.mean([(_joint_hist(j) * COORD_REWARD).sum() for j in s["joint"]]))
        oret.append(np.mean([(_joint_hist(o) * COORD_REWARD).sum() for o in s["onestep"]]))
        w2.append(np.mean([w2_discrete(_joint_hist(j).ravel(), _joint_hist(o).ravel())
                           for j, o in zip(s["joint"], s["onestep"])]))
    fmt = lambda v: ", ".join(f"{x:.2f}" for x in v)
    zs = ", ".join(f"{z:g}" for z in zetas)
    return [Claim("Figure 16 (a)", "the joint flow reproduces the dataset at every interaction strength",
                  f"TV(joint flow, data) at zeta = {zs}: {fmt(tv)}", max(tv) <= 0.1),
            Claim("Figure 16 (b)", "the joint flow's return matches the data's (about 1.0); the one-step policy's "
                  "rises with zeta", f"returns at zeta = {zs}: data {fmt(dret)}, joint flow {fmt(jret)}, one-step "
                  f"{fmt(oret)} (Spearman with zeta {_spearman(zetas, oret):.2f})",
                  bool(max(abs(j - d) for j, d in zip(jret, dret)) <= 0.1 and _spearman(zetas, oret) > 0)),
            Claim("Figure 16 (c)", "W2(joint flow, one-step) rises with the interaction strength",
                  f"W2 at zeta = {zs}: {fmt(w2)} (Spearman with zeta {_spearman(zetas, w2):.2f})",
                  bool(_spearman(zetas, w2) > 0))]


# ---- drawing ------------------------------------------------------------------------------------------------
def write_games_figures(data, out: Path, store: str = "") -> tuple[list, list, list]:
    """([written], [missing], [Claim]) for Figs. 13-16 from the runs in ``data`` (analysis.load.StoreData)."""
    from analysis import plots

    cmd = f"`bench figures --paper macflow --games{store}`"
    written, missing, claims = [], [], []
    lm = {}
    for n in LANDMARK_AGENTS:
        run = find_landmark_run(data, n)
        if run is not None:
            lm[n] = (landmark_rollouts(run), _budget_of(run))
    if lm:
        claims += fig13_claims(lm)
        written.append(plots.landmark_trajectories(lm, out / "fig13_landmarks.png"))
    if len(lm) < len(LANDMARK_AGENTS):
        missing.append(f"Figure 13 (landmark trajectories): {'only ' + ', '.join(map(str, lm)) if lm else 'no'} "
                       f"agent count(s) of {', '.join(map(str, LANDMARK_AGENTS))} trained; run {cmd}")
    igm, no_igm = find_run(data, "games/coordination", {}), find_run(data, "games/coordination", {"critic": "independent"})
    if igm is not None and no_igm is not None:
        a, b = bandit_samples(igm), bandit_samples(no_igm)
        claims += fig14_claims(a, b)
        written.append(plots.coordination_distributions(a, b, out / "fig14_coordination.png",
                                                        _budget_of(igm)))
    else:
        missing.append(f"Figure 14 (coordination game): needs macflow and macflow[critic=independent] on "
                       f"games/coordination; run {cmd}")
    xor = find_run(data, "games/xor", {})
    if xor is not None:
        s = bandit_samples(xor)
        claims += fig15_claims(s)
        written.append(plots.xor_samples(s, out / "fig15_xor.png", _budget_of(xor)))
    else:
        missing.append(f"Figure 15 (XOR): needs macflow on games/xor; run {cmd}")
    pay = _sweep(data, zip(PAYOFF_ZETAS, PAYOFF), bandit_samples)
    if pay:
        claims += fig16_claims(pay)
        written.append(plots.payoff_sweep(pay, out / "fig16_payoff.png"))
    if len(pay) < len(PAYOFF_ZETAS):
        missing.append(f"Figure 16 (payoff sweep): {len(pay)} of {len(PAYOFF_ZETAS)} interaction strengths "
                       f"trained; run {cmd}")
    return written, missing, claims
