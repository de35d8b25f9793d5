"""Training throughput on this machine: clips/s and the share of step time spent waiting for data.

Real pipeline: ``finetune`` (supervised, no teacher: the teacher's targets are read from a cache
and cost nothing per step) over generated H.264 videos (short side 128 -> random resized crop
112, 8 consecutive frames, flip), AdamW, grad clipping, batch 8. The first step (allocator and
thread-pool warm-up) is left out; figures are medians over the remaining logged steps.

    python benchmarks/bench_train.py [--students x3d_xs,mobilenetv2_tsm,r2plus1d_18,r3d_18] [--steps 6] [--workers 0,2]

``--demo-scale``: the demo's setting instead (16-frame 64 px videos, 8 frames stride 2 at 32 px, no
crop, batch 16, 40 steps), once without and once with ``--ram-cache-mb`` (decoded videos in RAM).

    python benchmarks/bench_train.py --demo-scale --students r3d_tiny,x3d_xs --workers 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


# (video frames, video size, per-class videos) and the finetune options of each setting
SETTINGS = {
    "default": ((32, 128, 6), dict(batch_size=8, frames=8, stride=1, size=112)),
    "demo": ((16, 64, 10), dict(batch_size=16, frames=8, stride=2, size=32, min_crop=1.0, flip=0.0)),
}


def make_videos(root: Path, setting: str = "default") -> Path:
    from levil_edge.data.synthetic import CLASS_NAMES, generate_dataset

    (frames, size, per_class), _ = SETTINGS[setting]
    generate_dataset(root, classes=CLASS_NAMES[:4], videos_per_class=per_class, frames=frames, size=size, seed=0)
    return root


def bench(student: str, videos: Path, steps: int, workers: int, out: Path, setting: str = "default",
          ram_cache_mb: int = 0) -> dict:
    from levil_edge.train import finetune

    kw = SETTINGS[setting][1]
    t0 = time.perf_counter()
    finetune(labels=str(videos / "labels.txt"), train=str(videos), out=str(out), no_teacher=True, student=student,
             epochs=1000, workers=workers, device="cpu", stop_after=steps, log_every=1, amp="none",
             ram_cache_mb=ram_cache_mb, **kw)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps_ = [r for r in records if r["kind"] == "step" and r["step"] > 1]
    return {
        "student": student, "workers": workers, "steps": len(steps_), "ram_cache_mb": ram_cache_mb,
        "clips_per_s": statistics.median(r["clips_per_s"] for r in steps_),
        "step_s": statistics.median(kw["batch_size"] / r["clips_per_s"] for r in steps_),
        "data_wait": statistics.median(r["data_wait_frac"] for r in steps_),
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", default="x3d_xs,mobilenetv2_tsm,r2plus1d_18,r3d_18")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--workers", default="0,2")
    ap.add_argument("--demo-scale", action="store_true", help="the demo's clips and batch, without and with --ram-cache-mb")
    args = ap.parse_args()
    setting = "demo" if args.demo_scale else "default"
    steps = 40 if args.demo_scale and args.steps == 6 else args.steps
    caches = (0, 512) if args.demo_scale else (0,)
    os.environ.setdefault("LEVIL_NO_PROGRESS", "1")
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        videos = make_videos(Path(tmp) / "videos", setting)
        for student in args.students.split(","):
            for w in (int(x) for x in args.workers.split(",")):
                for mb in caches:
                    rows.append(bench(student, videos, steps, w, Path(tmp) / f"run-{student}-{w}-{mb}", setting, mb))
                    print(f"  {rows[-1]}", flush=True)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")
    batch = SETTINGS[setting][1]["batch_size"]
    print(f"\n| student | workers | RAM cache (MB) | clips/s | step (b{batch}) | data wait |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['student']} | {r['workers']} | {r['ram_cache_mb']} | {r['clips_per_s']:.1f} | {r['step_s']:.3f} s "
              f"| {100 * r['data_wait']:.0f}% |")


if __name__ == "__main__":
    main()
