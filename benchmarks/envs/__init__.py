"""Evaluation environments.

A JAX environment (the games, SMAX) implements::

    spec: EnvSpec
    reset(key) -> (env_state, obs [N,O], legal [N,L], state [S])
    step(env_state, actions, key) -> (env_state, obs, legal, state, reward [], done [], info dict)

and is rolled out inside ``jit`` with all episodes and seeds vectorised (benchmarks/evaluate.py).
"""
