"""Positional-embedding augmentation for the returning frame of the cycle walk.

The returning frame t1' is the same image as t1. Without augmentation the walk can "cheat": a
patch finds its way home through its absolute position embedding alone. Co-Settle encodes t1'
with a shifted, rescaled copy of the learned position grid: upsample the ``g x g`` grid
``(1 + ratio)`` times (bicubic) and crop a random ``g x g`` window from it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_RATIO = 10.0


def upsampled_size(grid: int, ratio: float) -> int:
    """Side of the upsampled grid: ``int((1 + ratio) * grid)`` (154 for 14x14 and ratio 10)."""
    return max(grid, int((1.0 + ratio) * grid))


def augment_position_grid(
    pos: torch.Tensor,
    grid: int,
    ratio: float = DEFAULT_RATIO,
    offset: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return an augmented copy of the patch position embeddings ``pos`` (grid*grid, D).

    ``offset`` = (row, col) of the crop's top-left corner in the upsampled grid; random (uniform
    over all valid windows, drawn from ``generator``) when None. ``ratio=0`` with offset (0, 0)
    gives back ``pos`` (bicubic resampling to the same size is the identity)."""
    n, d = pos.shape
    if n != grid * grid:
        raise ValueError(f"expected {grid * grid} position embeddings for a {grid}x{grid} grid, got {n}")
    size = upsampled_size(grid, ratio)
    x = pos.reshape(1, grid, grid, d).permute(0, 3, 1, 2)  # (1, D, g, g)
    if x.dtype in (torch.float16, torch.bfloat16):  # bicubic in half precision is coarse; upcast
        x = x.float()
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)  # (1, D, s, s)
    max_off = size - grid
    if offset is None:
        r, c = torch.randint(0, max_off + 1, (2,), generator=generator).tolist()
    else:
        r, c = offset
        if not (0 <= r <= max_off and 0 <= c <= max_off):
            raise ValueError(f"offset {offset} outside the {size}x{size} upsampled grid")
    crop = x[:, :, r : r + grid, c : c + grid]  # (1, D, g, g)
    return crop.permute(0, 2, 3, 1).reshape(n, d).to(pos.dtype)
