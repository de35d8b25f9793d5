"""Students: parameters, GFLOPs (2 x MACs, conv/linear only) and CPU latency, PyTorch eager vs
ONNX Runtime FP32, at each student's default clip (8 x 112 x 112), batch 1 and 8.

    python benchmarks/bench_students.py [--threads 2] [--runs 20] [--students x3d_xs,mobilenetv2_tsm]

Prints a Markdown table (medians). The ONNX file is the dynamo export with a dynamic batch axis,
the same call the export command makes; INT8 and TensorRT figures belong to the export benchmarks."""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from levil_edge.students import count_flops, count_params, create_student, get_default_cfg, list_students


def median_ms(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def export_onnx(model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), dynamo=True, input_names=["video"], output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False, verbose=False,
        )


def bench_one(name: str, threads: int, runs: int, tmp: Path) -> dict:
    import onnxruntime as ort

    cfg = get_default_cfg(name)
    model = create_student(name, 400).eval()
    shape = (1, 3, cfg["frames"], cfg["size"], cfg["size"])
    row = {"name": name, "params_m": count_params(model) / 1e6, "gflops": count_flops(model, shape)}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    path = tmp / f"{name}.onnx"
    export_onnx(model, torch.randn(2, *shape[1:]), path)
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for batch in (1, 8):
        x = torch.randn(batch, *shape[1:])
        with torch.no_grad():
            row[f"torch_b{batch}"] = median_ms(lambda: model(x), runs)
        feed = {"video": x.numpy()}
        row[f"ort_b{batch}"] = median_ms(lambda: session.run(None, feed), runs)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--students", default=",".join(list_students()))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.machine()}, torch {torch.__version__}, {args.threads} threads, median of {args.runs}")
    print("| student | params | GFLOPs (2xMAC) | PyTorch CPU b1 / b8 ms | ORT CPU FP32 b1 / b8 ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.students.split(","):
            r = bench_one(name, args.threads, args.runs, Path(tmp))
            print(f"| {name} | {r['params_m']:.2f} M | {r['gflops']:.2f} | {r['torch_b1']:.1f} / {r['torch_b8']:.0f} "
                  f"| {r['ort_b1']:.1f} / {r['ort_b8']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
