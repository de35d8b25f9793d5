"""``export --int8 --quantizer modelopt`` and the FP16 files for TensorRT 11, through the real CLI
(``--json`` in a child process: ModelOpt's chatty logging must stay off stdout).

The ModelOpt tests run where ``nvidia-modelopt`` is installed (``pip install 'levil-edge[modelopt]'``)
and skip elsewhere; the tests of what happens without it run only where it is absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, numpy_helper  # noqa: E402

from levil_edge.errors import MissingExtraError, UsageError  # noqa: E402
from levil_edge.export import modelopt_support  # noqa: E402
from tests import export_fixtures as F  # noqa: E402

HAVE_MODELOPT = modelopt_support.available()
needs_modelopt = pytest.mark.skipif(not HAVE_MODELOPT, reason="nvidia-modelopt not installed (pip install 'levil-edge[modelopt]')")
CLI = "from levil_edge.cli.app import main; main()"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export through the CLI in a child process, as a user runs it."""
    ckpt, data = F.trained_checkpoint(tmp_path_factory), F.dataset(tmp_path_factory)
    out = tmp_path_factory.mktemp("modelopt") / "deploy"
    argv = ["export", "--model", ckpt, "--out", out, "--int8", "--quantizer", "modelopt", "--calib-data", data,
            "--calib-clips", 96, "--dynamic-batch", 4, "--decoder", "pyav", "--json"]
    proc = subprocess.run([sys.executable, "-c", CLI, *map(str, argv)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LEVIL_NO_PROGRESS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)  # fails on any ModelOpt log line on stdout


def _graph(path):
    g = onnx.load(str(path)).graph
    return g, {t.name: t for t in g.initializer}


@needs_modelopt
def test_modelopt_trt_form_passes_the_trt_check(exported) -> None:
    """ModelOpt's real output: float weights behind a per-channel QuantizeLinear -> DequantizeLinear
    pair (the form the old check wrongly refused), symmetric int8, and the check passes."""
    out, result = exported
    info = result["int8"]
    assert info["quantizer"] == "modelopt" and info["modelopt"]["quantizer"].startswith("modelopt ")
    assert info["modelopt"]["clips"] == 96  # the same clips our calibration used
    check = info["trt_check"]["model.int8.trt.onnx"]
    assert check["ok"], check["failures"]
    g, inits = _graph(out / "model.int8.trt.onnx")
    producer = {o: n for n in g.node for o in n.output}
    weight_pairs = 0
    for conv in (n for n in g.node if n.op_type == "Conv"):
        dq = producer.get(conv.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = producer[dq.input[0]]
        assert q.op_type == "QuantizeLinear" and inits[q.input[0]].data_type == TensorProto.FLOAT
        scale = numpy_helper.to_array(inits[q.input[1]])
        assert scale.size == inits[q.input[0]].dims[0] > 1  # per output channel
        weight_pairs += 1
    assert weight_pairs == check["per_channel_weights"] > 0
    # ModelOpt leaves small convs (< 16 channels) and the classifier in float; the table says so
    assert check["float_nodes"], check
    row = next(r for r in result["files"] if r["file"] == "model.int8.trt.onnx")
    assert row["qdq_nodes"] == check["qdq_nodes"] and row["float_nodes"] != "none" and "ModelOpt" in row["check"]


def _int8_kernel_for_small_conv(w_dims, group: int, kernel, first: bool) -> bool:
    """ModelOpt 0.47's INT8 exception for a Conv with fewer than 16 input or output channels
    (``find_nodes_from_convs_to_exclude``): quantised anyway when TensorRT has INT8 kernels for it,
    i.e. a channel count that is a multiple of 8."""
    oc, ic = w_dims[0], w_dims[1]  # ic: input channels per group
    if group == 1:
        return (oc % 8 == 0 or ic % 8 == 0) and (first or max(oc, ic) >= 16) and len(set(kernel)) == 1
    return oc % 8 == 0 and min(kernel) >= 3


@needs_modelopt
def test_modelopt_placement_follows_tensorrt_fusions(exported) -> None:
    """The placement BENCHMARKS.md describes, read from ModelOpt's real model.int8.trt.onnx (ModelOpt
    0.47 on the fixture's X3D: a stem, depthwise convs, SE blocks, residual Adds, ReduceMean pooling).
    What holds there:
    - a residual Add has Q/DQ on ONE input, the shortcut; its other input comes straight from the
      Conv that TensorRT fuses the Add into (the longer branch), unquantised;
    - a Conv left in float has fewer than 16 channels, but not every such Conv is: those TensorRT
      has INT8 kernels for (channels a multiple of 8) are quantised;
    - no ReLU reads a DequantizeLinear, and no Q/DQ pair exists for a ReLU or a pooling op alone:
      every DequantizeLinear feeds a Conv, Mul, Add or Gemm (a ReLU's or a pool's output is
      quantised only as the input of such an op after it).
    Our ORT-made TensorRT form fails all three (Q/DQ on every ReLU, Add and Conv input)."""
    out, _ = exported
    g, inits = _graph(out / "model.int8.trt.onnx")
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    dq = lambda name: name in producer and producer[name].op_type == "DequantizeLinear"  # noqa: E731
    graph_inputs = {i.name for i in g.input}

    def source(name: str) -> str:
        """The tensor behind a QuantizeLinear -> DequantizeLinear pair (itself when there is none)."""
        while name in producer and producer[name].op_type in ("QuantizeLinear", "DequantizeLinear"):
            name = producer[name].input[0]
        return name

    def compute_ancestors(name: str) -> dict[str, int]:
        """Every compute node upstream of a tensor, at its shortest distance (Q/DQ not counted)."""
        dist, todo = {}, [(name, 0)]
        while todo:
            tensor, d = todo.pop()
            node = producer.get(tensor)
            if node is None:
                continue
            step = 0 if node.op_type in ("QuantizeLinear", "DequantizeLinear") else 1
            if step and dist.get(node.name, 1 << 30) <= d + 1:
                continue
            if step:
                dist[node.name] = d + 1
            todo += [(i, d + step) for i in node.input if i not in inits]
        return dist

    # 1. Residual Adds: the shortcut input quantised, the input of the Conv it fuses into not.
    adds = [n for n in g.node if n.op_type == "Add" and not any(i in inits for i in n.input)]
    assert adds
    for add in adds:
        assert sorted(producer[i].op_type for i in add.input) == ["Conv", "DequantizeLinear"], add.name
        fused = next(i for i in add.input if producer[i].op_type == "Conv")
        shortcut = next(i for i in add.input if dq(i))
        a, b = compute_ancestors(fused), compute_ancestors(shortcut)
        lca = min(set(a) & set(b), key=lambda n: a[n] + b[n])
        assert a[lca] > b[lca], (add.name, a[lca], b[lca])  # the fused input is the longer (residual) branch

    # 2. Convolutions: float ones have < 16 channels; small ones TensorRT has INT8 kernels for are quantised.
    float_convs, small_int8 = [], []
    for conv in (n for n in g.node if n.op_type == "Conv"):
        quantised = dq(conv.input[0])
        assert dq(conv.input[1]) == quantised, conv.name  # data and weight quantised together or not at all
        dims = list(inits[source(conv.input[1])].dims)  # (out, in / group, kT, kH, kW)
        group = next((a.i for a in conv.attribute if a.name == "group"), 1)
        small = min(dims[0], dims[1]) < 16
        first = source(conv.input[0]) in graph_inputs
        assert quantised == (not small or _int8_kernel_for_small_conv(dims, group, dims[2:], first)), (conv.name, dims, group)
        if not quantised:
            float_convs.append((conv.name, dims, first))
        elif small:
            small_int8.append((conv.name, dims))
    assert float_convs and all(min(d[0], d[1]) < 16 for _, d, _ in float_convs)
    assert [d[1] for _, d, first in float_convs if first] == [3]  # the 3-channel stem stays in float
    assert small_int8, "every conv under 16 channels is in float: the multiple-of-8 exception no longer shows here"

    # 3. ReLU and pooling: no Q/DQ of their own.
    relus = [n for n in g.node if n.op_type == "Relu"]
    pools = [n for n in g.node if n.op_type in ("ReduceMean", "GlobalAveragePool", "AveragePool", "MaxPool")]
    assert relus and pools
    assert not any(dq(n.input[0]) for n in relus)
    quantised_ops = {"Conv", "Mul", "Add", "Gemm", "MatMul"}
    for d in (n for n in g.node if n.op_type == "DequantizeLinear"):
        assert {c.op_type for c in consumers[d.output[0]]} & quantised_ops, (d.name, [c.op_type for c in consumers[d.output[0]]])
    for n in relus + pools:
        for q in (c for c in consumers.get(n.output[0], []) if c.op_type == "QuantizeLinear"):
            assert {c.op_type for d in consumers[q.output[0]] for c in consumers[d.output[0]]} <= quantised_ops, n.name


@needs_modelopt
def test_modelopt_agrees_with_fp32_and_leaves_our_quantizer_alone(exported, tmp_path) -> None:
    from levil_edge.calibration.ranges import load_ranges
    from levil_edge.export.quantize import preprocess, quantize_from_ranges

    out, result = exported
    assert F.train_accuracy() >= 0.6, "the fixture model did not train: agreement would mean nothing"
    a = result["int8"]["agreement"]["model.int8.trt.onnx"]
    assert a["top1_agreement"] >= 0.9 and a["logit_cosine"] >= 0.98, a
    # ModelOpt's quantize() patches ONNX Runtime's quantisation classes process-wide. The export ran
    # AutoCast in-process and quantize() in a child: its CPU form must equal one made from the saved
    # ranges here, in a process that never imported ModelOpt.
    prep = preprocess(out / "model.onnx", tmp_path / "prep.onnx")
    quantize_from_ranges(prep, load_ranges(out / "calibration.json")["ranges"], tmp_path / "cpu.onnx", "cpu")
    _, mine = _graph(out / "model.int8.cpu.onnx")
    _, again = _graph(tmp_path / "cpu.onnx")
    assert mine.keys() == again.keys()
    assert all(np.array_equal(numpy_helper.to_array(mine[k]), numpy_helper.to_array(again[k])) for k in mine)


@needs_modelopt
def test_fp16_files_for_tensorrt_11(exported) -> None:
    """model.fp16.onnx (AutoCast) and model.int8.trt.fp16.onnx: FP16 inside, float32 I/O, checked,
    run through ORT CPU and listed in the sidecar under the names build_engine.sh reads."""
    from levil_edge.export.trt_check import check_trt_compat

    out, result = exported
    rows = {r["file"]: r for r in result["files"]}
    side = json.loads((out / "model.json").read_text())["files"]
    assert side["model.fp16.onnx"] == "fp16" and side["model.int8.trt.fp16.onnx"] == "int8-qdq"
    for name in ("model.fp16.onnx", "model.int8.trt.fp16.onnx"):
        g, inits = _graph(out / name)
        assert [i.type.tensor_type.elem_type for i in g.input] == [TensorProto.FLOAT]
        assert [o.type.tensor_type.elem_type for o in g.output] == [TensorProto.FLOAT]
        float_inits = [t.data_type for t in inits.values() if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
        assert float_inits and all(t == TensorProto.FLOAT16 for t in float_inits), name
        assert rows[name]["top1_agreement"] >= 0.9 and rows[name]["logit_cosine"] >= 0.98, rows[name]
    fp16_check = check_trt_compat(out / "model.int8.trt.fp16.onnx")
    assert fp16_check.ok, fp16_check.failures
    assert fp16_check.qdq_nodes == result["int8"]["trt_check"]["model.int8.trt.onnx"]["qdq_nodes"]
    assert check_trt_compat(out / "model.fp16.onnx", expect_qdq=False).ok
    assert result["fp16"]["written"] and not result["int8"]["skipped"]


def test_quantizer_choice_is_checked_before_anything_is_written(tmp_path) -> None:
    from levil_edge.export.modelopt_int8 import check_quantizer

    with pytest.raises(UsageError, match="unknown --quantizer"):
        check_quantizer("tensorrt", int8=True, calib_data="d")
    with pytest.raises(UsageError, match="add --int8"):
        check_quantizer("modelopt", int8=False, calib_data="d")
    with pytest.raises(UsageError, match="pass --calib-data"):
        check_quantizer("modelopt", int8=True, calib_data=None)
    check_quantizer("ort", int8=False, calib_data=None)


@pytest.mark.skipif(HAVE_MODELOPT, reason="tests the message shown where ModelOpt is absent")
def test_without_modelopt_one_line_names_the_extra(tmp_path_factory, tmp_path, capsys) -> None:
    from levil_edge.cli.app import run

    ckpt, data = F.trained_checkpoint(tmp_path_factory), F.dataset(tmp_path_factory)
    out = tmp_path / "deploy"
    capsys.readouterr()
    rc = run(["export", "--model", str(ckpt), "--out", str(out), "--int8", "--quantizer", "modelopt",
              "--calib-data", str(data), "--json"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1, err
    assert "pip install 'levil-edge[modelopt]'" in err and err.startswith("error: --quantizer modelopt needs NVIDIA Model Optimizer")
    assert not any(out.glob("*.onnx"))  # refused before the export started
    with pytest.raises(MissingExtraError):
        modelopt_support.require("x")


def test_modelopt_failure_is_one_line_without_the_nvml_noise() -> None:
    """ModelOpt logs an NVML error on every machine without a GPU; the error shown is the real one."""
    log = ("2026-12-03 20:24:49,290 - [modelopt][onnx] - ERROR - Failed to get GPU count: NVML Shared Library Not Found\n"
           "Traceback (most recent call last):\n  File \"quantize.py\", line 640, in quantize\n"
           "AssertionError: output directory \"/nope\" does not exist\n")
    err = modelopt_support.failure("ModelOpt INT8 quantisation", log)
    assert str(err) == 'ModelOpt INT8 quantisation failed: ModelOpt logged: AssertionError: output directory "/nope" does not exist'
    err = modelopt_support.failure("AutoCast", "x - [modelopt][onnx] - ERROR - no float tensors\n", ValueError("bad graph"))
    assert str(err) == "AutoCast failed: ValueError: bad graph; ModelOpt logged: no float tensors" and "\n" not in str(err)
