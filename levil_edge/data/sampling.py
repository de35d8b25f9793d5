"""Which frame indices to read. Torch-free, pure numpy, deterministic given the rng.

Three samplers:
- ``uniform_indices``: N frames spread over the whole video (captioner, teacher): the centre of
  each of N equal segments.
- ``random_clip_indices``: one clip of ``frames`` frames ``stride`` apart at a random start
  (training).
- ``eval_clip_indices``: K clips at evenly spaced starts, the centre of K equal segments of the
  possible start range (evaluation; the papers average K = 10).

Short videos (fewer frames than a clip spans) **loop**: index ``i`` becomes ``i % num_frames``,
so a 5-frame video read as 8 frames with stride 1 gives 0 1 2 3 4 0 1 2. Looping keeps the
motion speed; it is deterministic and documented rather than padded with black frames.
"""

from __future__ import annotations

import numpy as np

from levil_edge.errors import UsageError

__all__ = ["clip_span", "uniform_indices", "random_clip_indices", "eval_clip_indices"]


def _check(num_frames: int, frames: int, stride: int = 1) -> None:
    if num_frames <= 0:
        raise UsageError(f"video has {num_frames} frames; nothing to sample")
    if frames <= 0 or stride <= 0:
        raise UsageError(f"frames and stride must be positive, got frames={frames} stride={stride}")


def clip_span(frames: int, stride: int) -> int:
    """How many source frames one clip covers: 8 frames at stride 2 span 15."""
    return (frames - 1) * stride + 1


def _clip_at(start: int, frames: int, stride: int, num_frames: int) -> np.ndarray:
    return (start + np.arange(frames, dtype=np.int64) * stride) % num_frames  # loop short videos


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """``n`` indices at the centres of ``n`` equal segments; repeats when ``num_frames < n``."""
    _check(num_frames, n)
    return np.minimum(((np.arange(n) + 0.5) * num_frames / n).astype(np.int64), num_frames - 1)


def random_clip_indices(num_frames: int, frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """One training clip: ``frames`` indices ``stride`` apart from a uniformly random start."""
    _check(num_frames, frames, stride)
    max_start = max(num_frames - clip_span(frames, stride), 0)
    start = int(rng.integers(0, max_start + 1))
    return _clip_at(start, frames, stride, num_frames)


def eval_clip_indices(num_frames: int, frames: int, stride: int, num_clips: int) -> list[np.ndarray]:
    """``num_clips`` deterministic clips with evenly spaced starts (K = 1: the centre clip)."""
    _check(num_frames, frames, stride)
    if num_clips <= 0:
        raise UsageError(f"num_clips must be positive, got {num_clips}")
    max_start = max(num_frames - clip_span(frames, stride), 0)
    starts = ((np.arange(num_clips) + 0.5) * max_start / num_clips).round().astype(np.int64)
    return [_clip_at(int(s), frames, stride, num_frames) for s in starts]
