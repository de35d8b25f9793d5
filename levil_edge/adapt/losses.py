"""Co-Settle losses: the temporal cycle-consistency walk and the separability regulariser.

Shapes: ``B`` videos, ``N`` patch tokens on a ``grid x grid`` lattice, ``D`` feature channels.
Every function here is differentiable and has a loop-based reference in the tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Added inside the log of the round-trip matrix: a walk that loses all mass must not give -inf.
WALK_EPS = 1e-6


def pool_patch_grid(tokens: torch.Tensor, grid: int, pool: int = 2) -> torch.Tensor:
    """Average-pool patch tokens ``(B, grid*grid, D)`` over ``pool x pool`` windows.

    Returns ``(B, (grid // pool) ** 2, D)``. Pooling makes the walk nodes coarser (14x14 -> 7x7 = 49
    for ViT-B/16 at 224 px), which the paper found steadier than walking between single patches."""
    b, n, d = tokens.shape
    if n != grid * grid:
        raise ValueError(f"expected {grid * grid} patch tokens for a {grid}x{grid} grid, got {n}")
    if pool == 1:
        return tokens
    x = tokens.transpose(1, 2).reshape(b, d, grid, grid)  # (B, D, g, g)
    x = F.avg_pool2d(x, kernel_size=pool, stride=pool)  # (B, D, g/pool, g/pool)
    return x.flatten(2).transpose(1, 2)  # (B, M, D)


def transition(src: torch.Tensor, dst: torch.Tensor, temperature: float) -> torch.Tensor:
    """Row-stochastic transition matrix ``softmax(src dst^T / T)``: (B, M, D) x (B, M, D) -> (B, M, M)."""
    return torch.softmax(src @ dst.transpose(1, 2) / temperature, dim=-1)


def round_trip(p1: torch.Tensor, p2: torch.Tensor, p1_return: torch.Tensor, temperature: float) -> torch.Tensor:
    """The walk t1 -> t2 -> t1': ``A_12 @ A_21'`` (B, M, M). Rows sum to 1; the diagonal is the
    probability of returning to the node one started from."""
    return transition(p1, p2, temperature) @ transition(p2, p1_return, temperature)


def cycle_walk_loss(
    p1: torch.Tensor, p2: torch.Tensor, p1_return: torch.Tensor, temperature: float = 0.03
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of ``log(A_12 A_21' + eps)`` against the identity, averaged over nodes and videos.

    Inputs are L2-normalised node features (B, M, D). ``p1_return`` is frame t1 encoded again with
    augmented position embeddings (see ``posaug``); pass ``p1`` itself to measure the plain walk.
    Returns ``(loss, accuracy)``: accuracy is the share of nodes whose most likely return is themselves."""
    walk = round_trip(p1, p2, p1_return, temperature)  # (B, M, M)
    logits = torch.log(walk + WALK_EPS).flatten(0, 1)  # (B*M, M)
    m = walk.shape[-1]
    targets = torch.arange(m, device=walk.device).repeat(walk.shape[0])  # (B*M,)
    loss = F.cross_entropy(logits, targets)
    acc = (logits.argmax(dim=-1) == targets).float().mean()
    return loss, acc


def separability_kl(projected: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """KL(softmax(original) || softmax(projected)) over the feature dimension.

    Both inputs are L2-normalised token features (B, ..., D). As in the public Co-Settle code the
    per-token KL is summed over tokens and averaged over the batch (``batchmean`` on the first
    dimension), so the weight 3 of the paper keeps its meaning. It keeps the projection close to
    the original feature distribution, so the walk cannot collapse all tokens onto one point."""
    log_q = F.log_softmax(projected, dim=-1)
    p = F.softmax(original, dim=-1)
    return F.kl_div(log_q, p, reduction="sum") / projected.shape[0]
