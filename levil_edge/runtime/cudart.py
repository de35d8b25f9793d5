"""The few CUDA runtime calls a TensorRT engine needs (malloc, copies, a stream), through ctypes on
libcudart. Torch-free and dependency-free: JetPack ships libcudart; cuda-python/pycuda are not needed."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

from levil_edge.errors import EngineError

H2D, D2H = 1, 2  # cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost
_ATTR_CC_MAJOR, _ATTR_CC_MINOR = 75, 76  # cudaDevAttrComputeCapabilityMajor/Minor


@lru_cache(maxsize=1)
def lib() -> ctypes.CDLL:
    names = [ctypes.util.find_library("cudart"), "libcudart.so", "libcudart.so.12", "libcudart.so.13",
             "/usr/local/cuda/lib64/libcudart.so"]
    for name in filter(None, names):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise EngineError("libcudart not found: install the CUDA runtime (JetPack has it in /usr/local/cuda/lib64)")


def check(status: int, what: str) -> None:
    if status != 0:
        raise EngineError(f"CUDA {what} failed with error {status}: check the GPU and driver (nvidia-smi / tegrastats)")


def malloc(nbytes: int) -> int:
    ptr = ctypes.c_void_p()
    check(lib().cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(max(1, nbytes))), "cudaMalloc")
    return int(ptr.value)


def free(ptr: int) -> None:
    lib().cudaFree(ctypes.c_void_p(ptr))


def stream_create() -> int:
    s = ctypes.c_void_p()
    check(lib().cudaStreamCreate(ctypes.byref(s)), "cudaStreamCreate")
    return int(s.value or 0)


def memcpy_async(dst: int, src: int, nbytes: int, kind: int, stream: int) -> None:
    check(lib().cudaMemcpyAsync(ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(nbytes),
                                ctypes.c_int(kind), ctypes.c_void_p(stream)), "cudaMemcpyAsync")


def synchronize(stream: int) -> None:
    check(lib().cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")


def device_info(device: int = 0) -> dict[str, str]:
    """GPU name and compute capability of ``device``."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    check(lib().cudaDeviceGetAttribute(ctypes.byref(major), _ATTR_CC_MAJOR, device), "cudaDeviceGetAttribute")
    check(lib().cudaDeviceGetAttribute(ctypes.byref(minor), _ATTR_CC_MINOR, device), "cudaDeviceGetAttribute")
    # cudaDeviceProp starts with char name[256]; a generous buffer covers every CUDA version's struct size.
    props = ctypes.create_string_buffer(8192)
    fn = getattr(lib(), "cudaGetDeviceProperties_v2", None) or lib().cudaGetDeviceProperties
    check(fn(props, device), "cudaGetDeviceProperties")
    name = props.raw[:256].split(b"\0", 1)[0].decode(errors="replace")
    return {"gpu": name, "compute_capability": f"{major.value}.{minor.value}"}
