"""The one place where a video path becomes model clips. Torch-free.

Training, evaluation, INT8 calibration, the teachers and the edge runtime all call these, so a
model sees the same pixels everywhere:

- eval: ``num_clips`` deterministic evenly spaced clips of ``frames`` frames ``stride`` apart;
  the decoder resizes the short side to ``size``, then a central ``size`` x ``size`` crop.
- train: one random clip; the decoder resizes the short side to ``short_side`` (default
  ``round(size * 8 / 7)``, the 256 -> 224 habit), then a random resized crop (``scale``,
  ``ratio``) to ``size`` x ``size`` and a horizontal flip with probability ``flip``.
- uniform: ``n`` frames spread over the whole video at short side ``size`` (None = native).

All return uint8 RGB; normalise with ``transforms.normalize`` / ``to_model_input`` (or the torch
equivalent on device).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from levil_edge.data.decoders import VideoDecoder, get_decoder
from levil_edge.data.sampling import eval_clip_indices, random_clip_indices, uniform_indices
from levil_edge.data.transforms import (
    DEFAULT_RATIO,
    DEFAULT_SCALE,
    center_crop,
    hflip,
    random_resized_crop,
)
from levil_edge.errors import UsageError

__all__ = ["clip_params", "load_eval_clips", "load_train_clip", "load_uniform_frames", "train_short_side"]

DEFAULT_FLIP = 0.5


def clip_params(cfg: Any) -> tuple[int, int, int]:
    """(frames, stride, size) from a ModelConfig, a dict or any object with those attributes."""
    try:
        if isinstance(cfg, dict):
            return int(cfg["frames"]), int(cfg["stride"]), int(cfg["size"])
        return int(cfg.frames), int(cfg.stride), int(cfg.size)
    except (KeyError, AttributeError, TypeError) as exc:
        raise UsageError(f"clip config needs frames, stride and size ({exc})") from exc


def train_short_side(size: int) -> int:
    """Short side decoded for training before the random crop: 112 -> 128, 224 -> 256."""
    return int(round(size * 8 / 7))


def load_eval_clips(
    path: str | os.PathLike,
    cfg: Any,
    num_clips: int = 1,
    decoder: str | VideoDecoder = "auto",
) -> np.ndarray:
    """uint8 (K, T, S, S, 3): ``num_clips`` evenly spaced clips, short side S, centre crop."""
    frames, stride, size = clip_params(cfg)
    dec = get_decoder(decoder)
    info = dec.probe(path)
    clips = eval_clip_indices(info.num_frames, frames, stride, num_clips)
    flat = np.concatenate(clips)  # (K*T,)
    # Decode each distinct frame once, even when clips overlap (short videos, many clips).
    uniq, inverse = np.unique(flat, return_inverse=True)
    decoded = dec.read_frames(path, uniq, size=size)  # (U, h, w, 3), short side = size
    decoded = center_crop(decoded, size)
    return np.ascontiguousarray(decoded[inverse].reshape(num_clips, frames, size, size, 3))


def load_train_clip(
    path: str | os.PathLike,
    frames: int,
    stride: int,
    size: int,
    rng: np.random.Generator,
    decoder: str | VideoDecoder = "auto",
    scale: Sequence[float] = DEFAULT_SCALE,
    ratio: Sequence[float] = DEFAULT_RATIO,
    flip: float = DEFAULT_FLIP,
    short_side: int | None = None,
) -> np.ndarray:
    """uint8 (T, S, S, 3): one random clip, random resized crop, random horizontal flip."""
    dec = get_decoder(decoder)
    info = dec.probe(path)
    idx = random_clip_indices(info.num_frames, frames, stride, rng)
    raw = dec.read_frames(path, idx, size=short_side or train_short_side(size))  # (T, h, w, 3)
    clip = random_resized_crop(raw, size, rng, scale=scale, ratio=ratio)
    if flip > 0 and rng.random() < flip:
        clip = hflip(clip)
    return clip


def load_uniform_frames(
    path: str | os.PathLike,
    n: int,
    size: int | None = None,
    decoder: str | VideoDecoder = "auto",
) -> np.ndarray:
    """uint8 (N, H, W, 3): ``n`` frames over the whole video, short side ``size`` (None: native).

    Teachers and captioners do their own resize/crop from here (their processors expect it)."""
    dec = get_decoder(decoder)
    info = dec.probe(path)
    return dec.read_frames(path, uniform_indices(info.num_frames, n), size=size)
