"""Real video containers for tests and benchmarks, written with PyAV (no binary files committed).

Every frame carries its number, so a test can tell which frame a decoder returned even after lossy
compression: ``numbered_frames(n, h, w)`` draws the frame number as an 8-bit barcode (white/black
blocks in the top rows), plus a brightness ramp and a moving square so the codec has real motion
to predict; ``frame_number(rgb)`` reads the barcode back.

Writers (each returns ``path``; ``frames`` is uint8 ``(N, H, W, 3)``, even H and W):

- ``write_xvid_avi_with_mp3(path, frames, fps=25, b_frames=2, packed=True, audio=True)``: MPEG-4
  Part 2 with B-frames, FourCC XVID, MP3 audio interleaved: UCF101's format. ``packed=True``
  rewrites the stream DivX/XviD-style ("packed bitstream": each B-frame travels in the packet of
  the reference frame before it, an N-VOP placeholder fills the hole, and the user data says
  ``DivX503b1393p``), as XviD and DivX 5 often wrote it (opencv's ``Megamind.avi`` is packed).
  FFmpeg's encoder cannot
  write it and its ``mpeg4_unpack_bframes`` filter only goes the other way, so the packing is done
  here, by the inverse of that filter's rules.
- ``write_mpeg4_avi(path, frames, fps=25, b_frames=0, gop=12)``: plain MPEG-4 Part 2 AVI (FMP4).
- ``write_mpeg4_avi_with_nvops(path, frames, fps=25, nvops=(5, 6, 20))``: plain MPEG-4 Part 2
  AVI where the listed frames are N-VOPs ("not coded" placeholders, as capture software writes for
  dropped frames): FFmpeg returns no frame for them, so the file decodes fewer frames than it has
  chunks, and frames after them come back with their content shifted (numbered by the barcode
  they show, not by their position).
- ``write_cinepak_avi(path, frames, fps=15, drop=())``: Cinepak; frames whose numbers are in
  ``drop`` are left out, and the AVI muxer writes empty chunks in their place (a variable-rate
  AVI, like opencv's ``tree.avi``: the header counts more frames than any decoder returns).
- ``write_h264(path, frames, fps=25, container="mp4"|"avi"|"mkv", b_frames=3, gop=250,
  faststart=False)``: H.264 with B-frames and a long GOP (x264's defaults), near-lossless;
  ``faststart`` puts the MP4 index first, so a truncated copy still opens.
- ``write_mpeg_ps(path, frames, fps=25, codec="mpeg2video"|"mpeg1video", b_frames=2, gop=12,
  transport=False)``: MPEG program stream (``transport``: transport stream), no index, open GOPs.
- ``write_vp9_webm(path, frames, fps=25)``: VP9 in WebM (alt-ref frames hidden in superframes).
- ``truncate_copy(src, dst, keep=0.6)``: the first ``keep`` of the bytes (a download cut short).

``CONTAINERS`` maps a short name to ``(extension, writer(path, frames) -> path)`` and
``write_container(kind, folder, frames)`` writes one (H.264 kinds: GOP 250 unless named
``gop24``; the Matroska one has GOP 24 too); ``write_truncated(kind, folder, frames, keep=0.7)``
writes one cut short, for the kinds in ``TRUNCATED``. ``sequential_decode(path, out_hw=None)``
is the reference every decoder must match: a plain PyAV decode of the first video stream from
the start, frames in the order the decoder returns them (resized as the decoders resize).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

_BITS = 8  # barcode bits: frame numbers 0..255


def numbered_frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """uint8 ``(n, h, w, 3)``: frame ``i`` shows ``i`` as a barcode in its top ``h // 3`` rows."""
    if n > 2**_BITS:
        raise ValueError(f"at most {2 ** _BITS} numbered frames")
    ys, xs = np.mgrid[0:h, 0:w]
    frames = np.empty((n, h, w, 3), np.uint8)
    bar_h = h // 3
    block = w // _BITS
    for i in range(n):
        f = frames[i]
        f[..., 0] = (xs * 200 // max(w - 1, 1)).astype(np.uint8)
        f[..., 1] = (ys * 200 // max(h - 1, 1)).astype(np.uint8)
        f[..., 2] = 40 + (3 * i) % 160  # brightness ramp: neighbours differ everywhere
        x0 = (3 * i) % (w - w // 4)
        y0 = bar_h + (2 * i) % (h - bar_h - h // 4)
        f[y0 : y0 + h // 4, x0 : x0 + w // 4] = (250, 120, 20)  # moving square
        for b in range(_BITS):
            f[:bar_h, b * block : (b + 1) * block] = 255 if (i >> b) & 1 else 0
    return frames


def frame_number(rgb: np.ndarray) -> int:
    """The number ``numbered_frames`` drew into ``rgb`` (any size with the same aspect)."""
    h, w = rgb.shape[:2]
    bar_h = h // 3
    block = w / _BITS
    value = 0
    for b in range(_BITS):
        # The block's centre only: codecs smear the edges between black and white.
        x0, x1 = int(b * block + block / 4), int((b + 1) * block - block / 4)
        patch = rgb[bar_h // 4 : 3 * bar_h // 4, x0 : max(x1, x0 + 1)]
        if patch.mean() > 127:
            value |= 1 << b
    return value


def sequential_decode(path: str | Path, out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Reference: uint8 ``(N, H, W, 3)``, every frame a plain PyAV decode from the start returns
    (stops quietly where a truncated file stops decoding). ``out_hw`` resizes each frame as the
    decoders do (swscale, bilinear)."""
    import av

    out = []
    with av.open(str(path)) as c:
        try:
            for frame in c.decode(video=0):
                if out_hw is None or (frame.height, frame.width) == tuple(out_hw):
                    out.append(frame.to_ndarray(format="rgb24"))
                else:
                    h, w = out_hw
                    out.append(frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR"))
        except av.error.FFmpegError:
            pass
    return np.stack(out)


# ----------------------------------------------------------------------------------------------


def _encode(
    path: Path,
    frames: np.ndarray,
    codec: str,
    fps: int,
    fmt: str | None = None,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
    codec_tag: str | None = None,
    gop: tuple[int | None, int | None] = (None, None),
    audio: bool = False,
    skip: frozenset = frozenset(),
    container_options: dict | None = None,
) -> Path:
    import av

    path = Path(path)
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as c:
        s = c.add_stream(codec, rate=fps, options=options or {})
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if codec_tag:
            s.codec_tag = codec_tag
        b_frames, gop_size = gop  # (max B-frames, GOP size); None: the encoder's default
        if b_frames is not None:
            s.codec_context.max_b_frames = b_frames
        if gop_size is not None:
            s.codec_context.gop_size = gop_size
        a = _add_mp3(c) if audio else None
        for i, f in enumerate(frames):
            if i in skip:
                continue
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i  # explicit: frames left out leave a gap, not a shift
            for p in s.encode(vf):
                c.mux(p)
            if a is not None:
                _mux_audio(c, a, i, fps)
        for p in s.encode(None):
            c.mux(p)
        if a is not None:
            for p in a.encode(None):
                c.mux(p)
    return path


def _add_mp3(container):
    a = container.add_stream("libmp3lame", rate=44100)
    a.layout = "mono"
    a.format = "s16p"
    return a


def _mux_audio(container, stream, i: int, fps: int) -> None:
    """One video frame's worth of a quiet tone, so audio and video interleave as in real files."""
    import av

    sr = 44100
    start, stop = i * sr // fps, (i + 1) * sr // fps
    t = np.arange(start, stop) / sr
    samples = (3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[None, :]
    af = av.AudioFrame.from_ndarray(samples, format="s16p", layout="mono")
    af.sample_rate = sr
    af.pts = start
    for p in stream.encode(af):
        container.mux(p)


def write_mpeg4_avi(path, frames: np.ndarray, fps: int = 25, b_frames: int = 0, gop: int = 12) -> Path:
    return _encode(path, frames, "mpeg4", fps, "avi", codec_tag="FMP4", gop=(b_frames, gop),
                   options={"qscale": "3"})


def write_mpeg4_avi_with_nvops(path, frames: np.ndarray, fps: int = 25, nvops=(5, 6, 20)) -> Path:
    import av

    path = Path(path)
    plain = path.with_name(path.stem + ".coded.avi")
    write_mpeg4_avi(plain, frames, fps=fps, b_frames=0)
    time_bits = max(1, (fps - 1).bit_length())
    try:
        with av.open(str(plain)) as inp, av.open(str(path), "w", format="avi") as out:
            vin = inp.streams.video[0]
            vout = out.add_stream_from_template(vin)
            for j, packet in enumerate(p for p in inp.demux(vin) if p.size):
                data = bytes(packet)
                if j in nvops:
                    data = _n_vop(_split_vops(data)[1][0], time_bits)
                pkt = av.Packet(data)
                pkt.stream, pkt.time_base = vout, packet.time_base
                pkt.pts, pkt.dts, pkt.is_keyframe = packet.pts, packet.dts, packet.is_keyframe
                out.mux(pkt)
    finally:
        plain.unlink()
    return path


def write_xvid_avi_with_mp3(
    path, frames: np.ndarray, fps: int = 25, b_frames: int = 2, packed: bool = True, audio: bool = True, gop: int = 12
) -> Path:
    path = Path(path)
    if not packed:
        return _encode(path, frames, "mpeg4", fps, "avi", codec_tag="XVID", gop=(b_frames, gop),
                       audio=audio, options={"qscale": "3"})
    plain = path.with_name(path.stem + ".unpacked.avi")
    _encode(plain, frames, "mpeg4", fps, "avi", codec_tag="XVID", gop=(b_frames, gop), audio=audio,
            options={"qscale": "3"})
    try:
        _pack_bframes(plain, path, fps)
    finally:
        plain.unlink()
    return path


def write_cinepak_avi(path, frames: np.ndarray, fps: int = 15, drop=()) -> Path:
    return _encode(path, frames, "cinepak", fps, "avi", pix_fmt="rgb24", skip=frozenset(drop))


def write_h264(
    path, frames: np.ndarray, fps: int = 25, container: str = "mp4", b_frames: int = 3, gop: int = 250,
    faststart: bool = False,
) -> Path:
    fmt = {"mp4": "mp4", "avi": "avi", "mkv": "matroska"}[container]
    opts = {"crf": "12", "preset": "veryfast", "bf": str(b_frames), "g": str(gop), "threads": "1"}
    # faststart: the index goes first, so a copy cut short still opens (and promises too much).
    muxer = {"movflags": "faststart"} if faststart else None
    return _encode(path, frames, "libx264", fps, fmt, options=opts, container_options=muxer)


def write_mpeg_ps(
    path, frames: np.ndarray, fps: int = 25, codec: str = "mpeg2video", b_frames: int = 2, gop: int = 12,
    transport: bool = False,
) -> Path:
    fmt = "mpegts" if transport else "vob" if codec == "mpeg2video" else "mpeg"
    return _encode(path, frames, codec, fps, fmt, gop=(b_frames, gop), options={"qscale": "3"})


def write_vp9_webm(path, frames: np.ndarray, fps: int = 25) -> Path:
    opts = {"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8", "auto-alt-ref": "1", "lag-in-frames": "16"}
    return _encode(path, frames, "libvpx-vp9", fps, "webm", options=opts)


def truncate_copy(src, dst, keep: float = 0.6) -> Path:
    """The first ``keep`` of ``src``'s bytes in ``dst``: a download or copy cut short."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)


CONTAINERS: dict[str, tuple[str, Callable[[Path, np.ndarray], Path]]] = {
    "xvid_packed_mp3": ("avi", lambda p, f: write_xvid_avi_with_mp3(p, f)),
    "xvid_unpacked_mp3": ("avi", lambda p, f: write_xvid_avi_with_mp3(p, f, packed=False)),
    "mpeg4_avi": ("avi", lambda p, f: write_mpeg4_avi(p, f)),
    "cinepak_avi": ("avi", lambda p, f: write_cinepak_avi(p, f)),
    "cinepak_avi_gaps": ("avi", lambda p, f: write_cinepak_avi(p, f, drop=range(3, len(f), 4))),
    "mpeg4_avi_nvops": ("avi", lambda p, f: write_mpeg4_avi_with_nvops(p, f)),
    "h264_avi": ("avi", lambda p, f: write_h264(p, f, container="avi")),
    "h264_avi_gop24": ("avi", lambda p, f: write_h264(p, f, container="avi", gop=24)),
    "h264_mp4": ("mp4", lambda p, f: write_h264(p, f, container="mp4")),
    "h264_mp4_gop24": ("mp4", lambda p, f: write_h264(p, f, container="mp4", gop=24)),
    "h264_mkv": ("mkv", lambda p, f: write_h264(p, f, container="mkv", gop=24)),
    "mpeg2_ps": ("mpg", lambda p, f: write_mpeg_ps(p, f)),
    "mpeg1_ps": ("mpg", lambda p, f: write_mpeg_ps(p, f, codec="mpeg1video")),
    "mpeg2_ts": ("ts", lambda p, f: write_mpeg_ps(p, f, transport=True)),
    "vp9_webm": ("webm", lambda p, f: write_vp9_webm(p, f)),
}


TRUNCATED = ("xvid_packed_mp3", "h264_avi", "mpeg2_ps", "vp9_webm", "cinepak_avi", "h264_mp4_faststart")


def write_truncated(kind: str, folder: Path, frames: np.ndarray, keep: float = 0.7) -> Path:
    """``write_container(kind)`` cut to its first ``keep`` of bytes (``h264_mp4_faststart``: an
    MP4 with its index first, since an MP4 cut before its index at the end does not open)."""
    if kind == "h264_mp4_faststart":
        full = write_h264(folder / "faststart.mp4", frames, faststart=True)
    else:
        full = write_container(kind, folder, frames, name=f"{kind}.full")
    cut = truncate_copy(full, folder / f"{kind}.cut{full.suffix}", keep)
    full.unlink()
    return cut


def write_container(kind: str, folder: Path, frames: np.ndarray, name: str | None = None) -> Path:
    """Write ``frames`` as ``CONTAINERS[kind]`` into ``folder``."""
    ext, writer = CONTAINERS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    return writer(folder / f"{name or kind}.{ext}", frames)


# ----------------------------------------------------------------------------------------------
# DivX/XviD "packed bitstream"

_VOP = b"\x00\x00\x01\xb6"
_PACKED_USER_DATA = b"\x00\x00\x01\xb2DivX503b1393p"


def _vop_type(vop: bytes) -> int:
    """0 = I, 1 = P, 2 = B, 3 = S (the two bits after the VOP start code)."""
    return vop[4] >> 6


def _split_vops(data: bytes) -> tuple[bytes, list[bytes]]:
    """(headers before the first VOP, [each VOP with its start code])."""
    starts = []
    i = data.find(_VOP)
    while i >= 0:
        starts.append(i)
        i = data.find(_VOP, i + 4)
    if not starts:
        return data, []
    ends = starts[1:] + [len(data)]
    return data[: starts[0]], [data[s:e] for s, e in zip(starts, ends)]


def _n_vop(ref_vop: bytes, time_bits: int) -> bytes:
    """A not-coded P-VOP with ``ref_vop``'s timestamp: what DivX leaves in the slot of the
    reference frame whose packet carried a B-frame."""
    bits = "".join(format(b, "08b") for b in ref_vop[4:16])
    end = 2
    while bits[end] == "1":  # modulo_time_base: one 1 per elapsed second, then a 0
        end += 1
    end += 1 + 1 + time_bits + 1  # the 0, marker, vop_time_increment, marker
    header = "01" + bits[2:end] + "0"  # P type, same time, vop_coded = 0
    header += "0" + "1" * ((7 - len(header) % 8) % 8)  # stuffing up to the byte boundary
    return _VOP + int(header, 2).to_bytes(len(header) // 8, "big")


def _pack_bframes(src: Path, dst: Path, fps: int) -> None:
    """Rewrite an AVI's MPEG-4 stream to DivX-style packed B-frames, audio copied as it is.

    Decode order I0 P3 B1 B2 P6 B4 B5 becomes the packets [I0] [P3 B1] [B2] [N-VOP] [P6 B4] [B5]
    [N-VOP]: every B-frame moves one packet earlier, the packet count (and so the AVI frame
    count) stays the same. This is the inverse of FFmpeg's mpeg4_unpack_bframes filter."""
    import av

    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        packets = [(p.stream.type, bytes(p), p.pts, p.dts, p.is_keyframe, p.time_base) for p in inp.demux() if p.size]
        time_bits = max(1, (fps - 1).bit_length())  # FFmpeg: av_log2(resolution - 1) + 1
        with av.open(str(dst), "w", format="avi") as out:
            vout = out.add_stream_from_template(vin)
            aout = out.add_stream_from_template(inp.streams.audio[0]) if inp.streams.audio else None
            video = [p for p in packets if p[0] == "video"]
            payloads = _packed_payloads([p[1] for p in video], time_bits)
            vi = 0
            for kind, data, pts, dts, key, tb in packets:
                if kind == "video":
                    _, _, pts, dts, key, tb = video[vi]
                    pkt = av.Packet(payloads[vi])
                    pkt.stream = vout
                    pkt.dts = pkt.pts = dts  # AVI keeps one timestamp per chunk: its position
                    vi += 1
                else:
                    pkt = av.Packet(data)
                    pkt.stream = aout
                    pkt.pts, pkt.dts = pts, dts
                pkt.time_base = tb
                pkt.is_keyframe = key
                out.mux(pkt)


def _packed_payloads(chunks: list[bytes], time_bits: int) -> list[bytes]:
    parsed = [_split_vops(c) for c in chunks]
    is_b = [bool(v) and _vop_type(v[0]) == 2 for _, v in parsed]
    out: list[bytes] = []
    i = 0
    while i < len(chunks):
        head, vops = parsed[i]
        if b"\x00\x00\x01\x20" in head:  # a VOL header: say that packed B-frames follow
            head += _PACKED_USER_DATA
        if vops and not is_b[i] and i + 1 < len(chunks) and is_b[i + 1]:
            # [ref][B1][B2] -> [ref B1][B2][N-VOP]: every B of the run moves one packet earlier.
            out.append(head + b"".join(vops) + chunks[i + 1])
            j = i + 2
            while j < len(chunks) and is_b[j]:
                out.append(chunks[j])
                j += 1
            out.append(_n_vop(vops[0], time_bits))
            i = j
            continue
        out.append(head + b"".join(vops))
        i += 1
    if len(out) != len(chunks):
        raise AssertionError(f"packing changed the packet count {len(chunks)} -> {len(out)}")
    return out
