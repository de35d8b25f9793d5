"""Training samples for Co-Settle: two frames of one video, a fixed share of the clip apart, with
one random resized crop and flip shared by both (so patch positions still correspond)."""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import torch

from levil_edge.errors import LevilError


def pair_indices(num_frames: int, gap_fraction: float, rng: np.random.Generator) -> tuple[int, int]:
    """(t1, t2) with t2 - t1 = max(1, int(gap_fraction * num_frames)) (the public code's int()),
    t1 uniform over the valid starts. A video shorter than the gap gives its first and last frame
    (one frame: (0, 0))."""
    gap = max(1, int(gap_fraction * num_frames))
    if num_frames <= gap:
        return 0, num_frames - 1
    t1 = int(rng.integers(0, num_frames - gap))
    return t1, t1 + gap


class FramePairDataset(torch.utils.data.Dataset):
    """``dataset[i]`` -> uint8 tensor (2, S, S, 3) = frames (t1, t2) of video i, or None when the
    video cannot be decoded (``collate_pairs`` drops and counts it). Randomness depends on
    (seed, epoch, i) only, so runs repeat exactly whatever the number of workers."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        size: int,
        gap_fraction: float = 0.15,
        crop_scale: tuple[float, float] = (0.5, 1.0),
        flip: bool = True,
        decoder: str = "auto",
        seed: int = 0,
    ):
        self.paths = [os.fspath(p) for p in paths]
        self.size = size
        self.gap_fraction = gap_fraction
        self.crop_scale = tuple(crop_scale)
        self.flip = flip
        self.decoder_name = decoder
        self.seed = seed
        self.epoch = 0
        self._decoder = None  # created lazily, once per worker process

    def __len__(self) -> int:
        return len(self.paths)

    def _dec(self):
        if self._decoder is None:
            from levil_edge.data.decoders import get_decoder

            self._decoder = get_decoder(self.decoder_name)
        return self._decoder

    def decode_short_side(self) -> int:
        """Decode just large enough that the smallest crop still has ``size`` pixels a side
        (much cheaper than full HD frames, no loss of detail in the crop)."""
        return math.ceil(self.size / math.sqrt(self.crop_scale[0]))

    def __getitem__(self, i: int) -> torch.Tensor | None:
        from levil_edge.data import transforms

        rng = np.random.default_rng([self.seed, self.epoch, i])
        path = self.paths[i]
        try:
            info = self._dec().probe(path)
            t1, t2 = pair_indices(info.num_frames, self.gap_fraction, rng)
            frames = self._dec().read_frames(path, [t1, t2], size=self.decode_short_side())  # (2, H, W, 3)
        except (LevilError, OSError, RuntimeError, ValueError):
            return None  # a broken video is skipped and counted, never fatal
        frames = transforms.random_resized_crop(frames, self.size, rng, scale=self.crop_scale)
        if self.flip and rng.random() < 0.5:
            frames = transforms.hflip(frames)
        return torch.from_numpy(np.ascontiguousarray(frames))


def collate_pairs(samples: list[torch.Tensor | None]) -> dict:
    """-> {"frames": uint8 (B, 2, S, S, 3) or None, "num_invalid": int}."""
    good = [s for s in samples if s is not None]
    return {"frames": torch.stack(good) if good else None, "num_invalid": len(samples) - len(good)}
