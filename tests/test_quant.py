"""INT8: calibration on real clips of a briefly trained model, both Q/DQ files, the TensorRT
check (passes on the TensorRT form, fails on asymmetric files), agreement with FP32 on held-out
clips, and re-quantisation from the saved ranges without videos."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, numpy_helper  # noqa: E402

from levil_edge.errors import CalibrationError, UsageError  # noqa: E402
from tests import export_fixtures as F  # noqa: E402

FP16_FILES = {"model.fp16.onnx", "model.int8.trt.fp16.onnx"}  # written where ModelOpt is installed


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from levil_edge.export import export_model

    ckpt = F.trained_checkpoint(tmp_path_factory)
    out = tmp_path_factory.mktemp("int8") / "deploy"
    result = export_model(ckpt, out, int8=True, calib_data=str(F.dataset(tmp_path_factory)), calib_clips=96,
                          max_batch=4, heldout_clips=60)
    return out, result


def _qdq(path):
    g = onnx.load(str(path)).graph
    inits = {t.name: t for t in g.initializer}
    return g, inits, [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]


def test_trt_form_is_symmetric_int8_per_channel(exported) -> None:
    out, result = exported
    g, inits, qdq = _qdq(out / "model.int8.trt.onnx")
    assert qdq, "no Q/DQ nodes"
    for n in qdq:
        zp = inits[n.input[2]]
        assert zp.data_type == TensorProto.INT8 and not numpy_helper.to_array(zp).any()
    convs = [n for n in g.node if n.op_type == "Conv"]
    weight_dq = {n.output[0]: n for n in qdq if n.op_type == "DequantizeLinear"}
    for conv in convs:
        dq = weight_dq[conv.input[1]]  # every conv weight goes through an int8 DequantizeLinear
        assert inits[dq.input[0]].data_type == TensorProto.INT8
        scale = numpy_helper.to_array(inits[dq.input[1]])
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        assert scale.size == inits[dq.input[0]].dims[0] and axis == 0  # per output channel
        if len(conv.input) > 2:  # a float bias: TensorRT fuses it, it cannot take an int32 Q/DQ bias
            assert conv.input[2] in inits and inits[conv.input[2]].data_type == TensorProto.FLOAT
    assert result["int8"]["trt_check"]["model.int8.trt.onnx"]["ok"]


def test_cpu_form_has_uint8_activations_and_fails_the_trt_check(exported) -> None:
    from levil_edge.export.trt_check import check_trt_compat

    out, _ = exported
    g, inits, qdq = _qdq(out / "model.int8.cpu.onnx")
    act = [n for n in qdq if n.op_type == "QuantizeLinear"]
    assert act and all(inits[n.input[2]].data_type == TensorProto.UINT8 for n in act)
    weights = [inits[n.input[0]] for n in qdq if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert any(w.data_type == TensorProto.INT8 for w in weights)
    res = check_trt_compat(out / "model.int8.cpu.onnx")
    assert not res.ok
    assert any("uint8 zero-point" in f for f in res.failures)
    assert any("zero-point not 0" in f for f in res.failures)


def test_trt_check_catches_axis_op_and_opset(exported, tmp_path) -> None:
    from levil_edge.export.trt_check import check_trt_compat

    out, _ = exported
    proto = onnx.load(str(out / "model.int8.trt.onnx"))
    dq = next(n for n in proto.graph.node if n.op_type == "DequantizeLinear" and any(a.name == "axis" for a in n.attribute))
    next(a for a in dq.attribute if a.name == "axis").i = 1
    proto.graph.node.append(onnx.helper.make_node("Unique", ["logits"], ["u"], name="bad_unique"))
    proto.opset_import[0].version = 21 if proto.opset_import[0].domain == "" else proto.opset_import[0].version
    res = check_trt_compat(proto)
    text = " | ".join(res.failures)
    assert "per-channel axis 1, expected 0" in text and "op Unique" in text and "opset 21" in text
    assert check_trt_compat(out / "model.onnx", expect_qdq=False).ok
    assert "not an INT8 Q/DQ file" in " ".join(check_trt_compat(out / "model.onnx").failures)


def test_int8_agrees_with_fp32_on_heldout_clips(exported) -> None:
    _, result = exported
    assert F.train_accuracy() >= 0.6, "the fixture model did not train: agreement would mean nothing"
    assert result["int8"]["heldout_clips"] == 60
    for name in ("model.int8.trt.onnx", "model.int8.cpu.onnx"):
        a = result["int8"]["agreement"][name]
        assert a["top1_agreement"] >= 0.9 and a["logit_cosine"] >= 0.98, (name, a)
    rows = {r["file"]: r for r in result["files"]}
    assert set(rows) - FP16_FILES == {"model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx"}
    trt = rows["model.int8.trt.onnx"]  # the table shows the Q/DQ count and the layers left in float
    assert trt["qdq_nodes"] == result["int8"]["trt_check"]["model.int8.trt.onnx"]["qdq_nodes"] > 0
    assert trt["float_nodes"] == "none"  # ours quantises every conv and the classifier
    assert rows["model.int8.cpu.onnx"]["size_mb"] < rows["model.onnx"]["size_mb"]
    assert any("< 300" in w for w in result["int8"]["warnings"])  # 96 clips: the user is warned


def test_fp16_files_are_written_or_the_reason_is_given(exported) -> None:
    from levil_edge.export import fp16

    out, result = exported
    rows = {r["file"] for r in result["files"]}
    if fp16.available():
        assert FP16_FILES <= rows and all((out / f).is_file() for f in FP16_FILES)
    else:  # one line each, naming the extra and why TensorRT 11 needs the file
        assert not (rows & FP16_FILES) and not any((out / f).exists() for f in FP16_FILES)
        assert "pip install 'levil-edge[modelopt]'" in result["fp16"]["reason"] and not result["fp16"]["written"]
        assert [s.split(" not written")[0] for s in result["int8"]["skipped"]] == ["model.int8.trt.fp16.onnx"]


def test_requantise_from_saved_ranges_without_videos(exported, tmp_path_factory, tmp_path) -> None:
    import shutil

    from levil_edge.calibration.ranges import load_ranges
    from levil_edge.export import export_model

    out, result = exported
    saved = load_ranges(out / "calibration.json")
    assert saved["method"] == "minmax" and saved["num_clips"] == 96 and "video" in saved["ranges"]
    ckpt = F.trained_checkpoint(tmp_path_factory)
    again = tmp_path / "again"
    shutil.copy(out / "calibration.json", tmp_path / "ranges.json")
    r2 = export_model(ckpt, again, int8=True, calib_ranges=tmp_path / "ranges.json", max_batch=4, heldout_clips=8)
    for name in ("model.int8.trt.onnx", "model.int8.cpu.onnx"):
        a, b = onnx.load(str(out / name)).graph, onnx.load(str(again / name)).graph
        ia = {t.name: numpy_helper.to_array(t) for t in a.initializer}
        ib = {t.name: numpy_helper.to_array(t) for t in b.initializer}
        assert ia.keys() == ib.keys() and all(np.array_equal(ia[k], ib[k]) for k in ia)
    assert r2["int8"]["calibration"] == {"from": str(tmp_path / "ranges.json")}


def test_calibration_errors_and_percentile(tmp_path_factory, tmp_path) -> None:
    from levil_edge.calibration.ranges import load_ranges, save_ranges
    from levil_edge.calibration.reader import ClipCalibrationReader
    from levil_edge.export import export_model
    from levil_edge.export.quantize import calibrate

    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CalibrationError, match="not a levil-edge calibration"):
        load_ranges(tmp_path / "bad.json")
    save_ranges(tmp_path / "r.json", {"x": (2.0, 1.0)}, method="minmax", num_clips=1)
    with pytest.raises(CalibrationError, match="invalid range"):
        load_ranges(tmp_path / "r.json")
    ckpt = F.trained_checkpoint(tmp_path_factory)
    with pytest.raises(UsageError, match="--calib-data"):
        export_model(ckpt, tmp_path / "x", int8=True)
    from levil_edge.export.quantize import preprocess

    prep = tmp_path / "prep.onnx"
    x = np.random.default_rng(0).standard_normal((6, 3, 4, 32, 32)).astype(np.float32)
    src = tmp_path / "m.onnx"
    _tiny_onnx(src)
    preprocess(src, prep)
    mm = calibrate(prep, ClipCalibrationReader(x, batch_size=4), "minmax")
    pc = calibrate(prep, ClipCalibrationReader(x, batch_size=4), "percentile")
    assert mm.keys() == pc.keys() and "video" in mm
    # the 99.999th percentile of |x| never exceeds the max: percentile ranges are inside minmax ones
    assert all(pc[k][1] <= mm[k][1] + 1e-6 for k in mm)
    with pytest.raises(CalibrationError, match="unknown calibration method"):
        calibrate(prep, ClipCalibrationReader(x), "entropy")


def _tiny_onnx(path) -> None:
    import torch

    from levil_edge.export.onnx_export import export_onnx
    from levil_edge.students import create_student

    torch.manual_seed(0)
    export_onnx(create_student("x3d_xs", 3, **F.TINY_X3D).eval(), F.tiny_config(), path, max_batch=4)


def test_too_few_calibration_clips_is_refused(tmp_path_factory, tmp_path) -> None:
    from levil_edge.export.int8 import _calibrate

    paths = sorted(str(p) for p in F.dataset(tmp_path_factory).rglob("*.mp4"))[:1]
    with pytest.raises(CalibrationError, match="only 2 calibration clips"):
        _calibrate(None, F.tiny_config(), paths, 2, "minmax", 16, "pyav", 0, [])
