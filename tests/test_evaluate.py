"""The shared evaluation report (torch-free) and `evaluate` of a PyTorch checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from levil_edge.errors import ConfigError, DatasetError
from levil_edge.eval_report import aggregate_clip_scores, build_report, label_index_map, per_class_rows, write_report
from tests.train_fixtures import CLASSES, train_assets


def test_evaluation_module_does_not_import_torch():
    code = "import sys, levil_edge.eval_report; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_aggregate_clip_scores_averages_softmax():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(aggregate_clip_scores(logits), p.mean(0))
    np.testing.assert_allclose(aggregate_clip_scores(logits, "logits"), [1.0, 0.0, 2.0])


def test_label_index_map_names_unknown_classes():
    np.testing.assert_array_equal(label_index_map(["b", "a"], ["a", "b", "c"]), [1, 0])
    with pytest.raises(DatasetError, match="zebra, yak"):
        label_index_map(["a", "zebra", "yak"], ["a", "b"])


def test_report_rows_json_and_confusion_png(tmp_path):
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    labels = np.array([0, 1, 1, 2])
    report = build_report(scores, labels, ["a", "b", "c"], model="m")
    assert report["top1"] == pytest.approx(0.75)
    assert report["mean_class_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert per_class_rows(report)[0] == ("b", "2", "50.0%")  # worst class first
    paths = write_report(report, tmp_path)
    assert json.loads(paths["json"].read_text())["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert paths["confusion_png"].read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from levil_edge.config import ModelConfig
    from levil_edge.students import create_student, save_checkpoint

    from tests.student_fixtures import randomize_bn

    torch.manual_seed(0)
    # BatchNorm randomised and calibrated on random clips: an untrained x3d_xs gives 1/3 for every
    # class of every clip, so any preprocessing bug would go unseen.
    model = randomize_bn(create_student("x3d_xs", len(CLASSES)), torch.randn(8, 3, 4, 32, 32))
    cfg = ModelConfig(student="x3d_xs", num_classes=len(CLASSES), labels=list(CLASSES), frames=4, stride=1, size=32)
    folder = tmp_path_factory.mktemp("ckpt") / "best"
    save_checkpoint(folder, model.eval(), cfg)
    return folder, model, cfg


def test_evaluate_checkpoint_matches_a_manual_forward(tmp_path_factory, checkpoint, tmp_path):
    import torch

    from levil_edge.data.clips import load_eval_clips
    from levil_edge.data.specs import load_spec
    from levil_edge.data.transforms import to_model_input
    from levil_edge.train import evaluate

    from levil_edge.students import load_checkpoint
    from levil_edge.train.eval_checkpoint import predict_scores

    assets = train_assets(tmp_path_factory)
    folder, model, cfg = checkpoint
    report = evaluate(folder.parent, assets.videos, clips=2, out=tmp_path, device="cpu")  # run folder -> best/
    spec = load_spec(assets.videos)

    clips = [load_eval_clips(it.path, cfg, 2) for it in spec.items]

    def by_hand(mean, std):
        with torch.no_grad():
            return np.stack([torch.softmax(model(torch.from_numpy(to_model_input(c, mean, std))), -1).mean(0).numpy()
                             for c in clips])

    manual = by_hand(cfg.mean, cfg.std)
    assert np.ptp(manual, axis=0).max() > 0.05  # the scores differ from video to video ...
    assert np.abs(by_hand((0.5,) * 3, (0.25,) * 3) - manual).max() > 1e-3  # ... and with the preprocessing
    scores, kept, bad = predict_scores(load_checkpoint(folder)[0], cfg, spec.items, num_clips=2)
    assert kept == list(range(12)) and bad == []
    np.testing.assert_allclose(scores, manual, rtol=1e-4, atol=1e-5)  # what evaluate scores is the model's output
    labels = np.array([CLASSES.index(spec.classes[it.label]) for it in spec.items])
    assert report["num_videos"] == len(spec.items) == 12
    assert report["top1"] == pytest.approx(float((manual.argmax(1) == labels).mean()))
    assert report["confusion_matrix"] == build_report(manual, labels, list(CLASSES))["confusion_matrix"]
    assert (tmp_path / "eval.json").is_file() and (tmp_path / "eval_confusion.png").is_file()


def test_evaluate_errors_say_what_to_do(tmp_path_factory, checkpoint, tmp_path):
    from levil_edge.train import evaluate

    assets = train_assets(tmp_path_factory)
    folder, _, _ = checkpoint
    wrong = tmp_path / "labels.txt"
    wrong.write_text("a\nb\n")
    with pytest.raises(ConfigError, match="2 classes but the model head has 3"):
        evaluate(folder, assets.videos, clips=1, labels=wrong)
    other = tmp_path / "other.txt"
    other.write_text("move_left\nspin\njump\n")
    with pytest.raises(DatasetError, match="move_right, move_up"):
        evaluate(folder, assets.videos, clips=1, labels=other)


@pytest.mark.integration
def test_evaluate_onnx_goes_through_the_runtime_and_agrees_with_pytorch(tmp_path_factory, checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    from levil_edge.export.onnx_export import export_onnx
    from levil_edge.train import evaluate

    assets = train_assets(tmp_path_factory)
    folder, model, cfg = checkpoint
    onnx_path = export_onnx(model, cfg, tmp_path / "model.onnx", max_batch=4)["path"]
    by_onnx = evaluate(onnx_path, assets.videos, clips=1)
    by_torch = evaluate(folder, assets.videos, clips=1, device="cpu")
    assert by_onnx["backend"] == "onnxruntime" and by_torch["backend"] == "pytorch"
    assert by_onnx["class_names"] == by_torch["class_names"]
    assert by_onnx["confusion_matrix"] == by_torch["confusion_matrix"]
