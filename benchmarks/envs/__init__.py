"""Evaluation environments.

A JAX environment (the games, SMAX, OMAR's MPE) implements::

    spec: EnvSpec
    reset(key) -> (env_state, obs [N,O], legal [N,L], state [S])
    step(env_state, actions, key) -> (env_state, obs, legal, state, reward [], done [], info dict)

and is rolled out inside ``jit`` with all episodes and seeds vectorised (benchmarks/training/evaluate.py).

A Python environment (mpe2, MaMuJoCo, SMAC) belongs to a task with ``jax_env=False``. Its
``Task.make_env()`` returns a maker with ``spec: EnvSpec`` and ``batch(n_envs, seed) -> BatchEnv``;
a BatchEnv steps E episodes together (``benchmarks.training.evaluate.make_python_evaluator`` calls one jitted
``act`` per step for all of them)::

    reset() -> (obs [E,N,O], legal [E,N,L], state [E,S])            numpy arrays; obs padded to O
    step(actions) -> (obs, legal, state, reward [E], done [E], info)
    close()

``actions`` is [E,N] int (discrete) or [E,N,A] float in [spec.action_low, spec.action_high]. ``reward``
is the team reward of the step (the mean over agents where the environment rewards each agent).
``done`` is True once the episode is over (terminated or truncated); an episode that is already over
ignores its actions and keeps returning done=True and reward 0. ``info`` may hold ``"won"`` [E] bool
(read when an episode ends; the task then sets ``reports_win_rate=True``). Episodes last at most
``spec.episode_length`` steps. Legal masks of continuous tasks are all True with L = 1.
"""
