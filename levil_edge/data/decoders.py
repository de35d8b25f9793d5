"""Video decoders: decord (fast path on x86_64) and PyAV (portable, aarch64 wheels). Torch-free.

What a frame index means
------------------------
Frame ``k`` of a file is the ``k``-th frame (counting from 0) that a plain sequential decode of its
first video stream returns: open the file with PyAV, ``for frame in container.decode(video=0)``.
The decoder returns frames in presentation order, so this is presentation order, and it is what
the decoder *returns*, not what the container claims:

- a frame the decoder drops (an MPEG-4 "N-VOP" placeholder in an XviD/DivX file, a B-frame whose
  reference is missing) has no number; frames after it move up;
- AVI chunks left empty for a variable frame rate (opencv's Cinepak ``tree.avi``: 444 in the
  header, 68 with data) have no number either: frame numbers are not timestamps;
- a truncated file has the frames that still decode, no more.

``probe(path).num_frames`` is that count, and ``read_frames`` can deliver every one of frames
``0 .. num_frames - 1``. ``read_frames(path, indices)`` returns exactly those frames, in the order
asked (repeats allowed), for both decoders; an index past the end is clamped to the last frame
(never an error: a sampler's arithmetic and a damaged file meet here), a negative one is a
``UsageError``. With decord the pixels can differ from PyAV's by rounding (decord bundles an
older FFmpeg): the frame is the same.

How it stays exact and fast (``frame_index`` module): ``probe`` demuxes the whole file once (no
decoding) and records every keyframe's frame number. A read seeks to the last keyframe at or
before the first wanted frame, checks where the seek landed, and decodes forward:

- MP4/MOV, Matroska/WebM, MPEG-PS: frames name themselves by their presentation timestamps;
  frames nothing refers to are skipped on the way to a target (fastest);
- AVI and MPEG-4 Part 2: timestamps there are guessed by FFmpeg and wrong with B-frames
  (indexing by them put PyAV's frames 1-2 off and decord's up to ~100 off), so frames are counted
  from the keyframe, whose number comes from the bitstream's picture types (packed B-frames and
  N-VOPs included);
- files where neither can be trusted, or a check fails: decode from the start and count.

decord serves MP4/MOV and Matroska/WebM files whose frame timestamps (decord's index) agree with
PyAV's, checked once per file and process; every other read goes through PyAV's exact path.
The per-file facts travel in ``VideoInfo``, so ``remember(info)`` in a DataLoader worker brings
them along and the worker does not analyse the file again.

``size`` in ``read_frames``: ``None`` keeps the native resolution, an ``int`` resizes so the short
side is that many pixels (aspect kept, long side rounded to even), an ``(H, W)`` tuple gives
exactly that size. Resizing happens inside the decoder (swscale, bilinear), which is much cheaper
than resizing afterwards.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from levil_edge.data.frame_index import FrameIndex, PacketScan, build_index, needs_tail_check
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
    # Keyframe positions and how frames are found (``frame_index``); not part of the report.
    index: FrameIndex | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "index"}


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

# A wanted frame whose keyframe lies more than this many frames past the last frame decoded gets
# its own seek; closer ones are reached by decoding on. A seek costs the frames in flight in the
# decoder's threads and reorder buffer: measured (320x240, 2 cores) best at 8 for MPEG-4 Part 2
# and MPEG-2, 16 for H.264 (GOP 24: 129 -> 104 ms CPU for 8 frames; XviD: 22 -> 32 ms at 16).
# HEVC, VP9 and AV1 are not measured: heavier per frame and frame-threaded like H.264.
_SEEK_GAP = 8
_SEEK_GAP_BY_CODEC = {"h264": 16, "hevc": 16, "vp9": 16, "av1": 16}
# In "pts" mode, stop skipping non-reference frames this many frames before a target: more than
# the B-frame reordering depth of common encoders, so no packet of a wanted frame is skipped.
_REORDER_MARGIN = 8
# Packets read after a seek while looking for the keyframe it should have landed on.
_LANDING_LIMIT = 600


class _Inexact(Exception):
    """A read found the file's index does not hold (the caller retries in a more careful mode)."""


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


def _decoded(packet):
    """The frames ``packet`` completes; None where the data stops decoding (a truncated tail)."""
    import av

    try:
        return packet.decode()
    except (av.error.FFmpegError, ValueError):
        return None


class PyAVDecoder(VideoDecoder):
    """PyAV: exact random access by seeking to keyframes (see the module doc for how)."""

    name = "pyav"

    def __init__(self, threads: int = 0) -> None:
        super().__init__()
        self.threads = threads  # 0 = let FFmpeg choose
        # file key -> FrameIndex that replaced the probed one after a read found it wrong
        self._demoted: dict[tuple, FrameIndex] = {}

    # --- probe ---------------------------------------------------------------------------------

    def _probe(self, path: str) -> VideoInfo:
        container = _open_av(path)
        try:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            container_name = container.format.name
            fps = _stream_fps(stream)
            scan, first, lead = self._scan(container, stream, path, codec)
            index = build_index(scan, codec, container_name, _intra_only(codec))
            index = self._check_head(index, lead)
            if index.mode != "sequential":
                end_s = _packets_end(stream, scan)
                duration_s = container.duration / 1e6 if container.duration else None
                if needs_tail_check(scan, container_name, stream.frames or 0, duration_s, end_s):
                    index = self._check_tail(container, stream, index)
        finally:
            container.close()
        if index.mode == "sequential":
            index = index.with_mode("sequential", index.reason, num_frames=self._count_sequential(path))
        if fps <= 0:
            fps = 30.0
        n = index.num_frames
        return VideoInfo(path, n, fps, first.width, first.height, n / fps, codec, container_name, index)

    def _scan(self, container, stream, path: str, codec: str):
        """Demux every packet (cheap: no decoding) and decode the head: the first frame (a file
        whose codec cannot be decoded fails here) and how many frames precede the first keyframe."""
        scan = PacketScan(extradata=bytes(stream.codec_context.extradata or b""),
                          time_base=float(stream.time_base or 0))
        first = None
        lead = None  # frames returned before the first keyframe; None until one came out
        before = 0
        decode_errors = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                scan.add(packet, mpeg4=codec == "mpeg4")
                if lead is None and decode_errors < 16:
                    frames = _decoded(packet)
                    if frames is None:
                        decode_errors += 1
                        continue
                    for frame in frames:
                        first = first or frame
                        if lead is None and frame.key_frame:
                            lead = before
                        before += 1
        except Exception as exc:  # noqa: BLE001 - a truncated tail: keep what was demuxed before it
            if not len(scan):
                raise DecodeError(f"{path}: cannot read video data ({_short(exc)})") from exc
            scan.demux_error = True
        if first is None:
            first = _first_frame_by_decoding(container, stream, path)
        return scan, first, lead

    @staticmethod
    def _check_head(index: FrameIndex, lead: int | None) -> FrameIndex:
        """The first keyframe's number from the bitstream vs. what a decode from the start shows:
        frames before it that do not decode (a file cut mid-GOP) shift every number."""
        if index.mode == "sequential" or not len(index.key_frames):
            return index
        if lead is None:
            return index.with_mode("sequential", "no decoded frame is marked as a keyframe")
        shift = int(index.key_frames[0]) - lead
        if shift == 0:
            return index
        if shift < 0:
            return index.with_mode("sequential", "more frames before the first keyframe than packets")
        return index.with_mode("count", f"{shift} frames before the first keyframe do not decode",
                               num_frames=index.num_frames - shift, key_shift=shift)

    def _check_tail(self, container, stream, index: FrameIndex) -> FrameIndex:
        """Count what decodes from the last keyframe on: a truncated file's packets promise more."""
        last = len(index.key_frames) - 1
        for m in range(last, max(last - 3, -1), -1):
            try:
                landed, packets = _seek_key(container, stream, index, m)
            except _Inexact:
                continue
            k = None
            try:
                for k, _ in _count_frames(packets, index, int(index.key_frames[landed]), stream):
                    pass
            except _Inexact:
                return index.with_mode("sequential", "keyframes do not come out where the index puts them")
            if k is None:
                continue  # the keyframe itself no longer decodes: try the one before
            n = k + 1
            if n == index.num_frames:
                return index
            if n > index.num_frames:
                return index.with_mode("sequential", "more frames decode than packets")
            return index.with_mode("count", f"truncated: {index.num_frames - n} frames do not decode", num_frames=n)
        return index.with_mode("sequential", "no keyframe near the end decodes")

    def _count_sequential(self, path: str) -> int:
        container = _open_av(path)
        n = 0
        try:
            for packet in container.demux(container.streams.video[0]):
                n += len(_decoded(packet) or [])
        except Exception:  # noqa: BLE001 - truncated data: what decoded so far counts
            pass
        finally:
            container.close()
        return n

    # --- read ----------------------------------------------------------------------------------

    def index_of(self, path: str, info: VideoInfo) -> FrameIndex:
        """The frame index reads of ``path`` use (the probed one unless a read demoted it)."""
        key = self._cache_key(path)
        with self._lock:
            demoted = self._demoted.get(key)
        if demoted is not None:
            return demoted
        if info.index is None:  # a VideoInfo built elsewhere: probe the file ourselves
            self.clear_file(path)
            return self.probe(path).index
        return info.index

    def clear_file(self, path: str) -> None:
        key = self._cache_key(path)
        with self._lock:
            self._cache.pop(key, None)
            self._demoted.pop(key, None)

    def clear_cache(self) -> None:
        super().clear_cache()
        with self._lock:
            self._demoted.clear()

    def _read(self, path: str, idx: np.ndarray, out_hw: tuple[int, int], info: VideoInfo) -> np.ndarray:
        wanted = np.unique(idx)
        index = self.index_of(path, info)
        got: dict[int, np.ndarray] = {}
        while index.mode != "sequential":
            try:
                got = self._read_by_keys(path, index, wanted, out_hw, info.codec)
                break
            except _Inexact as exc:
                # Keep the careful mode for this file in this process; pts -> count -> sequential.
                mode = "count" if index.mode == "pts" and len(index.key_frames) else "sequential"
                index = index.with_mode(mode, f"demoted after a read: {exc}")
                with self._lock:
                    self._demoted[self._cache_key(path)] = index
                got = {}
        missing = [int(i) for i in wanted if int(i) not in got]
        if missing:  # sequential mode, or frames a damaged middle kept from decoding after a seek
            got.update(self._read_sequential(path, np.asarray(missing), out_hw, index.damaged))
        if not got:
            raise DecodeError(f"{path}: no frame decoded; the file is corrupt or its codec is unsupported")
        return _assemble(got, idx)

    def _open_stream(self, path: str, damaged: bool = False):
        container = _open_av(path)
        stream = container.streams.video[0]
        stream.thread_type = "SLICE" if damaged else "AUTO"
        if self.threads:
            stream.codec_context.thread_count = self.threads
        return container, stream

    def _read_by_keys(self, path, index: FrameIndex, wanted, out_hw, codec: str) -> dict[int, np.ndarray]:
        got: dict[int, np.ndarray] = {}
        container, stream = self._open_stream(path, index.damaged)
        try:
            for group in _plan(wanted, index, codec):
                landed, packets = _seek_key(container, stream, index, index.key_before(group[0]))
                if index.mode == "pts":
                    _collect_by_pts(packets, index, group, stream, out_hw, got)
                else:
                    for k, frame in _count_frames(packets, index, int(index.key_frames[landed]), stream):
                        if k in group and k not in got and not _concealed(frame):
                            got[k] = _to_rgb(frame, out_hw)
                        if k >= group[-1]:
                            break
        finally:
            _set_skip(stream, "DEFAULT")
            container.close()
        return got

    def _read_sequential(self, path: str, wanted: np.ndarray, out_hw, damaged: bool) -> dict[int, np.ndarray]:
        """Decode from the start and count: exact by definition, used where nothing else holds."""
        out: dict[int, np.ndarray] = {}
        need = set(int(i) for i in wanted)
        last_wanted = int(wanted.max())
        container, stream = self._open_stream(path, damaged)
        k, last_frame = -1, None
        try:
            for packet in container.demux(stream):
                frames = _decoded(packet)
                if frames is None:
                    break
                for frame in frames:
                    k += 1
                    last_frame = frame
                    if k in need:
                        out[k] = _to_rgb(frame, out_hw)
                if k >= last_wanted:
                    break
        except Exception:  # noqa: BLE001 - truncated data: stop here, clamp the rest
            pass
        finally:
            container.close()
        if last_frame is not None and k not in out and need - set(out):
            out[k] = _to_rgb(last_frame, out_hw)  # the last frame that decoded, for clamping
        return out


def _intra_only(codec: str) -> bool:
    import av

    try:
        return bool(av.codec.Codec(codec, "r").intra_only)
    except Exception:  # noqa: BLE001 - an unknown name: assume frames depend on each other
        return False


def _packets_end(stream, scan: PacketScan) -> float | None:
    """Seconds at which the last demuxed packet ends, None without timestamps."""
    pts = [p for p in scan.pts if p is not None]
    if not pts or not stream.time_base:
        return None
    start = stream.start_time or 0
    fps = _stream_fps(stream) or 30.0
    return float((max(pts) - start) * stream.time_base) + 1.0 / fps


def _seek_key(container, stream, index: FrameIndex, m: int):
    """Seek so that decoding starts at a known keyframe shown at or before keyframe ``m``.

    Returns ``(keyframe number, packets from that keyframe on)``. The landing is checked: a
    demuxer may land on another keyframe than asked (AVI, MPEG-PS seek by estimate), on a
    non-keyframe, or past the target; packets before a known keyframe are dropped undecoded, and
    a landing past the target retries from an earlier keyframe."""
    import av

    target = int(index.key_frames[m])
    for mm in range(m, max(m - 3, -1), -1):
        try:
            container.seek(int(index.key_seek[mm]), stream=stream, backward=True, any_frame=False)
        except (av.error.FFmpegError, OSError):
            break
        packets = container.demux(stream)
        found = None
        try:
            for n, packet in enumerate(packets):
                if packet.size == 0 or n > _LANDING_LIMIT:
                    break
                found = index.key_of(packet)
                if found is not None:
                    break
        except av.error.FFmpegError:
            found = None
        if found is not None and int(index.key_frames[found]) <= target:
            return found, itertools.chain([packet], packets)
    raise _Inexact(f"a seek does not reach the keyframe of frame {target}")


def _count_frames(packets, index: FrameIndex, anchor: int, stream):
    """Yield ``(k, frame)`` from the keyframe the packets start with, counting frames.

    Frames returned before the keyframe itself are an open GOP's leading pictures (they refer to
    the previous GOP, so they are broken or dropped after a seek) and are not counted. Keyframes
    must come out exactly where the index puts them, else the count has drifted."""
    _set_skip(stream, "DEFAULT")
    keys = index.key_set()
    k = None
    for packet in packets:
        frames = _decoded(packet)
        if frames is None:
            return
        for frame in frames:
            if k is None:
                if not frame.key_frame:
                    continue
                k = anchor
            else:
                k += 1
            if (k in keys) != bool(frame.key_frame):
                raise _Inexact(f"keyframes do not come out where the index puts them (frame {k})")
            yield k, frame


def _collect_by_pts(packets, index: FrameIndex, group: list[int], stream, out_hw, got: dict) -> None:
    """Decode on, naming each frame by its timestamp; skip frames nothing refers to until
    ``_REORDER_MARGIN`` frames before the next frame still wanted."""
    todo = [k for k in group if k not in got]
    for packet in packets:
        if not todo:
            return
        threshold = index.frame_pts[max(todo[0] - _REORDER_MARGIN, 0)]
        # Decided per packet (decode order): even with frame threading no packet of a wanted
        # frame is decoded in skip mode, since its pts is at least the next wanted frame's.
        _set_skip(stream, "NONREF" if packet.pts is not None and packet.pts < threshold else "DEFAULT")
        frames = _decoded(packet)
        if frames is None:
            return
        for frame in frames:
            k = index.frame_of_pts(frame.pts)
            if k is None:
                raise _Inexact(f"a decoded frame has a timestamp ({frame.pts}) no packet had")
            if k in todo:
                if not _concealed(frame):
                    got[k] = _to_rgb(frame, out_hw)
                todo.remove(k)
            if k >= group[-1]:
                return


def _plan(wanted: np.ndarray, index: FrameIndex, codec: str) -> list[list[int]]:
    """Split sorted wanted frames into runs decoded after one seek each."""
    gap = _SEEK_GAP_BY_CODEC.get(codec, _SEEK_GAP)
    groups: list[list[int]] = [[int(wanted[0])]]
    for k in wanted[1:]:
        k = int(k)
        if int(index.key_frames[index.key_before(k)]) > groups[-1][-1] + gap:
            groups.append([])
        groups[-1].append(k)
    return groups


def _first_frame_by_decoding(container, stream, path: str):
    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return frame
    except Exception as exc:  # noqa: BLE001
        raise DecodeError(f"{path}: no frame decodes ({_short(exc)}); the codec may be unsupported") from exc
    raise DecodeError(f"{path}: no frame decodes; the file is empty or corrupt")


def _concealed(frame) -> bool:
    """A frame FFmpeg marks corrupt (data missing, e.g. the packet a truncated file cuts): its pixels
    come from error concealment, which depends on everything decoded before it, so after a seek it
    differs from what a decode from the start shows. Such frames are left to ``_read_sequential``."""
    return bool(getattr(frame, "is_corrupt", False))


def _to_rgb(frame, out_hw: tuple[int, int]) -> np.ndarray:
    h, w = out_hw
    if (frame.height, frame.width) == (h, w):
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR")


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

# Containers with a real frame index, where decord's seeking was measured exact (tests cover
# each). Elsewhere decord resolves a frame through timestamps that are guessed (AVI: Megamind.avi
# frame 115 came back as frame 17) or has no index at all (MPEG-PS: frame ~20 for 29).
_DECORD_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}


class DecordDecoder(VideoDecoder):
    """decord: random access with its own frame index; decodes straight to the requested size.

    Used where its index is known to match the frame numbering (a timestamped container whose
    frame timestamps agree with PyAV's, checked once per file); every other read, and any request
    decord fails on, is served by PyAV's exact path. One bad file never stops an epoch."""

    name = "decord"

    def __init__(self, threads: int = 0) -> None:
        super().__init__()
        _import_decord()  # fail at construction, not at the first video

        self.threads = threads
        self._fallback = PyAVDecoder(threads=threads)
        self._agrees: dict[tuple, bool] = {}  # file key -> decord's index matches ours

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
        # PyAV's probe defines the numbering both decoders honour.
        return self._fallback.probe(path)

    def clear_cache(self) -> None:
        super().clear_cache()
        self._fallback.clear_cache()
        with self._lock:
            self._agrees.clear()

    def _read(self, path: str, idx: np.ndarray, out_hw: tuple[int, int], info: VideoInfo) -> np.ndarray:
        index = self._fallback.index_of(path, info)
        key = self._cache_key(path)
        if index.mode != "pts" or info.container not in _DECORD_CONTAINERS or self._agrees.get(key) is False:
            return self._fallback._read(path, idx, out_hw, info)
        try:
            vr = self._reader(path, out_hw if out_hw != (info.height, info.width) else None)
            if key not in self._agrees:
                with self._lock:
                    self._agrees[key] = _decord_agrees(vr, index)
                if not self._agrees[key]:
                    return self._fallback._read(path, idx, out_hw, info)
            frames = vr.get_batch([int(i) for i in idx]).asnumpy()
            if frames.shape[1:3] != out_hw:
                raise DecodeError(f"decord returned {frames.shape[1:3]} instead of {out_hw}")
            return frames
        except Exception:  # noqa: BLE001 - serve the request with PyAV (clamps, or raises DecodeError)
            return self._fallback._read(path, idx, out_hw, info)


def _decord_agrees(vr, index: FrameIndex) -> bool:
    """decord's frame ``k`` is ours: same count, same timestamps (to half a frame)."""
    n = index.num_frames
    if len(vr) != n or index.frame_pts is None or n == 0:
        return False
    ts = np.asarray(vr.get_frame_timestamp(np.arange(n)))[:, 0].astype(np.float64)
    ours = (index.frame_pts - index.frame_pts[0]).astype(np.float64) * index.time_base
    step = np.median(np.diff(ours)) if n > 1 else 1.0
    return bool(np.all(np.abs((ts - ts[0]) - ours) < step / 2))


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
