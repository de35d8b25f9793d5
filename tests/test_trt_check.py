"""The TensorRT check on hand-built Q/DQ graphs (onnx.helper; no torch, no ModelOpt): every weight
form TensorRT accepts passes, and what TensorRT rejects still fails with a line that says why."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from levil_edge.export.trt_check import check_trt_compat  # noqa: E402

M, C, K = 4, 3, 3  # output channels, input channels, kernel


def _const(name: str, arr: np.ndarray):
    return numpy_helper.from_array(arr, name)


def _act_qdq(x: str, tag: str, nodes: list, inits: list, scale=0.05) -> str:
    """Per-tensor symmetric int8 Q/DQ on an activation, as TensorRT wants it."""
    inits += [_const(f"{tag}_s", np.array(scale, np.float32)), _const(f"{tag}_zp", np.array(0, np.int8))]
    nodes += [helper.make_node("QuantizeLinear", [x, f"{tag}_s", f"{tag}_zp"], [f"{tag}_q"], name=f"{tag}_Q"),
              helper.make_node("DequantizeLinear", [f"{tag}_q", f"{tag}_s", f"{tag}_zp"], [f"{tag}_dq"], name=f"{tag}_DQ")]
    return f"{tag}_dq"


def _model(weight_form: str = "float_qdq", *, w_axis: int = 0, dq_axis: int | None = None, n_scales: int = M,
           act_per_channel: bool = False, dq_scale_factor: float = 1.0, weight_dtype=np.float32):
    """x (1, C, 4, 4) -> [Q/DQ] -> Conv(W through Q/DQ) -> Relu -> y.

    weight_form "float_qdq": float W -> QuantizeLinear -> DequantizeLinear (ModelOpt, pytorch-quantization);
    "int8_dq": int8 W -> DequantizeLinear (ONNX Runtime)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((M, C, K, K)).astype(np.float32)
    scale = (np.abs(w).reshape(M, -1).max(1) / 127).astype(np.float32)[:n_scales]
    if n_scales > len(scale):
        scale = np.resize(scale, n_scales).astype(np.float32)
    zp = np.zeros(n_scales, np.int8)
    nodes: list = []
    inits: list = [_const("w_s", scale), _const("w_zp", zp)]
    dq_axis = w_axis if dq_axis is None else dq_axis
    if weight_form == "float_qdq":
        inits += [_const("w", w.astype(weight_dtype)), _const("w_s2", (scale * dq_scale_factor).astype(np.float32)),
                  _const("w_zp2", zp)]
        nodes += [helper.make_node("QuantizeLinear", ["w", "w_s", "w_zp"], ["w_q"], name="w_Q", axis=w_axis),
                  helper.make_node("DequantizeLinear", ["w_q", "w_s2", "w_zp2"], ["w_dq"], name="w_DQ", axis=dq_axis)]
    else:
        wq = np.clip(np.round(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
        inits.append(_const("w", wq))
        nodes.append(helper.make_node("DequantizeLinear", ["w", "w_s", "w_zp"], ["w_dq"], name="w_DQ", axis=dq_axis))
    if act_per_channel:
        inits += [_const("x_s", np.full(C, 0.05, np.float32)), _const("x_zp", np.zeros(C, np.int8))]
        nodes += [helper.make_node("QuantizeLinear", ["x", "x_s", "x_zp"], ["x_q"], name="x_Q", axis=1),
                  helper.make_node("DequantizeLinear", ["x_q", "x_s", "x_zp"], ["x_dq"], name="x_DQ", axis=1)]
        xin = "x_dq"
    else:
        xin = _act_qdq("x", "x", nodes, inits)
    nodes += [helper.make_node("Conv", [xin, "w_dq"], ["c"], name="conv", pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, M, 4, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.checker.check_model(model)
    return model


def _run(model, x):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("form", ["float_qdq", "int8_dq"])
def test_weight_forms_tensorrt_accepts_pass(form) -> None:
    model = _model(form)
    res = check_trt_compat(model)
    assert res.ok, res.failures
    assert res.qdq_nodes == (4 if form == "float_qdq" else 3)
    assert res.per_channel_weights == 1 and res.float_nodes == {}
    # both forms compute the same thing (ORT runs the graph as written): the check is about real graphs
    x = np.random.default_rng(1).standard_normal((1, C, 4, 4)).astype(np.float32)
    assert _run(model, x).shape == (1, M, 4, 4)


def test_float_qdq_weights_match_int8_weights_numerically() -> None:
    x = np.random.default_rng(2).standard_normal((1, C, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(_model("float_qdq"), x), _run(_model("int8_dq"), x), rtol=1e-5, atol=1e-5)


def test_fp16_weights_under_quantizelinear_pass() -> None:
    # ModelOpt's FP16 variant: the float weight is FP16, the layer still INT8.
    res = check_trt_compat(_model("float_qdq", weight_dtype=np.float16))
    assert res.ok, res.failures


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"w_axis": 1, "n_scales": C}, "per-channel axis 1, expected 0 for Conv weights"),
        ({"n_scales": M + 1}, f"{M + 1} per-channel scales for a weight with {M} channels on axis 0"),
        ({"act_per_channel": True}, "per-channel scale on an activation feeding Conv (TensorRT wants per-tensor there)"),
        ({"dq_scale_factor": 2.0}, "uses other scales or another axis"),
        ({"dq_axis": 1, "n_scales": C, "w_axis": 0}, "channels on axis 0"),
    ],
)
def test_forms_tensorrt_rejects_still_fail(kwargs, expected) -> None:
    res = check_trt_compat(_model("float_qdq", **kwargs))
    assert not res.ok
    assert any(expected in f for f in res.failures), res.failures


def test_int8_dq_on_wrong_axis_still_fails() -> None:
    res = check_trt_compat(_model("int8_dq", dq_axis=1, n_scales=M))
    assert any("per-channel axis 1, expected 0" in f for f in res.failures), res.failures


def test_quantised_weight_feeding_a_non_weight_input_fails() -> None:
    """A per-channel weight Q/DQ whose DequantizeLinear feeds an Add (not a layer's weight input)."""
    model = _model("float_qdq")
    g = model.graph
    g.node.append(helper.make_node("Add", ["y", "w_dq"], ["z"], name="bad_add"))
    res = check_trt_compat(model)
    assert any("per-channel weight feeds input 1 of Add" in f for f in res.failures), res.failures


def test_float_layers_are_counted() -> None:
    """A Conv without Q/DQ on its inputs and a Gemm on float weights are 'left in float'."""
    model = _model("float_qdq")
    g = model.graph
    rng = np.random.default_rng(3)
    g.initializer.extend([_const("w2", rng.standard_normal((M, M, 1, 1)).astype(np.float32)),
                          _const("fc", rng.standard_normal((M * 16, 2)).astype(np.float32)),
                          _const("shape", np.array([1, -1], np.int64))])
    g.node.extend([helper.make_node("Conv", ["y", "w2"], ["y2"], name="float_conv"),
                   helper.make_node("Reshape", ["y2", "shape"], ["flat"], name="flat"),
                   helper.make_node("Gemm", ["flat", "fc"], ["logits"], name="fc")])
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2]))
    res = check_trt_compat(model)
    assert res.ok, res.failures
    assert res.float_nodes == {"Conv": 1, "Gemm": 1}
    assert "left in float: Conv 1, Gemm 1" in res.summary()
