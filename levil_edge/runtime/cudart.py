"""The few CUDA runtime calls a TensorRT engine needs (malloc, copies, a stream, device facts).

Two interchangeable backends, picked by ``runtime()``:

- cuda-python (``cuda.bindings.runtime``, or the older ``cuda.cudart``) when it is importable;
- otherwise libcudart through ctypes, found where CUDA lives: the system loader path, the
  ``nvidia/cuda_runtime/lib`` folder of a pip-installed CUDA runtime (what ``pip install tensorrt``
  brings), ``$CUDA_HOME/lib64`` and JetPack's ``/usr/local/cuda/lib64``.

Torch-free and dependency-free: JetPack ships libcudart; pycuda is never needed. No CUDA runtime
is one line (EngineError) naming where it looked."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from functools import lru_cache

from levil_edge.errors import EngineError

H2D, D2H = 1, 2  # cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost
_ATTR_CC_MAJOR, _ATTR_CC_MINOR = 75, 76  # cudaDevAttrComputeCapabilityMajor/Minor
JETSON_CUDA = ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/aarch64-linux/lib")


def _check(status, what: str) -> None:
    if int(status) != 0:
        raise EngineError(f"CUDA {what} failed with error {int(status)}: check the GPU and driver (nvidia-smi / tegrastats)")


def library_candidates() -> list[str]:
    """Where libcudart may be, most specific first (every existing file, then bare sonames)."""
    dirs = []
    for site in sys.path:  # pip's nvidia-cuda-runtime-cuXX wheels (TensorRT's pip install pulls them)
        dirs.append(os.path.join(site, "nvidia", "cuda_runtime", "lib"))
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            dirs.append(os.path.join(os.environ[var], "lib64"))
    dirs += list(JETSON_CUDA)
    files: list[str] = []
    for d in dict.fromkeys(dirs):
        files += sorted(glob.glob(os.path.join(d, "libcudart.so*")), reverse=True)
    found = ctypes.util.find_library("cudart")
    return files + [n for n in (found, "libcudart.so", "libcudart.so.13", "libcudart.so.12") if n]


class CtypesCuda:
    """libcudart through ctypes."""

    name = "libcudart (ctypes)"

    def __init__(self, candidates: list[str] | None = None):
        candidates = library_candidates() if candidates is None else candidates
        for path in candidates:
            try:
                self.lib = ctypes.CDLL(path)
                self.path = path
                return
            except OSError:
                continue
        raise EngineError(
            "CUDA runtime not found (no cuda-python, no libcudart in the loader path, site-packages nvidia/cuda_runtime/lib, "
            "$CUDA_HOME/lib64 or /usr/local/cuda/lib64): on a Jetson install JetPack's CUDA, elsewhere pip install nvidia-cuda-runtime-cu12"
        )

    def malloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        _check(self.lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(max(1, nbytes))), "cudaMalloc")
        return int(ptr.value)

    def free(self, ptr: int) -> None:
        _check(self.lib.cudaFree(ctypes.c_void_p(ptr)), "cudaFree")

    def stream_create(self):
        s = ctypes.c_void_p()
        _check(self.lib.cudaStreamCreate(ctypes.byref(s)), "cudaStreamCreate")
        return int(s.value or 0)

    def stream_destroy(self, stream) -> None:
        _check(self.lib.cudaStreamDestroy(ctypes.c_void_p(stream)), "cudaStreamDestroy")

    def stream_handle(self, stream) -> int:
        return int(stream)

    def memcpy_async(self, dst: int, src: int, nbytes: int, kind: int, stream) -> None:
        _check(self.lib.cudaMemcpyAsync(ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(nbytes),
                                        ctypes.c_int(kind), ctypes.c_void_p(stream)), "cudaMemcpyAsync")

    def synchronize(self, stream) -> None:
        _check(self.lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")

    def device_info(self, device: int = 0) -> dict[str, str]:
        major, minor = ctypes.c_int(), ctypes.c_int()
        _check(self.lib.cudaDeviceGetAttribute(ctypes.byref(major), _ATTR_CC_MAJOR, device), "cudaDeviceGetAttribute")
        _check(self.lib.cudaDeviceGetAttribute(ctypes.byref(minor), _ATTR_CC_MINOR, device), "cudaDeviceGetAttribute")
        # cudaDeviceProp starts with char name[256]; a generous buffer covers every CUDA version's struct size.
        props = ctypes.create_string_buffer(8192)
        fn = getattr(self.lib, "cudaGetDeviceProperties_v2", None) or self.lib.cudaGetDeviceProperties
        _check(fn(props, device), "cudaGetDeviceProperties")
        name = props.raw[:256].split(b"\0", 1)[0].decode(errors="replace")
        return {"gpu": name, "compute_capability": f"{major.value}.{minor.value}"}


class CudaPython:
    """NVIDIA's cuda-python bindings: every call returns a tuple, ``(cudaError_t,)`` or
    ``(cudaError_t, value)`` (the value None when the error is not cudaSuccess); every error is checked."""

    name = "cuda-python"

    def __init__(self, module):
        self.rt = module

    def _call(self, ret, what: str):
        ret = ret if isinstance(ret, tuple) else (ret,)
        _check(ret[0], what)
        return ret[1] if len(ret) == 2 else ret[1:]

    def malloc(self, nbytes: int) -> int:
        return int(self._call(self.rt.cudaMalloc(max(1, nbytes)), "cudaMalloc"))

    def free(self, ptr: int) -> None:
        self._call(self.rt.cudaFree(ptr), "cudaFree")

    def stream_create(self):
        return self._call(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    def stream_destroy(self, stream) -> None:
        self._call(self.rt.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def stream_handle(self, stream) -> int:
        return int(stream)

    def memcpy_async(self, dst: int, src: int, nbytes: int, kind: int, stream) -> None:
        kinds = self.rt.cudaMemcpyKind
        k = kinds.cudaMemcpyHostToDevice if kind == H2D else kinds.cudaMemcpyDeviceToHost
        self._call(self.rt.cudaMemcpyAsync(dst, src, nbytes, k, stream), "cudaMemcpyAsync")

    def synchronize(self, stream) -> None:
        self._call(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def device_info(self, device: int = 0) -> dict[str, str]:
        prop = self._call(self.rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        name = prop.name.split(b"\0", 1)[0].decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        return {"gpu": name, "compute_capability": f"{prop.major}.{prop.minor}"}


def _cuda_python():
    for mod in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return __import__(mod, fromlist=["x"])
        except Exception:  # noqa: BLE001 - a cuda-python without a driver raises more than ImportError
            continue
    return None


@lru_cache(maxsize=1)
def runtime():
    """The CUDA runtime backend: cuda-python when importable, else libcudart via ctypes."""
    mod = _cuda_python()
    return CudaPython(mod) if mod is not None else CtypesCuda()


def device_info(device: int = 0) -> dict[str, str]:
    """GPU name and compute capability of ``device``."""
    return runtime().device_info(device)


def describe() -> str:
    rt = runtime()
    return f"{rt.name} ({rt.path})" if hasattr(rt, "path") else rt.name


__all__ = ["CtypesCuda", "CudaPython", "D2H", "H2D", "describe", "device_info", "library_candidates", "runtime"]
