"""Scan a dataset: which videos decode, and what they contain. Torch-free; ``levil-edge data check``.

Per video: probe (demux count + first frame decoded) and, with ``full=True``, a complete decode
that counts the frames which really decode (catches truncated files that claim more frames).
Bad videos are reported, never raised: the scan always finishes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from levil_edge.data.decoders import VideoDecoder, get_decoder
from levil_edge.data.specs import DatasetSpec

__all__ = ["VideoCheck", "CheckReport", "check_video", "check_dataset", "count_decodable_frames"]


@dataclass
class VideoCheck:
    path: str
    ok: bool
    label: int | None = None
    num_frames: int | None = None
    decoded_frames: int | None = None  # only with full=True
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    codec: str | None = None
    size_bytes: int | None = None
    error: str | None = None


@dataclass
class CheckReport:
    source: str
    kind: str
    classes: list[str]
    decoder: str
    videos: list[VideoCheck] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def bad(self) -> list[VideoCheck]:
        return [v for v in self.videos if not v.ok]

    @property
    def good(self) -> list[VideoCheck]:
        return [v for v in self.videos if v.ok]

    def totals(self) -> dict:
        good = self.good
        return {
            "videos": len(self.videos),
            "readable": len(good),
            "unreadable": len(self.bad),
            "missing": len(self.missing),
            "classes": len(self.classes),
            "frames": sum(v.num_frames or 0 for v in good),
            "hours": round(sum(v.duration or 0.0 for v in good) / 3600, 4),
            "min_frames": min((v.num_frames for v in good), default=None),
            "max_frames": max((v.num_frames for v in good), default=None),
            "resolutions": sorted({f"{v.width}x{v.height}" for v in good}),
        }

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "kind": self.kind,
            "decoder": self.decoder,
            "classes": self.classes,
            "totals": self.totals(),
            "unreadable": [{"path": v.path, "error": v.error} for v in self.bad],
            "missing": self.missing,
            "videos": [asdict(v) for v in self.videos],
        }


def count_decodable_frames(path: str) -> int:
    """Decode every frame with PyAV and count those that decode (stops at the first error)."""
    import av

    n = 0
    try:
        with av.open(path) as c:
            for _ in c.decode(c.streams.video[0]):
                n += 1
    except Exception:  # noqa: BLE001 - a truncated tail: count what decoded before it
        pass
    return n


def check_video(path: str, decoder: VideoDecoder, label: int | None = None, full: bool = False) -> VideoCheck:
    size = os.path.getsize(path) if os.path.exists(path) else None
    try:
        info = decoder.probe(path)
    except Exception as exc:  # noqa: BLE001 - report, never raise: the scan must finish
        return VideoCheck(path, False, label, size_bytes=size, error=str(exc) or type(exc).__name__)
    res = VideoCheck(
        path, True, label, info.num_frames, None, round(info.fps, 3), info.width, info.height,
        round(info.duration, 3), info.codec, size,
    )
    if full:
        res.decoded_frames = count_decodable_frames(path)
        if res.decoded_frames == 0:
            res.ok, res.error = False, "no frame decodes"
        elif res.decoded_frames < info.num_frames:
            res.error = f"only {res.decoded_frames} of {info.num_frames} frames decode (truncated?)"
    return res


def check_dataset(
    spec: DatasetSpec,
    decoder: str | VideoDecoder = "auto",
    workers: int = 1,
    full: bool = False,
    progress: bool = True,
) -> CheckReport:
    """Check every video of ``spec`` with ``workers`` threads (FFmpeg decodes without the GIL)."""
    dec = get_decoder(decoder)
    report = CheckReport(spec.source, spec.kind, list(spec.classes), dec.name, missing=list(spec.missing))

    def one(item):
        return check_video(item.path, dec, item.label, full)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(one, spec.items)
        if progress:
            from levil_edge.utils.progress import track

            results = track(results, total=len(spec.items), description="checking videos")
        report.videos = list(results)
    return report
