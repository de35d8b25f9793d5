"""The soft-target formula, written once: LEViL's q = softmax(cos / tau) over the labels.

numpy in, numpy out (float32); torch in, torch out (differentiable, same device). Importing this
module does not import torch. Teachers, the teacher cache, zero-shot and training all call it."""

from __future__ import annotations

import numpy as np

from levil_edge.config import DEFAULT_TAU
from levil_edge.errors import UsageError


def check_tau(tau: float) -> None:
    if not tau > 0:  # 0 divides by zero, < 0 inverts the ranking
        raise UsageError(f"tau must be positive, got {tau} (LEViL uses 1/50 = 0.02)")


def soft_targets_from_cosines(cos, tau: float = DEFAULT_TAU):
    """q = softmax(cos / tau) over the last axis: (..., M) -> (..., M)."""
    check_tau(tau)
    if type(cos).__module__.startswith("torch"):
        return (cos / tau).softmax(-1)
    z = np.asarray(cos, dtype=np.float32) / tau
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def soft_targets_from_embeddings(video_emb, text_emb, tau: float = DEFAULT_TAU):
    """q = softmax((video_emb @ text_emb.T) / tau) over the labels.

    video_emb (B, D) and text_emb (M, D), both L2-normalised -> (B, M)."""
    if type(video_emb).__module__.startswith("torch"):
        return soft_targets_from_cosines(video_emb @ text_emb.T, tau)
    cos = np.asarray(video_emb, dtype=np.float32) @ np.asarray(text_emb, dtype=np.float32).T  # (B, M)
    return soft_targets_from_cosines(cos, tau)
