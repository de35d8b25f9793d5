"""Torch ``Dataset`` over a dataset spec, robust to bad videos.

``ClipDataset`` returns uint8 clips (normalise on the device: 4x less to copy than float32). A
video that fails to decode gives an *invalid sample* instead of an exception - also inside
DataLoader workers - and ``collate_clips`` drops it and reports it, so an epoch never dies on one
broken file and the training loop can count and list what was skipped::

    loader = DataLoader(ClipDataset(spec.items, mode="train"), batch_size=8, num_workers=2,
                        collate_fn=collate_clips)
    for batch in loader:
        if batch["clips"] is None:        # every video of this batch was bad
            continue
        x = batch["clips"]                # uint8 (B, T, S, S, 3); eval: (B, K, T, S, S, 3)
        skipped += batch["num_invalid"]   # and batch["invalid_paths"]

Call ``dataset.probe_all()`` once before training on a large dataset: each video is probed
once in the main process instead of once per worker per epoch (a probe costs ~10 ms CPU, a
quarter of loading a clip), and the unreadable videos are known up front.

Randomness (train mode) comes from ``numpy.random.default_rng([seed, epoch, index])``: the same
seed gives the same clips whatever the number of workers; call ``set_epoch`` each epoch.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from levil_edge.data.clips import DEFAULT_FLIP, load_eval_clips, load_train_clip, load_uniform_frames
from levil_edge.data.decoders import VideoDecoder, get_decoder
from levil_edge.data.specs import DatasetSpec, VideoItem
from levil_edge.data.transforms import DEFAULT_RATIO, DEFAULT_SCALE
from levil_edge.config import DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_STRIDE
from levil_edge.errors import UsageError

__all__ = ["ClipDataset", "collate_clips", "as_items"]

log = logging.getLogger(__name__)

MODES = ("train", "eval", "uniform")


def as_items(items: Any) -> list[VideoItem]:
    """Accept a DatasetSpec, VideoItems, ``(path, label)`` pairs or bare paths."""
    if isinstance(items, DatasetSpec):
        return list(items.items)
    out = []
    for it in items:
        if isinstance(it, VideoItem):
            out.append(it)
        elif isinstance(it, (tuple, list)):
            out.append(VideoItem(str(it[0]), None if it[1] is None else int(it[1])))
        else:
            out.append(VideoItem(str(it)))
    return out


class ClipDataset(Dataset):
    """Each sample: ``{"clip": uint8 tensor, "label": int (-1 = unlabeled), "index", "path",
    "valid": bool, "error": str | None}``.

    mode ``train``: one random clip (T, S, S, 3) with random resized crop + flip;
    ``eval``: ``num_clips`` evenly spaced clips (K, T, S, S, 3), centre crop;
    ``uniform``: ``num_uniform`` frames over the whole video (N, H, W, 3) at short side ``size``
    (teachers; ``size=None`` keeps the native size, then batches need equal-sized videos)."""

    def __init__(
        self,
        items: Any,
        mode: str = "train",
        frames: int = DEFAULT_FRAMES,
        stride: int = DEFAULT_STRIDE,
        size: int | None = DEFAULT_SIZE,
        num_clips: int = 1,
        num_uniform: int = 8,
        decoder: str | VideoDecoder = "auto",
        seed: int = 0,
        scale: Sequence[float] = DEFAULT_SCALE,
        ratio: Sequence[float] = DEFAULT_RATIO,
        flip: float = DEFAULT_FLIP,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "uniform" and not size:
            raise UsageError(f"mode {mode!r} needs a crop size")
        self.items = as_items(items)
        self.mode, self.frames, self.stride, self.size = mode, frames, stride, size
        self.num_clips, self.num_uniform = num_clips, num_uniform
        self.scale, self.ratio, self.flip = tuple(scale), tuple(ratio), flip
        self.decoder_name = decoder if isinstance(decoder, str) else decoder.name
        self.seed = seed
        self.epoch = 0
        self.infos: dict = {}  # path -> VideoInfo, filled by probe_all()

    def probe_all(self, workers: int = 2, progress: bool = True) -> list[tuple[str, str]]:
        """Probe every video once, here, and keep the results in the dataset: DataLoader workers
        (fork or spawn, persistent or not) then never re-probe a video. Returns ``(path, error)``
        for the videos that do not decode; they stay in the dataset and yield invalid samples."""
        from concurrent.futures import ThreadPoolExecutor

        dec = get_decoder(self.decoder_name)

        def one(path: str):
            try:
                return path, dec.probe(path), None
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                return path, None, f"{type(exc).__name__}: {exc}"

        paths = sorted({it.path for it in self.items})
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = pool.map(one, paths)
            if progress:
                from levil_edge.utils.progress import track

                results = track(results, total=len(paths), description="probing videos")
            results = list(results)
        self.infos = {p: info for p, info, _ in results if info is not None}
        return [(p, err) for p, _, err in results if err is not None]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> np.ndarray:
        """The uint8 clip(s) of item ``index``; raises DecodeError on a bad video."""
        item = self.items[index]
        dec = get_decoder(self.decoder_name)  # per process: the probe cache lives in each worker
        if item.path in self.infos:
            dec.remember(self.infos[item.path])
        if self.mode == "train":
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return load_train_clip(
                item.path, self.frames, self.stride, self.size, rng, dec, self.scale, self.ratio, self.flip
            )
        if self.mode == "eval":
            cfg = {"frames": self.frames, "stride": self.stride, "size": self.size}
            return load_eval_clips(item.path, cfg, self.num_clips, dec)
        return load_uniform_frames(item.path, self.num_uniform, self.size, dec)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        label = -1 if item.label is None else int(item.label)
        sample = {"clip": None, "label": label, "index": int(index), "path": item.path, "valid": False, "error": None}
        try:
            sample["clip"] = torch.from_numpy(self.load(index))
            sample["valid"] = True
        except Exception as exc:  # noqa: BLE001 - one bad video must never end an epoch
            sample["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("skipping %s: %s", item.path, sample["error"])
        return sample


def collate_clips(batch: list[dict]) -> dict:
    """Stack the valid samples; drop and report the invalid ones.

    Returns ``{"clips": uint8 tensor or None, "labels": int64 (B,), "indices": int64 (B,),
    "paths": [...], "num_invalid": int, "invalid_paths": [...], "invalid_errors": [...]}``
    (``clips`` is None when no sample in the batch decoded, and a list of tensors when the
    samples differ in shape: only ``mode="uniform"`` with ``size=None`` can do that)."""
    good = [s for s in batch if s["valid"]]
    bad = [s for s in batch if not s["valid"]]
    clips = None
    if good:
        shapes = {tuple(s["clip"].shape) for s in good}
        # Native-size uniform frames of different videos cannot be stacked: give a list then.
        clips = torch.stack([s["clip"] for s in good]) if len(shapes) == 1 else [s["clip"] for s in good]
    return {
        "clips": clips,
        "labels": torch.tensor([s["label"] for s in good], dtype=torch.long),
        "indices": torch.tensor([s["index"] for s in good], dtype=torch.long),
        "paths": [s["path"] for s in good],
        "num_invalid": len(bad),
        "invalid_paths": [s["path"] for s in bad],
        "invalid_errors": [s["error"] for s in bad],
    }
