"""The algorithm contract.

Every plugin is a class of static, pure functions over pytrees so that the trainer can ``jit``,
``lax.scan`` and ``vmap`` them:

* ``init(key, spec, cfg) -> State``           parameters, optimiser states, target networks
* ``update(state, batch, key) -> (State, metrics)``  one gradient step
* ``act(state, obs, legal, key) -> actions``  one joint decision for all agents
* ``cost(spec, cfg) -> Cost``                 network evaluations per agent per decision

``State`` carries the plugin's ``spec`` and ``cfg`` as static (non-array) fields, so ``update`` and
``act`` need nothing but arrays. See ``algorithms/bc.py`` for the smallest complete plugin and
docs/adding-an-algorithm.md.
"""
from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any, ClassVar, Mapping

import flax.struct
import jax
import jax.numpy as jnp

from algorithms.errors import ConfigError

DISCRETE = "discrete"
CONTINUOUS = "continuous"


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Shapes of one task, as every plugin sees it.

    obs_dim is per agent (padded to the largest agent). For discrete tasks action_dim is the number
    of actions and legal-action masks [.., N, action_dim] are always provided (all True when the
    environment has none). For continuous tasks action_dim is the action-vector size per agent and
    actions lie in [action_low, action_high].
    """

    n_agents: int
    obs_dim: int
    action_kind: str
    action_dim: int
    state_dim: int = 0
    action_low: float = -1.0
    action_high: float = 1.0
    has_legal: bool = False
    episode_length: int = 1

    def __post_init__(self):
        if self.action_kind not in (DISCRETE, CONTINUOUS):
            raise ConfigError(f"action_kind must be '{DISCRETE}' or '{CONTINUOUS}', got {self.action_kind!r}")

    @property
    def discrete(self) -> bool:
        return self.action_kind == DISCRETE

    @property
    def legal_dim(self) -> int:
        """Last axis of legal masks: the number of actions (discrete) or 1 (continuous, all True)."""
        return self.action_dim if self.discrete else 1


@flax.struct.dataclass
class Batch:
    """A batch of transitions (or of windows, for sequence models: a time axis after B).

    obs [B,N,O]; actions [B,N] int32 (discrete) or [B,N,A] float32; reward [B] team reward;
    next_obs [B,N,O]; terminal [B] float32 (1 = do not bootstrap); legal / next_legal [B,N,A_legal]
    bool; state / next_state [B,S] (S may be 0). Windows: every field has a time axis [B,T,...] and
    ``valid`` [B,T] marks steps inside the sampled episode. ``rtg`` [B] (windows [B,T]): the discounted
    team reward-to-go from the step to its episode's end, present only for a plugin whose
    ``rtg_discount(cfg)`` is a discount (the data layer precomputes it once per dataset row), else None.
    ``step`` [B] (windows [B,T]) int32: the step's index in its episode, 0 at the episode's first step (a
    sequence model's timestep encoding); computed from the data layer's index arrays, None where a batch has
    no episodes (the online replay buffer).
    """

    obs: jax.Array
    actions: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminal: jax.Array
    legal: jax.Array
    next_legal: jax.Array
    state: jax.Array
    next_state: jax.Array
    valid: jax.Array
    rtg: Any = None
    step: Any = None


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one joint decision costs, declared by the plugin and checked against ``act``'s jaxpr.

    nfe: sequential network evaluations per decision (a shared per-agent network applied to all N
    agents at once counts once; a 200-step sampler counts 200). per_agent: how that count scales with
    the number of agents ("O(1)", "O(K)", "O(IK)"...). centralised: execution needs the joint obs.
    """

    nfe: int
    per_agent: str
    centralised: bool = False
    note: str = ""


# The didactic games' network preset of the embedded default's plugins (bc, flowbc, macflow): [64, 64] MLPs
# instead of the paper's [512] x 4 (App. G.4), which on 2 CPU cores made `bench run` take over 12 minutes;
# the games' claims are tested at this size (tests/test_games.py). `bench run --paper-size` restores [512] x 4.
GAMES_NETS = {"hidden": (64, 64)}


class Algorithm:
    """Base class of every plugin. Subclasses override the class variables and the four functions."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    supports: ClassVar[frozenset] = frozenset({DISCRETE, CONTINUOUS})
    centralised_execution: ClassVar[bool] = False
    sequence_length: ClassVar[int] = 1
    # Config fields that define the method's inference/training cost (e.g. denoising steps). Changing
    # one is allowed only as an explicit override, and is recorded in the run's spec.
    cost_defining: ClassVar[tuple] = ()
    # A short paper reference and the choices made where the paper was silent or conflicted.
    paper: ClassVar[str] = ""
    # {suite, or a suite/task pattern with * wildcards: {config key: value}}; every entry that matches a
    # task applies, in declaration order (so a task pattern after its suite refines it). For network
    # sizes on a suite the method's paper never ran it on, where the paper-size network would make
    # ``bench run`` impractical (e.g. a 60M-parameter U-Net on
    # one-step bandit games). Never a cost-defining key (checked at registration). ``bench run`` applies
    # the preset under the user's --set, says so, and records it in the run's overrides;
    # ``bench run --paper-size`` ignores every preset.
    suite_presets: ClassVar[dict] = {}
    # Preset keys whose per-suite values are the method's own paper's (MADiff's observation history: its official
    # configs give 20 on SMAC, 18 on MA-MuJoCo, 0 on MPE): ``bench run --paper-size`` keeps these entries.
    paper_preset_keys: ClassVar[tuple] = ()
    # Config overrides that make the plugin small enough for the contract tests (tests/conftest.py
    # ``tiny_overrides``: hidden=(32, 32) plus these), e.g. a one-level U-Net. Never a cost-defining
    # key: the tests check the declared cost as the method really runs.
    tiny: ClassVar[dict] = {}

    # The four functions every plugin defines as static methods (checked by ``algorithms.register``):
    #   init(key, spec: EnvSpec, cfg) -> State
    #   update(state, batch: Batch, key) -> (State, metrics dict with "loss")
    #   act(state, obs, legal, key) -> actions
    #   cost(spec: EnvSpec, cfg) -> Cost
    REQUIRED: ClassVar[tuple] = ("init", "update", "act", "cost")

    # Optional hook, a static method when defined:
    #   diagnostics(state, batch: Batch, key) -> {name: scalar}
    # called by the trainer (benchmarks/training/train.py) at every evaluation on a batch of 1 024
    # transitions, vmapped over seeds; each value is logged as ``diag/<name>`` in metrics.jsonl (MAC-Flow's
    # distillation gap and the L_Q * W2 bound of its Prop. 4.2, plotted by ``bench figures``).
    diagnostics: ClassVar[Any] = None

    # Offline-to-online fine-tuning (benchmarks/training/online.py, ``bench run --online-steps``): why this plugin
    # cannot keep training on online rollouts, in one phrase (e.g. a planner conditioned on offline returns);
    # empty: it can. Plugins whose update reads windows (sequence_length > 1) are refused as well.
    cannot_fine_tune: ClassVar[str] = ""
    # Optional hook, a static method when defined:
    #   explore(state, obs, legal, key) -> actions
    # the policy that collects online rollouts (e.g. sampling where ``act`` returns the mode); without it the
    # online phase collects with ``act`` (its own stochasticity), plus any --online-noise.
    explore: ClassVar[Any] = None

    # Optional acting carry (both hooks or neither), static methods when defined:
    #   act_carry_init(state, obs, legal) -> carry
    #   act_step(state, carry, obs, legal, key) -> (actions, carry)
    # for a policy that keeps something from one step of an episode to the next (MADiff's observation history).
    # The evaluators (benchmarks/training/evaluate.py, both paths) build the carry from every episode's first
    # observation and thread it through the episode; all episodes of a batch start together and a finished one is
    # masked, so a carry is never reset mid-batch. Without the hooks the evaluators call ``act`` with an empty
    # carry (``acting`` below). ``act`` stays the one-decision entry point (latency, contract tests): for a plugin
    # with a carry it is one ``act_step`` from a fresh carry.
    act_carry_init: ClassVar[Any] = None
    act_step: ClassVar[Any] = None

    @classmethod
    def window(cls, cfg) -> tuple:
        """(past, length): the windows the plugin's update reads, ``length`` steps of which the first ``past`` come
        before the sampled transition (an observation history; steps before the episode's start repeat its first
        step and have ``valid`` = 0). Default: (0, ``sequence_length``)."""
        return 0, cls.sequence_length

    @staticmethod
    def rtg_discount(cfg) -> float | None:
        """The discount of the reward-to-go the plugin's batches must carry (``Batch.rtg``), or None (no
        reward-to-go; the default). The data layer computes it once per dataset row (return-conditioned
        planners such as MADiff condition on the return from a step to its episode's end)."""
        return None

    # ---- helpers shared by every plugin -------------------------------------------------------
    @classmethod
    def default_config(cls):
        return cls.Config()

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None, allow_cost_override: bool = False):
        """Build a Config from ``key=value`` overrides, validating names and types.

        Values may be strings (from the command line): they are parsed to the field's type.
        """
        return build_config(cls, overrides or {}, allow_cost_override=allow_cost_override)

    @classmethod
    def preset_for(cls, task_id: str) -> dict:
        """The merged ``suite_presets`` entries matching ``task_id`` ("suite/task")."""
        suite = task_id.split("/", 1)[0]
        out: dict = {}
        for key, preset in cls.suite_presets.items():
            if key == suite or fnmatch.fnmatchcase(task_id, key):
                out.update(preset)
        return out

    @classmethod
    def check_spec(cls, spec: EnvSpec) -> None:
        if spec.action_kind not in cls.supports:
            raise ConfigError(
                f"algorithm '{cls.name}' does not support {spec.action_kind} actions; it supports: "
                f"{', '.join(sorted(cls.supports))}. Pick a task with {' or '.join(sorted(cls.supports))} actions."
            )


def _parse(value: Any, typ: Any, key: str, algo: str):
    if not isinstance(value, str):
        if typ in (float,) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if typ is tuple and isinstance(value, list):
            return tuple(value)
        if typ in (int, float, bool, str, tuple) and not isinstance(value, typ):
            raise ConfigError(f"--set {key}: expected {typ.__name__} for {algo}, got {value!r}")
        return value
    try:
        if typ is bool:
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ is int:
            return int(value)
        if typ is float:
            return float(value)
        if typ is tuple:
            parts = [p for p in value.strip("()[] ").split(",") if p.strip()]
            return tuple(int(p) for p in parts)
        return value
    except ValueError:
        example = {tuple: "comma-separated integers, e.g. {key}=256,256", bool: "true or false, e.g. {key}=false",
                   int: "an integer, e.g. {key}=10", float: "a number, e.g. {key}=0.5"}.get(typ)
        raise ConfigError(
            f"--set {key}={value}: expected a value of type {getattr(typ, '__name__', typ)} for '{algo}'"
            + (f": {example.format(key=key)}" if example else "")
        ) from None


def _field_type(field: dataclasses.Field):
    t = field.type
    if isinstance(t, str):
        t = {"int": int, "float": float, "bool": bool, "str": str}.get(t.split("[")[0].strip(), None) or (
            tuple if t.startswith("tuple") else str
        )
    if getattr(t, "__origin__", None) is tuple:
        t = tuple
    return t


def build_config(cls, overrides: Mapping[str, Any], allow_cost_override: bool = False):
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    kwargs = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(
                f"unknown config key '{key}' for algorithm '{cls.name}'. Valid keys: {', '.join(sorted(fields))}"
            )
        kwargs[key] = _parse(value, _field_type(fields[key]), key, cls.name)
    cfg = cls.Config(**kwargs)
    changed = cost_overrides(cls, cfg)
    if changed and not allow_cost_override:
        names = ", ".join(f"{k}={v}" for k, v in changed.items())
        raise ConfigError(
            f"{names} changes the cost that defines '{cls.name}' (paper default: "
            + ", ".join(f"{k}={getattr(cls.Config(), k)}" for k in changed)
            + "). Pass --allow-cost-override to run it anyway; the run is then flagged in every report."
        )
    return cfg


def cost_overrides(cls, cfg) -> dict:
    """Cost-defining fields of ``cfg`` that differ from the paper default."""
    default = cls.Config()
    return {k: getattr(cfg, k) for k in cls.cost_defining if getattr(cfg, k) != getattr(default, k)}


def config_dict(cfg) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


def check_choice(algo: str, key: str, value, allowed) -> None:
    """A string-valued config switch must be one of ``allowed``; otherwise a ConfigError naming them."""
    if value not in allowed:
        raise ConfigError(f"{algo}: {key} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def acting(algo):
    """(init, step) of ``algo``'s policy with its acting carry: ``init(state, obs, legal) -> carry`` and
    ``step(state, carry, obs, legal, key) -> (actions, carry)``; a plugin without the carry hooks gets an empty
    carry and ``act``."""
    init, step = getattr(algo, "act_carry_init", None), getattr(algo, "act_step", None)
    if (init is None) != (step is None):
        raise ConfigError(f"plugin '{getattr(algo, 'name', algo)}' defines only one of act_carry_init / act_step; "
                          "define both or neither")
    if step is not None:
        return init, step
    return (lambda state, obs, legal: ()), (lambda state, carry, obs, legal, key: (algo.act(state, obs, legal, key), carry))


def mask_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """Illegal actions get a large negative logit (never multiply logits by a 0/1 mask)."""
    return jnp.where(legal, logits, -1e9)


@flax.struct.dataclass
class State:
    """The generic training state most plugins use.

    params / target: dicts of network parameters (target networks for TD methods, else empty);
    opt: optimiser state; step: gradient steps taken; extra: any other arrays a plugin carries.
    spec and cfg are static: they select the networks and hyper-parameters at trace time.
    """

    params: Any
    opt: Any
    step: jax.Array
    target: Any = None
    extra: Any = None
    spec: EnvSpec = flax.struct.field(pytree_node=False, default=None)
    cfg: Any = flax.struct.field(pytree_node=False, default=None)
