"""INT8 post-training quantisation with ONNX Runtime: one calibration, two Q/DQ files.

- ``model.int8.trt.onnx`` (form "trt"): int8 activations and weights, symmetric (zero-point 0),
  per-channel weights, float bias. The explicit-quantisation graph TensorRT 10/11 builds INT8
  engines from (TensorRT 11 has no implicit calibration any more).
- ``model.int8.cpu.onnx`` (form "cpu"): uint8 activations, int8 per-channel weights. ORT CPU fuses
  every conv into QLinearConv with uint8 activations; with symmetric int8 activations the ReLU stays
  in the graph and only part of the convs fuse (measured: 2.2-3x vs 1.1-1.4x over FP32).

Calibration: ``minmax`` (default, best here) or ``percentile``. ORT's ``entropy`` through
quantize_static silently equals minmax (no bin count is passed through), so it is not offered.
Ranges are computed once on the pre-processed graph and saved as JSON; both files (and any later
re-quantisation) are made from those ranges."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.errors import CalibrationError, ExportError

METHODS = ("minmax", "percentile")
DEFAULT_PERCENTILE = 99.999
FORMS = ("trt", "cpu")


def _quant():
    from levil_edge.utils.extras import require

    require("onnx", what="INT8 quantisation")
    import onnxruntime.quantization as q

    return q


def preprocess(fp32_path: str | Path, out_path: str | Path) -> Path:
    """ORT's quant_pre_process (symbolic shape inference + graph optimisation). Dynamo exports need
    it: without it some activations have no shape info and are left unquantised."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=False)
    except Exception:  # noqa: BLE001 - symbolic shape inference fails on some graphs; ONNX shape inference is enough
        logging.getLogger(__name__).info("symbolic shape inference failed; retrying with ONNX shape inference only")
        quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=True)
    return Path(out_path)


def _op_types(q) -> list[str]:
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def calibrate(
    prep_path: str | Path,
    reader,
    method: str = "minmax",
    percentile: float = DEFAULT_PERCENTILE,
) -> dict[str, tuple[float, float]]:
    """Run the calibration clips through ``prep_path`` and return {tensor name: (min, max)}."""
    q = _quant()
    if method not in METHODS:
        raise CalibrationError(f"unknown calibration method {method!r}: use one of {', '.join(METHODS)}")
    cm = q.CalibrationMethod.MinMax if method == "minmax" else q.CalibrationMethod.Percentile
    opts: dict[str, Any] = {"percentile": percentile} if method == "percentile" else {}
    with tempfile.TemporaryDirectory(prefix="levil-calib-") as tmp:
        calibrator = q.create_calibrator(
            Path(prep_path),
            _op_types(q),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=cm,
            providers=["CPUExecutionProvider"],
            extra_options=opts,
        )
        # Feed one batch per collect_data call: ORT keeps every intermediate output of a call in
        # memory (hundreds of MB per clip for R3D-18), and both calibrators merge across calls.
        with contextlib.redirect_stdout(io.StringIO()):  # ORT prints progress lines; keep --json clean
            for feed in reader:
                calibrator.collect_data(_OneBatch(feed))
            data = calibrator.compute_data()
    ranges = {}
    for name, td in data.items():
        lo, hi = td.range_value
        ranges[name] = (float(np.min(lo)), float(np.max(hi)))
    if not ranges:
        raise CalibrationError(f"calibration of {prep_path} produced no ranges: the graph has no quantisable ops")
    return ranges


def quantize_from_ranges(
    prep_path: str | Path,
    ranges: dict[str, tuple[float, float]],
    out_path: str | Path,
    form: str,
) -> Path:
    """Write the Q/DQ model of ``form`` ("trt" or "cpu") using saved ranges; no videos needed."""
    q = _quant()
    from onnxruntime.quantization.calibrate import TensorsData, save_tensors_data

    from levil_edge.utils.io import atomic_path

    if form not in FORMS:
        raise ExportError(f"unknown INT8 form {form!r}: use one of {FORMS}")
    data = TensorsData(
        q.CalibrationMethod.MinMax,
        {k: (np.array(lo, dtype=np.float32), np.array(hi, dtype=np.float32)) for k, (lo, hi) in ranges.items()},
    )
    symmetric = form == "trt"
    extra = {
        "ActivationSymmetric": symmetric,  # zero-point 0: TensorRT accepts only symmetric Q/DQ
        "WeightSymmetric": True,
        # TensorRT fuses a float bias into the INT8 conv; an int32-quantised bias behind a
        # DequantizeLinear is not something it parses. ORT CPU wants the int32 bias for QLinearConv.
        "QuantizeBias": not symmetric,
    }
    with tempfile.TemporaryDirectory(prefix="levil-quant-") as tmp, atomic_path(out_path) as out_tmp:
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(data, cache)  # ORT's own cache format: quantize_static skips calibration with it
        q.quantize_static(
            str(prep_path),
            str(out_tmp),
            calibration_data_reader=None,
            calibration_cache_path=str(cache),
            quant_format=q.QuantFormat.QDQ,
            activation_type=q.QuantType.QInt8 if symmetric else q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            per_channel=True,
            calibrate_method=q.CalibrationMethod.MinMax,
            extra_options=extra,
        )
    return Path(out_path)


class _OneBatch:
    """A CalibrationDataReader that yields a single feed dict."""

    def __init__(self, feed: dict[str, np.ndarray]):
        self.feed: dict[str, np.ndarray] | None = feed

    def get_next(self) -> dict[str, np.ndarray] | None:
        feed, self.feed = self.feed, None
        return feed


def finalize(path: str | Path, cfg, props: dict[str, str] | None = None) -> None:
    """Put the model metadata back (quant_pre_process drops it) and drop opset imports of domains
    no node uses (ORT's optimiser declares com.microsoft.nchwc etc.; other tools trip over them)."""
    import onnx

    from levil_edge.artifacts import set_onnx_metadata
    from levil_edge.utils.io import atomic_path

    proto = onnx.load(str(path))
    used = {n.domain for n in proto.graph.node} | {""}
    keep = [o for o in proto.opset_import if o.domain in used or o.domain == "ai.onnx"]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    set_onnx_metadata(proto, cfg, props)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
