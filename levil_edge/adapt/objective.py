"""One Co-Settle training step as a small object: frozen encoder in, named losses out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from levil_edge.adapt.encoder import FrozenViTEncoder
from levil_edge.adapt.losses import cycle_walk_loss, pool_patch_grid, separability_kl
from levil_edge.adapt.posaug import augment_position_grid
from levil_edge.adapt.projection import CoSettleProjection


def walk_pool(grid: int) -> int:
    """2x2 pooling on an even grid (14x14 -> 7x7 nodes for ViT-B/16); an odd grid (7x7 for
    ViT-B/32 at 224 px) is already that coarse and is walked unpooled."""
    return 2 if grid % 2 == 0 else 1


def walk_nodes(tokens: torch.Tensor, grid: int, pool: int) -> torch.Tensor:
    """(..., N, D) tokens -> (..., M, D) walk nodes: L2-normalise, then average-pool (the order of
    the public code: nodes are means of unit vectors, not re-normalised)."""
    lead = tokens.shape[:-2]
    x = F.normalize(tokens, dim=-1).reshape(-1, *tokens.shape[-2:])
    x = pool_patch_grid(x, grid, pool)
    return x.reshape(*lead, *x.shape[-2:])


class CoSettleObjective(nn.Module):
    """Loss = cycle walk (t1 -> t2 -> t1 with augmented positions) + kl_weight * separability KL.

    Only ``projection`` has trainable parameters; the encoder runs under no_grad in eval mode."""

    def __init__(
        self,
        encoder: FrozenViTEncoder,
        projection: CoSettleProjection,
        temperature: float = 0.03,
        pos_ratio: float = 10.0,
        kl_weight: float = 3.0,
        pool: int | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.projection = projection
        self.temperature = temperature
        self.pos_ratio = pos_ratio
        self.kl_weight = kl_weight
        self.pool = walk_pool(encoder.grid) if pool is None else pool

    def encode_pair(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (B, 2, S, S, 3) -> frozen tokens (B, 3, N, D): t1, t2, and t1 again with one random
        window of the upsampled position grid (the same window for the whole batch, as in the paper)."""
        enc = self.encoder
        b = frames.shape[0]
        pixels = enc.normalize(frames.flatten(0, 1))  # (B*2, 3, S, S)
        tokens = enc.patch_tokens(pixels).unflatten(0, (b, 2))  # (B, 2, N, D)
        grid_aug = augment_position_grid(enc.position_grid(), enc.grid, self.pos_ratio, generator=generator)
        returning = enc.patch_tokens(pixels.unflatten(0, (b, 2))[:, 0], position_grid=grid_aug)  # (B, N, D)
        return torch.cat([tokens, returning[:, None]], dim=1)

    def losses(self, original: torch.Tensor) -> dict[str, torch.Tensor]:
        """Frozen tokens (B, 3, N, D) -> {"loss", "cycle", "kl", "acc"}."""
        projected = self.projection(original)  # (B, 3, N, D)
        nodes = walk_nodes(projected, self.encoder.grid, self.pool)  # (B, 3, M, D)
        cycle, acc = cycle_walk_loss(nodes[:, 0], nodes[:, 1], nodes[:, 2], self.temperature)
        kl = separability_kl(F.normalize(projected, dim=-1), F.normalize(original, dim=-1))
        return {"loss": cycle + self.kl_weight * kl, "cycle": cycle, "kl": kl, "acc": acc}

    def forward(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return self.losses(self.encode_pair(frames, generator))
