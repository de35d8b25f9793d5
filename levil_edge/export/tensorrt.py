"""Everything TensorRT, with the version branches (10 vs 11) kept in this one module.

- ``build_engine``: ONNX -> serialized engine with the Python builder API, an optimisation profile
  over the batch range, a workspace limit and a timing cache. Writes ``model.<precision>.engine``
  (the plain serialized engine: never any bytes prepended) and records it in ``engine.json``.
- ``TrtRunner``: runs an engine with ``set_tensor_address`` + ``execute_async_v3`` (both 10 and 11),
  device memory through ``levil_edge.runtime.cudart`` (ctypes; no torch, no pycuda).
- ``check_engine_json``: refuse an engine built for another TensorRT version or GPU.

Torch-free: the edge runtime imports it on a Jetson."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.errors import EngineError

ENGINE_JSON = "engine.json"
_IMPORT_ERROR: str | None = None


def _trt():
    global _IMPORT_ERROR
    try:
        import tensorrt as trt

        return trt
    except Exception as exc:  # noqa: BLE001 - the bindings wheel without its libs raises OSError/ImportError
        _IMPORT_ERROR = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__
        return None


def available() -> bool:
    return _trt() is not None


def import_error() -> str:
    _trt()
    return _IMPORT_ERROR or "ok"


def require_trt():
    trt = _trt()
    if trt is None:
        raise EngineError(
            f"TensorRT is not importable here ({_IMPORT_ERROR}): on a Jetson use the system TensorRT "
            "(a venv with --system-site-packages), elsewhere pip install 'levil-edge[trt]'"
        )
    return trt


def trt_major(trt) -> int:
    return int(trt.__version__.split(".", 1)[0])


def jetpack() -> str | None:
    from levil_edge.system import jetson_info

    info = jetson_info()
    return info.get("l4t") if info else None


# ---------------------------------------------------------------- build


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    precision: str,
    max_batch: int,
    workspace_gb: float = 2.0,
    timing_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Build ``engine_path`` from ``onnx_path``. precision: fp32, fp16 or int8 (int8 needs the Q/DQ file)."""
    trt = require_trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, precision))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx_path} ({errs[:300]}): run `levil-edge export` again and read its TensorRT check")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    _set_precision(trt, config, precision, onnx_path)
    shapes = _add_profile(builder, config, network, max_batch)
    cache = _load_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT failed to build a {precision} engine from {onnx_path}: see the log above; try a larger --workspace")
    from levil_edge.utils.io import atomic_write_bytes

    atomic_write_bytes(engine_path, bytes(serialized))  # the plain plan: metadata lives in engine.json
    if cache is not None and timing_cache:
        atomic_write_bytes(timing_cache, bytes(cache.serialize()))
    info = {"path": str(engine_path), "precision": precision, "onnx": Path(onnx_path).name, "shapes": shapes, **describe_platform(trt)}
    record_engine(engine_path, info)
    return info


def engine_jobs(folder: str | Path, int8: bool) -> list[tuple[str, Path]]:
    """(precision, onnx file) pairs to build in an export folder, for this TensorRT."""
    folder = Path(folder)
    int8_job = [("int8", folder / "model.int8.trt.onnx")] if int8 else []
    if trt_major(require_trt()) >= 11:
        # TensorRT 11 takes precision from the graph: FP32 from model.onnx, FP16 only from an FP16 ONNX.
        fp16 = folder / "model.fp16.onnx"
        return [("fp32", folder / "model.onnx")] + ([("fp16", fp16)] if fp16.is_file() else []) + int8_job
    return [("fp16", folder / "model.onnx")] + int8_job


def _network_flags(trt, precision: str) -> int:
    # TensorRT 10: EXPLICIT_BATCH is the default (the flag is deprecated) and weak typing lets builder
    # flags pick FP16/INT8 kernels. TensorRT 11: every network is strongly typed; the INT8 precision
    # comes from the Q/DQ nodes and FP16 from an FP16 ONNX, so no flag is needed (STRONGLY_TYPED is ignored).
    return 0


def _set_precision(trt, config, precision: str, onnx_path) -> None:
    if precision == "fp32":
        return
    if trt_major(trt) >= 11:
        # No BuilderFlag.FP16/INT8 in TensorRT 11 (weak typing removed). INT8 = the Q/DQ file as is.
        if precision == "fp16" and ".fp16." not in Path(onnx_path).name:
            raise EngineError(
                "TensorRT 11 builds FP16 only from an FP16 ONNX: python -m modelopt.onnx.autocast "
                "--onnx_path model.onnx --output_path model.fp16.onnx --keep_io_types, then build from it"
            )
        return
    # TensorRT 10: precision by builder flags. With a Q/DQ graph, INT8 enables the explicit
    # quantisation and FP16 lets the non-quantised layers run in half precision.
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)


def _add_profile(builder, config, network, max_batch: int) -> dict[str, list[list[int]]]:
    profile = builder.create_optimization_profile()
    shapes = {}
    for i in range(network.num_inputs):
        inp = network.get_input(i)
        dims = list(inp.shape)  # (-1 or B, 3, T, H, W)
        lo = [1 if d == -1 else d for d in dims]
        opt = [min(8, max_batch) if d == -1 else d for d in dims]
        hi = [max_batch if d == -1 else d for d in dims]
        profile.set_shape(inp.name, lo, opt, hi)
        shapes[inp.name] = [lo, opt, hi]
    config.add_optimization_profile(profile)
    return shapes


def _load_timing_cache(config, path):
    data = Path(path).read_bytes() if path and Path(path).is_file() else b""
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


# ---------------------------------------------------------------- engine.json


def describe_platform(trt=None) -> dict[str, Any]:
    trt = trt or require_trt()
    from levil_edge.runtime import cudart

    try:
        dev = cudart.device_info()
    except EngineError:
        dev = {"gpu": None, "compute_capability": None}
    return {"tensorrt": trt.__version__, **dev, "jetpack": jetpack(), "arch": platform.machine()}


def record_engine(engine_path: str | Path, info: dict[str, Any]) -> Path:
    """Add/replace this engine's entry in the folder's engine.json."""
    from levil_edge.utils.io import atomic_write_json

    path = Path(engine_path).parent / ENGINE_JSON
    data = _read_engine_json(path) or {"engines": {}}
    data["engines"][Path(engine_path).name] = info
    atomic_write_json(path, data)
    return path


def _read_engine_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def check_engine_json(engine_path: str | Path) -> dict[str, Any]:
    """Refuse an engine whose engine.json entry does not match this TensorRT and GPU."""
    engine_path = Path(engine_path)
    rebuild = f"rebuild it on this device with `bash {engine_path.parent / 'build_engine.sh'}`"
    data = _read_engine_json(engine_path.parent / ENGINE_JSON)
    entry = (data or {}).get("engines", {}).get(engine_path.name)
    if entry is None:
        raise EngineError(f"{engine_path.name} is not listed in {ENGINE_JSON}: {rebuild}")
    trt = require_trt()
    here = describe_platform(trt)
    if entry.get("tensorrt") != here["tensorrt"]:
        raise EngineError(f"{engine_path.name} was built with TensorRT {entry.get('tensorrt')}, this is {here['tensorrt']}: {rebuild}")
    for key in ("gpu", "compute_capability"):
        if entry.get(key) and here.get(key) and entry[key] != here[key]:
            raise EngineError(f"{engine_path.name} was built for {key} {entry[key]}, this device has {here[key]}: {rebuild}")
    return entry


# ---------------------------------------------------------------- run


class TrtRunner:
    """Run a deserialized engine: float32 host arrays in, float32 logits out."""

    provider = "TensorRT"

    def __init__(self, engine_path: str | Path):
        from levil_edge.runtime import cudart

        trt = require_trt()
        self._cudart = cudart
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise EngineError(f"TensorRT cannot load {engine_path}: rebuild it with build_engine.sh on this device")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = lambda n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT  # noqa: E731
        self.input_name = next(n for n in names if is_input(n))
        self.output_name = next(n for n in names if not is_input(n))
        lo, _, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.batch_range = (int(lo[0]), int(hi[0]))
        self.out_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self.output_name)))
        self.stream = cudart.stream_create()
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device ptr, capacity bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                self._cudart.free(ptr)
            ptr, cap = self._cudart.malloc(nbytes), nbytes
            self._buffers[name] = (ptr, cap)
        return ptr

    def run(self, x: np.ndarray) -> np.ndarray:
        cu = self._cudart
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        out = np.empty(out_shape, dtype=self.out_dtype)
        d_in, d_out = self._buffer(self.input_name, x.nbytes), self._buffer(self.output_name, out.nbytes)
        self.context.set_tensor_address(self.input_name, d_in)
        self.context.set_tensor_address(self.output_name, d_out)
        cu.memcpy_async(d_in, x.ctypes.data, x.nbytes, cu.H2D, self.stream)
        if not self.context.execute_async_v3(self.stream):
            raise EngineError("TensorRT execution failed: check the input shape against the engine's profile")
        cu.memcpy_async(out.ctypes.data, d_out, out.nbytes, cu.D2H, self.stream)
        cu.synchronize(self.stream)
        return out.astype(np.float32, copy=False)

    def __del__(self):
        for ptr, _ in getattr(self, "_buffers", {}).values():
            try:
                self._cudart.free(ptr)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


def _describe_cli(paths: list[str]) -> int:
    """``python -m levil_edge.export.tensorrt --describe model.*.engine``: print engine.json (build_engine.sh)."""
    trt = require_trt()
    data: dict[str, Any] = {"engines": {}}
    for p in paths:
        runner = TrtRunner(p)
        name = runner.input_name
        lo, opt, hi = (list(map(int, s)) for s in runner.engine.get_tensor_profile_shape(name, 0))
        precision = Path(p).name.split(".")[1] if Path(p).name.count(".") >= 2 else "unknown"
        data["engines"][Path(p).name] = {
            "path": str(p), "precision": precision, "shapes": {name: [lo, opt, hi]}, "built_by": "trtexec", **describe_platform(trt),
        }
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--describe":
        sys.exit(_describe_cli(sys.argv[2:]))
    sys.stderr.write("usage: python -m levil_edge.export.tensorrt --describe ENGINE [ENGINE ...]\n")
    sys.exit(2)
