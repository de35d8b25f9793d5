"""Run a TensorRT engine (TensorRT 10.x and 11.x) in the edge runtime. Torch-free.

- ``TrtRunner``: host arrays in, float32 logits out, through the name-based I/O API that both
  versions share: ``set_input_shape`` -> ``set_tensor_address`` for every I/O tensor ->
  ``execute_async_v3`` -> stream sync. Each I/O tensor's dtype is read from the engine
  (``get_tensor_dtype``) and the host arrays are converted to it: an engine with FP16 I/O gets
  half-precision bytes, never float32 bytes it would misread. Device memory comes from
  ``levil_edge.runtime.cudart`` (cuda-python or libcudart; no pycuda, no torch).
- ``check_engine``: refuse an engine built by another TensorRT release or for another GPU, in one
  line that says to rebuild it with build_engine.sh (the facts live in engine.json).

The builder (``export --engine``) lives in ``levil_edge.export.tensorrt``; this module is what a
Jetson runs."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Callable

import numpy as np

from levil_edge.errors import EngineError

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


def unusable_reason() -> str | None:
    """Why TensorRT cannot build or run levil-edge engines here (not importable, or older than 10), else None."""
    from levil_edge.system import INSTALL, MIN_TRT_MAJOR

    trt = _trt()
    if trt is None:
        return (f"TensorRT is not importable here ({_IMPORT_ERROR}): on a Jetson use the system TensorRT "
                "(a venv made with --system-site-packages), elsewhere pip install 'levil-edge[trt]'")
    if trt_major(trt) < MIN_TRT_MAJOR:
        return INSTALL["tensorrt_version"].format(version=trt.__version__)
    return None


def require_trt():
    reason = unusable_reason()
    if reason:
        raise EngineError(reason)
    return _trt()


def trt_major(trt) -> int:
    return int(str(trt.__version__).split(".", 1)[0])


def jetpack() -> str | None:
    from levil_edge.system import jetson_info

    info = jetson_info()
    return info.get("l4t") if info else None


def describe_platform(trt=None) -> dict[str, Any]:
    """TensorRT version, GPU and compute capability here: what engine.json entries are checked against."""
    from levil_edge.runtime import cudart

    trt = trt or require_trt()
    try:
        dev = cudart.device_info()
    except EngineError:
        dev = {"gpu": None, "compute_capability": None}
    return {"tensorrt": str(trt.__version__), **dev, "jetpack": jetpack(), "arch": platform.machine()}


def check_engine(engine_path: str | Path, here: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The engine's engine.json entry, or EngineError when it was built for another TensorRT or GPU."""
    from levil_edge.artifacts import check_engine_entry

    return check_engine_entry(engine_path, here or (lambda: describe_platform(require_trt())))


def _np_dtype(trt, name: str, dtype) -> np.dtype:
    try:
        np_type = np.dtype(trt.nptype(dtype))
    except TypeError:
        np_type = None
    if np_type not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise EngineError(
            f"engine tensor {name!r} has type {dtype}: levil-edge feeds float32 or float16; "
            "rebuild the engine from the exported ONNX with build_engine.sh"
        )
    return np_type


class TrtRunner:
    """A deserialized engine with one input and one output. ``cuda``: the CUDA runtime backend
    (``levil_edge.runtime.cudart.runtime()`` by default)."""

    provider = "TensorRT"

    def __init__(self, engine_path: str | Path, cuda=None):
        from levil_edge.runtime import cudart

        trt = require_trt()
        self.path = Path(engine_path)
        self._cuda = cuda if cuda is not None else cudart.runtime()
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise EngineError(f"TensorRT cannot load {self.path}: rebuild it on this device with build_engine.sh")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise EngineError(f"TensorRT could not create an execution context for {self.path.name}: free GPU memory and retry")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(f"{self.path.name} has inputs {inputs} and outputs {outputs}, not one of each: "
                              "rebuild it from the exported ONNX with build_engine.sh")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.dtypes = {n: _np_dtype(trt, n, self.engine.get_tensor_dtype(n)) for n in names}
        self.input_shape = tuple(int(d) for d in self.engine.get_tensor_shape(self.input_name))  # (-1 or B, 3, T, H, W)
        lo, _, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.batch_range = (int(lo[0]), int(hi[0]))
        self.stream = self._cuda.stream_create()
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device ptr, capacity bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                del self._buffers[name]  # forgotten first: a failed malloc below must not leave it to be freed twice
                self._cuda.free(ptr)
            ptr, cap = self._cuda.malloc(nbytes), nbytes
            self._buffers[name] = (ptr, cap)
        return ptr

    def run(self, x: np.ndarray) -> np.ndarray:
        from levil_edge.runtime.cudart import D2H, H2D

        cu = self._cuda
        if self.stream is None:
            raise EngineError(f"the runner of {self.path.name} was closed: load the engine again")
        x = np.ascontiguousarray(x, dtype=self.dtypes[self.input_name])  # (B, 3, T, H, W) in the engine's input type
        if not self.context.set_input_shape(self.input_name, tuple(x.shape)):
            raise EngineError(
                f"{self.path.name} refuses input shape {tuple(x.shape)} (its profile takes batch "
                f"{self.batch_range[0]}..{self.batch_range[1]} of {self.input_shape[1:]}): pass a batch in that range"
            )
        out_shape = tuple(int(d) for d in self.context.get_tensor_shape(self.output_name))
        if any(d < 0 for d in out_shape):
            raise EngineError(f"{self.path.name}: output shape {out_shape} is unresolved after set_input_shape; rebuild the engine")
        out = np.empty(out_shape, dtype=self.dtypes[self.output_name])  # (B, C)
        d_in, d_out = self._buffer(self.input_name, x.nbytes), self._buffer(self.output_name, out.nbytes)
        for name, ptr in ((self.input_name, d_in), (self.output_name, d_out)):
            if not self.context.set_tensor_address(name, ptr):
                raise EngineError(f"TensorRT refused the device address of {name!r}: rebuild the engine with build_engine.sh")
        cu.memcpy_async(d_in, x.ctypes.data, x.nbytes, H2D, self.stream)
        if not self.context.execute_async_v3(cu.stream_handle(self.stream)):
            raise EngineError(f"TensorRT execution of {self.path.name} failed: see the TensorRT log above")
        cu.memcpy_async(out.ctypes.data, d_out, out.nbytes, D2H, self.stream)
        cu.synchronize(self.stream)
        return out.astype(np.float32, copy=False)

    def close(self) -> None:
        """Free the device buffers and destroy the stream: every one, even when one call fails (the
        first error is raised after). Idempotent; also run when the runner is collected."""
        buffers, self._buffers = getattr(self, "_buffers", {}), {}
        stream, self.stream = getattr(self, "stream", None), None
        releases = [(self._cuda.free, ptr) for ptr, _ in buffers.values()]
        releases += [(self._cuda.stream_destroy, stream)] if stream is not None else []
        errors = []
        for release, handle in releases:
            try:
                release(handle)
            except EngineError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown, or a CUDA error nobody can act on here
            pass
