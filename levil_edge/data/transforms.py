"""Spatial ops on uint8 clips ``(T, H, W, 3)`` and the reference normalisation. Torch-free.

Every op applies the *same* geometry to all frames of a clip (a crop that jumped between frames
would invent motion). Resizing uses PIL bilinear; crop + resize is one PIL call (``box=``), so a
training clip costs one resample per frame.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image

from levil_edge.errors import UsageError

__all__ = [
    "DEFAULT_SCALE",
    "DEFAULT_RATIO",
    "resize",
    "resize_short_side",
    "center_crop",
    "sample_crop_box",
    "resized_crop",
    "random_resized_crop",
    "hflip",
    "normalize",
    "to_model_input",
]

# Random resized crop defaults for video training: milder than ImageNet's (0.08, 1) because
# actions often fill only part of the frame and 112 px leaves little to zoom into.
DEFAULT_SCALE = (0.35, 1.0)  # fraction of the frame area kept
DEFAULT_RATIO = (3 / 4, 4 / 3)  # aspect ratio range of the crop (w / h)


def _check_clip(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise UsageError(f"expected a uint8 clip (T, H, W, 3), got {frames.dtype} {frames.shape}")


def resize(frames: np.ndarray, height: int, width: int, box: Sequence[float] | None = None) -> np.ndarray:
    """(T, H, W, 3) -> (T, height, width, 3); ``box`` = (left, top, right, bottom) crops first."""
    _check_clip(frames)
    if box is None and frames.shape[1:3] == (height, width):
        return frames
    out = np.empty((frames.shape[0], height, width, 3), dtype=np.uint8)
    for t, frame in enumerate(frames):
        img = Image.fromarray(frame).resize((width, height), Image.BILINEAR, box=box)
        out[t] = np.asarray(img)
    return out


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize so the short side is ``size`` pixels, keeping the aspect ratio; the long side is
    rounded to an even number exactly as the decoders do (``decoders.output_size``)."""
    _check_clip(frames)
    from levil_edge.data.decoders import output_size

    h, w = frames.shape[1:3]
    return resize(frames, *output_size(w, h, size))


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Central ``size`` x ``size`` crop; a frame smaller than that is resized up first."""
    _check_clip(frames)
    h, w = frames.shape[1:3]
    if h < size or w < size:
        frames = resize_short_side(frames, size)
        h, w = frames.shape[1:3]
    top, left = (h - size) // 2, (w - size) // 2
    return frames[:, top : top + size, left : left + size]


def sample_crop_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: Sequence[float] = DEFAULT_SCALE,
    ratio: Sequence[float] = DEFAULT_RATIO,
) -> tuple[int, int, int, int]:
    """(top, left, crop_h, crop_w) of a random resized crop (torchvision's algorithm: 10 tries,
    then the central crop with the ratio clamped into range)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= width and 0 < ch <= height:
            return int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1)), ch, cw
    aspect = width / height
    if aspect < ratio[0]:
        cw, ch = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        ch, cw = height, int(round(height * ratio[1]))
    else:
        cw, ch = width, height
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def resized_crop(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Crop (top, left, h, w) from every frame and resize it to ``size`` x ``size``."""
    top, left, ch, cw = box
    return resize(frames, size, size, box=(left, top, left + cw, top + ch))


def random_resized_crop(
    frames: np.ndarray,
    size: int,
    rng: np.random.Generator,
    scale: Sequence[float] = DEFAULT_SCALE,
    ratio: Sequence[float] = DEFAULT_RATIO,
) -> np.ndarray:
    """One random crop (same for all frames) resized to ``size`` x ``size``."""
    _check_clip(frames)
    box = sample_crop_box(frames.shape[1], frames.shape[2], rng, scale, ratio)
    return resized_crop(frames, box, size)


def hflip(frames: np.ndarray) -> np.ndarray:
    """Mirror left-right. Note: this swaps "moving left" and "moving right"; turn flipping off
    (``flip=0``) for label sets where direction matters."""
    return np.ascontiguousarray(frames[:, :, ::-1])


def normalize(frames: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """The reference input transform: uint8 (T, H, W, 3) -> float32 (3, T, H, W) =
    (frames / 255 - mean) / std. Training does the same in torch and is tested equal to this."""
    _check_clip(frames)
    return to_model_input(frames, mean, std)[0]


def to_model_input(clips: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (B, T, H, W, 3) or (T, H, W, 3) -> float32 (B, 3, T, H, W), normalised."""
    clips = np.asarray(clips)
    if clips.ndim == 4:
        clips = clips[None]
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise UsageError(f"expected clips (B, T, H, W, 3) or (T, H, W, 3), got {clips.shape}")
    # Fold /255 into the affine map: x * a + b with a = 1 / (255 std), b = -mean / std.
    a = (1.0 / (255.0 * np.asarray(std, dtype=np.float32))).astype(np.float32)
    b = (-np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)).astype(np.float32)
    x = clips.astype(np.float32) * a + b  # (B, T, H, W, 3)
    return np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3))  # (B, 3, T, H, W)
