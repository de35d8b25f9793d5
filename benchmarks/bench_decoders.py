"""Frame-exact reads: frames wrong and the cost of 8 evenly spaced frames, before and after.

For every container kind of ``tests/container_fixtures.py`` (plus truncated copies), a file of
``--frames`` frames at ``--size`` (default 125 frames = 5 s at 25 fps, 320x240, textured moving
content with the frame number drawn in) is written to a temp folder. For each decoder (PyAV,
decord), "before" is ``levil_edge/data/decoders.py`` as it is on git ``main`` (``--before``
names another file), "after" is this checkout's. Per file and decoder:

- wrong: of 8 evenly spaced frames, how many differ from a plain sequential PyAV decode (PyAV:
  any pixel; decord: mean |diff| > 1, since its older FFmpeg rounds differently);
- ms: median time of ``read_frames(path, 8 evenly spaced)`` over ``--runs`` runs, probe cached,
  before and after timed alternately (the machine may be shared: both then see the same load);
  "seq ms" is a plain sequential decode up to the last of the 8 frames (converting only those 8);
- probe ms: the first ``probe`` of the file (once per file and process; the new probe also
  records keyframes and, where the container does not vouch for its length, decodes the tail).

    python benchmarks/bench_decoders.py [--frames 125] [--size 320x240] [--runs 5] [--extra a.avi ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from levil_edge.data import decoders as after  # noqa: E402
from tests.container_fixtures import (  # noqa: E402
    CONTAINERS,
    numbered_frames,
    sequential_decode,
    truncate_copy,
    write_container,
    write_h264,
)


def load_before(path: str | None):
    """The decoders module as on git main (or from ``path``), imported under another name."""
    if path is None:
        src = subprocess.run(["git", "-C", str(ROOT), "show", "main:levil_edge/data/decoders.py"],
                             check=True, capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp()) / "decoders_before.py"
        Path(path).write_text(src)
    spec = importlib.util.spec_from_file_location("decoders_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def textured_frames(n: int, h: int, w: int) -> np.ndarray:
    """``numbered_frames`` with a moving texture below the barcode, so decoding costs what real
    video costs (flat synthetic colour decodes unrealistically fast)."""
    frames = numbered_frames(n, h, w)
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (h, 2 * w, 3), dtype=np.uint8)
    tex = ((tex.astype(np.uint16) + np.roll(tex, 1, 1) + np.roll(tex, 1, 0)) // 3).astype(np.uint8)
    bar = h // 3
    for i in range(n):
        x = (2 * i) % w
        frames[i, bar:] = (frames[i, bar:].astype(np.uint16) + tex[bar:, x : x + w]) // 2
    return frames


def make_files(folder: Path, n: int, h: int, w: int) -> dict[str, Path]:
    frames = textured_frames(n, h, w)
    files = {kind: write_container(kind, folder, frames) for kind in CONTAINERS}
    fast = write_h264(folder / "h264_faststart.mp4", frames, faststart=True)
    files["h264_mp4_cut"] = truncate_copy(fast, folder / "h264_mp4_cut.mp4", 0.7)
    files["xvid_packed_cut"] = truncate_copy(files["xvid_packed_mp3"], folder / "xvid_packed_cut.avi", 0.7)
    files["mpeg2_ps_cut"] = truncate_copy(files["mpeg2_ps"], folder / "mpeg2_ps_cut.mpg", 0.7)
    return files


def wrong_frames(frames: np.ndarray, ref: np.ndarray, idx: np.ndarray, tol: float) -> int:
    return int(sum(np.abs(f.astype(np.int16) - ref[i]).mean() > tol for f, i in zip(frames, idx)))


def sequential_upto(path: Path, idx: np.ndarray) -> None:
    import av

    want, last = set(int(i) for i in idx), int(idx.max())
    with av.open(str(path)) as c:
        for k, frame in enumerate(c.decode(video=0)):
            if k in want:
                frame.to_ndarray(format="rgb24")
            if k >= last:
                break


def probed(module, name: str, path: Path):
    """(decoder with this file probed, probe ms) or (None, error) for a file it cannot open."""
    dec = module.get_decoder(name)
    dec.clear_cache()
    t = time.perf_counter()
    try:
        dec.probe(path)
    except Exception as exc:  # noqa: BLE001 - report, do not stop the table
        return None, type(exc).__name__
    return dec, 1000 * (time.perf_counter() - t)


def compare(path: Path, name: str, before, idx: np.ndarray, ref: np.ndarray, runs: int) -> dict:
    """Wrong frames and median read ms, before vs after, timed alternately (the machine is shared:
    interleaving makes both see the same load)."""
    decs = {"before": probed(before, name, path), "after": probed(after, name, path)}
    out: dict = {}
    calls = {}
    for key, (dec, probe) in decs.items():
        out[f"probe_{key}"] = probe
        if dec is None:
            out[f"wrong_{key}"], out[f"ms_{key}"] = probe, float("nan")
            continue
        got = dec.read_frames(path, idx)  # warm-up, and the frames to check
        out[f"wrong_{key}"] = wrong_frames(got, ref, np.minimum(idx, len(ref) - 1), 0 if name == "pyav" else 1.0)
        calls[key] = (lambda d=dec: d.read_frames(path, idx))
    times: dict[str, list] = {k: [] for k in calls}
    for r in range(runs):
        for key in sorted(calls, reverse=bool(r % 2)):
            t = time.perf_counter()
            calls[key]()
            times[key].append(time.perf_counter() - t)
    for key, ts in times.items():
        out[f"ms_{key}"] = 1000 * statistics.median(ts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=125)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--decoders", default=",".join(after.available_decoders()))
    ap.add_argument("--before", default=None, help="decoders.py to compare with (default: git main's)")
    ap.add_argument("--extra", nargs="*", default=[], help="real files to add to the table")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    before = load_before(args.before)
    names = [n for n in args.decoders.split(",") if n]

    from levil_edge.runtime.bench import _cpu_name

    print(f"machine: {_cpu_name()} ({os.cpu_count()} cores), python {platform.python_version()}")
    print(f"{args.frames} frames at {w}x{h}; 8 evenly spaced frames; median of {args.runs} runs\n")
    head = f"{'file':22s} {'frames':>6s} {'mode':>10s} {'seq ms':>7s}"
    for n in names:
        head += f" | {n + ' wrong':>12s} {'ms before':>9s} {'ms after':>8s} {'probe b/a':>11s}"
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), args.frames, h, w)
        files.update({Path(p).name: Path(p) for p in args.extra})
        for label, path in files.items():
            ref = sequential_decode(path)
            idx = np.linspace(0, len(ref) - 1, 8).round().astype(np.int64)
            seq = [0.0] * args.runs
            for r in range(args.runs):
                t = time.perf_counter()
                sequential_upto(path, idx)
                seq[r] = time.perf_counter() - t
            mode = after.get_decoder("pyav").probe(path).index.mode
            row = f"{label:22s} {len(ref):6d} {mode:>10s} {1000 * statistics.median(seq):7.1f}"
            for n in names:
                m = compare(path, n, before, idx, ref, args.runs)
                wrong = f"{m['wrong_before']} -> {m['wrong_after']}"
                probe = f"{_ms(m['probe_before'])}/{_ms(m['probe_after'])}"
                row += f" | {wrong:>12s} {m['ms_before']:9.1f} {m['ms_after']:8.1f} {probe:>11s}"
            print(row, flush=True)


def _ms(value) -> str:
    return f"{value:.0f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
