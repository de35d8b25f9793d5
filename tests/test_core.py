"""The shared core: config round trip, metrics against hand-computed values, atomic io, CLI error mapping."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from levil_edge import metrics
from levil_edge.config import ModelConfig
from levil_edge.errors import ConfigError, DatasetError
from levil_edge.utils.io import atomic_write_json, read_jsonl, append_jsonl


def test_config_round_trip(tmp_path):
    cfg = ModelConfig(student="x3d_xs", num_classes=2, labels=["a", "b"], frames=4, size=32)
    cfg.save(tmp_path / "config.json")
    back = ModelConfig.load(tmp_path / "config.json")
    assert back == cfg
    assert back.input_shape == (3, 4, 32, 32)


def test_config_rejects_label_mismatch():
    with pytest.raises(ConfigError, match="2 labels but num_classes=3"):
        ModelConfig(student="x", num_classes=3, labels=["a", "b"])


def test_metrics_against_hand_values():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 1, 2])
    s = metrics.summarize(scores, labels, ["a", "b", "c"])
    assert s["top1"] == pytest.approx(0.5)  # rows 0 and 2 correct
    assert metrics.topk_accuracy(scores, labels, 2) == pytest.approx(0.75)  # row 3: label 2 is third
    assert s["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    # per class: a 1/1, b 1/2, c 0/1
    assert s["mean_class_accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)
    agree = metrics.agreement(scores, scores * 2)
    assert agree["top1_agreement"] == 1.0 and agree["logit_cosine"] == pytest.approx(1.0)


def test_jsonl_skips_broken_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    append_jsonl(p, {"a": 1})
    with open(p, "a") as f:
        f.write("{broken\n[1, 2]\n")
    append_jsonl(p, {"a": 2})
    records, bad = read_jsonl(p)
    assert [r["a"] for r in records] == [1, 2] and bad == 2


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_json(tmp_path / "out.json", {"x": np.float32(1.5), "p": tmp_path})
    assert json.loads((tmp_path / "out.json").read_text())["x"] == 1.5
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_cli_maps_domain_errors_to_one_line(monkeypatch, capsys):
    from levil_edge.cli import app as cli_app

    @cli_app.app.command("raise-for-test", hidden=True)
    def _boom() -> None:
        raise DatasetError("labels.txt has no class 'x': add it or fix the dataset")

    code = cli_app.run(["raise-for-test"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == ["error: labels.txt has no class 'x': add it or fix the dataset"]
    assert cli_app.run(["doctor", "--no-such-option"]) == 2


def test_help_and_version_without_torch(tmp_path):
    """`--help` must list every command and must not import torch (edge installs have none)."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch blocked for this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from levil_edge.cli.app import run\n"
        "sys.exit(run(sys.argv[1:]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for cmd in ("doctor", "models", "data", "caption", "vocab", "zeroshot", "distill", "finetune",
                "evaluate", "export", "bench", "predict", "demo", "adapt"):
        assert cmd in out.stdout, cmd
    out = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("levil-edge ")
    out = subprocess.run([sys.executable, "-c", code, "doctor", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["torch"].startswith("not importable") and "CPUExecutionProvider" in facts["onnxruntime_providers"]
