"""FP16 ONNX files for TensorRT 11, made offline by NVIDIA Model Optimizer's AutoCast.

TensorRT 11 has no FP16 builder flag: every network is strongly typed, so a layer runs in the type
the ONNX graph gives it. Two files follow (their names are the contract with ``build_engine.sh`` and
the runtime):

- ``model.fp16.onnx``: ``model.onnx`` through AutoCast (``convert_to_mixed_precision``,
  ``keep_io_types=True``): float32 input/output, FP16 inside except the nodes AutoCast keeps in FP32
  because their values on real clips would overflow FP16.
- ``model.int8.trt.fp16.onnx``: the TensorRT Q/DQ file with its float parts (the layers left
  unquantised, the weights under QuantizeLinear, the scales) in FP16 and float32 I/O: what
  ModelOpt's own ``quantize(high_precision_dtype="fp16")`` does after quantising
  (``autocast.convert_to_f16``), applied to whichever quantizer made the Q/DQ file.

Both are written only when ModelOpt is installed (``available()``); their agreement with FP32 is
measured through ONNX Runtime's CPU provider when it can run them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.artifacts import FP16_FILE, INT8_TRT_FP16_FILE
from levil_edge.export.agreement import try_agreement
from levil_edge.export.modelopt_support import INSTALL_HINT, available  # noqa: F401 - available() is this module's API

AUTOCAST_CLIPS = 16  # clips AutoCast runs through ORT to find FP16 overflows
NOT_INSTALLED = f"needs NVIDIA ModelOpt AutoCast ({INSTALL_HINT}); TensorRT 11 builds FP16 only from an FP16 ONNX"


def write_fp16_model(fp32_path: str | Path, out_path: str | Path, clips: np.ndarray | None = None) -> dict[str, Any]:
    """AutoCast ``fp32_path`` to FP16 (float32 I/O) into ``out_path``. ``clips`` (float32
    (N, 3, T, S, S), real clips) let AutoCast keep in FP32 the nodes whose values overflow FP16;
    without them it uses random inputs."""
    from levil_edge.export import modelopt_support

    modelopt_support.require("model.fp16.onnx")
    with modelopt_support.quiet():
        from modelopt.onnx.autocast import convert_to_mixed_precision
    with tempfile.TemporaryDirectory(prefix="levil-autocast-") as tmp:
        data = None
        if clips is not None and len(clips):
            data = str(Path(tmp) / "clips.npz")
            np.savez(data, **{_input_name(fp32_path): np.ascontiguousarray(clips, dtype=np.float32)})
        with modelopt_support.quiet() as log:
            try:
                model = convert_to_mixed_precision(
                    onnx_path=str(fp32_path), low_precision_type="fp16", keep_io_types=True,
                    calibration_data=data, providers=["cpu"],
                )
            except Exception as exc:  # noqa: BLE001 - ModelOpt raises many types
                raise modelopt_support.failure("ModelOpt AutoCast to FP16", log.getvalue(), exc) from exc
    _save(model, out_path)
    return {"fp32_nodes_kept": _fp32_nodes(model)}


def write_qdq_fp16(qdq_path: str | Path, out_path: str | Path) -> dict[str, Any]:
    """The Q/DQ file ``qdq_path`` with its float parts in FP16 and float32 I/O, into ``out_path``."""
    import onnx

    from levil_edge.export import modelopt_support

    modelopt_support.require(INT8_TRT_FP16_FILE)
    with modelopt_support.quiet():
        from modelopt.onnx.autocast import convert_to_f16
    proto = onnx.load(str(qdq_path))
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    with modelopt_support.quiet() as log:
        try:
            # opset: keep the Q/DQ file's own (FP16 scales need >= 19; ours are 20): TensorRT 10.3 parses <= 20.
            model = convert_to_f16(proto, low_precision_type="fp16", keep_io_types=True, opset=max(opset, 19))
        except Exception as exc:  # noqa: BLE001
            raise modelopt_support.failure("ModelOpt FP16 conversion of the Q/DQ file", log.getvalue(), exc) from exc
    _save(model, out_path)
    return {"fp32_nodes_kept": _fp32_nodes(model)}


def export_fp16_model(out: Path, cfg, clips, max_batch: int | None, decoder: str, seed: int) -> dict[str, Any]:
    """``export``'s FP16 step: ``model.fp16.onnx`` from ``model.onnx`` in ``out`` when ModelOpt is here.

    ``clips``: the export's ClipSets (a few calibration videos guide AutoCast; agreement is measured
    on the held-out clips). Returns {"written", "reason" | agreement..., "rows", "files"}."""
    from levil_edge.calibration.reader import load_calibration_clips
    from levil_edge.artifacts import FP32_FILE
    from levil_edge.export.quantize import finalize
    from levil_edge.export.report import file_row

    if not available():
        return {"written": False, "reason": f"{FP16_FILE} not written: {NOT_INSTALLED}", "rows": [], "files": {}}
    path = out / FP16_FILE
    guide, _ = load_calibration_clips(clips.calib_paths, cfg, AUTOCAST_CLIPS, decoder, seed)
    info = write_fp16_model(out / FP32_FILE, path, guide)
    finalize(path, cfg, {"max_batch": str(max_batch or 1)})
    agree, note = try_agreement(out / FP32_FILE, path, clips.heldout, max_batch, cfg)
    row = file_row(path, "fp16", "AutoCast" + note, agree["top1_agreement"], agree["logit_cosine"])
    return {"written": True, **info, "agreement": agree, "rows": [row], "files": {FP16_FILE: "fp16"}}


def _save(model, out_path: str | Path) -> None:
    import onnx

    from levil_edge.utils.io import atomic_path

    with atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))


def _input_name(path: str | Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _fp32_nodes(model) -> int:
    """Compute nodes still reading float32 (AutoCast keeps overflow-prone nodes in FP32)."""
    from onnx import TensorProto

    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(model.graph.value_info) + list(model.graph.input)}
    skip = {"Cast", "QuantizeLinear", "DequantizeLinear", "Constant", "Shape", "Reshape"}
    return sum(1 for n in model.graph.node if n.op_type not in skip and n.input
               and types.get(n.input[0]) == TensorProto.FLOAT)
