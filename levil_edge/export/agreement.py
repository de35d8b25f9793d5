"""How closely an exported file agrees with the FP32 ONNX (ONNX Runtime CPU, held-out clips):
shared by the FP16 and INT8 exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ort_agreement(fp32: Path, int8: Path, x, max_batch, cfg) -> dict[str, float]:
    """Top-1 agreement and logit cosine of the exported file vs the FP32 ONNX (ORT CPU) on held-out clips."""
    from levil_edge.metrics import agreement
    from levil_edge.runtime.model import load_model

    bs = 1 if max_batch is None else min(8, max_batch)
    a = load_model(fp32, providers=["cpu"], cfg=cfg).predict(x, bs)
    b = load_model(int8, providers=["cpu"], cfg=cfg).predict(x, bs)
    return agreement(a, b)


def try_agreement(fp32: Path, path: Path, heldout: np.ndarray, max_batch: int | None, cfg) -> tuple[dict, str]:
    """Agreement of ``path`` with FP32 through ORT CPU, or (None figures, a note saying why not):
    ORT's CPU provider lacks some FP16 kernels, and the file is for TensorRT anyway."""
    from levil_edge.errors import RuntimeModelError

    try:
        return ort_agreement(fp32, path, heldout, max_batch, cfg), ""
    except (RuntimeModelError, *_ort_errors()) as exc:
        reason = str(exc).splitlines()[0][:200]
        return ({"top1_agreement": None, "logit_cosine": None, "error": f"ONNX Runtime CPU cannot run it: {reason}"},
                " (agreement not measured: ONNX Runtime CPU cannot run it)")


def _ort_errors() -> tuple[type[BaseException], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as st

    return tuple(getattr(st, n) for n in ("Fail", "NotImplemented", "RuntimeException", "InvalidArgument", "InvalidGraph")
                 if hasattr(st, n))
