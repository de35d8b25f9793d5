"""FP32 export through levil_edge.export: every student, ORT vs PyTorch on real decoded clips,
metadata in the file and the sidecar, static batch, the legacy exporter, and the failure path."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from levil_edge.errors import ExportError  # noqa: E402
from tests import export_fixtures as F  # noqa: E402


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    """float32 (6, 3, 4, 32, 32): two decoded clips from each of three generated videos."""
    from levil_edge.data.specs import load_spec
    from levil_edge.runtime.preprocess import video_to_input

    spec = load_spec(str(F.dataset(tmp_path_factory)))
    paths = [spec.items[i].path for i in (0, 10, 20)]
    return np.concatenate([video_to_input(p, F.tiny_config(), 2, "pyav") for p in paths])


@pytest.mark.parametrize("student", ["r3d_18", "r2plus1d_18", "x3d_xs", "mobilenetv2_tsm"])
def test_every_student_exports_and_matches_pytorch(student, tmp_path, real_clips) -> None:
    from levil_edge.export.onnx_export import compare_with_torch, export_onnx
    from levil_edge.runtime.model import load_model
    from levil_edge.students import create_student

    from tests.student_fixtures import randomize_bn

    torch.manual_seed(0)
    # Realistic BN statistics (a fresh eval-mode student gives the same logits for every clip), and
    # a feature-distillation head that must stay out of the exported graph.
    model = randomize_bn(create_student(student, 3, embed_dim=6), torch.from_numpy(real_clips))
    cfg = F.tiny_config(student)
    info = export_onnx(model, cfg, tmp_path / "model.onnx", max_batch=4)
    assert info["opset"] == 20 and info["batch"] == "1..4"
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert len(graph.output) == 1  # logits only: no embedding output
    assert not any(n.op_type in ("ScatterND", "ScatterElements") for n in graph.node)  # no in-place slice writes
    check = compare_with_torch(model, tmp_path / "model.onnx", real_clips, max_batch=4)
    assert check["ok"] and check["max_abs_diff"] <= check["tolerance"]
    assert check["top1_equal"] == 1.0
    # metadata travels in the file: a lone .onnx (no model.json) still knows its input contract
    m = load_model(tmp_path / "model.onnx", providers=["cpu"])
    assert m.cfg.labels == F.CLASSES and m.cfg.frames == 4 and m.cfg.size == 32 and m.batch_range == (1, 4)
    assert m.predict(real_clips[:5], batch_size=4).shape == (5, 3)  # 4 + a short last batch


def test_static_batch_legacy_exporter_and_padding(tmp_path, real_clips) -> None:
    from levil_edge.export.onnx_export import compare_with_torch, export_onnx
    from levil_edge.runtime.model import load_model
    from levil_edge.students import create_student

    model = create_student("x3d_xs", 3, **F.TINY_X3D).eval()
    info = export_onnx(model, F.tiny_config(), tmp_path / "m.onnx", max_batch=None, legacy=True)
    assert info["opset"] == 17 and info["exporter"] == "legacy" and info["batch"] == "1"
    inp = onnx.load(str(tmp_path / "m.onnx")).graph.input[0]
    assert inp.type.tensor_type.shape.dim[0].dim_value == 1
    assert compare_with_torch(model, tmp_path / "m.onnx", real_clips, max_batch=None)["ok"]
    m = load_model(tmp_path / "m.onnx", providers=["cpu"])
    assert m.batch_range == (1, 1)
    assert m.predict(real_clips[:3], batch_size=8).shape == (3, 3)  # split into batches of one


def test_check_fails_when_onnx_and_pytorch_disagree(tmp_path, real_clips) -> None:
    from levil_edge.export.onnx_export import compare_with_torch, export_onnx
    from levil_edge.students import create_student

    model = create_student("x3d_xs", 3, **F.TINY_X3D).eval()
    export_onnx(model, F.tiny_config(), tmp_path / "m.onnx", max_batch=4)
    assert compare_with_torch(model, tmp_path / "m.onnx", real_clips, max_batch=4)["ok"]
    with torch.no_grad():
        model.fc.weight.add_(1.0)  # the PyTorch model changes after export: the check must catch it
    with pytest.raises(ExportError, match="disagree"):
        compare_with_torch(model, tmp_path / "m.onnx", real_clips, max_batch=4)


def test_export_model_writes_sidecar_script_and_checks(tmp_path_factory, tmp_path) -> None:
    from levil_edge.export import export_model

    ckpt = F.trained_checkpoint(tmp_path_factory)
    out = tmp_path / "deploy"
    r = export_model(ckpt, out, calib_data=str(F.dataset(tmp_path_factory)), max_batch=2, heldout_clips=8)
    side = json.loads((out / "model.json").read_text())
    fp32_files = {k: v for k, v in side["files"].items() if k != "model.fp16.onnx"}  # model.fp16.onnx: with ModelOpt
    assert side["config"]["labels"] == F.CLASSES and fp32_files == {"model.onnx": "fp32"}
    assert side["dynamic_batch"] is True and side["max_batch"] == 2 and set(side["sha256"]) == set(side["files"])
    assert r["onnx_check"]["ok"] and r["onnx_check"]["num_clips"] == 8
    script = (out / "build_engine.sh").read_text()  # run with a stub trtexec in test_export_tensorrt.py
    assert "\nDYNAMIC=1 " in script and "\nINT8=0\n" in script and "\nMAX_SHAPE=2x3x4x32x32\n" in script
    assert r["next"][-1].startswith("# on the Jetson") and r["readme"] == str(out / "README.md")
    props = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(props["labels"]) == F.CLASSES and props["max_batch"] == "2"
