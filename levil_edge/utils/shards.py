"""Stable sharding of a video list across processes or machines (teacher cache fills, captioning)."""

from __future__ import annotations

import hashlib
import os
import re

from levil_edge.errors import UsageError


def shard_of(path: str | os.PathLike, num_shards: int) -> int:
    """Stable shard of a video: hash of its absolute path, the same on every machine with the same
    paths, whatever order the list comes in and however the path is spelled (``a.mp4`` and
    ``./a.mp4`` land in the same shard, so concurrent fills of one cache never both take a video).
    The teacher cache's shard files were always assigned with this hash."""
    digest = hashlib.sha1(os.path.abspath(os.fspath(path)).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % num_shards


def parse_shard(text: str | None) -> tuple[int, int]:
    """``--shard`` text: ``"i/n"`` (0-based i) -> (i, n); None or "" -> (0, 1), the whole list."""
    if text is None or not str(text).strip():
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise UsageError(f"--shard must be 'i/n' with 0 <= i < n, shards numbered from 0 (e.g. 0/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))
