"""Strict stand-ins of TensorRT's Python API (10.3 as on JetPack 6, and 11.x) and of the CUDA runtime.

No TensorRT and no GPU exist here, so the code that calls them is tested against these: modules built
from the documented API (TensorRT Python API reference; "Migrating from TensorRT 10.x to 11.x":
11.x removes BuilderFlag.FP16/INT8/BF16/FP8/INT4/FP4/OBEY_PRECISION_CONSTRAINTS/
PREFER_PRECISION_CONSTRAINTS/DIRECT_IO, IBuilderConfig.int8_calibrator and the calibration-profile and
quantization-flag calls, ICudaEngine.device_memory_size; networks are always strongly typed).

- Strict: classes use ``__slots__`` and enums list only that version's members, so a removed
  attribute raises AttributeError, read or written.
- Recording: every call lands in ``calls`` as (name, args), in order.
- The "engine" is a JSON description of what was built (ONNX file, flags, profile, I/O dtypes);
  executing it runs that ONNX file with ONNX Runtime on the bytes found at the tensor addresses, read
  with the engine's I/O dtypes. That checks the plumbing (shapes, addresses, dtypes, call order),
  not TensorRT: nothing here claims that TensorRT ran.
- ``HostCuda``: the CUDA runtime calls on host memory (malloc is a numpy buffer; copies are memmove).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import numpy as np

TRT_10_3 = "10.3.0.30"  # JetPack 6.1/6.2
TRT_11 = "11.4.0.10"


class _Enum:
    """An enum namespace holding only the members that exist in one TensorRT version."""

    def __init__(self, kind: str, names):
        self._kind = kind
        for n in names:
            object.__setattr__(self, n, _Member(kind, n))

    def __setattr__(self, key, value):
        if key != "_kind":
            raise AttributeError(f"{self._kind} is read-only")
        object.__setattr__(self, key, value)


class _Member:
    __slots__ = ("kind", "name")

    def __init__(self, kind, name):
        self.kind, self.name = kind, name

    def __repr__(self):
        return f"{self.kind}.{self.name}"


BUILDER_FLAGS_10 = ["FP16", "BF16", "INT8", "FP8", "INT4", "TF32", "REFIT", "DEBUG", "GPU_FALLBACK", "SPARSE_WEIGHTS",
                    "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO", "VERSION_COMPATIBLE",
                    "EXCLUDE_LEAN_RUNTIME", "STRIP_PLAN", "REFIT_IDENTICAL", "WEIGHT_STREAMING"]
REMOVED_IN_11 = {"FP16", "BF16", "INT8", "FP8", "INT4", "FP4", "OBEY_PRECISION_CONSTRAINTS",
                 "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO"}
DATA_TYPES = ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16", "INT64", "INT4"]
_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
       "UINT8": np.uint8, "INT64": np.int64}
_ONNX_TO_TRT = {1: "FLOAT", 10: "HALF", 3: "INT8", 6: "INT32", 9: "BOOL", 2: "UINT8", 7: "INT64", 16: "BF16"}


def make_tensorrt(version: str, calls: list | None = None) -> types.ModuleType:
    """A ``tensorrt`` module of ``version`` (10.x or 11.x); ``calls`` receives every call."""
    major = int(version.split(".")[0])
    calls = calls if calls is not None else []
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)  # importlib.util.find_spec (torch) reads it
    trt.__version__ = version
    trt.calls = calls

    def rec(name, *args):
        calls.append((name, args))

    flags = [f for f in BUILDER_FLAGS_10 if major < 11 or f not in REMOVED_IN_11]
    trt.BuilderFlag = _Enum("BuilderFlag", flags)
    trt.MemoryPoolType = _Enum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM", "DLA_GLOBAL_DRAM", "TACTIC_DRAM"])
    trt.DataType = _Enum("DataType", DATA_TYPES + (["FP4"] if major >= 11 else []))
    trt.TensorIOMode = _Enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
    trt.NetworkDefinitionCreationFlag = _Enum("NetworkDefinitionCreationFlag",
                                              ["STRONGLY_TYPED"] + (["EXPLICIT_BATCH"] if major < 11 else []))

    def nptype(dtype):
        if dtype.name not in _NP:
            raise TypeError(f"Could not resolve TensorRT datatype to an equivalent numpy datatype: {dtype}")
        return _NP[dtype.name]

    trt.nptype = nptype

    class Logger:
        __slots__ = ("min_severity",)
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = 0, 1, 2, 3, 4

        def __init__(self, min_severity=2):
            rec("Logger", min_severity)
            self.min_severity = min_severity

    class HostMemory:
        __slots__ = ("_data",)

        def __init__(self, data: bytes):
            self._data = data

        def __bytes__(self):
            return self._data

        @property
        def nbytes(self):
            return len(self._data)

    class Tensor:
        __slots__ = ("name", "shape", "dtype")

        def __init__(self, name, shape, dtype):
            self.name, self.shape, self.dtype = name, tuple(shape), dtype

    class Network:
        __slots__ = ("inputs", "outputs", "onnx", "flags")

        def __init__(self, flags):
            self.inputs, self.outputs, self.onnx, self.flags = [], [], None, flags

        @property
        def num_inputs(self):
            return len(self.inputs)

        @property
        def num_outputs(self):
            return len(self.outputs)

        def get_input(self, i):
            return self.inputs[i]

        def get_output(self, i):
            return self.outputs[i]

    class OnnxParser:
        __slots__ = ("network", "errors")

        def __init__(self, network, logger):
            rec("OnnxParser", type(network).__name__)
            self.network, self.errors = network, []

        def parse_from_file(self, path):
            import onnx

            rec("OnnxParser.parse_from_file", Path(path).name)
            try:
                graph = onnx.load(str(path)).graph
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"cannot read {path}: {exc}")
                return False
            init = {t.name for t in graph.initializer}

            def tensor(vi):
                tt = vi.type.tensor_type
                dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
                return Tensor(vi.name, dims, getattr(trt.DataType, _ONNX_TO_TRT[tt.elem_type]))

            self.network.inputs = [tensor(v) for v in graph.input if v.name not in init]
            self.network.outputs = [tensor(v) for v in graph.output]
            self.network.onnx = str(Path(path).resolve())
            return True

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

    class Profile:
        __slots__ = ("shapes",)

        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, min, opt, max):  # noqa: A002 - TensorRT's keyword names
            rec("IOptimizationProfile.set_shape", name, tuple(min), tuple(opt), tuple(max))
            self.shapes[name] = [list(min), list(opt), list(max)]

        def get_shape(self, name):
            return self.shapes[name]

    class TimingCache:
        __slots__ = ("data",)

        def __init__(self, data):
            self.data = bytes(data) or json.dumps({"timing_cache": version}).encode()

        def serialize(self):
            rec("ITimingCache.serialize")
            return HostMemory(self.data)

    config_slots = ["flags", "pools", "profiles", "cache"] + (["int8_calibrator"] if major < 11 else [])

    class BuilderConfig:
        __slots__ = tuple(config_slots)

        def __init__(self):
            self.flags, self.pools, self.profiles, self.cache = set(), {}, [], None
            if major < 11:
                self.int8_calibrator = None

        def set_flag(self, flag):
            rec("IBuilderConfig.set_flag", flag.name)
            self.flags.add(flag.name)

        def get_flag(self, flag):
            return flag.name in self.flags

        def clear_flag(self, flag):
            self.flags.discard(flag.name)

        def set_memory_pool_limit(self, pool, size):
            rec("IBuilderConfig.set_memory_pool_limit", pool.name, int(size))
            self.pools[pool.name] = int(size)

        def get_memory_pool_limit(self, pool):
            return self.pools.get(pool.name)

        def add_optimization_profile(self, profile):
            rec("IBuilderConfig.add_optimization_profile", dict(profile.shapes))
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, serialized_timing_cache):
            rec("IBuilderConfig.create_timing_cache", len(bytes(serialized_timing_cache)))
            data = bytes(serialized_timing_cache)
            if data and json.loads(data).get("timing_cache") != version:
                return TimingCache(b"")  # another version's cache: TensorRT starts an empty one
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            rec("IBuilderConfig.set_timing_cache", bool(ignore_mismatch))
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    if major < 11:
        def set_calibration_profile(self, profile):  # deprecated in 10, removed in 11
            rec("IBuilderConfig.set_calibration_profile")

        BuilderConfig.set_calibration_profile = set_calibration_profile

    class Builder:
        __slots__ = ("logger",)

        def __init__(self, logger):
            rec("Builder", type(logger).__name__)
            self.logger = logger

        def create_network(self, flags=0):
            rec("IBuilder.create_network", int(flags))
            return Network(flags)

        def create_builder_config(self):
            rec("IBuilder.create_builder_config")
            return BuilderConfig()

        def create_optimization_profile(self):
            rec("IBuilder.create_optimization_profile")
            return Profile()

        def build_serialized_network(self, network, config):
            rec("IBuilder.build_serialized_network", sorted(config.flags))
            if not config.profiles:
                return None
            for t in network.inputs:  # dynamic inputs need a profile shape
                if -1 in t.shape and t.name not in config.profiles[0].shapes:
                    return None
            io = [{"name": t.name, "mode": "INPUT", "dtype": t.dtype.name, "shape": list(t.shape)} for t in network.inputs]
            io += [{"name": t.name, "mode": "OUTPUT", "dtype": t.dtype.name, "shape": list(t.shape)} for t in network.outputs]
            plan = {"standin_plan": version, "onnx": network.onnx, "flags": sorted(config.flags),
                    "strongly_typed": major >= 11, "profile": config.profiles[0].shapes, "io": io,
                    "workspace": config.pools.get("WORKSPACE")}
            return HostMemory(json.dumps(plan).encode())

    if major < 11:
        Builder.platform_has_fast_fp16 = property(lambda self: True)

    class Engine:
        __slots__ = ("plan",)

        def __init__(self, plan):
            self.plan = plan

        def _io(self, name):
            return next(t for t in self.plan["io"] if t["name"] == name)

        @property
        def num_io_tensors(self):
            return len(self.plan["io"])

        @property
        def num_optimization_profiles(self):
            return 1

        def get_tensor_name(self, i):
            return self.plan["io"][i]["name"]

        def get_tensor_mode(self, name):
            return getattr(trt.TensorIOMode, self._io(name)["mode"])

        def get_tensor_dtype(self, name):
            return getattr(trt.DataType, self._io(name)["dtype"])

        def get_tensor_shape(self, name):
            return tuple(self._io(name)["shape"])

        def get_tensor_profile_shape(self, name, profile_index):
            rec("ICudaEngine.get_tensor_profile_shape", name, profile_index)
            return [tuple(s) for s in self.plan["profile"][name]]

        def create_execution_context(self):
            rec("ICudaEngine.create_execution_context")
            return Context(self)

    if major < 11:
        Engine.device_memory_size = property(lambda self: 1 << 20)

    class Context:
        __slots__ = ("engine", "shapes", "addresses", "session")

        def __init__(self, engine):
            self.engine, self.shapes, self.addresses, self.session = engine, {}, {}, None

        def set_input_shape(self, name, shape):
            rec("IExecutionContext.set_input_shape", name, tuple(shape))
            lo, _, hi = self.engine.plan["profile"][name]
            ok = len(shape) == len(lo) and all(a <= s <= b for a, s, b in zip(lo, shape, hi))
            if ok:
                self.shapes[name] = tuple(int(s) for s in shape)
            return ok

        def get_tensor_shape(self, name):
            io = self.engine._io(name)
            if io["mode"] == "INPUT":
                return self.shapes.get(name, tuple(io["shape"]))
            batch = next(iter(self.shapes.values()), (-1,))[0]
            return tuple(batch if d == -1 else d for d in io["shape"])

        def set_tensor_address(self, name, ptr):
            rec("IExecutionContext.set_tensor_address", name)
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream_handle):
            rec("IExecutionContext.execute_async_v3", int(stream_handle))
            io = self.engine.plan["io"]
            if any(t["name"] not in self.addresses for t in io) or any(
                    t["name"] not in self.shapes for t in io if t["mode"] == "INPUT"):
                return False  # TensorRT: every I/O address and input shape must be set first
            import onnxruntime as ort

            if self.session is None:
                self.session = ort.InferenceSession(self.engine.plan["onnx"], providers=["CPUExecutionProvider"])
            feeds = {}
            for t in io:
                if t["mode"] == "INPUT":
                    feeds[t["name"]] = _read(self.addresses[t["name"]], self.shapes[t["name"]], _NP[t["dtype"]])
            outs = self.session.run(None, feeds)
            for t, y in zip([t for t in io if t["mode"] == "OUTPUT"], outs):
                _write(self.addresses[t["name"]], np.ascontiguousarray(y, dtype=_NP[t["dtype"]]))
            return True

    class Runtime:
        __slots__ = ("logger",)

        def __init__(self, logger):
            rec("Runtime", type(logger).__name__)
            self.logger = logger

        def deserialize_cuda_engine(self, serialized_engine):
            rec("IRuntime.deserialize_cuda_engine", len(serialized_engine))
            try:
                plan = json.loads(bytes(serialized_engine))
            except ValueError:
                return None  # not a plan
            if plan.get("standin_plan") != version:
                return None  # a plan of another TensorRT version does not deserialize
            return Engine(plan)

    for cls in (Logger, Builder, OnnxParser, Runtime):
        setattr(trt, cls.__name__, cls)
    trt.ICudaEngine, trt.IExecutionContext, trt.IBuilderConfig = Engine, Context, BuilderConfig
    return trt


def _read(ptr: int, shape, dtype) -> np.ndarray:
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = (ctypes.c_uint8 * n).from_address(ptr)
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape)


def _write(ptr: int, y: np.ndarray) -> None:
    ctypes.memmove(ptr, y.ctypes.data, y.nbytes)


class HostCuda:
    """The CUDA runtime backend of levil_edge.runtime.cudart, on host memory."""

    name = "host-memory stand-in"

    def __init__(self, calls: list | None = None, gpu: str = "Orin", cc: str = "8.7"):
        self.calls = calls if calls is not None else []
        self.buffers: dict[int, np.ndarray] = {}
        self.gpu, self.cc = gpu, cc

    def malloc(self, nbytes: int) -> int:
        buf = np.zeros(max(1, nbytes), dtype=np.uint8)
        self.buffers[buf.ctypes.data] = buf
        self.calls.append(("cudaMalloc", (nbytes,)))
        return buf.ctypes.data

    def free(self, ptr: int) -> None:
        self.buffers.pop(ptr, None)

    def stream_create(self):
        self.calls.append(("cudaStreamCreate", ()))
        return 7

    def stream_destroy(self, stream) -> None:
        self.calls.append(("cudaStreamDestroy", (stream,)))

    def stream_handle(self, stream) -> int:
        return int(stream)

    def memcpy_async(self, dst: int, src: int, nbytes: int, kind: int, stream) -> None:
        self.calls.append(("cudaMemcpyAsync", ("H2D" if kind == 1 else "D2H", nbytes)))
        ctypes.memmove(dst, src, nbytes)

    def synchronize(self, stream) -> None:
        self.calls.append(("cudaStreamSynchronize", ()))

    def device_info(self, device: int = 0) -> dict[str, str]:
        return {"gpu": self.gpu, "compute_capability": self.cc}


def install(monkeypatch, version: str, cuda: HostCuda | None = None, calls: list | None = None):
    """Put a stand-in ``tensorrt`` of ``version`` in sys.modules and route CUDA through ``cuda``."""
    from levil_edge.runtime import cudart

    trt = make_tensorrt(version, calls)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    cuda = cuda or HostCuda(trt.calls)
    monkeypatch.setattr(cudart, "runtime", lambda: cuda)
    return trt, cuda
