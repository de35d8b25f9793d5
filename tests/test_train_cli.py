"""distill -> finetune -> evaluate through the real CLI on generated videos with a tiny teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from levil_edge.cli.app import run
from tests.train_fixtures import train_assets


def _predict_by_hand(checkpoint, videos, clips: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, true class) per video: the checkpoint's softmax averaged over clips."""
    import torch

    from levil_edge.data.clips import load_eval_clips
    from levil_edge.data.specs import load_spec
    from levil_edge.data.transforms import to_model_input
    from levil_edge.students import load_checkpoint

    model, cfg = load_checkpoint(checkpoint)
    spec = load_spec(videos)
    with torch.no_grad():
        scores = [torch.softmax(model(torch.from_numpy(to_model_input(load_eval_clips(it.path, cfg, clips), cfg.mean,
                                                                      cfg.std))), -1).mean(0).numpy()
                  for it in spec.items]
    labels = np.array([cfg.labels.index(spec.classes[it.label]) for it in spec.items])
    return np.stack(scores).argmax(1), labels


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


@pytest.mark.integration
def test_distill_finetune_evaluate_cli(tmp_path_factory, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")
    a = train_assets(tmp_path_factory)
    tiny = ["--student", "x3d_xs", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--epochs", "1"]
    rc = run(["distill", "--videos", str(a.videos), "--vocab", str(a.vocab), "--teacher", str(a.teacher),
              "--out", str(tmp_path / "zsd"), "--cache", str(tmp_path / "cache"), "--frames", "4", "--size", "32",
              "--feature-weight", "0.5", "--json", *tiny])
    assert rc == 0
    zsd = _json(capsys)
    assert zsd["num_pseudo_labels"] == 5 and zsd["steps"] == 3

    rc = run(["finetune", "--labels", str(a.labels), "--train", str(a.videos), "--label-ratio", "0.25",
              "--init", str(tmp_path / "zsd"), "--teacher", str(a.teacher), "--cache", str(tmp_path / "cache"),
              "--val", str(a.videos), "--val-clips", "1", "--pseudo-threshold", "0.4",
              "--out", str(tmp_path / "ft"), "--json", *tiny])
    assert rc == 0
    ft = _json(capsys)
    assert ft["num_labeled"] == 3 and ft["num_unlabeled"] == 9 and ft["best_val_top1"] is not None

    rc = run(["evaluate", "--model", str(tmp_path / "ft"), "--data", str(a.videos), "--clips", "2",
              "--out", str(tmp_path / "eval"), "--json"])
    assert rc == 0
    report = _json(capsys)
    # The report is what the fine-tuned best/ checkpoint predicts, computed here by hand.
    predicted, labels = _predict_by_hand(tmp_path / "ft" / "best", a.videos, clips=2)
    assert report["num_videos"] == 12
    assert report["top1"] == pytest.approx(float((predicted == labels).mean()))
    assert report["top5"] == 1.0  # 3 classes: the true one is always among the top 5
    confusion = np.zeros((3, 3), int)
    np.add.at(confusion, (labels, predicted), 1)
    assert report["confusion_matrix"] == confusion.tolist()
    assert [r["support"] for r in report["per_class"]] == [4, 4, 4]
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["top1"] == report["top1"]
    assert (tmp_path / "eval" / "eval_confusion.png").read_bytes()[:4] == b"\x89PNG"

    # The table output (no --json) ends with the per-class table.
    assert run(["evaluate", "--model", str(tmp_path / "ft" / "best"), "--data", str(a.videos), "--clips", "1"]) == 0
    assert "per class" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path_factory, tmp_path, capsys):
    a = train_assets(tmp_path_factory)
    labels = tmp_path / "labels.txt"
    labels.write_text("move_left\nwave\n")
    capsys.readouterr()  # drop what building the fixtures printed
    rc = run(["finetune", "--labels", str(labels), "--train", str(a.videos), "--out", str(tmp_path / "x"),
              "--no-teacher", "--workers", "0", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and "move_right, move_up" in err and len(err.strip().splitlines()) == 1
    rc = run(["distill", "--videos", str(a.videos), "--vocab", str(a.vocab), "--teacher", str(a.teacher),
              "--out", str(tmp_path / "y"), "--amp", "fp16", "--device", "cpu"])
    assert rc == 2 and "--amp fp16 needs CUDA" in capsys.readouterr().err
    rc = run(["distill", "--videos", str(a.videos), "--vocab", str(a.vocab), "--teacher", str(a.teacher),
              "--out", str(tmp_path / "z"), "--flip", "2"])
    assert rc == 2 and "--flip is a probability" in capsys.readouterr().err
