"""Benchmark: the demo pipeline on harder synthetic data with another seed.

Distilled + finetuned vs scratch at 5% labels, the teacher's zero-shot top-1, and the INT8 ONNX
model against FP32 (top-1 and latency), on the generator with ``--difficulty`` (default 0.5,
the demo uses 0.3) and ``--seed`` (default 1, the demo uses 0). Prints a Markdown table; with
``--write FILE`` also writes it with the machine, date and conditions.

    python benchmarks/bench_demo.py --out runs/bench_demo --seeds 1 2 --write runs/bench_demo/demo.md
    python benchmarks/bench_demo.py --quick          # the quick scale, a few minutes
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np


def run(seed: int, out: Path, quick: bool, difficulty: float, label_ratio: float) -> dict:
    from levil_edge.demo import DemoOptions, run_demo

    opts = DemoOptions(out=str(out / f"seed{seed}"), quick=quick, seed=seed, difficulty=difficulty, label_ratio=label_ratio)
    return run_demo(opts, narrate=lambda key, title, text: print(f"[seed {seed}] {title}", flush=True))


def table(results: list[dict]) -> str:
    """Rows = models, columns = seeds, plus the mean."""
    names = [row["model"].strip() for row in results[0]["table"]]
    seeds = [r["options"]["seed"] for r in results]
    head = "| model | " + " | ".join(f"top-1 seed {s} (%)" for s in seeds) + " | mean top-1 (%) | p50 b1 (ms) | p50 b8 (ms) |"
    lines = [head, "|" + "---|" * (len(seeds) + 4)]
    for i, name in enumerate(names):
        vals = [r["table"][i]["top1"] for r in results]
        lat1 = [r["table"][i]["p50_ms_b1"] for r in results if r["table"][i]["p50_ms_b1"] is not None]
        lat8 = [r["table"][i]["p50_ms_batch"] for r in results if r["table"][i]["p50_ms_batch"] is not None]
        cells = ["-" if v is None else f"{100 * v:.1f}" for v in vals]
        mean = "-" if None in vals else f"{100 * float(np.mean(vals)):.1f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} | "
                     f"{f'{np.median(lat1):.1f}' if lat1 else '-'} | {f'{np.median(lat8):.1f}' if lat8 else '-'} |")
    return "\n".join(lines)


def conditions(results: list[dict], args, elapsed: float) -> str:
    r = results[0]
    sc = r["options"]["scale"]
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}. {'Quick' if args.quick else 'Full'} demo scale, "
        f"difficulty {args.difficulty}, {100 * args.label_ratio:g}% labels, {len(r['classes'])} classes; student "
        f"{r['options']['student']} at {sc['frames']}x{sc['size']}x{sc['size']}, {sc['eval_clips']} clips per test video; "
        f"latency: ONNX Runtime CPU, median over seeds. Total {elapsed / 60:.1f} min."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench_demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--difficulty", type=float, default=0.5)
    ap.add_argument("--label-ratio", type=float, default=0.05)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", default=None, help="also write the table and conditions to this Markdown file")
    ap.add_argument("--note", default="", help="extra conditions line (e.g. 'other jobs shared the 2 cores')")
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = [run(s, Path(args.out), args.quick, args.difficulty, args.label_ratio) for s in args.seeds]
    text = table(results) + "\n\n" + conditions(results, args, time.perf_counter() - t0) + (f" {args.note}" if args.note else "")
    print(text)
    if args.write:
        from levil_edge.utils.io import atomic_write_text

        atomic_write_text(args.write, "## Demo benchmark (`benchmarks/bench_demo.py`)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
