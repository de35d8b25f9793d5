"""TensorRT compatibility check of an ONNX file, without TensorRT (torch-free, needs ``onnx``).

It catches, on the export machine, what would otherwise fail on the Jetson minutes into an engine
build: zero-points that are not 0, non-int8 Q/DQ types (uint8 activations, int32 bias),
per-channel scales on activations or on the wrong axis of a weight, an opset outside what
TensorRT 10 parses, and ops outside TensorRT's ONNX operator list (onnx-tensorrt ``docs/operators.md``).

Both weight forms TensorRT documents are accepted ("Explicit Quantization": weights may be given in
high precision, TensorRT quantises them with the IQuantizeLayer's scale at build time): int8 weights
-> DequantizeLinear (ONNX Runtime's form) and float weights -> QuantizeLinear -> DequantizeLinear
(pytorch-quantization's and NVIDIA ModelOpt's form). It also counts the compute layers left in
float (no DequantizeLinear on their data or weight input): TensorRT runs those in FP32/FP16."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# TensorRT 10.3 (JetPack 6.1 and 6.2) parses ONNX opsets 9..20; explicit (Q/DQ) quantisation needs >= 13 for
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
# Ops whose INT8 kernels TensorRT picks when both data and weight inputs come out of a DequantizeLinear.
_COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# Ops a weight may pass through between its DequantizeLinear and the layer (TensorRT folds them).
_WEIGHT_PASSTHROUGH = ("Transpose", "Identity")


@dataclass
class TrtCheck:
    path: str
    opset: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    qdq_nodes: int = 0
    per_channel_weights: int = 0
    float_nodes: dict[str, int] = field(default_factory=dict)  # op type -> compute nodes without Q/DQ inputs
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "ok": self.ok, "opset": self.opset, "qdq_nodes": self.qdq_nodes,
            "per_channel_weights": self.per_channel_weights, "float_nodes": self.float_nodes,
            "ops": self.ops, "failures": self.failures,
        }

    def float_summary(self) -> str:
        """``Conv 1, Gemm 1`` (or ``none``): compute layers TensorRT will run in float."""
        return ", ".join(f"{op} {n}" for op, n in sorted(self.float_nodes.items())) or "none"

    def summary(self) -> str:
        if self.ok:
            return (f"ok (opset {self.opset}, {self.qdq_nodes} Q/DQ, {self.per_channel_weights} per-channel weights, "
                    f"left in float: {self.float_summary()})")
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
    _Graph(graph).check_qdq(res)
    if expect_qdq and res.qdq_nodes == 0:
        res.failures.append("no QuantizeLinear/DequantizeLinear nodes: this is not an INT8 Q/DQ file")
    return res


class _Graph:
    """Constants, producers and consumers of a graph, for the Q/DQ rules."""

    def __init__(self, graph):
        self.graph = graph
        self.consts = {t.name: t for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.consts[node.output[0]] = node.attribute[0].t
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for i, name in enumerate(node.input):
                self.consumers.setdefault(name, []).append((node, i))

    def check_qdq(self, res: TrtCheck) -> None:
        from onnx import TensorProto, numpy_helper

        for node in self.graph.node:
            if node.op_type in _COMPUTE_OPS and not all(self._from_dq(node, i) for i in (0, 1)):
                res.float_nodes[node.op_type] = res.float_nodes.get(node.op_type, 0) + 1
            if node.op_type not in _QDQ:
                continue
            res.qdq_nodes += 1
            label = f"{node.op_type} {node.name or node.output[0]}"
            zp = self.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if zp is None:
                # Without a zero-point QuantizeLinear outputs uint8; TensorRT needs int8.
                res.failures.append(f"{label}: no zero-point (defaults to uint8); TensorRT needs an int8 zero-point of 0")
            else:
                if zp.data_type != TensorProto.INT8:
                    res.failures.append(f"{label}: {TensorProto.DataType.Name(zp.data_type).lower()} zero-point; TensorRT needs int8")
                if numpy_helper.to_array(zp).any():
                    res.failures.append(f"{label}: zero-point not 0 (asymmetric); TensorRT needs symmetric quantisation")
            if node.op_type == "DequantizeLinear" and node.input[0] in self.consts:
                x = self.consts[node.input[0]]
                if x.data_type != TensorProto.INT8:
                    res.failures.append(
                        f"{label}: dequantises a {TensorProto.DataType.Name(x.data_type).lower()} constant "
                        "(e.g. an int32 bias); TensorRT needs int8 weights and a float bias"
                    )
            scale = self.consts.get(node.input[1])
            if scale is not None and numpy_helper.to_array(scale).size > 1:
                self._check_per_channel(node, label, numpy_helper.to_array(scale), res)

    def _from_dq(self, node, idx: int) -> bool:
        """Whether input ``idx`` of ``node`` comes out of a DequantizeLinear (through weight pass-throughs)."""
        if idx >= len(node.input) or not node.input[idx]:
            return False
        src = self.producer.get(node.input[idx])
        while src is not None and src.op_type in _WEIGHT_PASSTHROUGH:
            src = self.producer.get(src.input[0])
        return src is not None and src.op_type == "DequantizeLinear"

    def _weight(self, node):
        """The constant weight a per-channel Q/DQ node quantises: its own constant input (pre-quantised
        int8 weights, or a float weight under QuantizeLinear) or, for a DequantizeLinear, the constant
        under the QuantizeLinear that feeds it. None: the node quantises an activation."""
        src = node.input[0]
        if src in self.consts:
            return self.consts[src]
        q = self.producer.get(src)
        if node.op_type == "DequantizeLinear" and q is not None and q.op_type == "QuantizeLinear":
            return self.consts.get(q.input[0])
        return None

    def _check_per_channel(self, node, label: str, scale, res: TrtCheck) -> None:
        """TensorRT quantises activations per tensor and weights per output channel: a per-channel
        scale is accepted only on a constant weight (int8 -> DequantizeLinear, or the float weight ->
        QuantizeLinear -> DequantizeLinear that pytorch-quantization and ModelOpt export, which
        TensorRT quantises at build time), with as many scales as the weight has channels on that
        axis, on the axis the layer reads as output channels."""
        axis = _attr(node, "axis", 1)
        weight = self._weight(node)
        if weight is None:
            users = sorted({u.op_type for u, _ in self.consumers.get(node.output[0], [])}) or ["nothing"]
            res.failures.append(f"{label}: per-channel scale on an activation feeding {'/'.join(users)} "
                                "(TensorRT wants per-tensor there)")
            return
        dims = list(weight.dims)
        if not -len(dims) <= axis < len(dims):
            res.failures.append(f"{label}: per-channel axis {axis} outside the weight's {len(dims)} dimensions")
            return
        if dims[axis] != scale.size:
            res.failures.append(f"{label}: {scale.size} per-channel scales for a weight with {dims[axis]} channels on axis {axis}")
        if node.op_type == "QuantizeLinear":
            self._check_weight_pair(node, label, axis, scale, res)
        else:
            self._check_axis(node.output[0], label, axis % len(dims), res)

    def _check_weight_pair(self, q, label: str, axis: int, scale, res: TrtCheck) -> None:
        """A weight's QuantizeLinear must feed only DequantizeLinear nodes with the same scales and axis."""
        from onnx import numpy_helper

        for user, _ in self.consumers.get(q.output[0], []):
            dq_scale = self.consts.get(user.input[1]) if user.op_type == "DequantizeLinear" else None
            if dq_scale is None:
                res.failures.append(f"{label}: a quantised weight feeds {user.op_type}, not a DequantizeLinear")
            elif _attr(user, "axis", 1) != _attr(q, "axis", 1) or not _same(numpy_helper.to_array(dq_scale), scale):
                res.failures.append(f"{label}: its DequantizeLinear {user.name or user.output[0]} uses other scales or another axis")

    def _check_axis(self, tensor: str, label: str, axis: int, res: TrtCheck) -> None:
        """A per-channel scale must sit on the output-channel axis of the weight it feeds."""
        for user, idx in self.consumers.get(tensor, []):
            if user.op_type in _WEIGHT_PASSTHROUGH:
                perm = [a.ints for a in user.attribute if a.name == "perm"]
                self._check_axis(user.output[0], label, list(perm[0]).index(axis) if perm and perm[0] else axis, res)
                continue
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
                res.failures.append(f"{label}: per-channel weight feeds input {idx} of {user.op_type} "
                                    "(TensorRT takes per-channel scales only on Conv/ConvTranspose/Gemm/MatMul weights)")
            elif axis != want:
                res.failures.append(f"{label}: per-channel axis {axis}, expected {want} for {user.op_type} weights")
            else:
                res.per_channel_weights += 1


def _same(a, b) -> bool:
    import numpy as np

    return a.shape == b.shape and bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-3, atol=0))


def _attr(node, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default
