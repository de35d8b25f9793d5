"""A calibration data reader over real clips, for ONNX Runtime's static quantisation.

Clips are sampled exactly the way inference samples them (``load_eval_clips``: K evenly spaced
temporal clips per video, resize short side, centre crop, normalise from the model config), so
the activation ranges match what the deployed model sees. Torch-free."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from levil_edge.config import ModelConfig
from levil_edge.errors import CalibrationError, DecodeError

MAX_CLIPS_PER_VIDEO = 10  # the evaluation protocol's K; more clips per video add little diversity
RECOMMENDED_CLIPS = 300


def plan_clips(num_videos: int, num_clips: int) -> int:
    """Clips to take per video so that ``num_clips`` spread over all videos."""
    if num_videos == 0:
        raise CalibrationError("no calibration videos: pass --calib-data with real clips of your task")
    return max(1, min(MAX_CLIPS_PER_VIDEO, math.ceil(num_clips / num_videos)))


def load_calibration_clips(
    paths: Sequence[str],
    cfg: ModelConfig,
    num_clips: int,
    decoder: Any = "auto",
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, int]]:
    """Decode up to ``num_clips`` clips -> (float32 (N, 3, T, S, S), stats).

    Videos are visited in a seeded random order, so a cap on clips still covers many classes.
    Unreadable videos are skipped and counted, never fatal."""
    from levil_edge.runtime.preprocess import video_to_input
    from levil_edge.utils.progress import track

    per_video = plan_clips(len(paths), num_clips)
    order = np.random.default_rng(seed).permutation(len(paths))
    clips: list[np.ndarray] = []
    skipped = 0
    for i in track(order, description="calibration clips"):
        if sum(len(c) for c in clips) >= num_clips:
            break
        try:
            clips.append(video_to_input(paths[int(i)], cfg, per_video, decoder))  # (K, 3, T, S, S)
        except DecodeError:
            skipped += 1
    if not clips:
        raise CalibrationError(f"none of the {len(paths)} calibration videos could be decoded: check --calib-data")
    x = np.concatenate(clips)[:num_clips]
    return x, {"clips": int(len(x)), "videos": int(len(clips)), "skipped_videos": skipped, "clips_per_video": per_video}


class ClipCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` protocol (``get_next`` -> feed dict or None) over
    pre-decoded clips. ``batch_size`` must be one the model accepts (1 for a static-batch file)."""

    def __init__(self, clips: np.ndarray, input_name: str = "video", batch_size: int = 8):
        self.clips, self.input_name, self.batch_size = clips, input_name, max(1, batch_size)
        self._pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._pos >= len(self.clips):
            return None
        chunk = self.clips[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return {self.input_name: np.ascontiguousarray(chunk, dtype=np.float32)}

    def rewind(self) -> None:
        self._pos = 0

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def __len__(self) -> int:
        return math.ceil(len(self.clips) / self.batch_size)
