"""CPU benchmark of the export path: per student, PyTorch eager vs ONNX Runtime FP32 vs INT8 (both
Q/DQ forms) at batch 1 and 8 on 8x112x112 clips, plus INT8 top-1 agreement / logit cosine with FP32
on held-out clips of a briefly trained model (generated motion videos; say so when you quote it).

    python benchmarks/bench_export.py                      # all students, R3D-18 trained
    python benchmarks/bench_export.py --students x3d_xs --train x3d_xs --seconds 1   # quick look

Prints a Markdown table and writes it (with machine, date and conditions) to --out."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

STUDENTS = ["r3d_18", "r2plus1d_18", "x3d_xs", "mobilenetv2_tsm"]
CLASSES = ["move_left", "move_right", "grow"]


def make_data(root: Path, videos_per_class: int, size: int = 128) -> Path:
    from levil_edge.data.synthetic import generate_dataset

    generate_dataset(root, classes=CLASSES, videos_per_class=videos_per_class, frames=32, size=size, seed=11, difficulty=0.1)
    return root


def config(student: str, size: int = 112):
    from levil_edge.config import ModelConfig

    return ModelConfig(student=student, num_classes=len(CLASSES), labels=list(CLASSES), frames=8, stride=2, size=size)


def train_briefly(model, cfg, data: Path, steps: int, batch: int = 8, lr: float = 2e-3):
    """A plain supervised loop on 2 evaluation clips per video: enough for confident, non-flat logits."""
    import torch

    from levil_edge.data.specs import load_spec
    from levil_edge.runtime.preprocess import video_to_input

    items = load_spec(str(data)).items
    x = np.concatenate([video_to_input(it.path, cfg, 2, "pyav") for it in items])
    y = torch.tensor(np.repeat([it.label for it in items], 2))
    x = torch.from_numpy(x)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    model.train()
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 5 == 0:
            print(f"  step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    with torch.inference_mode():
        acc = float(np.mean([(model(x[i:i + 16]).argmax(1) == y[i:i + 16]).float().mean().item() for i in range(0, len(x), 16)]))
    return model, acc


def fit_head(model, cfg, data: Path, iters: int = 300):
    """Linear probe: fit only the classifier on the (frozen, randomly initialised) backbone's features.
    Much cheaper than training on a shared CPU; gives the non-flat logits an agreement figure needs."""
    import torch

    from levil_edge.data.specs import load_spec
    from levil_edge.runtime.preprocess import video_to_input

    items = load_spec(str(data)).items
    model.eval()
    feats, ys = [], []
    with torch.inference_mode():
        for it in items:
            x = torch.from_numpy(video_to_input(it.path, cfg, 2, "pyav"))  # (2, 3, T, S, S)
            feats.append(model.forward_features(x))  # (2, D)
            ys += [it.label] * len(x)
    f, y = torch.cat(feats), torch.tensor(ys)
    f = f.clone()
    head = model.fc
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(iters):
        loss = torch.nn.functional.cross_entropy(head(f), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((head(f).argmax(1) == y).float().mean())
    print(f"  linear probe: loss {loss.item():.3f}, train acc {acc:.2f}", flush=True)
    return model, acc


def time_torch(model, batch: int, seconds: float) -> float:
    import torch

    x = torch.randn(batch, 3, 8, 112, 112)
    times = []
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or len(times) < 3:
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def bench_student(student: str, data: Path, out: Path, args) -> dict:
    import torch

    from levil_edge.export import export_model
    from levil_edge.runtime.bench import time_model
    from levil_edge.runtime.model import load_model
    from levil_edge.students import create_student

    torch.manual_seed(0)
    cfg = config(student, args.size)
    model = create_student(student, len(CLASSES), dropout=0.0)
    row: dict = {"student": student, "params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    if student in args.probe:
        print(f"{student}: fitting a linear head on frozen random features", flush=True)
        model, row["probe_acc"] = fit_head(model, cfg, data)
    if student in args.train:
        print(f"{student}: training {args.train_steps} steps", flush=True)
        model, row["train_acc"] = train_briefly(model, cfg, data, args.train_steps, args.train_batch, args.lr)
    model.eval()
    t0 = time.time()
    res = export_model(None, out / student, model=model, cfg=cfg, int8=True, calib_data=str(data),
                       calib_clips=args.calib_clips, max_batch=8, heldout_clips=args.heldout_clips, decoder="pyav")
    row["export_s"] = time.time() - t0
    row["onnx_max_diff"] = res["onnx_check"]["max_abs_diff"]
    row["agreement"] = res["int8"]["agreement"]
    row["heldout_clips"] = res["int8"]["heldout_clips"]
    row["calib_clips"] = res["int8"]["calibration"]["clips"]
    if args.no_latency:
        print(json.dumps(row, default=float), flush=True)
        return row
    torch.set_num_threads(args.threads)
    row["ms"] = {}
    for b in (1, 8):
        row["ms"][f"torch_b{b}"] = time_torch(model, b, args.seconds)
        for key, name in (("fp32", "model.onnx"), ("int8_cpu", "model.int8.cpu.onnx"), ("int8_trt", "model.int8.trt.onnx")):
            m = load_model(out / student / name, providers=["cpu"], threads=args.threads)
            row["ms"][f"{key}_b{b}"] = time_model(m, b, seconds=args.seconds)["p50_ms"]
    print(json.dumps(row, default=float), flush=True)
    return row


def markdown(rows: list[dict], args, started: str, elapsed: float) -> str:
    import onnxruntime as ort
    import torch

    from levil_edge.runtime.bench import _cpu_name

    lines = [
        "# Export benchmark (ONNX Runtime CPU)",
        "",
        f"- machine: {_cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}, torch {torch.__version__}",
        f"- date: {started} UTC, run time {elapsed / 60:.1f} min",
        f"- input 8x112x112, {args.threads} threads (ORT intra-op and torch), p50 latency per batch, >= {args.seconds} s per cell",
        "- conditions: the 2 cores were shared with other jobs during the run; figures are noisy, ratios matter more",
        f"- agreement: INT8 vs FP32 ONNX on {rows[0]['heldout_clips'] if rows else '-'} held-out clips; "
        f"models marked 'trained' were trained {args.train_steps} steps on generated motion videos "
        f"({len(CLASSES)} classes; not a real dataset); an untrained model's agreement means little (flat logits)",
        f"- calibration: minmax on {rows[0]['calib_clips'] if rows else '-'} clips sampled like inference",
        "",
        "| student | params | PyTorch b1 / b8 ms | ORT FP32 b1 / b8 ms | INT8 cpu-form b1 / b8 ms | INT8 TensorRT-form b1 / b8 ms | INT8 cpu speed-up b1 / b8 | top-1 agreement cpu / trt | logit cosine cpu / trt |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ms = r["ms"]
        ag = r["agreement"]
        a_cpu, a_trt = ag["model.int8.cpu.onnx"], ag["model.int8.trt.onnx"]
        trained = f" (trained, train acc {100 * r['train_acc']:.0f}%)" if "train_acc" in r else " (untrained)"
        lines.append(
            f"| {r['student']}{trained} | {r['params_m']:.1f} M "
            f"| {ms['torch_b1']:.1f} / {ms['torch_b8']:.0f} | {ms['fp32_b1']:.1f} / {ms['fp32_b8']:.0f} "
            f"| {ms['int8_cpu_b1']:.1f} / {ms['int8_cpu_b8']:.0f} | {ms['int8_trt_b1']:.1f} / {ms['int8_trt_b8']:.0f} "
            f"| {ms['fp32_b1'] / ms['int8_cpu_b1']:.2f}x / {ms['fp32_b8'] / ms['int8_cpu_b8']:.2f}x "
            f"| {100 * a_cpu['top1_agreement']:.1f}% / {100 * a_trt['top1_agreement']:.1f}% "
            f"| {a_cpu['logit_cosine']:.4f} / {a_trt['logit_cosine']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", nargs="+", default=STUDENTS)
    ap.add_argument("--train", nargs="*", default=["r3d_18"], help="students to train briefly before export")
    ap.add_argument("--train-steps", type=int, default=45)
    ap.add_argument("--videos-per-class", type=int, default=16)
    ap.add_argument("--calib-clips", type=int, default=300)
    ap.add_argument("--heldout-clips", type=int, default=90)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--probe", nargs="*", default=[], help="students whose head is fitted on frozen features")
    ap.add_argument("--size", type=int, default=112, help="clip size (the latency table is at 112)")
    ap.add_argument("--no-latency", action="store_true", help="only train, export, calibrate and measure agreement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="keep data and exports here (default: a temp folder)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_export.md"), help="Markdown results (quote them in BENCHMARKS.md)")
    args = ap.parse_args()
    os.environ.setdefault("LEVIL_NO_PROGRESS", "1")
    started, t0 = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"), time.time()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-export-"))
    data = make_data(work / "data", args.videos_per_class, size=max(64, args.size + 16))
    rows = [bench_student(s, data, work / "deploy", args) for s in args.students]
    if args.no_latency:
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2, default=float))
        return
    md = markdown(rows, args, started, time.time() - t0)
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    (args.out.with_suffix(".json")).write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
