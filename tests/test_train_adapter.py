"""distill --teacher-adapter: the Co-Settle adapter's features become the feature-distillation
target (cached once beside the text-aligned embedding), while soft targets keep the embedding."""

from __future__ import annotations

import json

import numpy as np
import torch

from levil_edge.cli.app import run
from tests.train_fixtures import train_assets


def test_distill_with_teacher_adapter_targets_the_adapter_features(tmp_path_factory, tmp_path, capsys, monkeypatch):
    from levil_edge.adapt.artifact import save_adapter
    from levil_edge.adapt.projection import CoSettleProjection
    from levil_edge.teachers import TeacherTargets

    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")
    a = train_assets(tmp_path_factory)
    vision = json.loads((a.teacher / "config.json").read_text())["vision_config"]
    width, grid = vision["hidden_size"], vision["image_size"] // vision["patch_size"]
    torch.manual_seed(0)
    adapter = tmp_path / "adapter"
    save_adapter(adapter, CoSettleProjection(width), {"teacher": str(a.teacher), "family": "clip", "dim": width, "grid": grid})

    cache = tmp_path / "cache"
    argv = ["distill", "--videos", str(a.videos), "--vocab", str(a.vocab), "--teacher", str(a.teacher),
            "--out", str(tmp_path / "zsd"), "--cache", str(cache), "--frames", "4", "--size", "32",
            "--student", "x3d_xs", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--epochs", "1",
            "--teacher-adapter", str(adapter)]
    # The adapter only changes the feature target, so asking for it without a feature weight is a usage error.
    assert run(argv) == 2
    assert "--feature-weight" in capsys.readouterr().err
    assert run([*argv, "--feature-weight", "1.0", "--json"]) == 0
    capsys.readouterr()

    # The student's embedding head is sized to the adapter's features (the vision width), not to
    # the text-aligned embedding, and the cache holds both.
    from levil_edge.students import load_checkpoint

    _, cfg = load_checkpoint(tmp_path / "zsd" / "last")
    assert cfg.embed_dim == width
    targets = TeacherTargets.load(cache, [str(p) for p in sorted(a.videos.rglob("*.mp4"))], strict=False)
    i = int(np.flatnonzero(np.asarray(targets.valid))[0])
    assert targets.features(i, 0).shape == (width,)
    assert targets.video_embedding(i, 0).shape == (16,)

    # From Python, the adapter folder itself is enough: train turns it into the teacher's feature
    # hook (teachers never import adapt). The cache filled above is reused: same teacher, same adapter.
    from levil_edge.train import distill
    from tests.train_fixtures import tiny_distill_options

    res = distill(tiny_distill_options(a, tmp_path / "zsd-py", cache=str(cache), teacher_adapter=str(adapter),
                                       feature_weight=1.0, epochs=1))
    assert res["steps"] > 0
    assert load_checkpoint(tmp_path / "zsd-py" / "last")[1].embed_dim == width
    assert json.loads((tmp_path / "zsd-py" / "config.json").read_text())["teacher_adapter"] == str(adapter)
