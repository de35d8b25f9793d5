"""Video -> model input, driven only by the model's metadata. Torch-free.

Decoding, sampling, resize/crop and normalisation all go through ``levil_edge.data`` (the same
``load_eval_clips`` + ``to_model_input`` that training's evaluation uses), so the edge runtime feeds the
model exactly what it saw during evaluation; ``tests/test_runtime_preprocess.py`` checks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.config import ModelConfig


def clips_to_input(clips: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (K, T, H, W, 3) -> float32 (K, 3, T, H, W) = (x / 255 - mean) / std."""
    from levil_edge.data.transforms import to_model_input

    return to_model_input(clips, mean, std)


def load_video_clips(path: str | Path, cfg: ModelConfig, num_clips: int = 10, decoder: Any = "auto") -> np.ndarray:
    """Decode ``num_clips`` evaluation clips of one video -> uint8 (K, T, S, S, 3)."""
    from levil_edge.data.clips import load_eval_clips

    return load_eval_clips(str(path), cfg, num_clips, decoder)


def video_to_input(path: str | Path, cfg: ModelConfig, num_clips: int = 10, decoder: Any = "auto") -> np.ndarray:
    """One video -> float32 (K, 3, T, S, S): the K evaluation clips the model averages over."""
    return clips_to_input(load_video_clips(path, cfg, num_clips, decoder), cfg.mean, cfg.std)


def frames_to_input(frames: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """A window of raw frames uint8 (T, H, W, 3) (a stream) -> float32 (1, 3, T, S, S).

    Same geometry as evaluation clips: short side resized to ``size``, centre crop."""
    from levil_edge.data.transforms import center_crop, resize_short_side

    clip = center_crop(resize_short_side(frames, cfg.size), cfg.size)
    return clips_to_input(clip[None], cfg.mean, cfg.std)
