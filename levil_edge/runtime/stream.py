"""Sliding-window prediction over a long video, a camera or an RTSP stream (PyAV). Torch-free.

Frames are decoded in order, resized (short side = model size) as they arrive and kept in a ring
buffer of ``frames * stride`` frames; every ``step`` frames the window is sampled with the model's
stride, centre-cropped, normalised and classified. Yields one event per window."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from levil_edge.errors import DecodeError


def open_source(source: str):
    """av.open a file, an URL (rtsp://, http://) or a V4L2 camera (/dev/videoN or an integer)."""
    import av

    try:
        if source.isdigit():
            return av.open(f"/dev/video{source}", format="v4l2")
        if source.startswith("/dev/video"):
            return av.open(source, format="v4l2")
        opts = {"rtsp_transport": "tcp"} if source.startswith("rtsp://") else None
        return av.open(source, options=opts)
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(f"cannot open stream {source} ({exc}): check the path, URL or camera device") from exc


def stream_predict(
    source: str | Path,
    model,
    *,
    step: int | None = None,
    topk: int = 3,
    max_seconds: float | None = None,
    max_windows: int | None = None,
    providers: list[str] | None = None,
    threads: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield {"window", "frame", "time_s", "top": [...], "fps", "infer_ms"} per window.

    ``step``: frames between windows (default: the window's frame count). ``fps`` is the
    achieved processing rate in source frames per second (decode + inference)."""
    from levil_edge.data.transforms import resize_short_side
    from levil_edge.metrics import softmax
    from levil_edge.runtime.model import EdgeModel, load_model
    from levil_edge.runtime.predict import topk_labels
    from levil_edge.runtime.preprocess import frames_to_input

    m = model if isinstance(model, EdgeModel) else load_model(model, providers, threads)
    span = m.cfg.frames * m.cfg.stride
    step = step or m.cfg.frames
    ring: collections.deque = collections.deque(maxlen=span)
    container = open_source(str(source))
    stream = container.streams.video[0]
    start = time.perf_counter()
    windows = 0
    try:
        for n, frame in enumerate(container.decode(stream)):
            rgb = frame.to_ndarray(format="rgb24")[None]  # (1, H, W, 3)
            ring.append(resize_short_side(rgb, m.cfg.size)[0])
            if len(ring) < span or (n + 1 - span) % step:
                continue
            window = np.stack(list(ring)[:: m.cfg.stride])  # (T, h, w, 3)
            t0 = time.perf_counter()
            probs = softmax(m.predict(frames_to_input(window, m.cfg)).astype(np.float64))[0]
            elapsed = time.perf_counter() - start
            yield {
                "window": windows, "frame": n, "time_s": float(frame.time) if frame.time is not None else None,
                "top": topk_labels(probs, m.class_names, topk), "fps": (n + 1) / max(elapsed, 1e-9),
                "infer_ms": 1000 * (time.perf_counter() - t0),
            }
            windows += 1
            if (max_windows and windows >= max_windows) or (max_seconds and elapsed >= max_seconds):
                break
    finally:
        container.close()
