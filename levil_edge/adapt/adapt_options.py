"""``AdaptConfig``: the options of ``levil-edge adapt`` (Co-Settle), the only home of their defaults
(the CLI's flags show and pass them). Torch-free, so the CLI can read it without loading torch."""

from __future__ import annotations

from dataclasses import dataclass

from levil_edge.errors import UsageError


@dataclass
class AdaptConfig:
    epochs: int = 5
    batch_size: int = 32
    lr: float | None = None  # None: base_lr * batch_size / 256 (the paper's scaling rule)
    base_lr: float = 1e-4
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    min_lr: float = 0.0
    frames_gap: float = 0.15  # share of the clip between t1 and t2
    crop_scale: tuple[float, float] = (0.5, 1.0)
    flip: bool = True
    temperature: float = 0.03
    pos_ratio: float = 10.0  # upsample the position grid (1 + ratio) times
    kl_weight: float = 3.0
    pool: int | None = None  # None: 2 on an even grid, 1 on an odd one
    diag_frames: int = 8
    max_val_videos: int = 32  # held-out videos for the diagnostics
    val_fraction: float = 0.1  # held out of --videos when no --val is given
    num_workers: int = 0
    decoder: str = "auto"
    seed: int = 0

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.lr is None or self.lr > 0, "--lr must be > 0"),
            (0 < self.frames_gap < 1, "--frames-gap must be a fraction of the clip in (0, 1)"),
            (0 < self.crop_scale[0] <= self.crop_scale[1] <= 1, "crop scale must satisfy 0 < lo <= hi <= 1"),
            (self.temperature > 0, "temperature must be > 0"),
            (self.pos_ratio >= 0, "pos ratio must be >= 0"),
            (self.diag_frames >= 2, "--diag-frames must be >= 2"),
            (self.num_workers >= 0, "--workers must be >= 0"),
            (0 < self.val_fraction < 1, "val fraction must be in (0, 1)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else self.base_lr * self.batch_size / 256
