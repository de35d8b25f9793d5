"""Real video files for the data-layer tests: generated clips and really broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def gradient_frames(n: int = 40, h: int = 48, w: int = 64) -> np.ndarray:
    """uint8 (n, h, w, 3) whose blue channel encodes the frame index (5 * i), so a test can tell
    which frame a decoder returned; a moving bar gives the codec real motion."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[..., 0] = (np.arange(w) * 255 // max(w - 1, 1))[None, None, :]
    for i in range(n):
        frames[i, ..., 2] = (5 * i) % 256
        x = (2 * i) % (w - 8)
        frames[i, h // 4 : h // 2, x : x + 8, 1] = 255
    return frames


def write_mp4(path: Path, frames: np.ndarray, fps: int = 10, faststart: bool = False, gop: int = 12) -> Path:
    """H.264 yuv420p MP4, near-lossless; ``faststart`` puts the index first so a truncated copy
    still opens (and then decodes fewer frames than it claims)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as c:
        s = c.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "veryfast", "g": str(gop), "threads": "1"})
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def make_broken(folder: Path, good: Path) -> dict[str, Path]:
    """zero-byte, text-as-mp4, truncated (index at end: cannot open) and garbled (opens, no frame
    decodes) copies of ``good``; see ``truncated_faststart`` for a file that decodes in part."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {
        "zero": folder / "zero.mp4",
        "text": folder / "text.mp4",
        "truncated": folder / "truncated.mp4",
    }
    out["zero"].write_bytes(b"")
    out["text"].write_text("this is not a video\n" * 20)
    data = good.read_bytes()
    out["truncated"].write_bytes(data[: len(data) // 2])
    out["garbled"] = folder / "garbled.mp4"  # a valid index over random bytes: opens, nothing decodes
    raw = bytearray(data)
    start, end = raw.find(b"mdat") + 4, raw.find(b"moov") - 4
    if not 4 < start < end:
        raise ValueError("make_broken needs an MP4 with the index after the data (no faststart)")
    raw[start:end] = np.random.default_rng(0).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    out["garbled"].write_bytes(bytes(raw))
    return out


def truncated_faststart(folder: Path, frames: np.ndarray, keep: float = 0.5) -> Path:
    full = write_mp4(folder / "full_fast.mp4", frames, faststart=True)
    data = full.read_bytes()
    cut = folder / "cut_fast.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    full.unlink()
    return cut
