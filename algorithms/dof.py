"""DoF-Trajectory with W-concat noise factorisation (Li et al., ICLR 2025; card 10a), as the MAC-Flow
paper benchmarks it (App. C, F.1: "DoF-Trajectory, W-concat, 200 DDPM steps"), decentralised execution.

The pipeline is MADiff's (:mod:`algorithms.madiff`: return-conditioned epsilon-prediction DDPM over
per-agent observation windows, K = 200, cosine schedule, classifier-free guidance w = 1.2 with
condition dropout 0.25, x_K ~ 0.5 N(0, I), shared inverse dynamics, EMA, lr 2e-4). The difference is
the noise model: each agent's slice x[:, i] is denoised by the temporal U-Net WITHOUT cross-agent
attention (one module shared by all agents, each agent conditioned on its own observation and its
own return), and the per-agent predictions are concatenated (noise factorisation). W-concat: a
learnable weight vector w in R^N (initialised to 1) rescales agent i's predicted noise in training and
sampling. The released code uses w_i eps_i / sum_j w_j, which with w = 1 shrinks every prediction by
1/N (card 10 pitfall iii); we implement the intended weighting, normalised by the mean,
w_i eps_i / mean_j w_j, so w = 1 is the plain concatenation (``w_concat=False`` gives plain Concat).

Observation history: MADiff's (``history``, default 20, the DoF SMAC 3m config's H_hist = 20 too; presets
mpe(-gen) 0, mamujoco(-gen) 18, games 0; see :mod:`algorithms.madiff`): each agent's slice imposes its own past
observations, kept at execution in the acting carry.

Execution: agent i runs its own K-step chain on its own slice from its own observation; nothing crosses
agents, so the work per agent does not depend on N (O(K) per agent, O(IK) in total). The chains of all
agents are evaluated as one batched call per step (a network evaluation counts once however many
agents it serves), so Cost.nfe = K + 1 (inverse dynamics) = 201.

Consequence of the factorisation: with independent noise per agent, the joint samples are the product
of the per-agent distributions, so DoF-Trajectory cannot express coupled joint modes that no agent
can infer from its own observation (see tests/test_diffusion_plugins.py, xor game).
"""
from __future__ import annotations

import dataclasses

from . import register
from .madiff import Config as MADiffConfig
from .madiff import Planner


@dataclasses.dataclass(frozen=True)
class Config(MADiffConfig):
    # learnable per-agent noise weights w (W-concat), True: paper runs W-concat (MAC-Flow App. C, F.1); False = Concat
    w_concat: bool = True


@register
class DoF(Planner):
    name = "dof"
    Config = Config
    attention = False
    train_visible = "all"
    chains = "team"  # one batched call; without attention every agent's chain is independent
    paper = "DoF-Trajectory, W-concat (Li et al., ICLR 2025), as run in MAC-Flow App. C/F.1"
