"""``MemoryCachedDecoder``: keep whole decoded videos in RAM, so epochs after the first skip decoding.

For small datasets of short videos (the demo's, a few hundred labeled clips), decoding costs more
than a light student's training step: caching the decoded frames makes training two to three
times faster (BENCHMARKS.md). Each video is decoded once, completely, at the output size asked
for, and every later read of it (any frames) is a slice of that array. The cache stops taking new
videos when ``max_bytes`` is reached; videos that do not fit are read from disk every time.

Each process has its own cache: with DataLoader workers every worker fills its own (and, as
worker processes end with the epoch, starts again each epoch), so use it with ``workers=0``.
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

import numpy as np

from levil_edge.data.decoders import Size, VideoDecoder, VideoInfo, get_decoder, output_size


class MemoryCachedDecoder(VideoDecoder):
    """Wraps a decoder (``auto``, ``pyav``, ``decord`` or an instance); same interface."""

    def __init__(self, inner: str | VideoDecoder = "auto", max_bytes: int = 1 << 30) -> None:
        super().__init__()
        self.inner = get_decoder(inner)
        self.name = self.inner.name
        self.max_bytes = int(max_bytes)
        self.used_bytes = 0
        self._videos: dict[tuple, np.ndarray] = {}
        self._videos_lock = threading.Lock()
        self.hits = self.misses = 0

    def probe(self, path: str | os.PathLike) -> VideoInfo:
        return self.inner.probe(path)

    def remember(self, info: VideoInfo) -> None:
        self.inner.remember(info)

    def clear_cache(self) -> None:
        self.inner.clear_cache()
        with self._videos_lock:
            self._videos.clear()
            self.used_bytes = 0

    def read_frames(self, path: str | os.PathLike, indices: Sequence[int], size: Size = None) -> np.ndarray:
        path = os.fspath(path)
        info = self.probe(path)  # also refuses missing and empty files
        key = (*self._cache_key(path), size if not isinstance(size, list) else tuple(size))
        with self._videos_lock:
            video = self._videos.get(key)
        if video is None:
            h, w = output_size(info.width, info.height, size)
            if self.used_bytes + info.num_frames * w * h * 3 > self.max_bytes:
                self.misses += 1
                return self.inner.read_frames(path, indices, size)
            video = self.inner.read_frames(path, range(info.num_frames), size)
            with self._videos_lock:
                if key not in self._videos:
                    self._videos[key] = video
                    self.used_bytes += video.nbytes
            self.misses += 1
        else:
            self.hits += 1
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0:
            return self.inner.read_frames(path, indices, size)  # raises its usual error
        # Past-the-end indices are clamped, as the decoders do.
        return np.ascontiguousarray(video[np.clip(idx, 0, len(video) - 1)])

    def __repr__(self) -> str:
        return f"MemoryCachedDecoder({self.inner!r}, max_bytes={self.max_bytes})"
