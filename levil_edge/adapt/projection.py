"""The trainable part of Co-Settle: a per-token projection on the frozen encoder's patch tokens."""

from __future__ import annotations

import torch
from torch import nn


class CoSettleProjection(nn.Module):
    """Linear(D -> D) -> Tanh -> LayerNorm, applied to every patch token (the CLS token is dropped
    before, by the encoder). About D^2 parameters: 0.6 M for a ViT-B (D = 768)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(dim, dim)
        self.act = nn.Tanh()
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., N, D) -> (..., N, D)."""
        return self.norm(self.act(self.linear(tokens)))
