"""Training data: clips, deterministic mixed batches, and the teacher targets they index.

Why not a plain DataLoader with shuffle=True: resume must reproduce an uninterrupted run exactly,
and finetune batches mix two pools (labeled + unlabeled, e.g. 40 + 40). ``MixedBatchSampler``
makes every batch a pure function of (seed, epoch, step, rank): resuming at step k just starts
the sampler at k, DDP ranks take disjoint slices (DistributedSampler's contract, with
``set_epoch``), and each sample carries its own augmentation seed so the number of workers does
not change the clips."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from levil_edge.config import DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_STRIDE, KINETICS_MEAN, KINETICS_STD


@dataclass
class Source:
    """One pool of videos: ``items`` have ``.path`` and ``.label`` (int, or -1/None when unlabeled);
    ``per_batch`` clips of it go into every batch (per rank)."""

    name: str
    items: Sequence[Any]
    per_batch: int


class MixedBatchSampler:
    """Yields lists of ``(global_index, epoch, step, slot)``; global indices run over the sources
    concatenated in order. Each source is read as an endless stream of seeded permutations, so a
    small labeled pool simply cycles while the unlabeled pool is walked once per epoch."""

    def __init__(self, sizes: Sequence[int], per_batch: Sequence[int], steps_per_epoch: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        self.sizes, self.per_batch = list(sizes), list(per_batch)
        self.offsets = np.cumsum([0] + self.sizes[:-1]).tolist()
        self.steps_per_epoch, self.seed = steps_per_epoch, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_step = 0, 0
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch - self.start_step)

    def _perm(self, source: int, cycle: int) -> np.ndarray:
        key = (source, cycle)
        if key not in self._perms:
            if len(self._perms) > 64:  # bounded cache: only the current cycles are ever read again
                self._perms.clear()
            self._perms[key] = np.random.default_rng([self.seed, source, cycle]).permutation(self.sizes[source])
        return self._perms[key]

    def batch(self, epoch: int, step: int) -> list[tuple[int, int, int, int]]:
        out, slot = [], 0
        global_step = epoch * self.steps_per_epoch + step
        for s, (n, b) in enumerate(zip(self.sizes, self.per_batch)):
            if n == 0 or b == 0:
                continue
            start = (global_step * self.world_size + self.rank) * b  # this rank's slice of the stream
            for pos in range(start, start + b):
                out.append((self.offsets[s] + int(self._perm(s, pos // n)[pos % n]), epoch, step, slot))
                slot += 1
        return out

    def __iter__(self):
        for step in range(self.start_step, self.steps_per_epoch):
            yield self.batch(self.epoch, step)


def steps_per_epoch(pool_size: int, per_batch: int, world_size: int = 1) -> int:
    """Steps for one pass over the main pool (the unlabeled one in finetune), at least 1."""
    return max(1, math.ceil(pool_size / max(1, per_batch * world_size)))


@dataclass
class ClipSettings:
    frames: int = DEFAULT_FRAMES
    stride: int = DEFAULT_STRIDE
    size: int = DEFAULT_SIZE
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    flip: float = 0.5  # horizontal-flip probability
    min_crop: float = 0.35  # smallest fraction of the frame area a random resized crop keeps
    num_views: int = 1  # teacher views per video in the target cache; one is drawn per sample
    decoder: str = "auto"
    seed: int = 0
    ram_cache_mb: int = 0  # > 0: decoded videos kept in RAM up to this size (MemoryCachedDecoder)


@dataclass
class TrainClips(torch.utils.data.Dataset):
    """Sources concatenated; ``__getitem__((index, epoch, step, slot))`` -> one training sample.

    A video that fails to decode gives ``valid=False`` (``collate_train`` drops it and reports
    the path), never an exception that kills a long run."""

    sources: list[Source]
    settings: ClipSettings
    _decoder: Any = field(default=None, repr=False)

    def __post_init__(self):
        self.offsets = np.cumsum([0] + [len(s.items) for s in self.sources[:-1]]).tolist()

    def __len__(self) -> int:
        return sum(len(s.items) for s in self.sources)

    def locate(self, index: int) -> tuple[int, int]:
        src = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return src, index - self.offsets[src]

    def decoder(self):
        if self._decoder is None:  # created lazily, once per worker process
            from levil_edge.data.decoders import get_decoder

            self._decoder = get_decoder(self.settings.decoder)
            if self.settings.ram_cache_mb > 0:
                from levil_edge.data.memcache import MemoryCachedDecoder

                self._decoder = MemoryCachedDecoder(self._decoder, self.settings.ram_cache_mb << 20)
        return self._decoder

    def __getitem__(self, key) -> dict[str, Any]:
        index, epoch, step, slot = key
        src, row = self.locate(index)
        item = self.sources[src].items[row]
        rng = np.random.default_rng([self.settings.seed, epoch, step, slot, index])
        label = getattr(item, "label", None)
        sample = {"source": src, "row": row, "label": -1 if label is None else int(label),
                  "view": int(rng.integers(self.settings.num_views)), "path": str(item.path)}
        try:
            sample["video"] = load_train_tensor(item.path, self.settings, rng, self.decoder())
            sample["valid"] = True
        except Exception as exc:  # noqa: BLE001 - one bad video must never end a long run
            sample["video"], sample["valid"], sample["error"] = None, False, f"{type(exc).__name__}: {exc}"
        return sample


def load_train_tensor(path, s: ClipSettings, rng: np.random.Generator, decoder) -> torch.Tensor:
    """One random clip of ``frames`` frames, random resized crop + flip, normalised.  -> (3, T, S, S)"""
    from levil_edge.data.clips import load_train_clip
    from levil_edge.data.transforms import normalize

    frames = load_train_clip(path, s.frames, s.stride, s.size, rng, decoder, scale=(s.min_crop, 1.0), flip=s.flip)  # uint8 (T, S, S, 3)
    return torch.from_numpy(np.ascontiguousarray(normalize(frames, s.mean, s.std)))


def collate_train(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the valid samples; ``bad`` lists the paths that could not be decoded."""
    good = [s for s in samples if s["valid"]]
    batch: dict[str, Any] = {"bad": [s["path"] for s in samples if not s["valid"]]}
    if not good:
        batch["video"] = None
        return batch
    batch["video"] = torch.stack([s["video"] for s in good])  # (B, 3, T, S, S)
    for key in ("source", "row", "label", "view"):
        batch[key] = torch.tensor([s[key] for s in good], dtype=torch.long)
    return batch


def make_loader(dataset: TrainClips, sampler: MixedBatchSampler, workers: int, pin_memory: bool = False):
    # A private generator: DataLoader draws a worker base seed from it at every epoch, and drawing
    # from the global RNG would shift dropout's random numbers after a resume.
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_train,
        pin_memory=pin_memory, persistent_workers=False, generator=torch.Generator().manual_seed(0),
    )
