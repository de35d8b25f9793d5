"""distill -> finetune -> evaluate through the real CLI on generated videos with a tiny teacher."""

from __future__ import annotations

import json

import pytest

from levil_edge.cli.app import run
from tests.train_fixtures import train_assets


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
    assert report["num_videos"] == 12 and 0.0 <= report["top1"] <= report["top5"] <= 1.0
    assert len(report["per_class"]) == 3 and (tmp_path / "eval" / "eval_confusion.png").is_file()

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
