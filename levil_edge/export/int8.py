"""The INT8 step of ``export``: calibrate once on real clips (or load saved ranges), write both
Q/DQ files (the TensorRT form by our quantizer or NVIDIA ModelOpt's), check the TensorRT one, and
measure agreement with FP32 on held-out clips. With ModelOpt installed, also the TensorRT form with
its float layers in FP16 (TensorRT 11, see export.fp16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from levil_edge.config import ModelConfig
from levil_edge.errors import CalibrationError

WARN_BELOW = 300


def export_int8(
    out: Path,
    cfg: ModelConfig,
    clips,
    *,
    max_batch: int | None,
    calib_clips: int,
    method: str,
    ranges_path: str | Path | None,
    decoder: str,
    seed: int,
    tmp: Path,
    quantizer: str = "ort",
    source_sha256: str | None = None,
) -> dict[str, Any]:
    """``quantizer``: who makes the TensorRT form, "ort" (ours, from the saved ranges) or "modelopt"
    (NVIDIA Model Optimizer, on the same clips). The ORT CPU form is always ours.
    ``source_sha256``: the FP32 model.onnx these files come from (the runtime refuses a mixed folder)."""
    from levil_edge import artifacts as A
    from levil_edge.calibration.ranges import load_ranges, save_ranges
    from levil_edge.export.quantize import preprocess
    from levil_edge.utils.io import file_sha256

    fp32 = out / A.FP32_FILE
    prep = preprocess(fp32, tmp / "model.prep.onnx")
    prep_sha = file_sha256(prep)
    warnings: list[str] = []
    x = None
    if ranges_path:
        saved = load_ranges(ranges_path)
        if saved.get("model_sha256") and saved["model_sha256"] != prep_sha:
            warnings.append(f"{ranges_path} was computed for a different model.onnx; ranges of unknown tensors are ignored")
        ranges, method, n_clips, stats = saved["ranges"], saved["method"], saved["num_clips"], {"from": str(ranges_path)}
    else:
        ranges, stats, x = _calibrate(prep, cfg, clips.calib_paths, calib_clips, method, max_batch, decoder, seed, warnings)
        n_clips = stats["clips"]
    if quantizer == "modelopt" and x is None:  # saved ranges for ours, clips for ModelOpt
        x, _ = _calibration_clips(cfg, clips.calib_paths, calib_clips, max_batch, decoder, seed, [])
    ranges_file = out / A.RANGES_FILE
    if not ranges_path or Path(ranges_path).resolve() != ranges_file.resolve():
        save_ranges(ranges_file, ranges, method=method, num_clips=n_clips, model_sha256=prep_sha, extra={"stats": stats})
    props = {"max_batch": str(max_batch or 1), "calibration": f"{method}, {n_clips} clips"}
    if source_sha256:
        props[A.SOURCE_KEY] = source_sha256
    info: dict[str, Any] = {"rows": [], "trt_check": {}, "agreement": {}, "files": {}, "skipped": [], "quantizer": quantizer}
    trt = _trt_form(out, cfg, prep, ranges, x, quantizer, props, clips.heldout, max_batch, warnings, info)
    _cpu_form(out, cfg, prep, ranges, props, clips.heldout, max_batch, info)
    _trt_fp16_form(out, cfg, trt, props, clips.heldout, max_batch, info)
    return {
        "method": method, "calibration": stats, "ranges": str(ranges_file), "heldout_clips": int(len(clips.heldout)),
        "warnings": warnings, **info,
    }


def _trt_form(out, cfg, prep, ranges, x, quantizer, props, heldout, max_batch, warnings, info) -> Path:
    """model.int8.trt.onnx by the chosen quantizer, checked for TensorRT and measured against FP32."""
    from levil_edge import artifacts as A
    from levil_edge.export.quantize import finalize, quantize_from_ranges

    path = out / A.INT8_TRT_FILE
    if quantizer == "modelopt":
        from levil_edge.export.modelopt_int8 import quantize_int8

        info["modelopt"] = quantize_int8(prep, x, path)
        warnings += info["modelopt"].pop("warnings")
        props = {**props, "calibration": f"max, {info['modelopt']['clips']} clips", "quantizer": info["modelopt"]["quantizer"]}
    else:
        quantize_from_ranges(prep, ranges, path, "trt")
    finalize(path, cfg, {**props, "int8_form": "trt"})
    _add_trt_row(out, cfg, path, "ModelOpt" if quantizer == "modelopt" else "ORT quantizer", heldout, max_batch, info)
    return path


def _cpu_form(out, cfg, prep, ranges, props, heldout, max_batch, info) -> None:
    from levil_edge import artifacts as A
    from levil_edge.export.agreement import ort_agreement
    from levil_edge.export.quantize import finalize, quantize_from_ranges
    from levil_edge.export.report import file_row

    path = out / A.INT8_CPU_FILE
    quantize_from_ranges(prep, ranges, path, "cpu")
    finalize(path, cfg, {**props, "int8_form": "cpu"})
    a = info["agreement"][path.name] = ort_agreement(out / A.FP32_FILE, path, heldout, max_batch, cfg)
    info["files"][path.name] = "int8-cpu"
    info["rows"].append(file_row(path, "int8-cpu", "ORT CPU form", a["top1_agreement"], a["logit_cosine"]))


def _trt_fp16_form(out, cfg, trt: Path, props, heldout, max_batch, info) -> None:
    """model.int8.trt.fp16.onnx (TensorRT 11: its float layers in FP16) when ModelOpt is here."""
    from levil_edge import artifacts as A
    from levil_edge.export import fp16
    from levil_edge.export.quantize import finalize

    if not fp16.available():
        info["skipped"].append(f"{A.INT8_TRT_FP16_FILE} not written: {fp16.NOT_INSTALLED}")
        return
    path = out / A.INT8_TRT_FP16_FILE
    fp16.write_qdq_fp16(trt, path)
    finalize(path, cfg, {**props, "int8_form": "trt"})
    _add_trt_row(out, cfg, path, "float parts FP16", heldout, max_batch, info)


def _add_trt_row(out, cfg, path: Path, note: str, heldout, max_batch, info) -> None:
    """TensorRT check, agreement with FP32 and the table row (Q/DQ count, layers left in float)."""
    from levil_edge import artifacts as A
    from levil_edge.export.agreement import try_agreement
    from levil_edge.export.report import file_row
    from levil_edge.export.trt_check import check_trt_compat

    check = check_trt_compat(path)
    info["trt_check"][path.name] = check.to_dict()
    a, why_not = try_agreement(out / A.FP32_FILE, path, heldout, max_batch, cfg)
    info["agreement"][path.name] = a
    info["files"][path.name] = "int8-qdq"
    text = f"TensorRT {'ok' if check.ok else 'FAIL'} ({note}){why_not}"
    row = file_row(path, "int8-qdq", text, a["top1_agreement"], a["logit_cosine"])
    info["rows"].append({**row, "qdq_nodes": check.qdq_nodes, "float_nodes": check.float_summary()})


def _calibrate(prep, cfg, paths, calib_clips, method, max_batch, decoder, seed, warnings) -> tuple[dict, dict, Any]:
    """Our ranges on the calibration clips -> (ranges, stats, clips)."""
    from levil_edge.calibration.reader import ClipCalibrationReader
    from levil_edge.export.quantize import calibrate

    x, stats = _calibration_clips(cfg, paths, calib_clips, max_batch, decoder, seed, warnings)
    ranges = calibrate(prep, ClipCalibrationReader(x, batch_size=stats["batch"]), method)
    return ranges, stats, x


def _calibration_clips(cfg, paths, calib_clips, max_batch, decoder, seed, warnings) -> tuple[Any, dict]:
    from levil_edge.calibration.reader import load_calibration_clips

    batch = 1 if max_batch is None else min(4, max_batch)  # small batches: ORT holds every activation of a batch
    x, stats = load_calibration_clips(paths, cfg, calib_clips, decoder, seed)
    if len(x) < batch:
        raise CalibrationError(f"only {len(x)} calibration clips (< batch {batch}): add videos to --calib-data")
    if len(x) < WARN_BELOW:
        warnings.append(
            f"calibrated on {len(x)} clips (< {WARN_BELOW}): INT8 ranges may not cover your data; "
            "pass more videos or a larger --calib-clips"
        )
    return x, {**stats, "batch": batch}
