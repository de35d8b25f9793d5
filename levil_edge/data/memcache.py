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

import numpy as np

from levil_edge.data.decoders import VideoDecoder, VideoInfo, get_decoder


class MemoryCachedDecoder(VideoDecoder):
    """Wraps a decoder (``auto``, ``pyav``, ``decord`` or an instance); same interface.

    ``read_frames`` is the base class's (file checks, index checks, clamping, output size); only
    ``_read`` differs: it slices a cached decode of the whole video."""

    def __init__(self, inner: str | VideoDecoder = "auto", max_bytes: int = 1 << 30) -> None:
        super().__init__()
        self.inner = get_decoder(inner)
        self.name = self.inner.name
        self.max_bytes = int(max_bytes)
        self.used_bytes = 0
        self._videos: dict[tuple, np.ndarray] = {}
        self._videos_lock = threading.Lock()
        self.hits = self.misses = 0

    # The probe cache is the inner decoder's: one per process, shared with uncached reads.
    def probe(self, path: str | os.PathLike) -> VideoInfo:
        return self.inner.probe(path)

    def remember(self, info: VideoInfo) -> None:
        self.inner.remember(info)

    def clear_cache(self) -> None:
        self.inner.clear_cache()
        with self._videos_lock:
            self._videos.clear()
            self.used_bytes = 0

    def _read(self, path: str, idx: np.ndarray, out_hw: tuple[int, int], info: VideoInfo) -> np.ndarray:
        key = (*self._cache_key(path), out_hw)
        with self._videos_lock:
            video = self._videos.get(key)
        if video is not None:
            self.hits += 1
            return video[idx]
        self.misses += 1
        if self.used_bytes + info.num_frames * out_hw[0] * out_hw[1] * 3 > self.max_bytes:
            return self.inner._read(path, idx, out_hw, info)
        video = np.ascontiguousarray(self.inner._read(path, np.arange(info.num_frames), out_hw, info), dtype=np.uint8)
        with self._videos_lock:
            if key not in self._videos:
                self._videos[key] = video
                self.used_bytes += video.nbytes
        return video[idx]

    def __repr__(self) -> str:
        return f"MemoryCachedDecoder({self.inner!r}, max_bytes={self.max_bytes})"
