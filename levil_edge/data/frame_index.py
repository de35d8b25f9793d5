"""Per-file facts that make frame-exact random access possible: where each keyframe lands in
presentation order, how many frames a sequential decode returns, and whether the container's
timestamps can name frames. Built from one demux pass (no decoding) by ``PyAVDecoder.probe``.

Frame ``k`` of a file is the ``k``-th frame a plain sequential decode of its first video stream
returns (``decoders`` module docstring). A seek can only start decoding at a keyframe; what is
needed to count from there is the keyframe's own number ``k``. Three ways to know it, best first:

- ``"pts"`` mode (MP4/MOV, Matroska/WebM, MPEG-PS/TS ...): every packet carries a unique
  presentation timestamp, so frame ``k`` is the packet with the ``k``-th smallest pts, and a
  decoded frame names itself by its pts. Frames between keyframe and target that no other frame
  refers to can be skipped (FFmpeg's ``skip_frame=NONREF``) without losing count.
- ``"count"`` mode (AVI, MPEG-4 Part 2 anywhere): AVI has no presentation timestamps (FFmpeg's
  parser guesses them, and the guesses are 1-2 frames off with B-frames: the decoded frames then
  carry shuffled pts). Here the keyframe's number comes from the bitstream: for MPEG-4 Part 2 the
  picture types in each packet (B-pictures are shown before the reference decoded just before
  them, which is also how DivX/XviD "packed" B-frames and N-VOP placeholders are accounted for);
  otherwise the rank of the keyframe's pts (the parser's guesses are right for keyframes on every
  file measured, and each read checks that keyframes come out exactly where the index puts them).
  The reader decodes every frame from the keyframe on and counts.
- ``"sequential"`` mode: nothing above can be trusted (no keyframes flagged, every packet flagged
  as one in a codec that is not intra-only (an AVI without its index), timestamps missing or
  repeated, an MPEG-4 stream whose headers do not parse): decode from the start and count.

A read that finds its mode's assumption broken (a decoded timestamp no packet had, a keyframe
where the count puts none) redoes the read in the next, more careful mode and keeps that mode for
the file (``PyAVDecoder`` in ``decoders``).

Truncated files: the demuxer can deliver packets that no longer decode. Where the container does
not vouch for its own length (no frame count, a count or duration that the packets do not reach,
a damaged last packet), ``probe`` decodes the last group of pictures and counts what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["FrameIndex", "PacketScan", "build_index", "mpeg4_pictures", "needs_tail_check"]

# Containers whose pts come from the file (not guessed) for every frame, as tested; any other
# container is read in "count" mode (exact, without the skipping of non-reference frames).
PTS_CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpeg", "mpegts")
# Containers that vouch for their length with a sample table (a truncated copy fails to open or
# shows a frame count the packets do not reach, see ``needs_tail_check``).
_COUNTED_CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2", "avi")


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Where frames are, for one file version (see module doc)."""

    mode: str  # "pts" | "count" | "sequential"
    num_frames: int
    key_frames: np.ndarray  # (M,) int64: frame number of each usable keyframe, increasing
    key_seek: np.ndarray  # (M,) int64: timestamp (stream time base) that seeks to it
    key_ids: tuple  # M tuples (pos, dts, pts) of the keyframe packets: where did a seek land?
    frame_pts: np.ndarray | None = None  # (num_frames,) pts of frame k ("pts" mode only)
    time_base: float = 0.0  # seconds per pts unit
    reason: str = ""  # why this mode, for `data check`-style reports and benchmarks
    damaged: bool = False  # the data ends mid-packet: decode as a plain decode does (no frame threads)
    _lookup: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        lookup = self._lookup
        for m, (pos, dts, pts) in enumerate(self.key_ids):
            for tag, value in (("pos", pos), ("dts", dts), ("pts", pts)):
                if value is not None:
                    lookup.setdefault((tag, int(value)), m)

    def key_of(self, packet) -> int | None:
        """Keyframe number ``m`` of a demuxed keyframe packet, None for any other packet."""
        if not packet.is_keyframe:
            return None
        for tag, value in (("pos", _pos(packet)), ("dts", packet.dts), ("pts", packet.pts)):
            if value is not None:
                m = self._lookup.get((tag, int(value)))
                if m is not None:
                    return m
        return None

    def key_before(self, k: int) -> int:
        """The last keyframe ``m`` at or before frame ``k`` (0 if none)."""
        return max(int(np.searchsorted(self.key_frames, k, side="right")) - 1, 0)

    def key_set(self) -> frozenset:
        """Frame numbers of the keyframes."""
        keys = self._lookup.get("keys")
        if keys is None:
            keys = self._lookup["keys"] = frozenset(int(k) for k in self.key_frames)
        return keys

    def frame_of_pts(self, pts) -> int | None:
        """Frame number of a decoded frame's pts ("pts" mode), None if no packet had that pts."""
        if pts is None or self.frame_pts is None:
            return None
        # A sorted array, not a dict: indexes travel to DataLoader workers with every VideoInfo.
        k = int(np.searchsorted(self.frame_pts, pts))
        return k if k < len(self.frame_pts) and self.frame_pts[k] == pts else None

    def with_mode(self, mode: str, reason: str, num_frames: int | None = None, key_shift: int = 0) -> "FrameIndex":
        """A copy in a more careful mode (``pts`` -> ``count`` -> ``sequential``)."""
        return replace(
            self,
            mode=mode,
            reason=reason,
            num_frames=self.num_frames if num_frames is None else num_frames,
            key_frames=self.key_frames - key_shift,
            frame_pts=None if mode != "pts" else self.frame_pts,
            _lookup={},
        )


@dataclass
class PacketScan:
    """What one demux pass over the first video stream saw (packets with data only)."""

    pts: list = field(default_factory=list)
    dts: list = field(default_factory=list)
    pos: list = field(default_factory=list)
    key: list = field(default_factory=list)
    vops: list = field(default_factory=list)  # MPEG-4 Part 2 only: per packet, its VOP headers
    headers: bytes = b""  # MPEG-4 Part 2 only: bytes before the first VOP (VOL header) so far
    demux_error: bool = False  # the demuxer stopped with an error (truncated or damaged file)
    last_corrupt: bool = False  # FFmpeg flagged the last packet as damaged (cut short)
    extradata: bytes = b""
    time_base: float = 0.0

    def add(self, packet, mpeg4: bool) -> None:
        self.pts.append(packet.pts)
        self.dts.append(packet.dts)
        self.pos.append(_pos(packet))
        self.key.append(bool(packet.is_keyframe))
        self.last_corrupt = bool(packet.is_corrupt)
        if mpeg4:
            data = bytes(packet)
            starts = _vop_starts(data)
            if len(self.headers) < 4096:
                self.headers += data[: starts[0] if starts else len(data)]
            self.vops.append([data[i : i + _VOP_HEADER] for i in starts])

    def seek_ts(self, j: int) -> int:
        """A timestamp at or before packet ``j``'s, for a backward seek to it."""
        known = [x for x in (self.pts[j], self.dts[j]) if x is not None]
        return min(known) if known else 0

    def __len__(self) -> int:
        return len(self.key)


def build_index(scan: PacketScan, codec: str, container: str, intra_only: bool = False) -> FrameIndex:
    """The index a demux pass supports; ``probe`` then checks head and tail by decoding.
    ``intra_only``: the codec has only keyframes (FFmpeg's codec property), so every packet
    flagged as one is believable."""
    index = _build_index(scan, codec, container, intra_only)
    if scan.demux_error or scan.last_corrupt:
        # FFmpeg's frame threads conceal a damaged last packet differently from a plain
        # (slice-threaded) decode: measured on a cut H.264 AVI, the last frame differed.
        index = replace(index, damaged=True, _lookup={})
    return index


def _build_index(scan: PacketScan, codec: str, container: str, intra_only: bool) -> FrameIndex:
    n = len(scan)
    keys = [j for j in range(n) if scan.key[j]]
    if codec == "mpeg4":
        return _mpeg4_index(scan, keys)  # picture types tell the real keyframes
    pts = scan.pts
    if not keys:
        return _sequential(n, "no keyframe is flagged")
    if len(keys) == n > 1 and not intra_only:
        # An AVI that lost its index (a cut copy): FFmpeg flags every chunk as a keyframe.
        return _sequential(n, "every packet is flagged as a keyframe (a file without its index?)")
    if any(p is None for p in pts) or len(set(pts)) != n:
        return _sequential(n, "timestamps missing or repeated")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    key_frames = rank[keys]
    if np.any(np.diff(key_frames) <= 0):
        return _sequential(n, "keyframes out of presentation order")
    seek = [scan.seek_ts(j) for j in keys]
    ids = tuple((scan.pos[j], scan.dts[j], scan.pts[j]) for j in keys)
    if container in PTS_CONTAINERS:
        frame_pts = np.sort(np.asarray(pts, dtype=np.int64))
        return FrameIndex("pts", n, key_frames, np.asarray(seek, np.int64), ids, frame_pts, scan.time_base,
                          "container timestamps")
    return FrameIndex("count", n, key_frames, np.asarray(seek, np.int64), ids, None, scan.time_base,
                      f"{container}: timestamps are guessed, frames are counted from keyframes")


def _sequential(n: int, reason: str) -> FrameIndex:
    empty = np.zeros(0, np.int64)
    return FrameIndex("sequential", n, empty, empty, (), None, 0.0, reason)


def needs_tail_check(scan: PacketScan, container: str, claimed_frames: int, duration_s: float | None,
                     end_s: float | None) -> bool:
    """Whether the packets might promise frames that no longer decode (a truncated file)."""
    if scan.demux_error or scan.last_corrupt:
        return True
    if claimed_frames > 0 and claimed_frames != len(scan):
        return True
    if container in _COUNTED_CONTAINERS:
        return False
    if container == "matroska,webm" and duration_s and end_s is not None:
        # Matroska/WebM write their duration when the file is finished; a copy cut short keeps
        # it, so packets ending more than a frame early mean missing data.
        return end_s < duration_s - 0.1
    return True  # nothing to compare with (MPEG-PS/TS: the duration is estimated from the end)


# ----------------------------------------------------------------------------------------------
# MPEG-4 Part 2 (DivX, XviD, FMP4): picture types from the bitstream

_VOP = b"\x00\x00\x01\xb6"
_VOP_HEADER = 24  # bytes of a VOP kept: start code, type, time stamp, vop_coded and then some


def _pos(packet) -> int | None:
    pos = packet.pos
    return pos if pos is not None and pos >= 0 else None


def _vop_starts(data: bytes) -> list[int]:
    out = []
    i = data.find(_VOP)
    while i >= 0:
        out.append(i)
        i = data.find(_VOP, i + 4)
    return out


def mpeg4_pictures(scan: PacketScan) -> list[tuple[int, str, bool]] | None:
    """``(packet, type, coded)`` for every VOP in decode order, ``type`` in "IPBS" ("N": a VOP cut
    before its type, never coded); None when the
    VOL header (needed to find the ``vop_coded`` bit) does not parse."""
    bits = _vop_time_bits(scan.extradata) or _vop_time_bits(scan.headers)
    if bits is None:
        return None
    out = []
    for j, vops in enumerate(scan.vops):
        for vop in vops:
            coded = _vop_coded(vop, bits)
            if coded is None:
                return None
            if len(vop) < 5:  # a start code the cut left without its type: nothing decodes from it
                out.append((j, "N", False))
                continue
            out.append((j, "IPBS"[vop[4] >> 6], coded))
    return out


def _mpeg4_index(scan: PacketScan, keys: list[int]) -> FrameIndex:
    pics = mpeg4_pictures(scan)
    if pics is None:
        return _sequential(len(scan), "MPEG-4 headers do not parse")
    coded = [(j, t) for j, t, c in pics if c]  # not-coded VOPs (N-VOPs) give no frame
    packed = any(len(v) > 1 for v in scan.vops)
    if packed and pics[-1][1] == "B" and pics[-1][2]:
        # A packed B-frame is decoded when the next packet arrives; at the end of a cut file
        # there is none, and FFmpeg never decodes it (measured: a sequential decode lacks it).
        coded.pop()
    # Display order of MPEG-1/2/4 Part 2: a B-picture is shown at once, a reference picture
    # after the B-pictures that follow it in decode order.
    first_i: dict[int, int] = {}
    for p, (j, t) in enumerate(coded):
        if t == "I" and j not in first_i:
            first_i[j] = p
    key_frames, seek, ids = [], [], []
    for j in keys:
        p = first_i.get(j)
        if p is None:
            continue  # flagged key but no I-picture in it (e.g. a header-only packet)
        lead = 0
        while p + 1 + lead < len(coded) and coded[p + 1 + lead][1] == "B":
            lead += 1
        key_frames.append(p + lead)
        seek.append(scan.seek_ts(j))
        ids.append((scan.pos[j], scan.dts[j], scan.pts[j]))
    if not key_frames or np.any(np.diff(key_frames) <= 0):
        return _sequential(len(coded), "no usable MPEG-4 keyframe")
    reason = "MPEG-4 Part 2: frames counted from keyframes" + (" (packed B-frames)" if packed else "")
    return FrameIndex("count", len(coded), np.asarray(key_frames, np.int64), np.asarray(seek, np.int64),
                      tuple(ids), None, scan.time_base, reason)


class _Bits:
    def __init__(self, data: bytes, start: int) -> None:
        self.value = int.from_bytes(data[start : start + 24], "big")
        self.left = 8 * len(data[start : start + 24])
        self.used = 0

    def read(self, n: int) -> int:
        if self.used + n > self.left:
            raise EOFError
        self.used += n
        return (self.value >> (self.left - self.used)) & ((1 << n) - 1)


def _vop_time_bits(data: bytes) -> int | None:
    """Bits of ``vop_time_increment`` from the first VOL header in ``data`` (ISO 14496-2 6.2.3)."""
    i = 0
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0 or i + 4 > len(data):
            return None
        if 0x20 <= data[i + 3] <= 0x2F:
            break
        i += 3
    b = _Bits(data, i + 4)
    try:
        b.read(1)  # random_accessible_vol
        b.read(8)  # video_object_type_indication
        verid = 1
        if b.read(1):  # is_object_layer_identifier
            verid = b.read(4)
            b.read(3)
        if b.read(4) == 0xF:  # aspect_ratio_info: extended PAR
            b.read(16)
        if b.read(1):  # vol_control_parameters
            b.read(3)  # chroma_format, low_delay
            if b.read(1):  # vbv_parameters
                b.read(79)
        shape = b.read(2)
        if shape == 3 and verid != 1:
            b.read(4)
        if not b.read(1):  # marker
            return None
        resolution = b.read(16)
    except EOFError:
        return None
    if resolution == 0:
        return None
    return max(1, (resolution - 1).bit_length())


def _vop_coded(vop: bytes, time_bits: int) -> bool | None:
    b = _Bits(vop, 4)
    try:
        b.read(2)  # vop_coding_type
        while b.read(1):  # modulo_time_base
            pass
        b.read(1)  # marker
        b.read(time_bits)
        b.read(1)  # marker
        return bool(b.read(1))
    except EOFError:  # a VOP too short to say: FFmpeg decodes nothing from it either
        return False
