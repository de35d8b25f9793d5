"""The INT8 step of ``export``: calibrate once on real clips (or load saved ranges), write both
Q/DQ files, check the TensorRT one, and measure agreement with FP32 on held-out clips."""

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
    source_sha256: str | None = None,
) -> dict[str, Any]:
    from levil_edge import artifacts as A
    from levil_edge.calibration.ranges import load_ranges, save_ranges
    from levil_edge.export.report import file_row
    from levil_edge.utils.io import file_sha256
    from levil_edge.export.quantize import finalize, preprocess, quantize_from_ranges
    from levil_edge.export.trt_check import check_trt_compat

    fp32 = out / A.FP32_FILE
    prep = preprocess(fp32, tmp / "model.prep.onnx")
    prep_sha = file_sha256(prep)
    warnings: list[str] = []
    if ranges_path:
        saved = load_ranges(ranges_path)
        if saved.get("model_sha256") and saved["model_sha256"] != prep_sha:
            warnings.append(f"{ranges_path} was computed for a different model.onnx; ranges of unknown tensors are ignored")
        ranges, method, n_clips, stats = saved["ranges"], saved["method"], saved["num_clips"], {"from": str(ranges_path)}
    else:
        ranges, stats = _calibrate(prep, cfg, clips.calib_paths, calib_clips, method, max_batch, decoder, seed, warnings)
        n_clips = stats["clips"]
    ranges_file = out / A.RANGES_FILE
    if not ranges_path or Path(ranges_path).resolve() != ranges_file.resolve():
        save_ranges(ranges_file, ranges, method=method, num_clips=n_clips, model_sha256=prep_sha, extra={"stats": stats})
    props = {"max_batch": str(max_batch or 1), "calibration": f"{method}, {n_clips} clips"}
    if source_sha256:  # which model.onnx these files come from: the runtime refuses a mixed folder
        props[A.SOURCE_KEY] = source_sha256
    rows, checks, agreement = [], {}, {}
    for form, name, precision in (("trt", A.INT8_TRT_FILE, "int8-qdq"), ("cpu", A.INT8_CPU_FILE, "int8-cpu")):
        quantize_from_ranges(prep, ranges, out / name, form)
        finalize(out / name, cfg, {**props, "int8_form": form})
        agreement[name] = _agreement(fp32, out / name, clips.heldout, max_batch, cfg)
        if form == "trt":
            checks[name] = check_trt_compat(out / name).to_dict()
            check = "TensorRT " + ("ok" if checks[name]["ok"] else "FAIL")
        else:
            check = "ORT CPU form"
        rows.append(file_row(out / name, precision, check, agreement[name]["top1_agreement"], agreement[name]["logit_cosine"]))
    return {
        "method": method, "calibration": stats, "ranges": str(ranges_file), "trt_check": checks,
        "agreement": agreement, "heldout_clips": int(len(clips.heldout)), "warnings": warnings, "rows": rows,
    }


def _calibrate(prep, cfg, paths, calib_clips, method, max_batch, decoder, seed, warnings) -> tuple[dict, dict]:
    from levil_edge.calibration.reader import ClipCalibrationReader, load_calibration_clips
    from levil_edge.export.quantize import calibrate

    batch = 1 if max_batch is None else min(4, max_batch)  # small batches: ORT holds every activation of a batch
    x, stats = load_calibration_clips(paths, cfg, calib_clips, decoder, seed)
    if len(x) < batch:
        raise CalibrationError(f"only {len(x)} calibration clips (< batch {batch}): add videos to --calib-data")
    if len(x) < WARN_BELOW:
        warnings.append(
            f"calibrated on {len(x)} clips (< {WARN_BELOW}): INT8 ranges may not cover your data; "
            "pass more videos or a larger --calib-clips"
        )
    ranges = calibrate(prep, ClipCalibrationReader(x, batch_size=batch), method)
    return ranges, {**stats, "batch": batch}


def _agreement(fp32: Path, int8: Path, x, max_batch, cfg) -> dict[str, float]:
    """Top-1 agreement and logit cosine of the INT8 file vs the FP32 ONNX (ORT CPU) on held-out clips."""
    from levil_edge.metrics import agreement
    from levil_edge.runtime.model import load_model

    bs = 1 if max_batch is None else min(8, max_batch)
    a = load_model(fp32, providers=["cpu"], cfg=cfg).predict(x, bs)
    b = load_model(int8, providers=["cpu"], cfg=cfg).predict(x, bs)
    return agreement(a, b)
