"""Training throughput on this machine: clips/s and the share of step time spent waiting for data.

Real pipeline: ``finetune`` (supervised, no teacher: the teacher's targets are read from a cache
and cost nothing per step) over generated H.264 videos (short side 128 -> random resized crop
112, 8 consecutive frames, flip), AdamW, grad clipping, batch 8. The first step (allocator and
thread-pool warm-up) is left out; figures are medians over the remaining logged steps.

    python benchmarks/bench_train.py [--students x3d_xs,mobilenetv2_tsm,r2plus1d_18,r3d_18] [--steps 6] [--workers 0,2]
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


def make_videos(root: Path) -> Path:
    from levil_edge.data.synthetic import CLASS_NAMES, generate_dataset

    generate_dataset(root, classes=CLASS_NAMES[:4], videos_per_class=6, frames=32, size=128, seed=0)
    return root


def bench(student: str, videos: Path, steps: int, workers: int, out: Path) -> dict:
    from levil_edge.train import finetune

    t0 = time.perf_counter()
    finetune(labels=str(videos / "labels.txt"), train=str(videos), out=str(out), no_teacher=True, student=student,
             epochs=100, batch_size=8, frames=8, stride=1, size=112, workers=workers, device="cpu",
             stop_after=steps, log_every=1, amp="none")
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps_ = [r for r in records if r["kind"] == "step" and r["step"] > 1]
    return {
        "student": student, "workers": workers, "steps": len(steps_),
        "clips_per_s": statistics.median(r["clips_per_s"] for r in steps_),
        "step_s": statistics.median(8 / r["clips_per_s"] for r in steps_),
        "data_wait": statistics.median(r["data_wait_frac"] for r in steps_),
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", default="x3d_xs,mobilenetv2_tsm,r2plus1d_18,r3d_18")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--workers", default="0,2")
    args = ap.parse_args()
    os.environ.setdefault("LEVIL_NO_PROGRESS", "1")
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        videos = make_videos(Path(tmp) / "videos")
        for student in args.students.split(","):
            for w in (int(x) for x in args.workers.split(",")):
                rows.append(bench(student, videos, args.steps, w, Path(tmp) / f"run-{student}-{w}"))
                print(f"  {rows[-1]}", flush=True)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")
    print("\n| student | workers | clips/s | step (b8) | data wait |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['student']} | {r['workers']} | {r['clips_per_s']:.1f} | {r['step_s']:.2f} s | {100 * r['data_wait']:.0f}% |")


if __name__ == "__main__":
    main()
