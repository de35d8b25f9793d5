"""TensorRT, tested where it does not run: the builder, the runner and the engine.json checks against
strict stand-ins of TensorRT 10.3 (JetPack 6.1/6.2) and 11.x (tests/trt_standins.py), the CUDA runtime
search, and build_engine.sh under bash with a stub trtexec on PATH. One test needs real TensorRT and
a GPU (marked; it skips only when tensorrt cannot be imported)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from levil_edge import artifacts as A
from levil_edge.errors import EngineError, RuntimeModelError
from levil_edge.export import modelopt_support
from tests import export_fixtures as F
from tests import trt_standins as S

pytest.importorskip("onnx")


@pytest.fixture()
def deploy(tmp_path_factory, tmp_path) -> Path:
    """A private copy of the session's INT8 export (dynamic batch 1..4)."""
    pytest.importorskip("torch")
    dst = tmp_path / "deploy"
    shutil.copytree(F.int8_export(tmp_path_factory), dst)
    return dst


def _names(calls, prefix=""):
    return [name for name, _ in calls if name.startswith(prefix)]


def _args(calls, name):
    return [args for n, args in calls if n == name]


# ---------------------------------------------------------------- the stand-ins themselves


def test_standins_are_strict_per_version() -> None:
    trt10, trt11 = S.make_tensorrt(S.TRT_10_3), S.make_tensorrt(S.TRT_11)
    cfg10 = trt10.Builder(trt10.Logger()).create_builder_config()
    cfg11 = trt11.Builder(trt11.Logger()).create_builder_config()
    assert trt10.BuilderFlag.FP16 and trt10.BuilderFlag.INT8 and cfg10.int8_calibrator is None
    for name in ("FP16", "INT8", "BF16", "FP8", "OBEY_PRECISION_CONSTRAINTS", "DIRECT_IO"):
        with pytest.raises(AttributeError):
            getattr(trt11.BuilderFlag, name)
    with pytest.raises(AttributeError):
        cfg11.int8_calibrator  # noqa: B018 - the read itself must fail
    with pytest.raises(AttributeError):
        cfg11.int8_calibrator = object()
    with pytest.raises(AttributeError):
        cfg11.set_calibration_profile(None)
    assert trt11.BuilderFlag.TF32 and trt11.DataType.HALF and not hasattr(trt11.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")


# ---------------------------------------------------------------- the builder (export --engine)


def test_export_engine_option_static_batch_with_trt10(tmp_path_factory, tmp_path, monkeypatch) -> None:
    """`export --engine` on TensorRT 10.3: FP16 by flag from model.onnx, a static batch gets a 1..1 profile,
    the timing cache is created and saved, engine.json agrees with model.json."""
    pytest.importorskip("torch")
    from levil_edge.export import export_model

    trt, _ = S.install(monkeypatch, S.TRT_10_3)
    out = tmp_path / "deploy"
    res = export_model(F.trained_checkpoint(tmp_path_factory), out, max_batch=None, engine=True, heldout_clips=4,
                       workspace_gb=0.5, decoder="pyav")
    assert [e["precision"] for e in res["engines"]] == ["fp16"] and res["engines"][0]["path"] == str(out / "model.fp16.engine")
    assert _args(trt.calls, "OnnxParser.parse_from_file") == [("model.onnx",)]
    assert _args(trt.calls, "IBuilderConfig.set_flag") == [("FP16",)]
    assert _args(trt.calls, "IOptimizationProfile.set_shape") == [("video", (1, 3, 4, 32, 32), (1, 3, 4, 32, 32), (1, 3, 4, 32, 32))]
    assert _args(trt.calls, "IBuilderConfig.set_memory_pool_limit") == [("WORKSPACE", 1 << 29)]
    assert _args(trt.calls, "IBuilderConfig.set_timing_cache") == [(False,)] and (out / A.TIMING_CACHE).is_file()
    entry = json.loads((out / A.ENGINE_JSON).read_text())["engines"]["model.fp16.engine"]
    side = json.loads((out / A.SIDECAR).read_text())
    assert entry["tensorrt"] == S.TRT_10_3 and entry["gpu"] == "Orin" and entry["compute_capability"] == "8.7"
    assert entry["onnx"] == "model.onnx" and entry["onnx_sha256"] == side["sha256"]["model.onnx"] == side["source_sha256"]
    assert "model.fp16.engine" in {r["file"] for r in res["files"]}
    assert not list(tmp_path.glob(".deploy.*"))  # the staging folder was swapped in, nothing left beside


def test_build_all_trt10_precision_flags_profile_and_cache(deploy, monkeypatch) -> None:
    from levil_edge.export.tensorrt import build_all

    trt, _ = S.install(monkeypatch, S.TRT_10_3)
    engines = build_all(deploy, int8=True, max_batch=4, dynamic=True, workspace_gb=1.0)
    assert [(e["precision"], e["onnx"]) for e in engines] == [("fp16", "model.onnx"), ("int8", "model.int8.trt.onnx")]
    assert _args(trt.calls, "IBuilder.build_serialized_network") == [(["FP16"],), (["FP16", "INT8"],)]
    assert _args(trt.calls, "IOptimizationProfile.set_shape") == [("video", (1, 3, 4, 32, 32), (4, 3, 4, 32, 32), (4, 3, 4, 32, 32))] * 2
    assert [a[0] > 0 for a in _args(trt.calls, "IBuilderConfig.create_timing_cache")] == [False, True]  # 2nd reuses the 1st's
    data = A.read_engine_json(deploy)["engines"]
    assert set(data) == {"model.fp16.engine", "model.int8.engine"}
    assert data["model.int8.engine"]["onnx_sha256"] == json.loads((deploy / A.SIDECAR).read_text())["sha256"]["model.int8.trt.onnx"]


def test_tensorrt_8_is_refused_in_one_line_before_anything_builds(deploy, monkeypatch) -> None:
    """JetPack 6.0's TensorRT 8.6: the Python builder and runner refuse it as build_engine.sh and doctor do
    (engines need TensorRT 10 or 11), and export --engine skips its engines with that reason."""
    from levil_edge.export.tensorrt import build_all
    from levil_edge.runtime import tensorrt as trt_run

    trt, _ = S.install(monkeypatch, S.TRT_10_3)
    monkeypatch.setattr(trt, "__version__", "8.6.2.3")
    with pytest.raises(EngineError, match=r"TensorRT 8\.6\.2\.3 is too old.*JetPack 6\.1 or later") as err:
        build_all(deploy, int8=True, max_batch=4, dynamic=True, workspace_gb=1.0)
    assert len(str(err.value).splitlines()) == 1 and trt.calls == []
    assert trt_run.unusable_reason() == str(err.value)
    monkeypatch.setattr(trt, "__version__", S.TRT_10_3)
    assert trt_run.unusable_reason() is None


def test_build_all_trt11_has_no_precision_flags(deploy, monkeypatch) -> None:
    from levil_edge.export.tensorrt import build_all, build_engine

    trt, _ = S.install(monkeypatch, S.TRT_11)
    engines = build_all(deploy, int8=True, max_batch=4, dynamic=True, workspace_gb=1.0)
    built = [(e["precision"], e.get("onnx")) for e in engines if not e.get("skipped")]
    if modelopt_support.available():  # export wrote the FP16 files TensorRT 11 builds FP16 from
        assert built == [("fp32", "model.onnx"), ("fp16", "model.fp16.onnx"), ("int8", "model.int8.trt.fp16.onnx")]
        assert not any(e.get("skipped") for e in engines)
    else:
        assert built == [("fp32", "model.onnx"), ("int8", "model.int8.trt.onnx")]
        skipped = next(e for e in engines if e.get("skipped"))
        assert skipped["precision"] == "fp16" and "modelopt.onnx.autocast" in skipped["skipped"]
        assert "FP32" in engines[-1]["note"]  # the Q/DQ file without FP16 layers: said, not hidden
    assert not _names(trt.calls, "IBuilderConfig.set_flag")
    # With ModelOpt's files present, TensorRT 11 builds FP16 and INT8 from them.
    shutil.copy(deploy / A.FP32_FILE, deploy / A.FP16_FILE)  # the stand-in only parses; the name is what counts
    shutil.copy(deploy / A.INT8_TRT_FILE, deploy / A.INT8_TRT_FP16_FILE)
    trt.calls.clear()
    engines = build_all(deploy, int8=True, max_batch=4, dynamic=True, workspace_gb=1.0)
    assert [(e["precision"], e["onnx"]) for e in engines] == [("fp32", A.FP32_FILE), ("fp16", A.FP16_FILE), ("int8", A.INT8_TRT_FP16_FILE)]
    assert not _names(trt.calls, "IBuilderConfig.set_flag")
    with pytest.raises(EngineError, match="autocast"):
        build_engine(deploy / A.FP32_FILE, deploy / "x.engine", precision="fp16", max_batch=4)
    assert A.read_engine_json(deploy)["engines"]["model.fp32.engine"]["tensorrt"] == S.TRT_11


# ---------------------------------------------------------------- the runner


def test_runner_call_order_and_output(deploy, monkeypatch) -> None:
    from levil_edge.export.tensorrt import build_all
    from levil_edge.runtime.model import load_model

    trt, cuda = S.install(monkeypatch, S.TRT_10_3)
    build_all(deploy, int8=False, max_batch=4, dynamic=True, workspace_gb=1.0)
    trt.calls.clear()
    m = load_model(deploy / "model.fp16.engine")
    assert (m.provider, m.precision, m.batch_range) == ("TensorRT", "fp16", (1, 4))
    x = np.random.default_rng(0).standard_normal((6, *F.tiny_config().input_shape)).astype(np.float32)
    got = m.predict(x, batch_size=4)  # batches of 4 and 2
    ref = load_model(deploy / A.FP32_FILE, providers=["cpu"]).predict(x)
    assert got.shape == (6, 3) and np.abs(got - ref).max() < 1e-5
    run = [n for n, _ in trt.calls if n.startswith("IExecutionContext")]
    per_batch = ["IExecutionContext.set_input_shape", "IExecutionContext.set_tensor_address",
                 "IExecutionContext.set_tensor_address", "IExecutionContext.execute_async_v3"]
    assert run == per_batch * 2
    assert [a[0] for a in _args(trt.calls, "IExecutionContext.set_input_shape")] == ["video", "video"]
    assert [a[1] for a in _args(trt.calls, "IExecutionContext.set_input_shape")] == [(4, 3, 4, 32, 32), (2, 3, 4, 32, 32)]
    assert {a[0] for a in _args(trt.calls, "IExecutionContext.set_tensor_address")} == {"video", "logits"}
    order = [n for n, a in trt.calls if n in ("IExecutionContext.execute_async_v3", "cudaStreamSynchronize")
             or (n == "cudaMemcpyAsync")]
    assert order[-4:] == ["cudaMemcpyAsync", "IExecutionContext.execute_async_v3", "cudaMemcpyAsync", "cudaStreamSynchronize"]
    with pytest.raises(EngineError, match="refuses input shape"):
        m.backend.run(np.zeros((5, 3, 4, 32, 32), np.float32))  # outside the 1..4 profile: set_input_shape says False


def _fp16_io_onnx(path: Path) -> None:
    """A tiny model with float16 input and output (what AutoCast without keep_io_types makes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(9, dtype=np.float32).reshape(3, 3) / 10, "w")
    nodes = [helper.make_node("Cast", ["video"], ["x32"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["x32", "axes"], ["m"], keepdims=0),
             helper.make_node("MatMul", ["m", "w"], ["y32"]),
             helper.make_node("Cast", ["y32"], ["logits"], to=TensorProto.FLOAT16)]
    axes = numpy_helper.from_array(np.array([2, 3, 4], dtype=np.int64), "axes")
    graph = helper.make_graph(nodes, "fp16io", [helper.make_tensor_value_info("video", TensorProto.FLOAT16, ["N", 3, 4, 32, 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT16, ["N", 3])], initializer=[w, axes])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_runner_feeds_fp16_io_engines_half_precision_bytes(tmp_path, monkeypatch) -> None:
    import onnxruntime as ort

    from levil_edge.export.tensorrt import build_engine
    from levil_edge.runtime.tensorrt import TrtRunner

    trt, cuda = S.install(monkeypatch, S.TRT_11)
    _fp16_io_onnx(tmp_path / A.FP16_FILE)
    build_engine(tmp_path / A.FP16_FILE, tmp_path / "model.fp16.engine", precision="fp16", max_batch=4)
    runner = TrtRunner(tmp_path / "model.fp16.engine", cuda=cuda)
    assert runner.dtypes == {"video": np.float16, "logits": np.float16}
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 32, 32)).astype(np.float32) * 3
    got = runner.run(x)
    ref = ort.InferenceSession(str(tmp_path / A.FP16_FILE)).run(None, {"video": x.astype(np.float16)})[0]
    assert got.dtype == np.float32 and np.array_equal(got, ref.astype(np.float32))
    assert ("cudaMemcpyAsync", ("H2D", x.size * 2)) in cuda.calls  # half the bytes of float32


# ---------------------------------------------------------------- engine.json checks


def _cli(*argv) -> int:
    from levil_edge.cli.app import run

    return run([str(a) for a in argv])


def test_engine_json_refuses_other_tensorrt_gpu_or_onnx(deploy, monkeypatch, capsys, tmp_path_factory) -> None:
    from levil_edge.export.tensorrt import build_all
    from levil_edge.runtime.model import load_model

    S.install(monkeypatch, S.TRT_10_3)
    build_all(deploy, int8=False, max_batch=4, dynamic=True, workspace_gb=1.0)
    engine = deploy / "model.fp16.engine"
    assert load_model(engine).precision == "fp16"

    S.install(monkeypatch, S.TRT_11)  # the device was upgraded to TensorRT 11
    with pytest.raises(EngineError, match=r"built with TensorRT 10\.3\.0\.30, this is 11\.4\.0\.10: rebuild it .*build_engine\.sh"):
        load_model(engine)
    video = sorted(F.dataset(tmp_path_factory).rglob("*.mp4"))[0]
    capsys.readouterr()
    assert _cli("predict", video, "--model", engine) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "build_engine.sh" in err

    S.install(monkeypatch, S.TRT_10_3, cuda=S.HostCuda(gpu="Xavier", cc="7.2"))
    with pytest.raises(EngineError, match="built for gpu Orin, this device has Xavier"):
        load_model(engine)

    S.install(monkeypatch, S.TRT_10_3)
    meta = json.loads((deploy / A.ENGINE_JSON).read_text())
    meta["engines"]["model.fp16.engine"]["onnx_sha256"] = "0" * 64
    (deploy / A.ENGINE_JSON).write_text(json.dumps(meta))
    with pytest.raises(EngineError, match="built from another model.onnx"):
        load_model(engine)
    (deploy / A.ENGINE_JSON).write_text("{")
    with pytest.raises(EngineError, match="not valid JSON"):
        load_model(engine)
    (deploy / A.ENGINE_JSON).unlink()
    with pytest.raises(EngineError, match="not listed in engine.json"):
        load_model(engine)


def test_engine_shape_must_match_model_json(deploy, monkeypatch) -> None:
    from levil_edge.export.tensorrt import build_all
    from levil_edge.runtime.model import load_model

    S.install(monkeypatch, S.TRT_10_3)
    build_all(deploy, int8=False, max_batch=4, dynamic=True, workspace_gb=1.0)
    side = json.loads((deploy / A.SIDECAR).read_text())
    side["config"]["frames"] = 8
    (deploy / A.SIDECAR).write_text(json.dumps(side))
    with pytest.raises(RuntimeModelError, match=r"takes \(3, 4, 32, 32\) but model.json says \(3, 8, 32, 32\)"):
        load_model(deploy / "model.fp16.engine")


# ---------------------------------------------------------------- the CUDA runtime


def test_missing_cuda_runtime_is_one_line_error(deploy, monkeypatch, tmp_path, capsys) -> None:
    """No cuda-python and no loadable libcudart: EngineError in one line (the engine test's old skip)."""
    from levil_edge.export.tensorrt import build_all
    from levil_edge.runtime import cudart
    from levil_edge.runtime.model import load_model

    original = cudart.runtime
    S.install(monkeypatch, S.TRT_10_3)
    build_all(deploy, int8=False, max_batch=4, dynamic=True, workspace_gb=1.0)
    bogus = tmp_path / "libcudart.so.12"
    bogus.write_bytes(b"not an ELF file")
    monkeypatch.setattr(cudart, "runtime", original.__wrapped__)  # the real search, uncached
    monkeypatch.setattr(cudart, "_cuda_python", lambda: None)
    monkeypatch.setattr(cudart, "library_candidates", lambda: [str(bogus), "libcudart-does-not-exist.so"])
    with pytest.raises(EngineError, match="CUDA runtime not found") as err:
        cudart.runtime()
    assert "\n" not in str(err.value) and "/usr/local/cuda/lib64" in str(err.value)
    with pytest.raises(EngineError, match="CUDA runtime not found"):
        load_model(deploy / "model.fp16.engine")


def test_cudart_search_covers_pip_and_jetson_locations(tmp_path, monkeypatch) -> None:
    from levil_edge.runtime import cudart

    site = tmp_path / "site-packages"
    (site / "nvidia" / "cuda_runtime" / "lib").mkdir(parents=True)
    pip_lib = site / "nvidia" / "cuda_runtime" / "lib" / "libcudart.so.12"
    pip_lib.write_bytes(b"")
    jetson = tmp_path / "usr-local-cuda-lib64"
    jetson.mkdir()
    (jetson / "libcudart.so.12.6.68").write_bytes(b"")
    monkeypatch.setattr(sys, "path", [str(site)] + sys.path)
    monkeypatch.setattr(cudart, "JETSON_CUDA", (str(jetson),))
    found = cudart.library_candidates()
    assert found[0] == str(pip_lib) and str(jetson / "libcudart.so.12.6.68") in found
    assert found.index(str(pip_lib)) < found.index(str(jetson / "libcudart.so.12.6.68")) < found.index("libcudart.so")


# ---------------------------------------------------------------- the cuda-python backend (tests/cuda_python_standin.py)


def test_cuda_python_backend_runs_an_engine_and_frees_what_it_allocates(tmp_path, monkeypatch) -> None:
    """runtime() picks cuda.bindings.runtime when it imports; a runner's whole life goes through it:
    one stream, buffers grown for a bigger batch (the old ones freed), copies with cudaMemcpyKind on
    that stream, and close() frees every buffer and destroys the stream, each exactly once."""
    from levil_edge.export.tensorrt import build_engine
    from levil_edge.runtime import cudart
    from levil_edge.runtime.tensorrt import TrtRunner
    from tests import cuda_python_standin as C

    rt = C.make_runtime()
    C.install(monkeypatch, rt)
    assert cudart._cuda_python() is rt
    cuda = cudart.runtime.__wrapped__()  # the real choice, uncached
    assert isinstance(cuda, cudart.CudaPython) and cuda.rt is rt
    with pytest.raises(AttributeError):  # strict: only the documented calls exist
        rt.cudaMallocHost  # noqa: B018
    with pytest.raises(TypeError):  # kind must be a cudaMemcpyKind, as in cuda-python
        rt.cudaMemcpyAsync(0, 0, 1, 1, None)
    assert cuda.device_info() == {"gpu": "Orin", "compute_capability": "8.7"}
    trt, _ = S.install(monkeypatch, S.TRT_11)
    _fp16_io_onnx(tmp_path / A.FP16_FILE)
    build_engine(tmp_path / A.FP16_FILE, tmp_path / "model.fp16.engine", precision="fp16", max_batch=4)
    rt.calls.clear()
    runner = TrtRunner(tmp_path / "model.fp16.engine", cuda=cuda)
    stream = runner.stream
    assert isinstance(stream, C.cudaStream_t) and rt.streams == {int(stream)}
    x = np.random.default_rng(2).standard_normal((4, 3, 4, 32, 32)).astype(np.float32)
    import onnxruntime as ort

    ref = ort.InferenceSession(str(tmp_path / A.FP16_FILE)).run(None, {"video": x.astype(np.float16)})[0].astype(np.float32)
    assert np.array_equal(runner.run(x[:2]), ref[:2]) and np.array_equal(runner.run(x), ref)
    names = [n for n, _ in rt.calls]
    per_run = ["cudaMalloc", "cudaMalloc", "cudaMemcpyAsync", "cudaMemcpyAsync", "cudaStreamSynchronize"]
    assert names == ["cudaStreamCreate", *per_run, "cudaFree", "cudaMalloc", "cudaFree", "cudaMalloc", *per_run[2:]]
    H2D, D2H = C.cudaMemcpyKind.cudaMemcpyHostToDevice, C.cudaMemcpyKind.cudaMemcpyDeviceToHost
    assert [(a[3], a[4]) for n, a in rt.calls if n == "cudaMemcpyAsync"] == [(H2D, stream), (D2H, stream)] * 2
    assert [a[2] for n, a in rt.calls if n == "cudaMemcpyAsync"] == [x[:2].size * 2, 2 * 3 * 2, x.size * 2, 4 * 3 * 2]
    assert _args(trt.calls, "IExecutionContext.execute_async_v3") == [(int(stream),)] * 2
    assert len(rt.allocations) == 2  # the two current buffers; the first two were freed when they grew
    rt.calls.clear()
    runner.close()
    assert rt.allocations == {} and rt.streams == set()  # a second free or destroy would have been an error
    assert sorted(n for n, _ in rt.calls) == ["cudaFree", "cudaFree", "cudaStreamDestroy"]
    runner.close()  # idempotent
    assert len(rt.calls) == 3
    with pytest.raises(EngineError, match="was closed"):
        runner.run(x)
    # A failing cudaFree does not stop close() from releasing the rest; the error is raised after.
    runner = TrtRunner(tmp_path / "model.fp16.engine", cuda=cuda)
    runner.run(x)
    rt.fail["cudaFree"] = C.cudaError_t.cudaErrorInvalidValue
    with pytest.raises(EngineError, match="CUDA cudaFree failed with error 1"):
        runner.close()
    assert rt.streams == set() and [n for n, _ in rt.calls[-3:]] == ["cudaFree", "cudaFree", "cudaStreamDestroy"]


@pytest.mark.parametrize("failing", ["cudaGetDeviceProperties", "cudaStreamCreate", "cudaMalloc", "cudaMemcpyAsync",
                                     "cudaStreamSynchronize", "cudaFree", "cudaStreamDestroy"])
def test_cuda_python_backend_checks_every_error_code(failing) -> None:
    """Each call's cudaError_t is checked: an error is one EngineError naming the call and the code,
    and nothing after it runs."""
    from levil_edge.runtime import cudart
    from tests import cuda_python_standin as C

    rt = C.make_runtime(fail={failing: C.cudaError_t.cudaErrorMemoryAllocation})
    cuda = cudart.CudaPython(rt)
    host = np.arange(64, dtype=np.uint8)
    with pytest.raises(EngineError) as err:
        cuda.device_info()
        stream = cuda.stream_create()
        ptr = cuda.malloc(host.nbytes)
        cuda.memcpy_async(ptr, host.ctypes.data, host.nbytes, cudart.H2D, stream)
        cuda.synchronize(stream)
        cuda.free(ptr)
        cuda.stream_destroy(stream)
    assert str(err.value).startswith(f"CUDA {failing} failed with error 2: ") and "\n" not in str(err.value)
    assert rt.calls[-1][0] == failing


def test_ctypes_backend_checks_free_and_destroys_its_stream() -> None:
    """libcudart's C functions return a cudaError_t: cudaFree and cudaStreamDestroy are checked too."""
    from levil_edge.runtime import cudart

    class Lib:
        def __init__(self):
            self.calls = []

        def cudaFree(self, ptr):  # noqa: N802
            self.calls.append(("cudaFree", ptr.value))
            return 1  # cudaErrorInvalidValue

        def cudaStreamDestroy(self, stream):  # noqa: N802
            self.calls.append(("cudaStreamDestroy", stream.value))
            return 400  # cudaErrorInvalidResourceHandle

    cuda = object.__new__(cudart.CtypesCuda)
    cuda.lib = Lib()
    with pytest.raises(EngineError, match="CUDA cudaFree failed with error 1"):
        cuda.free(0x1000)
    with pytest.raises(EngineError, match="CUDA cudaStreamDestroy failed with error 400"):
        cuda.stream_destroy(0x7000)
    assert cuda.lib.calls == [("cudaFree", 0x1000), ("cudaStreamDestroy", 0x7000)]


# ---------------------------------------------------------------- build_engine.sh with a stub trtexec

STUB_TRTEXEC = textwrap.dedent(
    '''\
    #!/usr/bin/env python3
    # A stand-in for trtexec: records its argv, prints a banner and the device block trtexec prints
    # (copied in form from a JetPack 6 Orin log), refuses precision flags on TensorRT 11, and writes a fake plan.
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["STUB_LOG"], "a") as f:
        f.write(json.dumps(args) + "\\n")
    banner, version = os.environ.get("STUB_BANNER", ""), os.environ.get("STUB_VERSION", "")
    print("&&&& RUNNING TensorRT.trtexec " + (f"[TensorRT v{banner}] [b26] " if banner else "") + "# trtexec " + " ".join(args))
    if "--help" in args:
        print("=== Model Options ===")
        sys.exit(0)
    if version.startswith("11.") and any(a in ("--fp16", "--int8", "--best", "--bf16") for a in args):
        print("[12/01/2026-10:00:00] [E] Unknown option: " + next(a for a in args if a.startswith("--fp16") or a.startswith("--int8")))
        sys.exit(1)
    print("[12/01/2026-10:00:00] [I] === Device Information ===")
    print('[12/01/2026-10:00:00] [I] Available Devices:')
    print('[12/01/2026-10:00:00] [I]   Device 0: "Orin" UUID: GPU-f5507ee1')
    print("[12/01/2026-10:00:00] [I] Selected Device: Orin")
    print("[12/01/2026-10:00:00] [I] Selected Device ID: 0")
    print("[12/01/2026-10:00:00] [I] Compute Capability: 8.7")
    if version:
        print("[12/01/2026-10:00:00] [I] TensorRT version: " + version)
    save = [a.split("=", 1)[1] for a in args if a.startswith("--saveEngine=")]
    onnx = [a.split("=", 1)[1] for a in args if a.startswith("--onnx=")]
    if os.environ.get("STUB_FAIL") and os.environ["STUB_FAIL"] in onnx[0]:
        print("[E] Error[4]: failed to parse")
        sys.exit(1)
    with open(save[0], "wb") as f:
        f.write(b"plan of " + onnx[0].encode())
    print("&&&& PASSED TensorRT.trtexec")
    '''
)


def _script_folder(tmp_path: Path, *, int8: bool, max_batch: int | None, extra: tuple[str, ...] = ()) -> Path:
    from levil_edge.export.build_script import write_build_script

    folder = tmp_path / "deploy"
    folder.mkdir()
    for name in (A.FP32_FILE, A.INT8_TRT_FILE) + extra:
        (folder / name).write_bytes(name.encode() * 10)
    write_build_script(folder, F.tiny_config(), int8=int8, max_batch=max_batch, workspace_gb=1.5)
    # An entry the Python builder wrote earlier: the script must keep it.
    (folder / A.ENGINE_JSON).write_text(json.dumps({"engines": {"model.other.engine": {"built_by": "levil-edge export --engine"}}}))
    return folder


def _run_script(tmp_path: Path, folder: Path, banner: str, version: str, dpkg: str = "", **env) -> tuple[subprocess.CompletedProcess, list]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "trtexec").write_text(STUB_TRTEXEC)
    # dpkg-query stand-in: the package version, or "not installed"
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\n" + (f"echo '{dpkg}'\n" if dpkg else "echo 'dpkg-query: no packages found' >&2; exit 1\n"))
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    log = tmp_path / "trtexec_argv.jsonl"
    log.unlink(missing_ok=True)
    # A bare environment: system python3 only, no PYTHONPATH: neither tensorrt nor levil_edge importable.
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STUB_LOG": str(log), "STUB_BANNER": banner, "STUB_VERSION": version,
               "HOME": str(tmp_path), **env}
    proc = subprocess.run(["bash", str(folder / A.BUILD_SCRIPT)], capture_output=True, text=True, env=environ, timeout=60,
                          cwd=tmp_path)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


SHAPES = ["--minShapes=video:1x3x4x32x32", "--optShapes=video:8x3x4x32x32", "--maxShapes=video:16x3x4x32x32"]
COMMON = ["--memPoolSize=workspace:1536M", "--timingCacheFile=timing.cache"]


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
def test_build_engine_sh_trt10(tmp_path, dynamic) -> None:
    folder = _script_folder(tmp_path, int8=True, max_batch=16 if dynamic else None)
    proc, calls = _run_script(tmp_path, folder, "100300", "10.3.0")
    assert proc.returncode == 0, proc.stderr
    shapes = SHAPES if dynamic else []
    assert calls == [
        ["--help"],
        ["--onnx=model.onnx", "--saveEngine=.model.fp16.engine.tmp", *COMMON, *shapes, "--fp16"],
        ["--onnx=model.int8.trt.onnx", "--saveEngine=.model.int8.engine.tmp", *COMMON, *shapes, "--int8", "--fp16"],
    ]
    data = json.loads((folder / A.ENGINE_JSON).read_text())
    assert set(data["engines"]) == {"model.other.engine", "model.fp16.engine", "model.int8.engine"}  # merged
    fp16 = data["engines"]["model.fp16.engine"]
    assert (fp16["tensorrt"], fp16["gpu"], fp16["compute_capability"], fp16["built_by"]) == ("10.3.0", "Orin", "8.7", "trtexec")
    assert fp16["onnx"] == "model.onnx" and fp16["onnx_sha256"] == __import__("hashlib").sha256((folder / "model.onnx").read_bytes()).hexdigest()
    assert fp16["shapes"] == ({"video": [[1, 3, 4, 32, 32], [8, 3, 4, 32, 32], [16, 3, 4, 32, 32]]} if dynamic else {})
    assert (folder / "model.fp16.engine").read_bytes() == b"plan of model.onnx" and not list(folder.glob(".*.tmp"))
    assert "TensorRT 10.3.0 (from trtexec)" in proc.stdout


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
@pytest.mark.parametrize("with_modelopt_files", [False, True])
def test_build_engine_sh_trt11_has_no_precision_flags(tmp_path, with_modelopt_files, dynamic) -> None:
    extra = (A.FP16_FILE, A.INT8_TRT_FP16_FILE) if with_modelopt_files else ()
    folder = _script_folder(tmp_path, int8=True, max_batch=16 if dynamic else None, extra=extra)
    proc, calls = _run_script(tmp_path, folder, "110400", "11.4.0")
    assert proc.returncode == 0, proc.stderr
    builds = [c for c in calls if c != ["--help"]]
    assert all(not {"--fp16", "--int8", "--best", "--bf16"} & set(c) for c in builds)
    if not dynamic:  # a static batch gets no shapes at all: trtexec refuses them for a static model
        assert not any(a.startswith(("--minShapes", "--optShapes", "--maxShapes")) for c in builds for a in c)
    if with_modelopt_files:
        assert [c[:2] for c in builds] == [["--onnx=model.onnx", "--saveEngine=.model.fp32.engine.tmp"],
                                           ["--onnx=model.fp16.onnx", "--saveEngine=.model.fp16.engine.tmp"],
                                           ["--onnx=model.int8.trt.fp16.onnx", "--saveEngine=.model.int8.engine.tmp"]]
        assert "note:" not in proc.stderr
    else:
        assert [c[:2] for c in builds] == [["--onnx=model.onnx", "--saveEngine=.model.fp32.engine.tmp"],
                                           ["--onnx=model.int8.trt.onnx", "--saveEngine=.model.int8.engine.tmp"]]
        assert "modelopt.onnx.autocast --onnx_path model.onnx --output_path model.fp16.onnx" in proc.stderr
        assert "run in FP32 under strong typing" in proc.stderr
    assert all(c[2:] == COMMON + (SHAPES if dynamic else []) for c in builds)
    engines = json.loads((folder / A.ENGINE_JSON).read_text())["engines"]
    built = {"model.fp32.engine", "model.int8.engine"} | ({"model.fp16.engine"} if with_modelopt_files else set())
    assert set(engines) == built | {"model.other.engine"}  # merged: the Python builder's entry is kept
    assert {n: e["precision"] for n, e in engines.items() if n in built} == {n: n.split(".")[1] for n in built}
    assert {e["tensorrt"] for n, e in engines.items() if n in built} == {"11.4.0"}
    assert all(engines[n]["shapes"] == ({"video": [[1, 3, 4, 32, 32], [8, 3, 4, 32, 32], [16, 3, 4, 32, 32]]} if dynamic else {})
               for n in built)
    assert all((folder / n).read_bytes() == b"plan of " + engines[n]["onnx"].encode() for n in built)
    assert not list(folder.glob(".*.tmp"))


def test_build_engine_sh_version_from_dpkg_then_none(tmp_path) -> None:
    folder = _script_folder(tmp_path, int8=False, max_batch=16)
    # trtexec without a banner: the version comes from the system package.
    proc, calls = _run_script(tmp_path, folder, "", "", dpkg="10.3.0.30-1+cuda12.5")
    assert proc.returncode == 0, proc.stderr
    assert "TensorRT 10.3.0.30 (from dpkg)" in proc.stdout and calls[1][-1] == "--fp16"
    assert json.loads((folder / A.ENGINE_JSON).read_text())["engines"]["model.fp16.engine"]["tensorrt"] == "10.3.0.30"
    # No banner, no package, no header: an error, never a silent TensorRT 10; engine.json untouched.
    before = (folder / A.ENGINE_JSON).read_text()
    proc, calls = _run_script(tmp_path, folder, "", "")
    assert proc.returncode == 1 and calls == [["--help"]]
    assert "cannot tell the TensorRT version" in proc.stderr and "TRT_VERSION=" in proc.stderr
    assert (folder / A.ENGINE_JSON).read_text() == before
    # TRT_VERSION overrides.
    proc, calls = _run_script(tmp_path, folder, "", "", TRT_VERSION="11.1.0")
    assert proc.returncode == 0 and calls[0][1] == "--saveEngine=.model.fp32.engine.tmp"


@pytest.mark.parametrize("source", ["banner", "dpkg"])
def test_build_engine_sh_refuses_tensorrt_8_of_jetpack_60(tmp_path, source) -> None:
    """JetPack 6.0 ships TensorRT 8.6.2 (trtexec banner v8602, package 8.6.2.3-1+cuda12.2): refused
    before any build, with the JetPack upgrade that brings TensorRT 10.3."""
    folder = _script_folder(tmp_path, int8=True, max_batch=16)
    before = (folder / A.ENGINE_JSON).read_text()
    if source == "banner":
        proc, calls = _run_script(tmp_path, folder, "8602", "8.6.2")
    else:
        proc, calls = _run_script(tmp_path, folder, "", "", dpkg="8.6.2.3-1+cuda12.2")
    assert proc.returncode == 1 and calls == [["--help"]], proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: TensorRT {'8.6.2' if source == 'banner' else '8.6.2.3'} ")
    assert "need TensorRT 10 or 11" in err and "JetPack 6.0 ships TensorRT 8.6: upgrade to JetPack 6.1 or later" in err
    assert (folder / A.ENGINE_JSON).read_text() == before and not list(folder.glob("*.engine"))


def test_build_engine_sh_failure_and_broken_engine_json(tmp_path) -> None:
    folder = _script_folder(tmp_path, int8=True, max_batch=16)
    before = (folder / A.ENGINE_JSON).read_text()
    proc, _ = _run_script(tmp_path, folder, "100300", "10.3.0", STUB_FAIL="int8")
    assert proc.returncode == 1 and "trtexec failed to build model.int8.engine" in proc.stderr
    assert (folder / A.ENGINE_JSON).read_text() == before and not list(folder.glob(".*.tmp"))
    (folder / A.ENGINE_JSON).write_text("")  # what the old `--describe > engine.json` left behind
    proc, _ = _run_script(tmp_path, folder, "100300", "10.3.0")
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads((folder / A.ENGINE_JSON).read_text())["engines"]) == {"model.fp16.engine", "model.int8.engine"}
    assert len(list(folder.glob("engine.json.broken-*"))) == 1 and "kept it as" in proc.stderr


def test_build_engine_sh_then_runtime_accepts_its_engine_json(tmp_path, monkeypatch) -> None:
    """engine.json written by the script (stdlib python, facts from trtexec's log) is what the runtime checks."""
    folder = _script_folder(tmp_path, int8=False, max_batch=16)
    proc, _ = _run_script(tmp_path, folder, "100300", "10.3.0")
    assert proc.returncode == 0, proc.stderr
    from levil_edge.runtime.tensorrt import check_engine

    here = {"tensorrt": "10.3.0.30", "gpu": "Orin", "compute_capability": "8.7"}
    assert check_engine(folder / "model.fp16.engine", here=lambda: here)["built_by"] == "trtexec"
    with pytest.raises(EngineError, match="this is 10.4.0"):
        check_engine(folder / "model.fp16.engine", here=lambda: {**here, "tensorrt": "10.4.0.1"})


# ---------------------------------------------------------------- real TensorRT (a GPU machine with TensorRT)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_engine_build_and_run_on_real_tensorrt(tmp_path_factory, tmp_path) -> None:
    """Runs only where tensorrt imports; there, a missing CUDA runtime or GPU is a failure, not a skip."""
    from levil_edge.runtime import tensorrt as trt_run

    if not trt_run.available():
        pytest.skip(f"TensorRT not importable here ({trt_run.import_error()})")
    pytest.importorskip("torch")
    from levil_edge.export import export_model
    from levil_edge.runtime.model import load_model

    out = tmp_path / "deploy"
    res = export_model(F.trained_checkpoint(tmp_path_factory), out, int8=True, calib_data=str(F.dataset(tmp_path_factory)),
                       calib_clips=40, max_batch=4, engine=True, heldout_clips=8)
    engines = [e for e in res["engines"] if e.get("path")]
    assert engines, res["engines"]
    x = np.random.default_rng(0).standard_normal((3, *F.tiny_config().input_shape)).astype(np.float32)
    ref = load_model(out / "model.onnx", providers=["cpu"]).predict(x)
    for e in engines:
        got = load_model(e["path"]).predict(x)
        assert got.shape == ref.shape and np.abs(got - ref).max() < 0.1 * max(1.0, np.abs(ref).max())
    assert os.path.getsize(out / A.ENGINE_JSON) > 0
