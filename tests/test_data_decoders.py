"""Decoders on real generated H.264 files and really broken files."""

from __future__ import annotations

import numpy as np
import pytest

from levil_edge.data.decoders import PyAVDecoder, available_decoders, get_decoder, output_size
from levil_edge.errors import DecodeError
from tests.data_fixtures import gradient_frames, make_broken, truncated_faststart, write_mp4

HAS_DECORD = "decord" in available_decoders()
DECODERS = ["pyav"] + (["decord"] if HAS_DECORD else [])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dec")
    frames = gradient_frames(40, 48, 64)
    return write_mp4(folder / "g.mp4", frames), frames


@pytest.mark.parametrize("name", DECODERS)
def test_probe_and_exact_frames(clip, name):
    path, frames = clip
    dec = get_decoder(name)
    info = dec.probe(path)
    assert (info.num_frames, info.width, info.height, info.codec) == (40, 64, 48, "h264")
    assert info.fps == pytest.approx(10.0) and info.duration == pytest.approx(4.0)
    idx = [0, 7, 13, 39, 13, 2]  # any order, repeats allowed
    got = dec.read_frames(path, idx)
    assert got.shape == (6, 48, 64, 3) and got.dtype == np.uint8
    # Near-lossless encode: each returned frame is the requested one, not a neighbour (blue = 5 i).
    err = np.abs(got.astype(np.int16) - frames[idx].astype(np.int16)).mean(axis=(1, 2, 3))
    assert err.max() < 4.0


@pytest.mark.skipif(not HAS_DECORD, reason="decord does not import here")
@pytest.mark.parametrize("size", [None, 24, (32, 32)])
def test_decord_and_pyav_agree(clip, size):
    path, _ = clip
    idx = [0, 1, 2, 3, 20, 22, 24, 39]
    a = get_decoder("pyav").read_frames(path, idx, size=size)
    b = get_decoder("decord").read_frames(path, idx, size=size)
    assert a.shape == b.shape
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()
    # Same frames; resizing differs only in swscale rounding at the sharp synthetic edges.
    assert diff < (0.5 if size is None else 2.0)


def test_output_size():
    assert output_size(320, 240, None) == (240, 320)
    assert output_size(320, 240, 112) == (112, 150)  # 149.3 -> even
    assert output_size(240, 320, 112) == (150, 112)
    assert output_size(320, 240, (100, 50)) == (100, 50)


@pytest.mark.parametrize("name", DECODERS)
def test_past_the_end_is_clamped(clip, name):
    path, _ = clip
    dec = get_decoder(name)
    got = dec.read_frames(path, [39, 100, 5000])
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[1], got[2])


@pytest.mark.parametrize("name", DECODERS)
def test_broken_files_raise_decode_error(tmp_path, clip, name):
    dec = get_decoder(name)
    for kind, path in make_broken(tmp_path, clip[0]).items():
        with pytest.raises(DecodeError, match="mp4"):
            dec.probe(path)
        with pytest.raises(DecodeError):
            dec.read_frames(path, [0])
    with pytest.raises(DecodeError, match="no such file"):
        dec.probe(tmp_path / "absent.mp4")


@pytest.mark.parametrize("name", DECODERS)
def test_truncated_file_gives_deterministic_frames(tmp_path, name):
    frames = gradient_frames(40, 48, 64)
    cut = truncated_faststart(tmp_path, frames, keep=0.5)
    dec = get_decoder(name)
    info = dec.probe(cut)
    assert 0 < info.num_frames < 40
    idx = [0, 5, info.num_frames - 1, 39]
    a = dec.read_frames(cut, idx)
    b = dec.read_frames(cut, idx)
    assert a.shape == (4, 48, 64, 3) and np.array_equal(a, b)
    assert np.abs(a[0].astype(int) - frames[0]).mean() < 4.0
    if HAS_DECORD:  # both decoders clamp the same way
        other = get_decoder("pyav" if name == "decord" else "decord")
        assert np.array_equal(a, other.read_frames(cut, idx))


def test_probe_is_cached_per_file_version(tmp_path):
    frames = gradient_frames(12, 32, 32)
    path = write_mp4(tmp_path / "c.mp4", frames)
    dec = PyAVDecoder()
    first = dec.probe(path)
    assert dec.probe(path) is first  # cached
    write_mp4(path, gradient_frames(20, 32, 32))  # a new file version: re-probed
    import os

    os.utime(path, ns=(1, 1))
    assert dec.probe(path).num_frames == 20


CONTAINERS = [  # (encoder, extension, pixel format): the formats users' datasets come in
    ("mpeg4", "avi", "yuv420p"),
    ("mjpeg", "avi", "yuvj420p"),
    ("cinepak", "avi", "rgb24"),
    ("mpeg2video", "mpeg", "yuv420p"),  # MPEG-PS: no index; decord's random access is wrong here
    ("libx264", "mkv", "yuv420p"),
    ("libvpx-vp9", "webm", "yuv420p"),
    ("mpeg4", "mov", "yuv420p"),
]


@pytest.mark.parametrize("encoder,ext,pix", CONTAINERS, ids=[f"{e}-{x}" for e, x, _ in CONTAINERS])
def test_random_access_equals_sequential_decode(tmp_path, encoder, ext, pix):
    av = pytest.importorskip("av")
    frames = gradient_frames(30, 48, 64)
    path = tmp_path / f"v.{ext}"
    try:
        with av.open(str(path), "w") as c:
            s = c.add_stream(encoder, rate=10)
            s.width, s.height, s.pix_fmt = 64, 48, pix
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in s.encode(None):
                c.mux(p)
    except Exception as exc:  # noqa: BLE001 - an FFmpeg build without this encoder
        pytest.skip(f"cannot encode {encoder}/{ext} here: {exc}")
    with av.open(str(path)) as c:
        reference = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])  # (30, H, W, 3)
    idx = [0, 5, 10, 29, 15, 3, 3]
    for name in DECODERS:
        dec = get_decoder(name)
        assert dec.probe(path).num_frames == len(reference)
        got = dec.read_frames(path, idx)
        assert np.array_equal(got, reference[idx]), f"{name} returned other frames than a sequential decode"
