"""MemoryCachedDecoder: same frames as the decoder it wraps, each video decoded once, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from levil_edge.data.decoders import get_decoder
from levil_edge.data.memcache import MemoryCachedDecoder
from levil_edge.data.synthetic import render_clip, write_video
from levil_edge.errors import DecodeError, UsageError


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("memcache")
    out = []
    for i, cls in enumerate(("grow", "move_left", "blink")):
        clip, _ = render_clip(cls, np.random.default_rng(i), frames=12, size=32, difficulty=0.2)
        out.append(write_video(root / f"{cls}.mp4", clip))
    return out


@pytest.mark.parametrize("size", [None, 24])
def test_same_frames_as_the_inner_decoder(videos, size):
    inner = get_decoder("pyav")
    cached = MemoryCachedDecoder("pyav", max_bytes=1 << 24)
    for idx in ([0, 2, 4, 6], [11, 3, 3, 0], [5, 40]):  # any order, repeats, past-the-end clamps
        for path in videos:
            np.testing.assert_array_equal(cached.read_frames(path, idx, size=size), inner.read_frames(path, idx, size=size))
    assert cached.misses == len(videos) and cached.hits == 2 * len(videos)  # one decode per video
    assert cached.name == "pyav" and cached.probe(videos[0]).num_frames == 12


def test_budget_bounds_the_cache_and_errors_pass_through(videos, tmp_path):
    one_video = 12 * 32 * 32 * 3
    cached = MemoryCachedDecoder("pyav", max_bytes=one_video)
    for path in videos:
        cached.read_frames(path, [0, 1])
    assert cached.used_bytes == one_video  # the first video fits, the others are read from disk
    cached.read_frames(videos[2], [0])
    assert cached.misses == 4 and cached.hits == 0
    with pytest.raises(UsageError, match="negative"):
        cached.read_frames(videos[0], [-1])
    with pytest.raises(DecodeError, match="no such file"):
        cached.read_frames(tmp_path / "missing.mp4", [0])
    cached.clear_cache()
    assert cached.used_bytes == 0
