"""``export --int8 --quantizer modelopt``: the TensorRT-form Q/DQ file made by NVIDIA Model Optimizer
(``modelopt.onnx.quantization.quantize``) from the same calibration clips as ours.

ModelOpt places Q/DQ the way TensorRT fuses layers (the residual Add quantised on its fusible input
only, convolutions under 16 channels left in float, no Q/DQ around ReLU or pooling), keeps weights in
float behind a per-channel QuantizeLinear -> DequantizeLinear pair (TensorRT quantises them at build
time) and calibrates with "max" (= ORT MinMax with symmetric ranges) on the CPU.

Its calibrator (ONNX Runtime's MinMax calibrater, called without ``max_intermediate_outputs``) keeps
every activation of every calibration clip in memory until it computes the ranges, so the clips it
gets are capped to half the available memory, with a warning. Ours merges ranges batch by batch."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.errors import CalibrationError, UsageError

QUANTIZERS = ("ort", "modelopt")
MEMORY_SHARE = 0.5  # of the available memory, for ModelOpt's calibrator


def check_quantizer(quantizer: str, *, int8: bool, calib_data: str | None) -> None:
    """Refuse a quantizer choice that cannot work before the export starts (nothing is written yet)."""
    from levil_edge.export import modelopt_support

    if quantizer not in QUANTIZERS:
        raise UsageError(f"unknown --quantizer {quantizer!r}: use one of {', '.join(QUANTIZERS)}")
    if quantizer == "ort":
        return
    if not int8:
        raise UsageError("--quantizer modelopt makes the INT8 TensorRT file: add --int8 and --calib-data")
    if not calib_data:
        raise UsageError("--quantizer modelopt calibrates on clips itself: pass --calib-data (saved --calib-ranges "
                         "only re-quantise with the default ort quantizer)")
    modelopt_support.require("--quantizer modelopt")


def quantize_int8(prep_path: str | Path, clips: np.ndarray, out_path: str | Path, input_name: str = "video") -> dict[str, Any]:
    """Write ModelOpt's INT8 Q/DQ model of ``prep_path`` (the pre-processed FP32 graph) to ``out_path``,
    calibrated on ``clips`` (float32 (N, 3, T, S, S)). Returns timings and what was used.

    ModelOpt runs in a child process: its ``quantize`` patches ONNX Runtime's quantisation classes
    for the whole process (``ort_patching.patch_ort_modules``: MinMaxCalibrater, QDQQuantizer, ...),
    which would silently change every later ORT quantisation here (our CPU form, the next export)."""
    from levil_edge.export import modelopt_support
    from levil_edge.utils.io import atomic_path

    modelopt_support.require("--quantizer modelopt")
    if len(clips) == 0:
        raise CalibrationError("no calibration clips for ModelOpt: pass videos with --calib-data")
    per_clip = activation_bytes(prep_path)
    cap = max(1, int(MEMORY_SHARE * available_memory() // max(per_clip, 1)))
    n = min(len(clips), cap)
    warnings = []
    if n < len(clips):
        warnings.append(
            f"ModelOpt calibrated on {n} of {len(clips)} clips: its calibrator keeps every activation in memory "
            f"(~{per_clip / 2**20:.0f} MB per clip); free memory or pass fewer --calib-clips"
        )
    with tempfile.TemporaryDirectory(prefix="levil-modelopt-") as tmp, atomic_path(out_path) as out_tmp:
        work = Path(tmp)
        # ModelOpt writes intermediate files next to its input model: give it a private copy.
        shutil.copyfile(prep_path, work / "model.onnx")
        np.save(work / "clips.npy", np.ascontiguousarray(clips[:n], dtype=np.float32))
        proc = subprocess.run(
            [sys.executable, "-m", __name__, str(work), input_name], env=_child_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", check=False,
        )
        done = work / "result.json"
        if proc.returncode != 0 or not done.is_file():
            raise modelopt_support.failure("ModelOpt INT8 quantisation", proc.stdout)
        result = json.loads(done.read_text())
        shutil.copyfile(work / "model.int8.onnx", out_tmp)
    return {**result, "clips": int(n), "activation_mb_per_clip": round(per_clip / 2**20, 2), "warnings": warnings}


def _child_env() -> dict[str, str]:
    """This process's environment, with this levil_edge first on the child's path."""
    import levil_edge

    root = str(Path(levil_edge.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _worker(work: Path, input_name: str) -> None:
    """Child process: quantise work/model.onnx on work/clips.npy into work/model.int8.onnx."""
    import modelopt
    from modelopt.onnx.quantization import quantize

    t0 = time.perf_counter()
    quantize(
        str(work / "model.onnx"),
        quantize_mode="int8",
        calibration_data={input_name: np.load(work / "clips.npy")},
        calibration_method="max",
        calibration_eps=["cpu"],
        high_precision_dtype="fp32",  # the FP16 variant is made from this file (export.fp16)
        output_path=str(work / "model.int8.onnx"),
        log_level="WARNING",
    )
    result = {"quantizer": f"modelopt {getattr(modelopt, '__version__', '?')}", "seconds": round(time.perf_counter() - t0, 2)}
    (work / "result.json").write_text(json.dumps(result))


def activation_bytes(onnx_path: str | Path) -> int:
    """Bytes of all float tensors of one clip (batch 1) of a shape-inferred graph: what a calibrator
    that stores every output keeps per clip."""
    import onnx
    from onnx import TensorProto

    itemsize = {TensorProto.FLOAT: 4, TensorProto.FLOAT16: 2, TensorProto.BFLOAT16: 2, TensorProto.DOUBLE: 8}
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    total = 0
    for vi in list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        if t.elem_type in itemsize and t.HasField("shape"):
            total += itemsize[t.elem_type] * math.prod(d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim)
    return total


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), sys.argv[2])
