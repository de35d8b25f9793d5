"""The two INT8 TensorRT forms side by side: ours (ONNX Runtime's quantizer, from the saved ranges)
and NVIDIA Model Optimizer's (``export --quantizer modelopt``), on the same calibration clips of a
briefly trained student, plus their FP16 variants for TensorRT 11 and AutoCast's model.fp16.onnx.

Per file: Q/DQ nodes, compute layers left in float, top-1 agreement and logit cosine with the FP32
ONNX and task accuracy on held-out test videos (ONNX Runtime CPU: this measures the graphs, not
TensorRT speed), and the time each quantizer takes on the same clips.

    python benchmarks/bench_quantizers.py                    # r3d_tiny at 32 px, 10 motion classes
    python benchmarks/bench_quantizers.py --train-steps 100 --test-per-class 4   # quick look

Needs ``pip install 'levil-edge[modelopt]'``. Prints a Markdown table and writes it to --out."""

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


def make_data(root: Path, per_class: int, seed: int, size: int = 64) -> Path:
    from levil_edge.data.synthetic import CLASS_NAMES, generate_dataset

    generate_dataset(root, classes=list(CLASS_NAMES), videos_per_class=per_class, frames=16, size=size, seed=seed,
                     difficulty=0.3)
    return root


def time_quantizers(out: Path, cfg, train: Path, calib_clips: int, work: Path) -> dict:
    """Both quantizers on the same pre-processed graph and the same clips, timed."""
    from levil_edge.calibration.reader import ClipCalibrationReader, load_calibration_clips
    from levil_edge.data.specs import load_spec
    from levil_edge.export.modelopt_int8 import quantize_int8
    from levil_edge.export.quantize import calibrate, preprocess, quantize_from_ranges

    prep = preprocess(out / "model.onnx", work / "prep.onnx")
    paths = [str(it.path) for it in load_spec(str(train)).items]
    x, _ = load_calibration_clips(paths, cfg, calib_clips, "pyav", 0)
    t0 = time.perf_counter()
    ranges = calibrate(prep, ClipCalibrationReader(x, batch_size=4), "minmax")
    quantize_from_ranges(prep, ranges, work / "ours.onnx", "trt")
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    info = quantize_int8(prep, x, work / "modelopt.onnx")
    wall = time.perf_counter() - t0
    return {"clips": int(len(x)), "ours_s": ours, "modelopt_s": info["seconds"], "modelopt_wall_s": wall}


def score(files: dict[str, Path], cfg, test: Path) -> dict[str, dict]:
    """Agreement with FP32 and accuracy of each file on one clip per test video."""
    from levil_edge.data.specs import load_spec
    from levil_edge.metrics import agreement
    from levil_edge.runtime.model import load_model
    from levil_edge.runtime.preprocess import video_to_input

    items = load_spec(str(test)).items
    x = np.concatenate([video_to_input(it.path, cfg, 1, "pyav") for it in items])
    y = np.array([it.label for it in items])
    logits = {}
    for key, path in files.items():
        try:
            logits[key] = load_model(path, providers=["cpu"], cfg=cfg).predict(x, 8)
        except Exception as exc:  # noqa: BLE001 - a file ORT CPU cannot run is reported, not fatal
            logits[key] = exc
    ref = logits["fp32"]
    out = {}
    for key, lg in logits.items():
        if isinstance(lg, Exception):
            out[key] = {"error": str(lg).splitlines()[0][:120]}
            continue
        out[key] = {**agreement(ref, lg), "accuracy": float((lg.argmax(1) == y).mean()), "videos": int(len(y))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default="r3d_tiny")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--train-per-class", type=int, default=30)
    ap.add_argument("--test-per-class", type=int, default=10, help="10 classes: 10 -> 100 test videos")
    ap.add_argument("--train-steps", type=int, default=400)
    ap.add_argument("--calib-clips", type=int, default=256)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_quantizers.md"))
    args = ap.parse_args()
    os.environ.setdefault("LEVIL_NO_PROGRESS", "1")
    import torch

    from bench_export import train_briefly
    from levil_edge.config import ModelConfig
    from levil_edge.data.synthetic import CLASS_NAMES
    from levil_edge.export import export_model
    from levil_edge.export.modelopt_support import require
    from levil_edge.runtime.bench import _cpu_name
    from levil_edge.students import create_student

    require("bench_quantizers.py")
    started, t_start = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"), time.time()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-quant-"))
    train = make_data(work / "train", args.train_per_class, seed=21)
    test = make_data(work / "test", args.test_per_class, seed=22)
    cfg = ModelConfig(student=args.student, num_classes=len(CLASS_NAMES), labels=list(CLASS_NAMES), frames=8,
                      stride=2, size=args.size)
    torch.manual_seed(0)
    model = create_student(args.student, len(CLASS_NAMES))
    model, train_acc = train_briefly(model, cfg, train, args.train_steps, batch=16, lr=1e-3)
    exports = {}
    for q in ("ort", "modelopt"):
        t0 = time.time()
        exports[q] = export_model(None, work / q, model=model, cfg=cfg, int8=True, calib_data=str(train),
                                  calib_clips=args.calib_clips, max_batch=8, decoder="pyav", quantizer=q)
        print(f"export --quantizer {q}: {time.time() - t0:.1f} s", flush=True)
    timing = time_quantizers(work / "ort", cfg, train, args.calib_clips, work)
    files = {
        "fp32": work / "ort" / "model.onnx",
        "fp16": work / "ort" / "model.fp16.onnx",
        "ours": work / "ort" / "model.int8.trt.onnx",
        "ours_fp16": work / "ort" / "model.int8.trt.fp16.onnx",
        "modelopt": work / "modelopt" / "model.int8.trt.onnx",
        "modelopt_fp16": work / "modelopt" / "model.int8.trt.fp16.onnx",
        "cpu_form": work / "ort" / "model.int8.cpu.onnx",
    }
    results = score(files, cfg, test)
    checks = {**{f"ours{s}": exports["ort"]["int8"]["trt_check"][f"model.int8.trt{s.replace('_', '.')}.onnx"] for s in ("", "_fp16")},
              **{f"modelopt{s}": exports["modelopt"]["int8"]["trt_check"][f"model.int8.trt{s.replace('_', '.')}.onnx"] for s in ("", "_fp16")}}
    md = markdown(results, checks, timing, files, args, train_acc, started, time.time() - t_start, _cpu_name())
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    args.out.with_suffix(".json").write_text(json.dumps({"results": results, "checks": checks, "timing": timing,
                                                         "train_acc": train_acc}, indent=2, default=float))


def markdown(results, checks, timing, files, args, train_acc, started, elapsed, cpu) -> str:
    import modelopt
    import onnxruntime as ort

    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}%"

    rows = [
        ("ours", "model.int8.trt.onnx (ORT quantizer)"), ("modelopt", "model.int8.trt.onnx (ModelOpt)"),
        ("ours_fp16", "model.int8.trt.fp16.onnx (ours, float parts FP16)"),
        ("modelopt_fp16", "model.int8.trt.fp16.onnx (ModelOpt, float parts FP16)"),
        ("fp16", "model.fp16.onnx (AutoCast)"), ("cpu_form", "model.int8.cpu.onnx (ORT CPU form)"), ("fp32", "model.onnx"),
    ]
    n = next(r["videos"] for r in results.values() if "videos" in r)
    lines = [
        "# INT8 TensorRT forms: ONNX Runtime's quantizer vs NVIDIA Model Optimizer",
        "",
        f"- machine: {cpu}, {os.cpu_count()} cores (shared with other jobs during the run), Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}, nvidia-modelopt {modelopt.__version__}",
        f"- date: {started} UTC, run time {elapsed / 60:.1f} min",
        f"- student: {args.student} at {args.size} px, 8 frames, stride 2, trained {args.train_steps} steps on generated motion "
        f"videos (10 classes, {args.train_per_class}/class; train accuracy {100 * train_acc:.0f}%); not a real dataset",
        f"- calibration: the same {timing['clips']} clips for both quantizers (ours: minmax; ModelOpt: max, calibration_eps=['cpu'])",
        f"- agreement/accuracy: one clip from each of {n} held-out test videos, every file run by ONNX Runtime's CPU provider "
        "(the graphs are compared; no TensorRT ran)",
        f"- time on the same clips: ours (calibrate + quantize) {timing['ours_s']:.1f} s; ModelOpt quantize() "
        f"{timing['modelopt_s']:.1f} s ({timing['modelopt_wall_s']:.1f} s with its child process and import)",
        "",
        "| file | Q/DQ nodes | left in float | top-1 agreement | logit cosine | accuracy | size |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in rows:
        r, c = results[key], checks.get(key)
        size = f"{files[key].stat().st_size / 2**20:.2f} MB"
        if "error" in r:
            lines.append(f"| {label} | - | - | ORT CPU cannot run it: {r['error']} | - | - | {size} |")
            continue
        qdq = str(c["qdq_nodes"]) if c else "-"
        flt = (", ".join(f"{k} {v}" for k, v in sorted(c["float_nodes"].items())) or "none") if c else "-"
        lines.append(f"| {label} | {qdq} | {flt} | {pct(r['top1_agreement'])} | {r['logit_cosine']:.4f} | {pct(r['accuracy'])} | {size} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
