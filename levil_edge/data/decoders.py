"""Video decoders: decord (fast path on x86_64) and PyAV (portable, aarch64 wheels). Torch-free.

Both return the same frames for the same request: uint8 ``(N, H, W, 3)`` RGB, frame ``i`` being
the ``i``-th frame in presentation order. Containers lie about their length (a Cinepak AVI reports
68 frames to decord and decodes 444 with PyAV), so:

- ``probe`` counts what the demuxer actually delivers and decodes the first frame, so a file that
  decodes nothing raises ``DecodeError`` there;
- ``read_frames`` never crashes on an index beyond what actually decodes (a truncated file): the
  index is clamped to the last frame that decoded. The result is deterministic.

``size`` in ``read_frames``: ``None`` keeps the native resolution, an ``int`` resizes so the short
side is that many pixels (aspect kept, long side rounded to even), an ``(H, W)`` tuple gives
exactly that size. Resizing
happens inside the decoder (swscale, bilinear), which is much cheaper than resizing afterwards.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from levil_edge.errors import DecodeError, UsageError

__all__ = [
    "DecodeError",
    "VideoInfo",
    "VideoDecoder",
    "PyAVDecoder",
    "DecordDecoder",
    "get_decoder",
    "available_decoders",
    "output_size",
]

Size = Union[None, int, Sequence[int]]


@dataclass(frozen=True)
class VideoInfo:
    """What a decoder found in a file. ``num_frames`` is what ``read_frames`` honours."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    duration: float  # seconds = num_frames / fps
    codec: str
    container: str = ""  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi", "mpeg"

    def to_dict(self) -> dict:
        return asdict(self)


def output_size(width: int, height: int, size: Size) -> tuple[int, int]:
    """(H, W) of a frame of ``width`` x ``height`` after the ``size`` request (see module doc)."""
    if size is None:
        return height, width
    if isinstance(size, (int, np.integer)):
        short = int(size)
        if short <= 0:
            raise UsageError(f"size must be positive, got {size}")
        # The long side is rounded to an even number: FFmpeg scales 4:2:0 video to odd widths
        # differently in decord and PyAV (mean pixel difference 4 instead of 1 on textures).
        if width <= height:
            return _even(height * short / width), short
        return short, _even(width * short / height)
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise UsageError(f"size must be positive, got {tuple(size)}")
    return h, w


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise DecodeError(f"{path}: no such file; check the path (or --root for list files)")
    if os.path.getsize(path) == 0:
        raise DecodeError(f"{path}: empty file (0 bytes); re-copy or remove it")


class VideoDecoder:
    """Base class: probe caching and index checks; subclasses implement ``_probe``/``_read``."""

    name = "base"

    def __init__(self) -> None:
        # (path, mtime_ns, size) -> VideoInfo; a dataset is probed once per process, not per epoch.
        self._cache: dict[tuple[str, int, int], VideoInfo] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _cache_key(path: str) -> tuple[str, int, int]:
        st = os.stat(path)
        return (os.path.abspath(path), st.st_mtime_ns, st.st_size)

    def remember(self, info: VideoInfo) -> None:
        """Seed the probe cache with a result found elsewhere (e.g. in the parent process, so that
        DataLoader workers do not re-probe every video every epoch). Ignored if the file changed."""
        try:
            key = self._cache_key(info.path)
        except OSError:
            return
        with self._lock:
            self._cache.setdefault(key, info)

    def probe(self, path: str | os.PathLike) -> VideoInfo:
        """Frame count, fps, size and codec; cached per (path, mtime, size) in this process."""
        path = os.fspath(path)
        _check_file(path)
        key = self._cache_key(path)
        with self._lock:
            info = self._cache.get(key)
        if info is None:
            info = self._probe(path)
            if info.num_frames <= 0:
                raise DecodeError(f"{path}: no decodable video frames; re-encode it (e.g. ffmpeg -c:v libx264)")
            with self._lock:
                self._cache[key] = info
        return info

    def read_frames(self, path: str | os.PathLike, indices: Sequence[int], size: Size = None) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) -> uint8 ``(N, H, W, 3)``."""
        path = os.fspath(path)
        info = self.probe(path)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise UsageError("read_frames needs at least one frame index")
        if idx.min() < 0:
            raise UsageError(f"negative frame index {int(idx.min())}")
        # Past-the-end requests are clamped, never an error: metadata and reality disagree often.
        idx = np.minimum(idx, info.num_frames - 1)
        out_hw = output_size(info.width, info.height, size)
        frames = self._read(path, idx, out_hw, info)
        return np.ascontiguousarray(frames, dtype=np.uint8)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # --- implemented by subclasses ---
    def _probe(self, path: str) -> VideoInfo:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self, path: str, idx: np.ndarray, out_hw: tuple[int, int], info: VideoInfo) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ----------------------------------------------------------------------------------------------
# PyAV
# ----------------------------------------------------------------------------------------------

# Requested frames closer than this are decoded in one run; farther ones get their own seek.
_SEEK_GAP = 48
# Stop skipping non-reference frames this many frames before a target: more than the B-frame
# reordering depth of common encoders, so no requested frame is skipped.
_REORDER_MARGIN = 8


def _set_skip(stream, mode: str) -> None:
    try:
        if stream.codec_context.skip_frame != mode:
            stream.codec_context.skip_frame = mode
    except Exception:  # noqa: BLE001 - older PyAV without skip_frame: decode everything
        pass


def _open_av(path: str):
    import av

    try:
        container = av.open(path)
    except Exception as exc:  # av.error.* (InvalidDataError, ...), OSError
        raise DecodeError(f"{path}: cannot open as a video ({_short(exc)}); is it a complete video file?") from exc
    if not container.streams.video:
        container.close()
        raise DecodeError(f"{path}: has no video stream")
    return container


def _short(exc: Exception) -> str:
    if getattr(exc, "strerror", None):  # FFmpeg errors: "Invalid data found when processing input"
        return str(exc.strerror)
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


class PyAVDecoder(VideoDecoder):
    """PyAV: one seek per group of nearby requested frames, then decode forward.

    A frame's index is its presentation time x fps (constant-rate video). When a file has no usable
    timestamps we fall back to decoding from the start and counting frames, which is always exact.
    """

    name = "pyav"

    def __init__(self, threads: int = 0) -> None:
        super().__init__()
        self.threads = threads  # 0 = let FFmpeg choose

    def _probe(self, path: str) -> VideoInfo:
        container = _open_av(path)
        try:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            container_name = container.format.name
            fps = _stream_fps(stream)
            first = None
            count = 0
            decode_errors = 0
            try:
                # Demuxing is cheap (no decoding): count the packets that carry data, and decode
                # until the first frame comes out, so a file whose codec cannot be decoded fails here.
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    count += 1
                    if first is None and decode_errors < 16:
                        try:
                            first = next(iter(packet.decode()), None)
                        except Exception:  # noqa: BLE001 - a damaged packet: try the next ones
                            decode_errors += 1
            except Exception as exc:  # a truncated tail: keep what was demuxed before it
                if count == 0:
                    raise DecodeError(f"{path}: cannot read video data ({_short(exc)})") from exc
            if first is None:
                first = _first_frame_by_decoding(container, stream, path)
            width, height = first.width, first.height
        finally:
            container.close()
        if fps <= 0:
            fps = 30.0
        return VideoInfo(path, count, fps, width, height, count / fps, codec, container_name)

    def _read(self, path: str, idx: np.ndarray, out_hw: tuple[int, int], info: VideoInfo) -> np.ndarray:
        wanted = np.unique(idx)
        container = _open_av(path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.threads:
                stream.codec_context.thread_count = self.threads
            got = self._decode_groups(container, stream, wanted, out_hw, info)
            if len(got) < len(wanted):
                got.update(self._decode_sequential(container, stream, wanted, out_hw, got))
        finally:
            container.close()
        if not got:
            raise DecodeError(f"{path}: no frame decoded; the file is corrupt or its codec is unsupported")
        return _assemble(got, idx)

    def _decode_groups(self, container, stream, wanted, out_hw, info) -> dict[int, np.ndarray]:
        """Seek to each group of nearby frames and decode forward, indexing frames by timestamp."""
        got: dict[int, np.ndarray] = {}
        tb = stream.time_base
        start = stream.start_time or 0
        if tb is None or info.fps <= 0:
            return got

        def index(pts) -> int:
            return int(round(float((pts - start) * tb) * info.fps))

        for group in _groups(wanted, _SEEK_GAP):
            first, last = group[0], group[-1]
            members = set(group)
            try:
                target = start + int(round(first / info.fps / float(tb)))
                container.seek(max(target, start), stream=stream, backward=True, any_frame=False)
                # Frames between the keyframe and the target matter only as references: skip the
                # non-reference ones (10-30% faster on long GOPs, identical frames). The switch back
                # is decided per *packet* (decode order), so even with frame threading no packet
                # of a wanted frame is ever decoded in skip mode.
                _set_skip(stream, "NONREF")
                done = False
                for packet in container.demux(stream):
                    if packet.pts is None or index(packet.pts) >= first - _REORDER_MARGIN:
                        _set_skip(stream, "DEFAULT")
                    for frame in packet.decode():
                        if frame.pts is None:
                            return got  # no timestamps: the sequential fallback handles it
                        i = index(frame.pts)
                        if i > last:
                            done = True
                            break
                        if i in members and i not in got:
                            got[i] = _to_rgb(frame, out_hw)
                    if done:
                        break
            except Exception:  # noqa: BLE001 - a broken tail: whatever decoded is kept, rest clamps
                break
            finally:
                _set_skip(stream, "DEFAULT")
        return got

    def _decode_sequential(self, container, stream, wanted, out_hw, got) -> dict[int, np.ndarray]:
        """Decode from the start counting frames: exact when timestamps are missing or wrong."""
        out: dict[int, np.ndarray] = {}
        need = set(int(i) for i in wanted) - set(got)
        last_wanted = int(wanted[-1])
        try:
            container.seek(0, stream=stream, backward=True, any_frame=False)
        except Exception:  # noqa: BLE001 - a container that cannot seek back: clamp what we have
            return out
        _set_skip(stream, "DEFAULT")
        i = -1
        last_frame = None
        try:
            for i, frame in enumerate(container.decode(stream)):
                if i in need:
                    out[i] = _to_rgb(frame, out_hw)
                last_frame = frame
                if i >= last_wanted:
                    break
        except Exception:  # noqa: BLE001 - truncated data: stop here, clamp the rest
            pass
        if last_frame is not None and i >= 0 and i not in out and need - set(out):
            out[i] = _to_rgb(last_frame, out_hw)  # the last frame that decoded, for clamping
        return out


def _first_frame_by_decoding(container, stream, path: str):
    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return frame
    except Exception as exc:  # noqa: BLE001
        raise DecodeError(f"{path}: no frame decodes ({_short(exc)}); the codec may be unsupported") from exc
    raise DecodeError(f"{path}: no frame decodes; the file is empty or corrupt")


def _to_rgb(frame, out_hw: tuple[int, int]) -> np.ndarray:
    h, w = out_hw
    if (frame.height, frame.width) == (h, w):
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR")


def _groups(sorted_idx: np.ndarray, gap: int) -> list[list[int]]:
    """Split sorted unique indices into runs whose neighbours are at most ``gap`` apart."""
    groups: list[list[int]] = [[int(sorted_idx[0])]]
    for i in sorted_idx[1:]:
        if int(i) - groups[-1][-1] > gap:
            groups.append([])
        groups[-1].append(int(i))
    return groups


def _assemble(got: dict[int, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """Stack frames in request order; an index that did not decode takes the nearest earlier
    decoded frame (or the first decoded one), so truncated files give a deterministic clip."""
    keys = np.array(sorted(got))
    out = []
    for i in idx:
        pos = np.searchsorted(keys, i, side="right") - 1
        out.append(got[int(keys[max(pos, 0)])])
    return np.stack(out)


# ----------------------------------------------------------------------------------------------
# decord
# ----------------------------------------------------------------------------------------------


# Containers without a frame index, where decord's random access returns wrong frames (measured:
# MPEG-2 in MPEG-PS gave frame ~20 for 29); PyAV decodes them correctly.
_DECORD_UNRELIABLE = {"mpeg", "mpegts", "mpegvideo", "h264", "hevc"}


class DecordDecoder(VideoDecoder):
    """decord: random access with its own frame index; decodes straight to the requested size.

    When decord fails on a request (a truncated tail, a codec quirk), the request is served by
    PyAV instead, which clamps to what decodes: one bad file never stops an epoch."""

    name = "decord"

    def __init__(self, threads: int = 0) -> None:
        super().__init__()
        _import_decord()  # fail at construction, not at the first video

        self.threads = threads
        self._fallback = PyAVDecoder(threads=threads)

    def _reader(self, path: str, out_hw: tuple[int, int] | None = None):
        decord = _import_decord()

        kw = {"num_threads": self.threads}
        if out_hw is not None:
            kw.update(height=out_hw[0], width=out_hw[1])
        try:
            return decord.VideoReader(path, ctx=decord.cpu(0), **kw)
        except Exception as exc:  # decord raises RuntimeError / DECORDError
            raise DecodeError(f"{path}: cannot open as a video ({_short(exc)}); is it a complete video file?") from exc

    def _probe(self, path: str) -> VideoInfo:
        # decord's own frame count can disagree with what decodes; PyAV's demux count is what
        # both decoders honour, so their frames agree index by index.
        return self._fallback.probe(path)

    def _read(self, path: str, idx: np.ndarray, out_hw: tuple[int, int], info: VideoInfo) -> np.ndarray:
        if info.container in _DECORD_UNRELIABLE:
            return self._fallback._read(path, idx, out_hw, info)
        try:
            vr = self._reader(path, out_hw if out_hw != (info.height, info.width) else None)
            n = len(vr)
            if n < info.num_frames and int(idx.max()) >= n:
                raise DecodeError("decord sees fewer frames than the demuxer")
            frames = vr.get_batch([int(i) for i in idx]).asnumpy()
            if frames.shape[1:3] != out_hw:
                raise DecodeError(f"decord returned {frames.shape[1:3]} instead of {out_hw}")
            return frames
        except Exception:  # noqa: BLE001 - serve the request with PyAV (clamps, or raises DecodeError)
            return self._fallback._read(path, idx, out_hw, info)


# ----------------------------------------------------------------------------------------------


def _import_decord():
    """Import decord *after* PyAV. decord ships its own older FFmpeg libraries; loaded first, they
    shadow PyAV's (measured: PyAV's libvpx-vp9 encoder then fails with EINVAL)."""
    try:
        import av  # noqa: F401
    except ImportError:
        pass
    import decord

    return decord


def available_decoders() -> list[str]:
    """Decoders that import here, in order of preference."""
    names = []
    try:
        _import_decord()
        names.append("decord")
    except Exception:  # noqa: BLE001 - a broken install counts as absent
        pass
    try:
        import av  # noqa: F401

        names.append("pyav")
    except Exception:  # noqa: BLE001
        pass
    return names


_INSTANCES: dict[str, VideoDecoder] = {}


def get_decoder(name: str | VideoDecoder = "auto") -> VideoDecoder:
    """``"auto"`` (decord when it imports, else PyAV), ``"decord"`` or ``"pyav"``.

    Instances are shared per process so that the probe cache survives across epochs."""
    if isinstance(name, VideoDecoder):
        return name
    name = getattr(name, "value", name)  # accept the CLI enum
    name = str(name).lower()
    if name == "auto":
        avail = available_decoders()
        if not avail:
            from levil_edge.errors import MissingExtraError

            raise MissingExtraError("no video decoder imports: pip install av (or 'levil-edge[train]' for decord)")
        name = avail[0]
    if name not in ("decord", "pyav"):
        raise UsageError(f"unknown decoder {name!r}: use auto, decord or pyav")
    if name not in _INSTANCES:
        if name == "decord":
            try:
                _INSTANCES[name] = DecordDecoder()
            except ImportError as exc:
                from levil_edge.errors import MissingExtraError

                raise MissingExtraError(
                    f"decord does not import ({exc}): pip install decord (x86_64 only) or use --decoder pyav"
                ) from exc
        else:
            try:
                import av  # noqa: F401
            except ImportError as exc:
                from levil_edge.errors import MissingExtraError

                raise MissingExtraError(f"PyAV does not import ({exc}): pip install av") from exc
            _INSTANCES[name] = PyAVDecoder()
    return _INSTANCES[name]


def video_info(path: str | Path, decoder: str | VideoDecoder = "auto") -> VideoInfo:
    """Shortcut: ``get_decoder(decoder).probe(path)``."""
    return get_decoder(decoder).probe(path)
