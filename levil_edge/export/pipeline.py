"""``levil-edge export`` as one library call: checkpoint -> FP32 ONNX (+ check) -> INT8 Q/DQ files
(+ TensorRT check, agreement) -> the deploy folder (labels.txt, build_engine.sh, DeepStream configs,
README.md, model.json; engines when TensorRT is here).

The folder is built as a whole beside ``out`` and swapped in at the end (``export.staging``); every
derived file is stamped with the FP32 model's SHA-256. Returns a JSON-ready dict; the CLI only prints
it. Usable from Python (the demo calls it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge import artifacts as A
from levil_edge.config import ModelConfig
from levil_edge.errors import CalibrationError, UsageError
from levil_edge.export.report import file_row, next_commands

CHECK_CLIPS = 16  # clips for the ONNX-vs-PyTorch check


@dataclass
class ClipSets:
    calib_paths: list[str]
    heldout: np.ndarray  # float32 (N, 3, T, S, S)
    source: str


@dataclass(kw_only=True)
class ExportOptions:
    """What ``export_model`` writes and how: one field per ``levil-edge export`` flag."""

    int8: bool = False
    calib_data: str | None = None  # dataset spec of calibration videos (labels not needed)
    calib_clips: int = 300
    calib_method: str = "minmax"  # minmax | percentile
    calib_ranges: str | Path | None = None  # re-quantise from a saved calibration.json, no videos
    quantizer: str = "ort"  # ort | modelopt: who makes the INT8 TensorRT-form file
    labels: str | Path | None = None
    root: str | None = None
    max_batch: int | None = 16  # largest dynamic batch; None = a static batch of 1 (``--batch 1``)
    opset: int | None = None
    legacy: bool = False  # TorchScript exporter
    engine: bool = False  # also build TensorRT engines here
    workspace_gb: float = 2.0
    heldout_clips: int = 64
    decoder: str = "auto"
    seed: int = 0


def export_model(
    checkpoint: str | Path | None,
    out_dir: str | Path,
    opts: ExportOptions | None = None,
    *,
    model=None,
    cfg: ModelConfig | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Export a run folder / checkpoint (or an in-memory ``model`` + ``cfg``) into the deploy folder ``out_dir``.

    ``export_model(ckpt, out, ExportOptions(int8=True, ...))`` or ``export_model(ckpt, out, int8=True, ...)``
    (keyword options are ``ExportOptions`` fields and override ``opts``). ``calib_ranges`` re-quantises
    from a saved ``calibration.json`` without videos. Raises ExportError / CalibrationError / UsageError."""
    from levil_edge.export.onnx_export import compare_with_torch, export_onnx
    from levil_edge.export.staging import DeployStage
    from levil_edge.utils.io import file_sha256

    o = replace(opts or ExportOptions(), **options)
    if o.int8 and not (o.calib_data or o.calib_ranges):
        raise UsageError("--int8 needs --calib-data SPEC (real clips of your task) or --calib-ranges calibration.json")
    from levil_edge.export.modelopt_int8 import check_quantizer

    check_quantizer(o.quantizer, int8=o.int8, calib_data=o.calib_data)
    out = Path(out_dir)
    stage = DeployStage(out)  # checks --out: before the model loads and calibration runs
    model, cfg = _load(checkpoint, model, cfg)
    with stage:
        folder = stage.path
        clips = _clip_sets(cfg, o, stage.work)
        onnx_info = export_onnx(model, cfg, folder / A.FP32_FILE, max_batch=o.max_batch, opset=o.opset, legacy=o.legacy)
        source_sha = file_sha256(folder / A.FP32_FILE)
        check = compare_with_torch(model, folder / A.FP32_FILE, clips.heldout[:CHECK_CLIPS], o.max_batch, cfg)
        result: dict[str, Any] = {
            "out": str(out), "config": cfg.to_dict(), "onnx": onnx_info | {"path": str(out / A.FP32_FILE)},
            "onnx_check": check, "check_clips_from": clips.source, "source_sha256": source_sha,
            "files": [file_row(folder / A.FP32_FILE, "fp32", check=f"max|diff| {check['max_abs_diff']:.2e}")],
        }
        files = {A.FP32_FILE: "fp32"}
        from levil_edge.export.fp16 import export_fp16_model  # model.fp16.onnx when ModelOpt is installed

        result["fp16"] = export_fp16_model(folder, cfg, clips, o.max_batch, o.decoder, o.seed)
        result["files"] += result["fp16"].pop("rows")
        files.update(result["fp16"].pop("files"))
        if o.int8:
            from levil_edge.export.int8 import export_int8

            int8_info = export_int8(
                folder, cfg, clips, max_batch=o.max_batch, calib_clips=o.calib_clips, method=o.calib_method,
                ranges_path=o.calib_ranges, decoder=o.decoder, seed=o.seed, tmp=stage.work, source_sha256=source_sha,
                quantizer=o.quantizer,
            )
            int8_info["ranges"] = str(out / A.RANGES_FILE)
            result["int8"] = int8_info
            result["files"] += int8_info.pop("rows")
            files.update(int8_info.pop("files"))
        _finish(folder, out, cfg, result, files, o)
        result["kept"] = stage.commit()
        result["cleaned"] = stage.cleaned
    return result


def _finish(folder: Path, out: Path, cfg: ModelConfig, result: dict, files: dict, o: ExportOptions) -> None:
    """Everything beside the ONNX files: labels, stamps, build script, DeepStream, engines, README, sidecar."""
    from levil_edge.export.build_script import write_build_script
    from levil_edge.export.deepstream import write_deepstream_configs
    from levil_edge.export.device_readme import write_device_readme
    from levil_edge.utils.io import atomic_write_text, file_sha256

    source = result["source_sha256"]
    for path in sorted(folder.glob("*.onnx")):  # every derived file, ours and other writers', names its source
        if path.name != A.FP32_FILE:
            stamp_source(path, source)
            files.setdefault(path.name, A.precision_of(path))
    atomic_write_text(folder / A.LABELS_FILE, "".join(f"{n}\n" for n in (cfg.labels or range(cfg.num_classes))))
    int8, max_batch = o.int8, o.max_batch
    write_build_script(folder, cfg, int8=int8, max_batch=max_batch, workspace_gb=o.workspace_gb)
    deploy = {A.LABELS_FILE: "labels", A.BUILD_SCRIPT: "build_engine.sh", A.DEVICE_README: "device readme"}
    deploy.update(write_deepstream_configs(folder, cfg, int8=int8, max_batch=max_batch))
    hashes = {name: file_sha256(folder / name) for name in files}
    sidecar = A.export_info(cfg, files, source_sha256=source, sha256=hashes, deploy=deploy, onnx=result["onnx"],
                            onnx_check=result["onnx_check"], int8=result.get("int8"), max_batch=max_batch or 1,
                            dynamic_batch=max_batch is not None)
    A.write_sidecar(folder, sidecar)  # before the engines: their entries are checked against it
    if o.engine:
        result["engines"] = _build_engines(folder, out, o, result)
    held = (result.get("int8") or {}).get("heldout_clips") or result["onnx_check"]["num_clips"]
    write_device_readme(folder, out.name, cfg, result["files"], int8=int8, max_batch=max_batch,
                        heldout=f"{held} held-out clips from {result['check_clips_from']}")
    result.update(build_script=str(out / A.BUILD_SCRIPT), sidecar=str(out / A.SIDECAR), readme=str(out / A.DEVICE_README),
                  deploy_files=sorted(deploy), next=next_commands(out, int8))


def stamp_source(path: Path, source_sha256: str) -> None:
    """Write ``levil_edge.source_sha256`` into a derived ONNX file's metadata (when it lacks it)."""
    import onnx

    from levil_edge.utils.io import atomic_path

    proto = onnx.load(str(path), load_external_data=False)
    if {p.key: p.value for p in proto.metadata_props}.get(A.SOURCE_KEY) == source_sha256:
        return
    A.set_onnx_metadata(proto, None, {A.SOURCE_KEY: source_sha256})
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))


def _build_engines(folder: Path, out: Path, o: ExportOptions, result: dict) -> list[dict]:
    from levil_edge.export import tensorrt as trt_build
    from levil_edge.runtime import tensorrt as trt_run

    reason = trt_run.unusable_reason()
    if reason:
        return [{"precision": "-", "skipped": f"{reason}; or run build_engine.sh on the device"}]
    engines = trt_build.build_all(folder, o.int8, o.max_batch or 1, o.max_batch is not None, o.workspace_gb)
    for e in engines:
        if e.get("path"):
            result["files"].append(file_row(folder / e["path"], e["precision"], check="built here"))
            e["path"] = str(out / e["path"])
    return engines


def _load(checkpoint, model, cfg) -> tuple[Any, ModelConfig]:
    if model is not None:
        if cfg is None:
            raise UsageError("export_model(model=...) needs cfg=ModelConfig(...) too")
        return model.eval().cpu(), cfg
    if checkpoint is None:
        raise UsageError("pass --model: a run folder, a checkpoint folder or a .safetensors file written by training")
    from levil_edge.students import load_checkpoint

    model, cfg = load_checkpoint(A.resolve_model(checkpoint, (A.CHECKPOINT,), what="export"))
    return model.eval().cpu(), cfg


def _clip_sets(cfg: ModelConfig, o: ExportOptions, tmp: Path) -> ClipSets:
    """Split the data's videos into calibration and held-out videos (held-out clips are used for the
    ONNX check and INT8 agreement, never for calibration). Without data, a few generated videos
    (levil_edge.data.synthetic) go through the real decoder for the ONNX check."""
    from levil_edge.runtime.preprocess import video_to_input

    data, seed, heldout_clips = o.calib_data, o.seed, o.heldout_clips
    if data:
        from levil_edge.data.specs import load_spec

        paths = [str(it.path) for it in load_spec(data, labels=o.labels, root=o.root).items]
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
    x = np.concatenate([video_to_input(p, cfg, per_video, o.decoder) for p in held])[:heldout_clips]
    return ClipSets(calib_paths=calib, heldout=x, source=source)
