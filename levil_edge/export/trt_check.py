"""TensorRT compatibility check of an ONNX file, without TensorRT (torch-free, needs ``onnx``).

It catches, on the export machine, what would otherwise fail on the Jetson minutes into an engine
build: zero-points that are not 0, non-int8 Q/DQ types (uint8 activations, int32 bias),
per-channel weight scales on the wrong axis, an opset outside what TensorRT 10 parses, and ops
outside TensorRT's ONNX operator list (onnx-tensorrt ``docs/operators.md``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# TensorRT 10.3 (JetPack 6) parses ONNX opsets 9..20; explicit (Q/DQ) quantisation needs >= 13 for
# per-channel scales. TensorRT 11 parses newer opsets, but the Jetson target is the floor.
MIN_OPSET, MAX_OPSET = 13, 20

# Ops marked supported ("Y") in onnx-tensorrt's operator matrix, plus those added in TensorRT 8.6-10
# (LayerNormalization, GroupNormalization, Gelu, CastLike, the bitwise ops, the window functions).
TRT_SUPPORTED_OPS = frozenset(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization
    BitwiseAnd BitwiseNot BitwiseOr BitwiseXor BlackmanWindow Cast CastLike Ceil Celu Clip Concat
    Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div
    Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gelu
    Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample
    GroupNormalization GRU HammingWindow HannWindow HardSigmoid HardSwish Identity If ImageScaler
    InstanceNormalization IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop
    LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mod Mul
    Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear
    RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2
    ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare
    Relu Reshape Resize ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements
    ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign
    SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
    Unsqueeze Upsample Where Xor
    """.split()
)

_QDQ = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class TrtCheck:
    path: str
    opset: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    qdq_nodes: int = 0
    per_channel_weights: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "ok": self.ok, "opset": self.opset, "qdq_nodes": self.qdq_nodes,
            "per_channel_weights": self.per_channel_weights, "ops": self.ops, "failures": self.failures,
        }

    def summary(self) -> str:
        if self.ok:
            return f"ok (opset {self.opset}, {self.qdq_nodes} Q/DQ, {self.per_channel_weights} per-channel weights)"
        more = f" (+{len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
        return "FAIL: " + "; ".join(self.failures[:3]) + more


def check_trt_compat(path_or_proto, expect_qdq: bool = True) -> TrtCheck:
    """Check an ONNX file (or ModelProto). ``expect_qdq``: an INT8 file must contain Q/DQ nodes."""
    import onnx

    proto = onnx.load(str(path_or_proto), load_external_data=False) if isinstance(path_or_proto, (str, Path)) else path_or_proto
    res = TrtCheck(path=str(path_or_proto) if isinstance(path_or_proto, (str, Path)) else "<model>")
    graph = proto.graph
    res.opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if not MIN_OPSET <= res.opset <= MAX_OPSET:
        res.failures.append(f"opset {res.opset} outside TensorRT's {MIN_OPSET}..{MAX_OPSET}: re-export with --opset 20")
    res.ops = dict(Counter(n.op_type for n in graph.node))
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            res.failures.append(f"node {node.name or node.op_type}: custom-domain op {node.domain}.{node.op_type}")
        elif node.op_type not in TRT_SUPPORTED_OPS:
            res.failures.append(f"node {node.name or node.op_type}: op {node.op_type} is not in TensorRT's ONNX operator list")
    _check_qdq(graph, res)
    if expect_qdq and res.qdq_nodes == 0:
        res.failures.append("no QuantizeLinear/DequantizeLinear nodes: this is not an INT8 Q/DQ file")
    return res


def _check_qdq(graph, res: TrtCheck) -> None:
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            inits[node.output[0]] = node.attribute[0].t
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    for node in graph.node:
        if node.op_type not in _QDQ:
            continue
        res.qdq_nodes += 1
        label = f"{node.op_type} {node.name or node.output[0]}"
        zp = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zp is None:
            # Without a zero-point QuantizeLinear outputs uint8; TensorRT needs int8.
            res.failures.append(f"{label}: no zero-point (defaults to uint8); TensorRT needs an int8 zero-point of 0")
        else:
            if zp.data_type != TensorProto.INT8:
                res.failures.append(f"{label}: {TensorProto.DataType.Name(zp.data_type).lower()} zero-point; TensorRT needs int8")
            if numpy_helper.to_array(zp).any():
                res.failures.append(f"{label}: zero-point not 0 (asymmetric); TensorRT needs symmetric quantisation")
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            x = inits[node.input[0]]
            if x.data_type != TensorProto.INT8:
                res.failures.append(
                    f"{label}: dequantises a {TensorProto.DataType.Name(x.data_type).lower()} constant "
                    "(e.g. an int32 bias); TensorRT needs int8 weights and a float bias"
                )
        scale = inits.get(node.input[1])
        if scale is not None and numpy_helper.to_array(scale).size > 1:
            _check_axis(node, label, consumers, res)


def _attr(node, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def _check_axis(node, label: str, consumers: dict, res: TrtCheck) -> None:
    """A per-channel scale must sit on the output-channel axis of the weight it feeds."""
    axis = _attr(node, "axis", 1)
    for user, idx in consumers.get(node.output[0], []):
        want = None
        if user.op_type == "Conv" and idx == 1:
            want = 0  # W (M, C/group, kT, kH, kW)
        elif user.op_type == "ConvTranspose" and idx == 1:
            want = 1  # W (C, M/group, ...)
        elif user.op_type == "Gemm" and idx == 1:
            want = 0 if _attr(user, "transB", 0) else 1
        elif user.op_type == "MatMul" and idx == 1:
            want = 1
        if want is None:
            res.failures.append(f"{label}: per-channel scale on an input of {user.op_type} (TensorRT wants per-tensor there)")
        elif axis != want:
            res.failures.append(f"{label}: per-channel axis {axis}, expected {want} for {user.op_type} weights")
        else:
            res.per_channel_weights += 1
