"""What a ``bench run`` trains: the options it accepts, validated into jobs (``RunConfig``) before anything runs.

A job is one algorithm on one task with a group of seeds (trained together, vmapped), a number of
gradient steps, an evaluation schedule and config overrides. Its run id is the hash of those inputs,
so the same command finds its earlier runs in the store. ``plan_jobs`` turns the options of
``bench run`` (the namespace argparse builds, or the same fields from JSON in the runner's planning
subprocess) into RunConfigs, raising a one-line ``BenchError`` for every mistake: unknown names, bad
overrides, empty seeds, an algorithm that cannot run a task named explicitly.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from algorithms.errors import BenchError
from benchmarks.store import run_id

# The embedded default of `bench run`: small enough for 2 CPU cores.
DEFAULT_ALGOS = ("macflow", "flowbc", "bc")
DEFAULT_SEEDS = (0, 1)
DEFAULT_STEPS = 1000
DEFAULT_EVAL_EVERY = 500
DEFAULT_EVAL_EPISODES = 100
DEFAULT_BATCH_SIZE = 64  # MAC-Flow App. G.4
# `bench run` with neither --task nor --suite: the didactic games, each with a claim of the MAC-Flow paper that a
# short run shows (App. H.4-H.7). MPE Spread left the default: its Python environment made it the
# slowest task, and at 1 000 steps its returns are noise, not one of the paper's claims.
DEFAULT_TASKS = ("games/coordination", "games/xor", "games/payoff-0.5", "games/landmarks")
# Gradient steps of a task when --steps is not given (DEFAULT_STEPS otherwise). Landmarks: at 1 000 steps MAC-Flow's
# one-step policy had not converged (normalised 77 against BC's 99, the two seeds apart); at 3 000 it reaches the
# dataset's return (tests/test_games.py). The bandit games converge within 1 000 (same tests).
DEFAULT_TASK_STEPS = {"games/landmarks": 3000}


def default_steps(task_id: str, steps: int | None) -> int:
    """The gradient steps a job on ``task_id`` trains: ``steps`` when given (--steps), else the task's default."""
    return steps if steps is not None else DEFAULT_TASK_STEPS.get(task_id, DEFAULT_STEPS)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A paper's training and evaluation schedule: ``bench run --protocol NAME`` sets these options."""

    seeds: tuple
    steps: dict  # suite -> gradient steps; a suite not listed is not part of the paper's protocol
    eval_every: int
    eval_episodes: int
    batch_size: int
    source: str


# MAC-Flow (arXiv 2511.05005). App. E: 1M gradient steps on SMACv1/v2 and 500K on MPE and MA-MuJoCo, evaluation
# every 50K steps with 10 episodes, 6 seeds; App. G.4's table: 10^6 (SMAC) but 2x10^5 for MA-MuJoCo and MPE, batch
# 64. The two disagree on MPE / MA-MuJoCo; we take App. E's 500K: it is the training-details text, it goes with
# the 50K evaluation cadence stated beside it, and Fig. 5's offline phase is 500K steps too.
PAPER_PROTOCOL = "macflow-paper"  # the protocol the paper tables and reports compare runs to
PROTOCOLS = {
    "macflow-paper": Protocol(seeds=(0, 1, 2, 3, 4, 5),
                              steps={"smacv1": 1_000_000, "smacv2": 1_000_000, "mpe": 500_000, "mamujoco": 500_000,
                                     # the same schedules on the generated data of those environments
                                     "mpe-gen": 500_000, "mamujoco-gen": 500_000},
                              eval_every=50_000, eval_episodes=10, batch_size=64,
                              source="MAC-Flow App. E (500K on MPE/MA-MuJoCo; App. G.4 says 2x10^5)"),
    # VGM2P (arXiv 2604.08174) Table 3: 10^6 gradient steps on SMACv1/v2, 5x10^5 on MA-MuJoCo, batch 64, 6 seeds; Sec.
    # 5.1: "10 trajectories" per evaluation. Its evaluation cadence is not stated: MAC-Flow's 50K, so that a run both
    # papers compare (MAC-Flow, VGM2P, the shared baselines) is one run.
    "vgm2p-paper": Protocol(seeds=(0, 1, 2, 3, 4, 5), steps={"smacv1": 1_000_000, "smacv2": 1_000_000, "mamujoco": 500_000},
                            eval_every=50_000, eval_episodes=10, batch_size=64,
                            source="VGM2P Table 3, Sec. 5.1 (evaluation every 50K: not stated, MAC-Flow's)"),
}


@dataclasses.dataclass
class RunConfig:
    """One job: an algorithm, a task and a group of seeds trained together."""

    algo: str  # registered plugin name (bench list algos)
    task: str  # SUITE/TASK
    seeds: tuple = (0, 1, 2)  # trained together under vmap; each is an independent run in the reports
    steps: int = 1000  # gradient steps
    eval_every: int = 500  # gradient steps between evaluations (and checkpoints); the last step always evaluates
    eval_episodes: int = 100  # evaluation episodes per seed
    batch_size: int = 64
    overrides: dict = dataclasses.field(default_factory=dict)  # config key -> value (the plugin's Config)
    allow_cost_override: bool = False  # accept overrides of cost-defining settings (flagged in reports)
    data_seed: int = 0  # seed of generated datasets (games, MPE, SMAX, MaMuJoCo)
    dataset: Optional[str] = None  # path of a user-supplied vault instead of the task's own data
    chunk: int = 1000  # gradient steps per compiled chunk (Python runs once per chunk); not part of the run id
    # which ``overrides`` keys a suite preset supplied (bench run); the run is identified by its effective
    # config, so this is recorded in spec.json for reports but is not part of the run id
    preset: tuple = ()
    # the named protocol (PROTOCOLS) that set seeds, steps and evaluation; recorded, not part of the run id
    protocol: str = ""
    # the config keys a `bench run --sweep` varied for this job (its grid point is in ``overrides``); recorded so
    # `bench report --select best-config` knows which runs are configurations of one tuning; not part of the run id
    sweep: tuple = ()
    # ---- offline-to-online fine-tuning (benchmarks/training/online.py; MAC-Flow Sec. 5 A3, App. E, Fig. 5) ----
    # gradient steps trained on online rollouts after the ``steps`` offline ones (MAC-Flow App. E: 500K after 500K);
    # 0: an offline run. A run with online steps is the fine-tuning of its offline parent (``parent()``).
    online_steps: int = 0
    # environments stepped once before every online gradient step, i.e. transitions collected per gradient step
    # (paper: silent; the released continuous_o2o_main.py steps one environment per update: 1)
    online_envs: int = 1
    # replay capacity in transitions per seed (paper: silent; released code: buffer_size 2M); the buffer is
    # allocated at min(this, the transitions the online phase collects)
    online_buffer: int = 2_000_000
    # transitions collected per seed with the pre-trained policy before the first online gradient step (paper:
    # silent; released code: updates start after batch_size x sequence_length = 32 x 20 = 640 environment steps)
    online_warmup: int = 640
    # extra exploration on top of the policy's own stochasticity: Gaussian noise of this std on continuous actions
    # (clipped to the action box), a uniformly random legal action with this probability on discrete ones
    # (paper: none; released code: the policy's samples at temperature 1.0): 0
    online_noise: float = 0.0
    # symmetric sampling: each online batch is batch_size offline transitions plus batch_size buffer ones (the
    # released code's --balanced_sampling); MAC-Flow App. E trains "purely on newly collected online rollouts": off
    mix_offline: bool = False

    ONLINE_FIELDS = ("online_steps", "online_envs", "online_buffer", "online_warmup", "online_noise", "mix_offline")

    def inputs(self) -> dict:
        """The fields that identify the run (hashed into its id); an offline run's id does not see the online
        settings, so the ids of runs recorded before the online phase existed are unchanged."""
        d = dataclasses.asdict(self)
        for k in ("chunk", "allow_cost_override", "preset", "protocol", "sweep"):
            d.pop(k)
        if not self.online_steps:
            for k in self.ONLINE_FIELDS:
                d.pop(k)
        return d

    @property
    def total_steps(self) -> int:
        """Gradient steps of the offline and the online phase."""
        return self.steps + self.online_steps

    def parent(self) -> "RunConfig":
        """The offline run this one fine-tunes (itself when it has no online phase)."""
        return dataclasses.replace(self, **{f.name: f.default for f in dataclasses.fields(self)
                                            if f.name in self.ONLINE_FIELDS})

    def online_settings(self) -> dict:
        return {k: getattr(self, k) for k in self.ONLINE_FIELDS}

    @property
    def run_id(self) -> str:
        return run_id(self.inputs())

    @property
    def label(self) -> str:
        online = f" +{self.online_steps} online" if self.online_steps else ""
        return f"{self.algo} {self.task} seeds={','.join(map(str, self.seeds))}{online}"


# ---- parsing of the command-line strings ---------------------------------------------------------------
def csv_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c']."""
    return [t.strip() for t in text.split(",") if t.strip()]


def int_list(text: str) -> tuple:
    """'0,1,2' -> (0, 1, 2), with a one-line error for anything else."""
    try:
        return tuple(int(t) for t in csv_list(text))
    except ValueError:
        raise BenchError(f"expected comma-separated integers, got '{text}' (e.g. --seeds 0,1,2)") from None


def parse_overrides(pairs) -> dict:
    """['alpha=10', 'hidden=64,64'] -> {'alpha': '10', 'hidden': '64,64'} (typed later by the plugin's Config)."""
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise BenchError(f"--set expects key=value, got '{p}' (e.g. --set alpha=10)")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def algo_variants(text: str) -> list[tuple[str, dict]]:
    """'macflow,macflow[q_weight=0;critic=central],flowbc' -> [(name, overrides)]: an algorithm with its own
    overrides (KEY=VALUE separated by ';' inside the brackets, over --set's), so one ``bench run`` trains the
    variants an ablation compares. Names as ``analysis`` shows variants: ``macflow[critic=central]``."""
    out, depth, cur = [], 0, ""
    for ch in text + ",":
        if ch == "," and depth == 0:
            tok = cur.strip()
            cur = ""
            if not tok:
                continue
            name, _, rest = tok.partition("[")
            if rest and not rest.endswith("]") or (not rest and "]" in tok):
                raise BenchError(f"--algos: '{tok}' is not NAME or NAME[KEY=VALUE;...] (e.g. macflow[q_weight=0])")
            out.append((name.strip(), parse_overrides([p for p in rest[:-1].split(";") if p.strip()])))
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    if cur.strip():
        raise BenchError(f"--algos: '{cur.strip()[:-1]}' has unbalanced brackets (e.g. macflow[q_weight=0])")
    return out


def _split_values(text: str) -> list[str]:
    """'1,3,10' -> ['1', '3', '10']; commas inside brackets stay: '(64,64),(128,128)' -> ['(64,64)', '(128,128)']."""
    out, depth, cur = [], 0, ""
    for ch in text + ",":
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch in "(["
        depth -= ch in ")]"
        cur += ch
    return out


def sweep_grid(specs) -> tuple[tuple, list[dict]]:
    """--sweep's ['alpha=1,3,10', 'lr=1e-4,3e-4'] -> (('alpha', 'lr'), [{'alpha': '1', 'lr': '1e-4'}, ...]): the
    grid over every key's values (values typed later by the plugin's Config); ((), []) without --sweep."""
    import itertools

    keys, values = [], []
    for spec in specs or []:
        key, sep, text = spec.partition("=")
        key = key.strip()
        vals = _split_values(text) if sep else []
        if not key or not vals or any(not v for v in vals):
            raise BenchError(f"--sweep expects KEY=V1,V2,... with non-empty values, got '{spec}' (e.g. --sweep "
                             f"alpha=1,3,10; tuples in brackets: --sweep hidden=(64,64),(256,256))")
        if key in keys:
            raise BenchError(f"--sweep {key} is given twice; give each key once with all its values")
        if len(set(vals)) != len(vals):
            raise BenchError(f"--sweep {spec}: a value is repeated")
        keys.append(key)
        values.append(vals)
    return tuple(keys), [dict(zip(keys, point)) for point in itertools.product(*values)] if keys else []


def check_common_keys(classes, common: dict, alone: str = "") -> None:
    """``--set`` applies to every algorithm: a key one of them lacks is refused, and when others have it the
    message says how to give it to those alone: a variant NAME[KEY=VALUE] of ``--algos``, or, for a command
    without variants (``alone``, e.g. "bench latency"), that command for them on their own. A key none of them
    has is left to ``make_config``'s unknown-key error."""
    import dataclasses

    from algorithms.errors import ConfigError

    fields = {cls.name: {f.name for f in dataclasses.fields(cls.Config)} for cls in classes}
    for key, value in common.items():
        takers = [n for n in dict.fromkeys(c.name for c in classes) if key in fields[n]]
        lacking = [n for n in dict.fromkeys(c.name for c in classes) if key not in fields[n]]
        if not takers or not lacking:
            continue
        how = (f"`{alone} --algos {','.join(takers)} --set {key}={value}`" if alone
               else f"--algos '{','.join(f'{n}[{key}={value}]' if n in takers else n for n in fields)}'")
        raise ConfigError(f"--set {key}={value} applies to every algorithm, and {', '.join(lacking)} "
                          f"{'has' if len(lacking) == 1 else 'have'} no config key '{key}'; give it to "
                          f"{', '.join(takers)} alone: {how}")


def _show(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


# ---- planning ------------------------------------------------------------------------------------------
def _tasks(args) -> list:
    from benchmarks.tasks import get_suite, get_task

    if args.task and (args.suite or args.tasks):
        raise BenchError("use either --task SUITE/TASK or --suite/--tasks, not both")
    if args.task:  # one or several SUITE/TASK, e.g. smacv1/3m-good,smacv2/zerg_5_vs_5-replay
        return [get_task(t) for t in csv_list(args.task)]
    if not args.suite and not args.tasks:
        return [get_task(t) for t in DEFAULT_TASKS]
    suite = get_suite(args.suite or "games")
    why = suite.available()
    if why:
        raise BenchError(f"suite '{suite.name}' cannot run here: {why}")
    names = csv_list(args.tasks) if args.tasks else list(suite.default_tasks)
    return [suite.task(n) for n in names]


def _preflight(tasks) -> None:
    """Each suite's own pre-flight check of the chosen tasks (StarCraft II: install, map files, shapes and
    episode limits from the environment), so a run fails here rather than at its first evaluation."""
    from benchmarks.tasks import get_suite

    by_suite: dict = {}
    for t in tasks:
        by_suite.setdefault(t.suite, []).append(t.name)
    for name, names in by_suite.items():
        check = get_suite(name).preflight
        if check is not None:
            check(names)


def plan_jobs(args, notices: list | None = None, preflight: bool = True) -> list[RunConfig]:
    """Validate every name and override of ``bench run``'s options before anything runs; returns RunConfigs.

    ``args`` has the fields of ``bench run`` (suite, tasks, task, algos, seeds, steps, eval_every, eval_episodes,
    batch_size, set, allow_cost_override, dataset, paper_size, split_seeds). Notes for the user (skipped
    pairs, suite presets applied) are appended to ``notices``. Imports JAX: the Ray driver calls it in a
    subprocess (benchmarks.training.runner.plan_isolated), never itself. ``preflight=False`` skips the suites'
    pre-flight checks (planning what a machine without StarCraft II would train, e.g. for a cost estimate)."""
    import algorithms

    tasks = _tasks(args)
    protocol = apply_protocol(args, tasks)
    if preflight:
        _preflight(tasks)
    if getattr(args, "dataset", None):
        check_dataset(args.dataset)
    variants = algo_variants(args.algos) if args.algos else [(a, {}) for a in DEFAULT_ALGOS]
    common = parse_overrides(args.set)
    swept, grid = sweep_grid(getattr(args, "sweep", None))
    if grid:  # every variant at every grid point: one job (and one column) per configuration
        clash = sorted(set(swept) & (set(common) | {k for _, own in variants for k in own}))
        if clash:
            raise BenchError(f"--sweep varies {', '.join(clash)}, which --set or an --algos variant also sets; "
                             f"give each key one way")
        variants = [(a, {**own, **point}) for a, own in variants for point in grid]
    algos = [(algorithms.get(a), own) for a, own in variants]
    check_common_keys([a for a, _ in algos], common)
    seeds = int_list(args.seeds)
    if not seeds:
        raise BenchError("--seeds is empty; give at least one seed, e.g. --seeds 0")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise BenchError(f"--seeds {args.seeds} lists seed {', '.join(map(str, twice))} more than once; each seed is "
                         f"one independent run of the results, so give each once (e.g. --seeds "
                         f"{','.join(map(str, dict.fromkeys(seeds)))})")
    for v, name in ((args.steps, "--steps"), (args.eval_every, "--eval-every"), (args.eval_episodes, "--eval-episodes"),
                    (args.batch_size, "--batch-size")):
        if v is not None and v <= 0:
            raise BenchError(f"{name} must be a positive integer, got {v}")
    online = online_options(args)
    # one job trains all seeds together (vmapped); --split-seeds makes one job per seed
    paper_size = getattr(args, "paper_size", False)
    seed_groups = [(s,) for s in seeds] if getattr(args, "split_seeds", False) else [seeds]
    jobs = []
    for algo, own in algos:
        overrides = {**common, **own}
        # validate overrides once per algorithm: a key must exist for every algorithm it is applied to
        algo.make_config(overrides, allow_cost_override=args.allow_cost_override)
        if online["online_steps"]:
            check_online(algo)
        fitting = [t for t in tasks if t.spec.action_kind in algo.supports]
        if args.task or not fitting:
            # a task named explicitly, or an algorithm with nothing to run: the one-line error
            for task in tasks:
                algo.check_spec(task.spec)
        skipped = [t.id for t in tasks if t not in fitting]
        if skipped and notices is not None:
            notices.append(f"{algo.name} skips {', '.join(skipped)}: it supports "
                           f"{' and '.join(sorted(algo.supports))} actions only")
        presets: dict = {}  # the preset shown -> the tasks it applies to (one note each)
        for task in fitting:
            preset = {k: v for k, v in algo.preset_for(task.id).items()
                      if k not in overrides and (not paper_size or k in algo.paper_preset_keys)}
            if preset:
                presets.setdefault(", ".join(f"{k}={_show(v)}" for k, v in preset.items()), []).append(task.id)
            for group in seed_groups:
                jobs.append(RunConfig(algo.name, task.id, group, protocol_steps(protocol, task.id, default_steps(task.id, args.steps)),
                                      args.eval_every, args.eval_episodes,
                                      args.batch_size, {**preset, **overrides}, args.allow_cost_override,
                                      dataset=args.dataset, preset=tuple(preset), protocol=protocol,
                                      sweep=swept, **online))
        for shown, ids in presets.items():
            note = f"{algo.name} on {', '.join(ids)}: suite preset {shown} (--paper-size for the paper's defaults)"
            if notices is not None and note not in notices:
                notices.append(note)
    return jobs


def check_dataset(path: str) -> None:
    """``--dataset PATH`` is a readable vault (its metadata and index; the data are read by the job), so a typo
    fails here, before any run directory or report is written."""
    from benchmarks.data.vault import vault_fields

    try:
        vault_fields(path)
    except BenchError as exc:
        raise type(exc)(f"--dataset {path}: {exc}") from None


_ONLINE_FLAGS = {"online_steps": "--online-steps", "online_envs": "--online-envs", "online_buffer": "--online-buffer",
                 "online_warmup": "--online-warmup", "online_noise": "--online-noise", "mix_offline": "--mix-offline"}


def online_options(args) -> dict:
    """The online-phase settings of ``bench run`` (RunConfig's defaults for those not given), validated."""
    defaults = RunConfig("", "")
    out = {k: getattr(args, k, None) for k in RunConfig.ONLINE_FIELDS}
    out = {k: getattr(defaults, k) if v is None else v for k, v in out.items()}
    for k in ("online_steps", "online_warmup"):
        if out[k] < 0:
            raise BenchError(f"{_ONLINE_FLAGS[k]} must be >= 0, got {out[k]}")
    for k in ("online_envs", "online_buffer"):
        if out[k] <= 0:
            raise BenchError(f"{_ONLINE_FLAGS[k]} must be a positive integer, got {out[k]}")
    if not 0.0 <= out["online_noise"] <= 1.0:
        raise BenchError(f"--online-noise must be in [0, 1] (a Gaussian std on actions in [-1, 1], or an epsilon), "
                         f"got {out['online_noise']}")
    if not out["online_steps"]:
        given = [_ONLINE_FLAGS[k] for k in RunConfig.ONLINE_FIELDS[1:] if out[k] != getattr(defaults, k)]
        if given:
            raise BenchError(f"{', '.join(given)} set(s) the online phase; add --online-steps N to fine-tune online")
    return out


def check_online(algo) -> None:
    """A one-line ConfigError when the plugin cannot be fine-tuned online (the contract's ``cannot_fine_tune``,
    or an update that reads windows of several steps, which the transition replay buffer cannot give)."""
    from algorithms.errors import ConfigError

    why = algo.cannot_fine_tune or (
        f"its update reads windows of {algo.sequence_length} steps and the online replay buffer holds single "
        f"transitions" if algo.sequence_length > 1 else "")
    if why:
        raise ConfigError(f"algorithm '{algo.name}' cannot be fine-tuned online: {why}; leave out --online-steps "
                          f"for it (or choose another algorithm)")


# ---- memory ----------------------------------------------------------------------------------------------
RUNTIME_BYTES = 2 ** 30  # JAX, the networks, optimiser states and evaluation of one job, beside its data


def job_memory(cfg: RunConfig) -> Optional[int]:
    """Bytes one job needs when its data are a vault on disk: the dataset once (read a slice at a time, held at
    one copy; 1.2 x its bytes at the peak, see ``bench perf databench``) plus the runtime; None when the data are
    made in memory or not there yet (small generated data, downloaded later: the job says so when it starts)."""
    from pathlib import Path

    from benchmarks.data.vault import loaded_bytes
    from benchmarks.tasks import get_task

    path = cfg.dataset
    if path is None:
        task = get_task(cfg.task)
        path = task.data_path(cfg.data_seed) if task.data_path is not None else None
    if path is None or not Path(path).exists():
        return None
    return int(1.2 * loaded_bytes(path)) + RUNTIME_BYTES


def check_memory(jobs: list, capacity: Optional[float], where: str) -> None:
    """A one-line error, before any job starts, when a job needs more memory than ``capacity`` bytes."""
    if not capacity:
        return
    big = [j for j in jobs if (j.get("memory") or 0) > capacity]
    if big:
        j = max(big, key=lambda j: j["memory"])
        raise BenchError(f"job '{j['label']}' needs about {j['memory'] / 2**30:.1f} GiB (its dataset, read once, plus "
                         f"{RUNTIME_BYTES / 2**30:.0f} GiB for JAX and the networks) but {where} has "
                         f"{capacity / 2**30:.1f} GiB; run it on a machine with more memory, or train on a smaller "
                         f"dataset (--dataset)")


_PROTOCOL_OPTIONS = (("seeds", "--seeds", DEFAULT_SEEDS), ("eval_every", "--eval-every", DEFAULT_EVAL_EVERY),
                     ("eval_episodes", "--eval-episodes", DEFAULT_EVAL_EPISODES),
                     ("batch_size", "--batch-size", DEFAULT_BATCH_SIZE), ("steps", "--steps", None))


def apply_protocol(args, tasks) -> str:
    """Set ``args``' seeds, evaluation and batch size from ``--protocol`` (steps per suite: see
    :func:`protocol_steps`); returns its name, or "" without one. The protocol's options cannot be combined
    with their own flags, and a suite the protocol has no steps for is refused."""
    name = getattr(args, "protocol", None) or ""
    if not name:
        return ""
    if name not in PROTOCOLS:
        raise BenchError(f"unknown protocol '{name}'; choose one of {', '.join(sorted(PROTOCOLS))}")
    proto = PROTOCOLS[name]
    for field, flag, default in _PROTOCOL_OPTIONS:
        given = getattr(args, field)
        if (int_list(given) if isinstance(given, str) else given) != default:
            raise BenchError(f"--protocol {name} sets {flag}; leave out {flag} (or --protocol to choose it yourself)")
    outside = sorted({t.id for t in tasks if t.id.split("/")[0] not in proto.steps})
    if outside:
        raise BenchError(f"--protocol {name} has gradient steps for the suites {', '.join(sorted(proto.steps))} "
                         f"only, not {', '.join(outside)}; run those without --protocol")
    args.seeds = ",".join(map(str, proto.seeds))
    args.eval_every, args.eval_episodes, args.batch_size = proto.eval_every, proto.eval_episodes, proto.batch_size
    return name


def off_protocol(name: str, spec: dict) -> str:
    """How a run (its spec.json) departs from protocol ``name``, e.g. "2 seeds, 1000 steps, eval every 500";
    "" when it ran under that protocol or its suite is not part of it."""
    proto = PROTOCOLS[name]
    suite = spec.get("suite") or str(spec.get("task", "")).split("/", 1)[0]
    if spec.get("protocol") == name or suite not in proto.steps:
        return ""
    other = PROTOCOLS.get(spec.get("protocol") or "")
    if other is not None and _same_schedule(other, proto, suite):  # another paper's protocol, the same schedule here
        return ""
    seeds, steps = spec.get("seeds") or (), spec.get("steps")
    diff = [f"{len(seeds)} seeds"] if len(seeds) != len(proto.seeds) else []
    diff += [f"{steps} steps"] if steps != proto.steps[suite] else []
    diff += [f"eval every {spec.get('eval_every')}"] if spec.get("eval_every") != proto.eval_every else []
    diff += [f"{spec.get('eval_episodes')} eval episodes"] if spec.get("eval_episodes") != proto.eval_episodes else []
    return ", ".join(diff) or f"not run with --protocol {name}"


def _same_schedule(a: Protocol, b: Protocol, suite: str) -> bool:
    return (a.seeds, a.steps.get(suite), a.eval_every, a.eval_episodes, a.batch_size) == \
        (b.seeds, b.steps.get(suite), b.eval_every, b.eval_episodes, b.batch_size)


def protocol_steps(name: str, task_id: str, steps: int) -> int:
    """Gradient steps of ``task_id`` under protocol ``name`` ("" or None: ``steps`` as given)."""
    return PROTOCOLS[name].steps[task_id.split("/")[0]] if name else steps
