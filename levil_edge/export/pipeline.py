"""``levil-edge export`` as one library call: checkpoint -> FP32 ONNX (+ check) -> INT8 Q/DQ files
(+ TensorRT check, agreement) -> build_engine.sh (+ engines when TensorRT is here) -> model.json.

Returns a JSON-ready dict; the CLI only prints it. Usable from Python (the demo calls it)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.config import ModelConfig
from levil_edge.errors import CalibrationError, UsageError

FP32_FILE = "model.onnx"
INT8_TRT_FILE = "model.int8.trt.onnx"
INT8_CPU_FILE = "model.int8.cpu.onnx"
RANGES_FILE = "calibration.json"
CHECK_CLIPS = 16  # clips for the ONNX-vs-PyTorch check


@dataclass
class ClipSets:
    calib_paths: list[str]
    heldout: np.ndarray  # float32 (N, 3, T, S, S)
    source: str


def export_model(
    checkpoint: str | Path | None,
    out_dir: str | Path,
    *,
    model=None,
    cfg: ModelConfig | None = None,
    int8: bool = False,
    calib_data: str | None = None,
    calib_clips: int = 300,
    calib_method: str = "minmax",
    calib_ranges: str | Path | None = None,
    labels: str | Path | None = None,
    root: str | None = None,
    max_batch: int | None = 16,
    opset: int | None = None,
    legacy: bool = False,
    engine: bool = False,
    workspace_gb: float = 2.0,
    heldout_clips: int = 64,
    decoder: str = "auto",
    seed: int = 0,
    quantizer: str = "ort",
) -> dict[str, Any]:
    """Export a checkpoint folder (or an in-memory ``model`` + ``cfg``) into ``out_dir``.

    max_batch=None exports a static batch of 1 (``--batch 1``). ``calib_ranges`` re-quantises from
    a saved ``calibration.json`` without videos. Raises ExportError / CalibrationError."""
    from levil_edge.export.onnx_export import compare_with_torch, export_onnx

    model, cfg = _load(checkpoint, model, cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if int8 and not (calib_data or calib_ranges):
        raise UsageError("--int8 needs --calib-data SPEC (real clips of your task) or --calib-ranges calibration.json")
    from levil_edge.export.modelopt_int8 import check_quantizer

    check_quantizer(quantizer, int8=int8, calib_data=calib_data)
    with tempfile.TemporaryDirectory(prefix="levil-export-") as tmp:
        clips = _clip_sets(cfg, calib_data, labels, root, heldout_clips, decoder, seed, Path(tmp))
        onnx_info = export_onnx(model, cfg, out / FP32_FILE, max_batch=max_batch, opset=opset, legacy=legacy)
        check = compare_with_torch(model, out / FP32_FILE, clips.heldout[:CHECK_CLIPS], max_batch, cfg)
        result: dict[str, Any] = {
            "out": str(out), "config": cfg.to_dict(), "onnx": onnx_info, "onnx_check": check,
            "check_clips_from": clips.source, "files": [_row(out / FP32_FILE, "fp32", check=f"max|diff| {check['max_abs_diff']:.2e}")],
        }
        files = {FP32_FILE: "fp32"}
        from levil_edge.export.fp16 import export_fp16_model  # model.fp16.onnx when ModelOpt is installed

        result["fp16"] = export_fp16_model(out, cfg, clips, max_batch, decoder, seed)
        result["files"] += result["fp16"].pop("rows")
        files.update(result["fp16"].pop("files"))
        if int8:
            from levil_edge.export.int8 import export_int8

            int8_info = export_int8(
                out, cfg, clips, max_batch=max_batch, calib_clips=calib_clips, method=calib_method,
                ranges_path=calib_ranges, decoder=decoder, seed=seed, tmp=Path(tmp), quantizer=quantizer,
            )
            result["int8"] = int8_info
            result["files"] += int8_info.pop("rows")
            files.update(int8_info.pop("files"))
    _finish(out, cfg, result, files, int8, engine, max_batch, workspace_gb)
    return result


def _finish(out: Path, cfg: ModelConfig, result: dict, files: dict, int8: bool, engine: bool, max_batch, workspace_gb) -> None:
    from levil_edge.export.build_script import write_build_script
    from levil_edge.export.metadata import export_info, write_sidecar

    script = write_build_script(out, cfg, int8=int8, max_batch=max_batch or 1, workspace_gb=workspace_gb)
    result["build_script"] = str(script)
    if engine:
        result["engines"] = _build_engines(out, int8, max_batch or 1, workspace_gb, result)
        for e in result["engines"]:
            if e.get("path"):
                files[Path(e["path"]).name] = e["precision"]
    write_sidecar(out, export_info(cfg, files, onnx=result["onnx"], onnx_check=result["onnx_check"],
                                   int8=result.get("int8"), max_batch=max_batch or 1))
    result["sidecar"] = str(out / "model.json")
    result["next"] = _next_commands(out, int8)


def _build_engines(out: Path, int8: bool, max_batch: int, workspace_gb: float, result: dict) -> list[dict]:
    from levil_edge.export import tensorrt as trt_mod

    if not trt_mod.available():
        return [{"precision": "-", "skipped": f"tensorrt not importable here ({trt_mod.import_error()}): run build_engine.sh on the device"}]
    engines = []
    for precision, onnx_path in trt_mod.engine_jobs(out, int8):
        info = trt_mod.build_engine(onnx_path, out / f"model.{precision}.engine", precision=precision,
                                    max_batch=max_batch, workspace_gb=workspace_gb, timing_cache=out / "timing.cache")
        engines.append(info)
        result["files"].append(_row(Path(info["path"]), precision, check="built"))
    return engines


def _load(checkpoint, model, cfg) -> tuple[Any, ModelConfig]:
    if model is not None:
        if cfg is None:
            raise UsageError("export_model(model=...) needs cfg=ModelConfig(...) too")
        return model.eval().cpu(), cfg
    if checkpoint is None:
        raise UsageError("pass --model CHECKPOINT (a folder written by `levil-edge train`)")
    from levil_edge.students import load_checkpoint

    model, cfg = load_checkpoint(checkpoint)
    return model.eval().cpu(), cfg


def _clip_sets(cfg, data, labels, root, heldout_clips, decoder, seed, tmp: Path) -> ClipSets:
    """Split the data's videos into calibration and held-out videos (held-out clips are used for the
    ONNX check and INT8 agreement, never for calibration). Without data, a few generated videos
    (levil_edge.data.synthetic) go through the real decoder for the ONNX check."""
    from levil_edge.runtime.preprocess import video_to_input

    if data:
        from levil_edge.data.specs import load_spec

        paths = [str(it.path) for it in load_spec(data, labels=labels, root=root).items]
        source = str(data)
    else:
        from levil_edge.data.synthetic import CLASS_NAMES, generate_dataset

        recs = generate_dataset(tmp / "check", classes=list(CLASS_NAMES)[:4], videos_per_class=1,
                                frames=max(16, cfg.frames * cfg.stride), size=max(64, cfg.size), seed=seed)
        paths, source = [r["path"] for r in recs], "generated clips (pass --calib-data to check on your own)"
    if not paths:
        raise CalibrationError(f"{data} lists no videos: check the spec")
    order = np.random.default_rng(seed + 1).permutation(len(paths))
    n_held = len(paths) if not data else max(1, min(len(paths) // 5, 32))
    held = [paths[i] for i in order[:n_held]]
    calib = [paths[i] for i in order[n_held:]] or held  # one video only: calibration and check share it
    per_video = max(1, min(10, -(-heldout_clips // len(held))))
    x = np.concatenate([video_to_input(p, cfg, per_video, decoder) for p in held])[:heldout_clips]
    return ClipSets(calib_paths=calib, heldout=x, source=source)


def _row(path: Path, precision: str, check: str = "", agreement: float | None = None, cosine: float | None = None) -> dict:
    return {
        "file": path.name, "precision": precision,
        "size_mb": round(path.stat().st_size / 2**20, 2) if path.exists() else None,
        "check": check, "top1_agreement": agreement, "logit_cosine": cosine,
    }


def _next_commands(out: Path, int8: bool) -> list[str]:
    best = out / (INT8_CPU_FILE if int8 else FP32_FILE)
    cmds = [
        f"levil-edge bench --model {' '.join(str(out / f) for f in ([FP32_FILE, INT8_CPU_FILE, INT8_TRT_FILE] if int8 else [FP32_FILE]))}",
        f"levil-edge predict VIDEO.mp4 --model {best}",
        f"# on the Jetson: copy {out}/ and run: bash {out / 'build_engine.sh'}",
    ]
    return cmds

