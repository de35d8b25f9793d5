"""Build TensorRT engines with the Python builder API (``export --engine``), TensorRT 10 and 11.

The version branches live here, each with the reason:

- TensorRT 10 (JetPack 6.1 and 6.2 ship 10.3; JetPack 6.0's 8.6 is too old): weak typing. FP16 and INT8 are builder flags: the FP16 engine
  is built from ``model.onnx`` with ``BuilderFlag.FP16``; the INT8 engine from the Q/DQ file with
  ``INT8`` (enables the explicit quantization) plus ``FP16`` (layers without Q/DQ run in half).
- TensorRT 11: every network is strongly typed and the precision flags are gone (no
  ``BuilderFlag.FP16/INT8``, no ``int8_calibrator``). Precision comes from the ONNX: FP32 from
  ``model.onnx``, FP16 from ``model.fp16.onnx`` (ModelOpt AutoCast), INT8 from
  ``model.int8.trt.fp16.onnx`` (Q/DQ with FP16 elsewhere) or else ``model.int8.trt.onnx``, whose
  non-quantized layers then run in FP32.

Each engine gets an optimization profile over the batch range, a workspace limit and the shared
timing cache, and its entry in engine.json (merged: other entries are kept). The runner is in
``levil_edge.runtime.tensorrt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from levil_edge import artifacts as A
from levil_edge.errors import EngineError
from levil_edge.runtime.tensorrt import describe_platform, require_trt, trt_major


def engine_jobs(folder: str | Path, int8: bool, major: int) -> list[dict[str, Any]]:
    """What to build in an export folder for TensorRT ``major``: [{"precision", "onnx", "note"?}]."""
    folder = Path(folder)
    jobs: list[dict[str, Any]] = []
    if major >= 11:
        jobs.append({"precision": "fp32", "onnx": folder / A.FP32_FILE})
        if (folder / A.FP16_FILE).is_file():
            jobs.append({"precision": "fp16", "onnx": folder / A.FP16_FILE})
        else:
            jobs.append({"precision": "fp16", "onnx": None, "note": fp16_hint()})
        if int8:
            if (folder / A.INT8_TRT_FP16_FILE).is_file():
                jobs.append({"precision": "int8", "onnx": folder / A.INT8_TRT_FP16_FILE})
            else:
                jobs.append({"precision": "int8", "onnx": folder / A.INT8_TRT_FILE,
                             "note": f"no {A.INT8_TRT_FP16_FILE}: the layers without Q/DQ run in FP32 under strong typing"})
        return jobs
    jobs.append({"precision": "fp16", "onnx": folder / A.FP32_FILE})
    if int8:
        jobs.append({"precision": "int8", "onnx": folder / A.INT8_TRT_FILE})
    return jobs


def fp16_hint() -> str:
    return (f"TensorRT 11 builds FP16 only from an FP16 ONNX: install nvidia-modelopt and re-run export, or run "
            f"python -m modelopt.onnx.autocast --onnx_path {A.FP32_FILE} --output_path {A.FP16_FILE} --keep_io_types")


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    precision: str,
    max_batch: int,
    dynamic: bool = True,
    workspace_gb: float = 2.0,
    timing_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Build ``engine_path`` from ``onnx_path``; precision fp32, fp16 or int8 (int8 needs a Q/DQ file).

    ``dynamic``: the ONNX has a dynamic batch axis (1..max_batch); a static one gets no profile range."""
    from levil_edge.utils.io import atomic_write_bytes, file_sha256

    trt = require_trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # 10: explicit batch is the default; 11: always strongly typed
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx_path} ({errs[:300]}): run `levil-edge export` again and read its TensorRT check")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    _set_precision(trt, config, precision, Path(onnx_path))
    shapes = _add_profile(builder, config, network, max_batch if dynamic else 1)
    _attach_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT failed to build a {precision} engine from {onnx_path}: see the log above; try a larger --workspace")
    atomic_write_bytes(engine_path, bytes(serialized))  # the plain plan: metadata lives in engine.json
    if timing_cache:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    info = {
        "path": Path(engine_path).name, "precision": precision, "onnx": Path(onnx_path).name,
        "onnx_sha256": file_sha256(onnx_path), "shapes": shapes, "built_by": "levil-edge export --engine",
        **describe_platform(trt),
    }
    A.record_engines(Path(engine_path).parent, {Path(engine_path).name: info})
    return info


def build_all(folder: Path, int8: bool, max_batch: int, dynamic: bool, workspace_gb: float) -> list[dict[str, Any]]:
    """Every engine this TensorRT can build in ``folder`` (the ``export --engine`` step)."""
    major = trt_major(require_trt())
    out = []
    for job in engine_jobs(folder, int8, major):
        if job["onnx"] is None:
            out.append({"precision": job["precision"], "skipped": job["note"]})
            continue
        info = build_engine(job["onnx"], folder / A.engine_file(job["precision"]), precision=job["precision"],
                            max_batch=max_batch, dynamic=dynamic, workspace_gb=workspace_gb,
                            timing_cache=folder / A.TIMING_CACHE)
        if job.get("note"):
            info["note"] = job["note"]
        out.append(info)
    return out


def _set_precision(trt, config, precision: str, onnx_path: Path) -> None:
    if precision not in ("fp32", "fp16", "int8"):
        raise EngineError(f"unknown engine precision {precision!r}: use fp32, fp16 or int8")
    if trt_major(trt) >= 11:
        # Strongly typed: the ONNX is the precision. Refuse a build that would silently be FP32.
        if precision == "fp16" and onnx_path.name != A.FP16_FILE and ".fp16." not in onnx_path.name:
            raise EngineError(fp16_hint())
        return
    if precision == "fp32":
        return
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)


def _add_profile(builder, config, network, max_batch: int) -> dict[str, list[list[int]]]:
    profile = builder.create_optimization_profile()
    shapes = {}
    for i in range(network.num_inputs):
        inp = network.get_input(i)
        dims = [int(d) for d in inp.shape]  # (-1 or B, 3, T, H, W)
        lo = [1 if d == -1 else d for d in dims]
        opt = [min(8, max_batch) if d == -1 else d for d in dims]
        hi = [max_batch if d == -1 else d for d in dims]
        profile.set_shape(inp.name, lo, opt, hi)
        shapes[inp.name] = [lo, opt, hi]
    if config.add_optimization_profile(profile) < 0:
        raise EngineError(f"TensorRT refused the optimization profile {shapes}: re-export with another --dynamic-batch")
    return shapes


def _attach_timing_cache(config, path) -> None:
    data = Path(path).read_bytes() if path and Path(path).is_file() else b""
    cache = config.create_timing_cache(data)
    # A cache from another TensorRT or GPU is refused rather than silently mixed into this build.
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
