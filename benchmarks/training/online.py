"""Offline-to-online fine-tuning (MAC-Flow Sec. 5 A3, App. E, Fig. 5): a finished offline run keeps training on
rollouts of its own policy, collected in the task's environment into a replay buffer (flashbax).

A run with ``online_steps`` > 0 (``bench run --online-steps N``) is the fine-tuning of its offline parent, the
same RunConfig without the online settings (``RunConfig.parent()``): the parent is trained first as its own
run (or found finished and reused, its final checkpoint restored), then ``online_steps`` gradient steps follow,
each one preceded by one step of ``online_envs`` environments whose transitions go into the buffer; the
plugin's own ``update`` trains on batches drawn from that buffer only (App. E: "trained purely on newly
collected online rollouts ... continuing from the offline pretraining checkpoint", no symmetric sampling;
``mix_offline`` adds a batch of offline data to each one, the released code's ``--balanced_sampling``). The
paper's Sec. 5 also says MAC-Flow fine-tunes "by simply augmenting the offline dataset with additional online
rollouts"; we follow App. E, the training-details text, and keep the other reading as the switch.

Settings (RunConfig, each with its source): online_steps (App. E: 500K), online_envs (1: the released
continuous_o2o_main.py steps one environment per update; the paper is silent), online_buffer (2M, released
code), online_warmup (640 transitions before the first online update: the released code's batch_size x
sequence_length = 32 x 20; the paper is silent), online_noise (0: no extra noise; the rollouts come from a
plugin's optional ``explore`` hook where it defines one, else from its ``act``, which for discrete MAC-Flow is
the deterministic z = 0 action: the paper is silent on discrete online exploration, and sampling z ~ N(0, I)
collapsed the policy on smax/3m-poor, 0.585 / 0.546 -> 0.0 / 0.0, while z = 0 rose to 0.674 / 0.712;
tests/test_online.py's learning test).

Where the rollouts run:

* JAX environments (games, SMAX, MPE): act, environment step (finished episodes reset in place), buffer add and
  update are one ``lax.scan`` body, jitted and vmapped over seeds; Python runs once per chunk.
* Python environments (mpe-gen, MA-MuJoCo, SMAC): the S seeds x E environments step on the host as one batch;
  each step makes one jitted call that adds the transitions, takes the gradient step and returns the next
  actions of the updated policy (so the policy that acts is always the current one, as in the released loop).
  A batch runs until all its episodes are over, then a new batch starts with the next seed; an environment
  whose episode ended early idles (its steps are not transitions and are not stored).

Transitions: ``terminal`` is 1 when the episode ended by itself, 0 when it was cut by the time limit (then the
stored ``next_obs`` is the real last observation, so the critic bootstraps from it; the offline data drop
such transitions for lack of a successor). The time limit is the environment's ``info["time_limit"]`` where
it reports one (SMAX), else an episode reaching ``spec.episode_length`` steps (> 1: one-step games end by
themselves).

Checkpoints (at every evaluation) hold the states, keys, the replay buffer and the environments' carry (JAX)
or the batch counter (Python), so a killed run resumes where it was: exactly for JAX environments; a Python
environment's episode in flight at the kill is cut (its stored transitions stay) and a new batch starts.
Evaluation rows carry ``phase`` ("offline" rows are the parent's, copied; "online" ones are this run's),
``online_start`` (the step the online phase starts at, for the learning-curve figure) and ``env_steps`` (the
transitions collected so far, per seed).
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.base import Batch
from algorithms.errors import BenchError
from benchmarks.store import Run, results_root
from benchmarks.training.plan import RunConfig
from benchmarks.training.train import (Evaluator, Job, Progress, _check_finite, _checkpoints, _failures_recorded,
                                       _finish, _note_resumed_provenance, init_states, load_data, sample_batch,
                                       settle_stored, stored_verdict,
                                       training_keys, train as train_offline)

FIELDS = ("obs", "actions", "reward", "next_obs", "terminal", "legal", "next_legal", "state", "next_state")


# ---- the replay buffer ----------------------------------------------------------------------------------
def example_item(spec) -> dict:
    """One transition, in the layout (and dtypes) of DeviceData.batch_at's rows."""
    n, f32 = spec.n_agents, jnp.float32
    obs = jnp.zeros((n, spec.obs_dim), f32)
    act = jnp.zeros((n,), jnp.int32) if spec.discrete else jnp.zeros((n, spec.action_dim), f32)
    legal = jnp.zeros((n, spec.legal_dim), bool)
    state = jnp.zeros((spec.state_dim,), f32)
    return {"obs": obs, "actions": act, "reward": jnp.zeros((), f32), "next_obs": obs, "terminal": jnp.zeros((), f32),
            "legal": legal, "next_legal": legal, "state": state, "next_state": state}


class Replay:
    """A flashbax item buffer of transitions (one per seed: vmap its functions), with a masked add.

    ``add(buffer, items [E, ...], valid [E])`` writes the valid items, in order, where flashbax's own ``add``
    would write them (``current_index`` onwards, wrapping around at ``capacity``), and leaves the buffer as
    flashbax's add of just those items would (tests/test_online.py checks both); the shapes stay static, so
    environments whose episodes end at different steps add under ``jit`` too. ``sample`` is flashbax's
    uniform sample, as a Batch."""

    def __init__(self, spec, capacity: int, batch_size: int):
        import flashbax as fbx

        self.capacity, self.example = int(capacity), example_item(spec)
        self.fbx = fbx.make_item_buffer(max_length=self.capacity, min_length=1, sample_batch_size=batch_size,
                                        add_sequences=True)

    def init(self):
        # flashbax's index is weakly typed; the add's is not: one type, so a chunk compiles once
        return self.fbx.init(self.example).replace(current_index=jnp.zeros((), jnp.int32),
                                                   is_full=jnp.zeros((), bool))

    def add(self, buf, items: dict, valid):
        valid = valid.astype(bool)
        pos = (buf.current_index + jnp.cumsum(valid) - 1) % self.capacity
        pos = jnp.where(valid, pos, self.capacity)  # out of range: dropped
        exp = {k: buf.experience[k].at[0, pos].set(items[k].astype(buf.experience[k].dtype), mode="drop")
               for k in FIELDS}
        end = buf.current_index + valid.sum().astype(buf.current_index.dtype)
        return buf.replace(experience=exp, current_index=end % self.capacity,
                           is_full=buf.is_full | (end >= self.capacity))

    def sample(self, buf, key) -> Batch:
        exp = self.fbx.sample(buf, key).experience
        return Batch(**exp, valid=jnp.ones(exp["reward"].shape, jnp.float32))

    def size(self, buf):
        return jnp.where(buf.is_full, self.capacity, buf.current_index)


def capacity(cfg: RunConfig) -> int:
    """The buffer's allocation: --online-buffer, or all the phase will ever collect when that is less."""
    collect = warmup_iterations(cfg) * cfg.online_envs + cfg.online_steps * cfg.online_envs
    return max(min(cfg.online_buffer, collect), cfg.batch_size, cfg.online_envs)


def warmup_iterations(cfg: RunConfig) -> int:
    """Environment steps (of all ``online_envs`` at once) before the first online update."""
    return -(-cfg.online_warmup // cfg.online_envs)


# ---- collecting -----------------------------------------------------------------------------------------
def explorer(algo, spec, noise: float):
    """The collecting policy: the plugin's ``explore`` hook (else ``act``), plus --online-noise."""
    policy = algo.explore if algo.explore is not None else algo.act

    def act(state, obs, legal, key):
        k_pol, k_a, k_b = jax.random.split(key, 3)
        a = policy(state, obs, legal, k_pol)
        if noise <= 0:
            return a
        if spec.discrete:  # epsilon: a uniformly random legal action
            rand = jax.random.categorical(k_a, jnp.where(legal, 0.0, -1e9)).astype(a.dtype)
            return jnp.where(jax.random.uniform(k_b, a.shape) < noise, rand, a)
        half = 0.5 * (spec.action_high - spec.action_low)  # std in units of a [-1, 1] action box
        return jnp.clip(a + noise * half * jax.random.normal(k_a, a.shape), spec.action_low, spec.action_high)

    return act


def terminal_of(done, info: dict, t, episode_length: int):
    """1 where an episode ended by itself, 0 where it was cut by the time limit (or goes on)."""
    if "time_limit" in info:
        cut = info["time_limit"]
    else:
        cut = (t >= episode_length) & (episode_length > 1)
    return done & ~cut


def _online_keys(key):
    """The online phase's key stream, apart from the offline one the parent's checkpoint ends with."""
    return jax.vmap(lambda k: jax.random.fold_in(k, 0x0714E))(key)


@dataclasses.dataclass
class Parts:
    """What every online program needs: the plugin, the buffer, the collecting policy, the offline data."""

    algo: type
    spec: object
    replay: Replay
    policy: object
    batch_size: int
    mix: bool

    def learn(self, state, buf, data, key):
        """One gradient step on a buffer batch (plus an offline one with --mix-offline)."""
        kb, ko, ku = jax.random.split(key, 3)
        batch = self.replay.sample(buf, kb)
        if self.mix:
            off = sample_batch(data, ko, self.batch_size)
            batch = jax.tree.map(lambda a, b: jnp.concatenate([a, b.astype(a.dtype)]), off, batch)
        return self.algo.update(state, batch, ku)

    def zero_metrics(self, state, buf, data):
        shapes = jax.eval_shape(self.learn, state, buf, data, jax.random.PRNGKey(0))[1]
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def maybe_learn(self, learn, state, buf, data, key, zeros):
        """The gradient step when ``learn`` (traced), else the state as it is (warm-up: collect only)."""
        return jax.lax.cond(learn, lambda: self.learn(state, buf, data, key), lambda: (state, zeros))


class JaxRollouts:
    """Chunks of (act, environment step, buffer add, update) in one jitted scan, seeds vmapped."""

    def __init__(self, parts: Parts, env, n_envs: int):
        self.p, self.env, self.E, self.compiled = parts, env, n_envs, None
        self.T = env.spec.episode_length

    def reset(self, key):
        es, obs, legal, gs = jax.vmap(self.env.reset)(jax.random.split(key, self.E))
        return {"env": es, "obs": obs, "legal": legal, "state": gs, "t": jnp.zeros(self.E, jnp.int32)}

    def init_carry(self, keys):
        return jax.jit(jax.vmap(self.reset))(keys)

    def _env_step(self, state, carry, key):
        ka, ks, kr = jax.random.split(key, 3)
        a = self.p.policy(state, carry["obs"], carry["legal"], ka)
        es, obs, legal, gs, r, done, info = jax.vmap(self.env.step)(carry["env"], a, jax.random.split(ks, self.E))
        t = carry["t"] + 1
        item = {"obs": carry["obs"], "actions": a, "reward": r, "next_obs": obs,
                "terminal": terminal_of(done, info, t, self.T).astype(jnp.float32), "legal": carry["legal"],
                "next_legal": legal, "state": carry["state"], "next_state": gs}
        stepped = {"env": es, "obs": obs, "legal": legal, "state": gs, "t": t}
        fresh = self.reset(kr)
        carry = jax.tree.map(lambda f, s: jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s),
                             fresh, stepped)
        return carry, item

    def program(self):
        """jit(vmap over seeds of: ``n`` iterations, updating when ``learn``); ``n`` and ``learn`` are traced, so
        one compilation serves the warm-up and every chunk length. Returns the mean metrics per seed."""
        if self.compiled:
            return self.compiled
        p = self.p

        def one_seed(state, buf, carry, collected, key, data, n, learn):
            zeros = p.zero_metrics(state, buf, data)

            def body(i, c):
                state, buf, carry, collected, msum = c
                ke, kl = jax.random.split(jax.random.fold_in(key, i))
                carry, item = self._env_step(state, carry, ke)
                buf = p.replay.add(buf, item, jnp.ones(self.E, bool))
                state, m = p.maybe_learn(learn, state, buf, data, kl, zeros)
                return state, buf, carry, collected + self.E, jax.tree.map(jnp.add, msum, m)

            state, buf, carry, collected, msum = jax.lax.fori_loop(0, n, body, (state, buf, carry, collected, zeros))
            return state, buf, carry, collected, jax.tree.map(lambda x: x / jnp.maximum(n, 1), msum)

        self.compiled = jax.jit(jax.vmap(one_seed, in_axes=(0, 0, 0, 0, 0, None, None, None)), donate_argnums=(0, 1, 2))
        return self.compiled

    def run(self, tree, key, data, length: int, learn: bool):
        """Advance ``length`` iterations; returns (tree, key, mean metrics per seed)."""
        key, sub = _split(key)
        s, b, c, n, m = self.program()(tree["state"], tree["buffer"], tree["env"], tree["collected"], sub, data,
                                       jnp.asarray(length, jnp.int32), jnp.asarray(learn))
        return {**tree, "state": s, "buffer": b, "env": c, "collected": n}, key, (m if learn else {})


class HostRollouts:
    """A Python batch environment stepped on the host, one jitted (add, update, next actions) call per step."""

    def __init__(self, parts: Parts, maker, n_envs: int, n_seeds: int, env_seed: int):
        self.p, self.maker, self.E, self.S, self.env_seed = parts, maker, n_envs, n_seeds, env_seed
        self.T = maker.spec.episode_length
        self.env = None
        self._act = jax.jit(jax.vmap(parts.policy))
        self._steps = None

    def _step_fn(self):
        """One compiled step for the warm-up and the updates alike (``learn`` is traced)."""
        if self._steps:
            return self._steps
        p = self.p

        def one_seed(state, buf, collected, item, valid, obs, legal, key, data, learn):
            kl, ka, key = jax.random.split(key, 3)
            buf = p.replay.add(buf, item, valid)
            state, m = p.maybe_learn(learn, state, buf, data, kl, p.zero_metrics(state, buf, data))
            return state, buf, collected + valid.sum(), p.policy(state, obs, legal, ka), key, m

        self._steps = jax.jit(jax.vmap(one_seed, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, None, None)), donate_argnums=(0, 1))
        return self._steps

    def _new_batch(self, tree):
        """Start the next batch of episodes (seeded by its index, so a resumed run never repeats one)."""
        if self.env is not None:
            self.env.close()
        k = int(tree["round"])
        self.env = self.maker.batch(self.S * self.E, self.env_seed + 7919 * k)
        obs, legal, gs = self.env.reset()
        self.cur = {"obs": obs, "legal": legal, "state": gs}
        self.t = np.zeros(self.S * self.E, np.int64)
        self.alive = np.ones(self.S * self.E, bool)
        return {**tree, "round": jnp.asarray(k + 1, jnp.int32)}

    def _shaped(self, x):
        """[S*E, ...] host array -> [S, E, ...] (numpy: the jitted call transfers it once)."""
        x = np.asarray(x)
        return x.reshape((self.S, self.E) + x.shape[1:])

    def run(self, tree, key, data, length: int, learn: bool):
        if self.env is None:
            tree = self._new_batch(tree)
            self.actions = None
        if self.actions is None:
            key, sub = _split(key)
            self.actions = self._act(tree["state"], self._shaped(self.cur["obs"]), self._shaped(self.cur["legal"]), sub)
        step, flag = self._step_fn(), jnp.asarray(learn)
        state, buf, collected = tree["state"], tree["buffer"], tree["collected"]
        metrics = []
        for _ in range(length):
            a = np.asarray(self.actions).reshape((self.S * self.E,) + self.actions.shape[2:])
            obs, legal, gs, r, done, info = self.env.step(a)
            done = np.asarray(done, bool)
            self.t += 1
            info = {k: np.asarray(v) for k, v in info.items()}
            item = {"obs": self.cur["obs"], "actions": a, "reward": np.asarray(r, np.float32), "next_obs": obs,
                    "terminal": terminal_of(done, info, self.t, self.T).astype(np.float32), "legal": self.cur["legal"],
                    "next_legal": legal, "state": self.cur["state"], "next_state": gs}
            valid = self.alive.copy()
            self.alive &= ~done
            if self.alive.any():
                self.cur = {"obs": obs, "legal": legal, "state": gs}
            else:
                tree = self._new_batch({**tree, "state": state, "buffer": buf, "collected": collected})
            state, buf, collected, self.actions, key, m = step(
                state, buf, collected, {k: self._shaped(v) for k, v in item.items()},
                self._shaped(valid), self._shaped(self.cur["obs"]), self._shaped(self.cur["legal"]), key, data, flag)
            metrics.append(m)
        mean = jax.tree.map(lambda *xs: jnp.stack(xs).mean(0), *metrics) if learn else {}
        return {**tree, "state": state, "buffer": buf, "collected": collected}, key, mean

    def close(self):
        if self.env is not None:
            self.env.close()
            self.env = None


def _split(key):
    both = jax.vmap(jax.random.split)(key)
    return both[:, 0], both[:, 1]


# ---- checkpoints ----------------------------------------------------------------------------------------
def _restore_parent(parent: Run, step: int, states, key):
    """The states and key of the finished parent's final checkpoint (step ``step``)."""
    import orbax.checkpoint as ocp

    with _checkpoints(parent.ckpt_dir) as mngr:
        if mngr.latest_step() != step:
            raise BenchError(f"the offline run {parent.id} is finished but its checkpoint is at step "
                             f"{mngr.latest_step()}, not {step}; re-run it with --fresh (bench run without --online-steps)")
        got = mngr.restore(step, args=ocp.args.StandardRestore({"state": states, "key": key}))
    return got["state"], got["key"]


def _restore(mngr, tree, key):
    import orbax.checkpoint as ocp

    step = mngr.latest_step()
    if step is None:
        return None
    got = mngr.restore(step, args=ocp.args.StandardRestore({"tree": tree, "key": key}))
    return got["tree"], got["key"], int(step)


def _save(mngr, step: int, tree, key) -> None:
    import orbax.checkpoint as ocp

    mngr.save(step, args=ocp.args.StandardSave({"tree": tree, "key": key}), force=True)
    mngr.wait_until_finished()


# ---- the loop -------------------------------------------------------------------------------------------
def online_points(cfg: RunConfig) -> list[int]:
    """Evaluation steps of the online phase: every ``eval_every`` from its start, and its last step."""
    return sorted(set(range(cfg.steps + cfg.eval_every, cfg.total_steps, cfg.eval_every)) | {cfg.total_steps})


def _setup(job: Job):
    """(rollouts, the tree of arrays a checkpoint holds, the training keys), before any restore."""
    cfg, algo, task, seeds = job.cfg, job.algo_cls, job.task, job.seeds
    parts = Parts(algo, task.spec, Replay(task.spec, capacity(cfg), cfg.batch_size),
                  explorer(algo, task.spec, cfg.online_noise), cfg.batch_size, cfg.mix_offline)
    states = init_states(algo, task.spec, job.algo_cfg, seeds)
    key = training_keys(seeds)
    env_keys = jnp.stack([jax.random.PRNGKey(2 ** 21 + s) for s in seeds])
    if task.jax_env:
        env = task.make_env()
        rollouts = JaxRollouts(parts, env, cfg.online_envs)
        carry = {"env": rollouts.init_carry(env_keys)}
    else:
        rollouts = HostRollouts(parts, task.make_env(), cfg.online_envs, len(seeds), env_seed=1_000 * seeds[0] + 17)
        carry = {"round": jnp.asarray(0, jnp.int32)}
    tree = {"state": states, "buffer": jax.vmap(lambda _: parts.replay.init())(jnp.arange(len(seeds))),
            "collected": jnp.zeros(len(seeds), jnp.int32), **carry}
    return rollouts, tree, key


def restored(cfg: RunConfig, results=None) -> dict:
    """The tree of the latest checkpoint of a fine-tuned run: state, buffer, collected (per seed), environments."""
    job = Job.resolve(cfg, results)
    rollouts, tree, key = _setup(job)
    with _checkpoints(job.run.ckpt_dir) as ckpt:
        got = _restore(ckpt, tree, key)
    if hasattr(rollouts, "close"):
        rollouts.close()
    if got is None:
        raise BenchError(f"{cfg.label} has no online checkpoint in {job.run.ckpt_dir}")
    return got[0]


def train(cfg: RunConfig, results=None, progress: Optional[Progress] = None, resume: bool = True,
          expect_data: Optional[str] = None) -> dict:
    """Run (or resume, or skip if finished) one job, offline or offline-to-online; returns final.json's content."""
    if not cfg.online_steps:
        return train_offline(cfg, results, progress, resume, expect_data)
    job = Job.resolve(cfg, results)
    stale = stored_verdict(job, resume)
    if resume and job.run.finished and not stale[0]:
        return job.run.final()
    total = cfg.total_steps
    parent_cfg = cfg.parent()
    parent = Run(results_root(results), parent_cfg.run_id)
    outer = (lambda step, _total, info: progress(step, total, info)) if progress else None
    with parent.lock():  # two fine-tunings of one parent never train it twice at once
        train_offline(parent_cfg, results, outer, resume=True, expect_data=expect_data)
    t_start = time.time()
    ds, data = load_data(job.task, job.algo_cls, cfg, job.algo_cfg)
    spec = job.spec_record(ds)
    spec.update(online={**cfg.online_settings(), "buffer_capacity": capacity(cfg),
                        "warmup_env_steps": warmup_iterations(cfg)}, parent_run_id=parent.id)
    reused = settle_stored(job, stale, spec)
    if reused is not None:
        return reused
    _note_resumed_provenance(job.run, spec["provenance"])
    job.run.start(spec)
    # the offline phase's curve, from the parent: one curve per algorithm for both phases
    job.run.append_metrics([{**r, "phase": "offline"} for r in parent.metrics() if r.get("kind", "eval") == "eval"])
    rollouts, tree, key = _setup(job)
    last_eval = None
    with _checkpoints(job.run.ckpt_dir) as ckpt, contextlib.ExitStack() as stack:
        got = _restore(ckpt, tree, key) if resume else None
        if got is None:  # from the parent's final checkpoint, with an empty buffer
            states, key = _restore_parent(parent, cfg.steps, tree["state"], key)
            tree, key, step = {**tree, "state": states}, _online_keys(key), cfg.steps
        else:
            tree, key, step = got
        # committed to the device as the programs' outputs are, so the first chunk's compilation serves all
        tree, key = jax.device_put((tree, key), jax.devices()[0])
        evaluate = Evaluator(job, data, t_start, phase="online")
        stack.callback(lambda: getattr(evaluate.env, "close", lambda: None)())
        stack.callback(getattr(rollouts, "close", lambda: None))
        with _failures_recorded(job.run):
            if step == cfg.steps and warmup_iterations(cfg):
                tree, key, _ = rollouts.run(tree, key, data, warmup_iterations(cfg), learn=False)
            for target in (t for t in online_points(cfg) if t > step):
                t0, losses = time.time(), []
                while step < target:
                    n = min(cfg.chunk, target - step)
                    tree, key, m = rollouts.run(tree, key, data, n, learn=True)
                    m = jax.device_get(m)
                    step += n
                    _check_finite(m, step, job.seeds, job.run)
                    losses.append((n, m))
                    if progress:
                        progress(step, total, {})
                jax.block_until_ready(tree["state"])
                evaluate.train_time += time.time() - t0
                collected = np.asarray(jax.device_get(tree["collected"]))
                last_eval = evaluate(tree["state"], step, losses,
                                     {"env_steps": collected, "online_start": [cfg.steps] * len(job.seeds)})
                if progress:
                    progress(step, total, {"return": float(np.mean(last_eval["returns"]))})
                _save(ckpt, step, tree, key)
    return _finish(job, ds, last_eval, evaluate.train_time, t_start)
