"""A strict stand-in of cuda-python's CUDA runtime module, ``cuda.bindings.runtime`` (the older name
``cuda.cudart`` has the same API), for the calls ``levil_edge.runtime.cudart.CudaPython`` makes.

Built from cuda-python's own source (``cuda_bindings/cuda/bindings/runtime.pyx.in``, generated for
CUDA 12.9), not from a GPU:

- every function returns a tuple whose first item is a ``cudaError_t`` (an ``IntEnum``), then the
  outputs, each None when the error is not ``cudaSuccess``: ``cudaMalloc(size) -> (err, devPtr int)``,
  ``cudaFree(devPtr) -> (err,)``, ``cudaStreamCreate() -> (err, cudaStream_t)``,
  ``cudaStreamDestroy(stream) -> (err,)``, ``cudaStreamSynchronize(stream) -> (err,)``,
  ``cudaMemcpyAsync(dst, src, count, kind, stream) -> (err,)`` with ``kind`` a ``cudaMemcpyKind``
  (a plain int is a TypeError there), ``cudaGetDeviceProperties(device) -> (err, cudaDeviceProp)``;
- a stream argument is None, a ``cudaStream_t`` or an int; ``int(cudaStream_t)`` is its address;
- nothing else exists: any other attribute raises AttributeError, and the functions take the
  documented parameters only.

Device memory is host memory here (numpy buffers; copies are memmove), so the TensorRT stand-in can
read and write it. Every call is recorded in ``calls`` as (name, args); ``fail`` makes a named call
return an error code; ``allocations`` and ``streams`` hold what is still alive. Nothing here claims
that CUDA ran."""

from __future__ import annotations

import ctypes
import sys
import types
from enum import IntEnum

import numpy as np


class cudaError_t(IntEnum):  # noqa: N801 - cuda-python's name; values from driver_types.h
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInitializationError = 3
    cudaErrorNoDevice = 100
    cudaErrorInvalidDevice = 101
    cudaErrorInvalidResourceHandle = 400


class cudaMemcpyKind(IntEnum):  # noqa: N801
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3
    cudaMemcpyDefault = 4


class cudaStream_t:  # noqa: N801
    __slots__ = ("_address",)

    def __init__(self, init_value: int = 0):
        self._address = int(init_value)

    def __int__(self) -> int:
        return self._address

    def getPtr(self) -> int:  # noqa: N802 - cuda-python's name
        return self._address


class cudaDeviceProp:  # noqa: N801
    __slots__ = ("name", "major", "minor")

    def __init__(self, name: bytes, major: int, minor: int):
        self.name, self.major, self.minor = name, major, minor


def _stream_address(stream) -> int:
    """What cuda-python does with a stream argument: None -> 0, cudaStream_t -> int(), else cudaStream_t(x)."""
    if stream is None:
        return 0
    if isinstance(stream, cudaStream_t):
        return int(stream)
    if not isinstance(stream, int):
        raise TypeError(f"stream must be a cudaStream_t or an int, not {type(stream).__name__}")
    return int(cudaStream_t(stream))


def _size_t(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what}: an integer is required, not {type(value).__name__}")
    if value < 0:
        raise OverflowError(f"{what}: can't convert negative value to size_t")
    return value


def make_runtime(gpu: bytes = b"Orin", cc: tuple[int, int] = (8, 7), fail: dict[str, cudaError_t] | None = None,
                 name: str = "cuda.bindings.runtime") -> types.ModuleType:
    """A fresh stand-in module. ``fail``: function name -> the error code that call returns."""
    rt = types.ModuleType(name)
    rt.calls = []
    rt.allocations = {}  # devPtr -> numpy buffer
    rt.streams = set()
    rt.fail = dict(fail or {})
    ok = cudaError_t.cudaSuccess

    def error(fn: str):
        return rt.fail.get(fn, ok)

    def cudaMalloc(size):  # noqa: N802
        rt.calls.append(("cudaMalloc", (size,)))
        size = _size_t(size, "size")
        if (err := error("cudaMalloc")) != ok:
            return (err, None)
        buf = np.zeros(max(1, size), dtype=np.uint8)
        rt.allocations[buf.ctypes.data] = buf
        return (ok, buf.ctypes.data)

    def cudaFree(devPtr):  # noqa: N802, N803
        rt.calls.append(("cudaFree", (devPtr,)))
        if (err := error("cudaFree")) != ok:
            return (err,)
        if int(devPtr) not in rt.allocations:  # freed twice, or never allocated
            return (cudaError_t.cudaErrorInvalidValue,)
        del rt.allocations[int(devPtr)]
        return (ok,)

    def cudaStreamCreate():  # noqa: N802
        rt.calls.append(("cudaStreamCreate", ()))
        if (err := error("cudaStreamCreate")) != ok:
            return (err, None)
        stream = cudaStream_t(0x7000 + len(rt.calls))
        rt.streams.add(int(stream))
        return (ok, stream)

    def cudaStreamDestroy(stream):  # noqa: N802
        rt.calls.append(("cudaStreamDestroy", (stream,)))
        address = _stream_address(stream)
        if (err := error("cudaStreamDestroy")) != ok:
            return (err,)
        if address not in rt.streams:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        rt.streams.discard(address)
        return (ok,)

    def cudaStreamSynchronize(stream):  # noqa: N802
        rt.calls.append(("cudaStreamSynchronize", (stream,)))
        address = _stream_address(stream)
        if (err := error("cudaStreamSynchronize")) != ok:
            return (err,)
        return (ok,) if address in rt.streams or address == 0 else (cudaError_t.cudaErrorInvalidResourceHandle,)

    def cudaMemcpyAsync(dst, src, count, kind, stream):  # noqa: N802
        rt.calls.append(("cudaMemcpyAsync", (dst, src, count, kind, stream)))
        if not isinstance(kind, cudaMemcpyKind):
            raise TypeError(f"Argument 'kind' has incorrect type (expected cudaMemcpyKind, got {type(kind).__name__})")
        count = _size_t(count, "count")
        address = _stream_address(stream)
        if (err := error("cudaMemcpyAsync")) != ok:
            return (err,)
        if address not in rt.streams:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        device = dst if kind == cudaMemcpyKind.cudaMemcpyHostToDevice else src
        if kind not in (cudaMemcpyKind.cudaMemcpyHostToDevice, cudaMemcpyKind.cudaMemcpyDeviceToHost) \
                or not any(p <= device and device + count <= p + b.nbytes for p, b in rt.allocations.items()):
            return (cudaError_t.cudaErrorInvalidValue,)  # the device side is not inside a live allocation
        ctypes.memmove(int(dst), int(src), count)
        return (ok,)

    def cudaGetDeviceProperties(device):  # noqa: N802
        rt.calls.append(("cudaGetDeviceProperties", (device,)))
        if not isinstance(device, int):
            raise TypeError(f"an integer is required, not {type(device).__name__}")
        if (err := error("cudaGetDeviceProperties")) != ok:
            return (err, None)
        if device != 0:
            return (cudaError_t.cudaErrorInvalidDevice, None)
        return (ok, cudaDeviceProp(gpu, *cc))

    for obj in (cudaError_t, cudaMemcpyKind, cudaStream_t, cudaDeviceProp, cudaMalloc, cudaFree, cudaStreamCreate,
                cudaStreamDestroy, cudaStreamSynchronize, cudaMemcpyAsync, cudaGetDeviceProperties):
        setattr(rt, obj.__name__, obj)
    return rt


def install(monkeypatch, rt: types.ModuleType) -> None:
    """Make ``import cuda.bindings.runtime`` find ``rt`` (for this test only) and hide ``cuda.cudart``."""
    cuda, bindings = types.ModuleType("cuda"), types.ModuleType("cuda.bindings")
    cuda.__path__, bindings.__path__ = [], []  # packages, so nothing else is looked up on disk
    cuda.bindings, bindings.runtime = bindings, rt
    for name, module in (("cuda", cuda), ("cuda.bindings", bindings), ("cuda.bindings.runtime", rt)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)  # None in sys.modules: ImportError on import
