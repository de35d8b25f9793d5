"""Clip loading throughput: raw decoder vs the full data layer, decord vs PyAV, in-process and
through a torch DataLoader.

Source: a 10 s 320x240 30 fps H.264 file (libx264 defaults: GOP 250, B-frames), generated here.
Clips: 8 frames x 112 x 112; train = one random clip at stride 2 (decoded at short side 128, random
resized crop + flip), eval = the centre clip at stride 2 (short side 112, centre crop).

"raw" decodes exactly the frames (and size) the data layer asks for, with ``read_frames`` and
nothing else; "layer" is ``load_train_clip`` / ``load_eval_clips`` (probe cache, sampling,
transforms). Target: layer <= 1.2 x raw.

    python benchmarks/bench_data.py [--clips 40] [--loader-clips 64] [--decoders decord,pyav]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from levil_edge.data.clips import load_eval_clips, load_train_clip, train_short_side
from levil_edge.data.decoders import available_decoders, get_decoder
from levil_edge.data.sampling import eval_clip_indices, random_clip_indices

FRAMES, STRIDE, SIZE = 8, 2, 112


def make_video(path: Path, seconds: int = 10, fps: int = 30, w: int = 320, h: int = 240) -> Path:
    """Moving textured content (not flat colour, which would decode unrealistically fast)."""
    import av

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (h, 2 * w, 3), dtype=np.uint8)
    texture = ((texture.astype(np.uint16) + np.roll(texture, 1, 1) + np.roll(texture, 1, 0)) // 3).astype(np.uint8)
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            frame = np.ascontiguousarray(texture[:, 2 * i % w : 2 * i % w + w])
            y = (i * 3) % (h - 40)
            frame[y : y + 40, 100:160] = (255, 64, 0)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _paired(raw, layer, n: int) -> dict:
    """Time ``raw(i)`` and ``layer(i)`` alternately on the same clip ``i`` (the 2 cores are shared
    with other jobs: interleaving makes both see the same load). Wall-clock rates come from median
    times; CPU time (this process, all its threads) is much less sensitive to the other jobs."""
    raw(0), layer(0)  # warm-up: probe cache, codec init
    wall = {"raw": [], "layer": []}
    cpu = {"raw": [], "layer": []}
    for i in range(n):
        order = (("raw", raw), ("layer", layer)) if i % 2 == 0 else (("layer", layer), ("raw", raw))
        for key, fn in order:
            t, c = time.perf_counter(), time.process_time()
            fn(i)
            wall[key].append(time.perf_counter() - t)
            cpu[key].append(time.process_time() - c)
    med = statistics.median
    return {
        "raw": 1 / med(wall["raw"]),
        "layer": 1 / med(wall["layer"]),
        "ratio": med(b / a for a, b in zip(wall["raw"], wall["layer"])),
        "cpu_raw_ms": 1000 * med(cpu["raw"]),
        "cpu_layer_ms": 1000 * med(cpu["layer"]),
    }


def in_process(path: str, decoder: str, mode: str, n: int) -> dict:
    dec = get_decoder(decoder)
    num = dec.probe(path).num_frames
    cfg = {"frames": FRAMES, "stride": STRIDE, "size": SIZE}
    if mode == "train":
        short = train_short_side(SIZE)

        def raw(i):
            dec.read_frames(path, random_clip_indices(num, FRAMES, STRIDE, np.random.default_rng(i)), size=short)

        def layer(i):
            load_train_clip(path, FRAMES, STRIDE, SIZE, np.random.default_rng(i), dec)

    else:
        (idx,) = eval_clip_indices(num, FRAMES, STRIDE, 1)

        def raw(i):
            dec.read_frames(path, idx, size=SIZE)

        def layer(i):
            load_eval_clips(path, cfg, 1, dec)

    return _paired(raw, layer, n)


def through_loader(path: str, decoder: str, mode: str, n: int, workers: int) -> float:
    from torch.utils.data import DataLoader

    from levil_edge.data.dataset import ClipDataset, collate_clips

    ds = ClipDataset([path] * n, mode=mode, frames=FRAMES, stride=STRIDE, size=SIZE, decoder=decoder)
    loader = DataLoader(ds, batch_size=8, num_workers=workers, collate_fn=collate_clips)
    t = time.perf_counter()  # includes worker start-up, as a real epoch does
    got = sum(len(b["clips"]) for b in loader)
    return got / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60, help="clips per in-process measurement")
    ap.add_argument("--loader-clips", type=int, default=64, help="clips per DataLoader measurement")
    ap.add_argument("--decoders", default=",".join(available_decoders()))
    ap.add_argument("--no-loader", action="store_true", help="skip the DataLoader rows (no torch)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = str(make_video(Path(tmp) / "bench_320x240_10s.mp4"))
        rows = []
        for decoder in args.decoders.split(","):
            for mode in ("train", "eval"):
                row = {"decoder": decoder, "mode": mode, **in_process(path, decoder, mode, args.clips)}
                if not args.no_loader:
                    for w in (1, 2):
                        row[f"loader_w{w}"] = through_loader(path, decoder, mode, args.loader_clips, w)
                rows.append(row)
                print(_fmt(row), flush=True)

    print()
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
          f"{len(__import__('os').sched_getaffinity(0))} cores visible; clips {FRAMES}x{SIZE}x{SIZE} stride {STRIDE}")
    print("| decoder | mode | raw decoder clips/s | data layer clips/s | layer cost (median time ratio) "
          "| CPU ms/clip raw / layer | DataLoader 1 worker clips/s | DataLoader 2 workers clips/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['decoder']} | {r['mode']} | {r['raw']:.1f} | {r['layer']:.1f} | {r['ratio']:.2f}x "
              f"| {r['cpu_raw_ms']:.1f} / {r['cpu_layer_ms']:.1f} "
              f"| {r.get('loader_w1', float('nan')):.1f} | {r.get('loader_w2', float('nan')):.1f} |")
    worst = max(r["ratio"] for r in rows)
    print(f"\nworst layer cost {worst:.2f}x raw (target <= 1.20x): {'OK' if worst <= 1.2 else 'MISSED'}")


def _fmt(r: dict) -> str:
    extra = "".join(f" {k}={v:.1f}" for k, v in r.items() if k.startswith("loader"))
    return (f"{r['decoder']:7s} {r['mode']:5s} raw={r['raw']:.1f}/s layer={r['layer']:.1f}/s ratio={r['ratio']:.2f} "
            f"cpu={r['cpu_raw_ms']:.1f}/{r['cpu_layer_ms']:.1f} ms{extra}")


if __name__ == "__main__":
    main()
