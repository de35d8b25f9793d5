"""Shared fixtures of the export / INT8 / runtime tests: a small generated dataset and a tiny
student briefly trained on it (a plain supervised torch loop, a few seconds), saved as a real
checkpoint folder. Cached per test session: several test modules use the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ["move_left", "move_right", "grow"]
FRAMES, STRIDE, SIZE = 4, 2, 32
TINY_X3D = {"widths": (8, 16, 24, 32), "depths": (1, 1, 1, 1)}

STEPS = 100
_CACHE: dict[str, object] = {}


def dataset(tmp_path_factory) -> Path:
    """data/<class>/<class>_NNNN.mp4: 3 classes x 10 videos, 16 frames of 40x40."""
    if "data" not in _CACHE:
        from levil_edge.data.synthetic import generate_dataset

        root = tmp_path_factory.mktemp("export_data")
        generate_dataset(root, classes=CLASSES, videos_per_class=10, frames=16, size=40, seed=3, difficulty=0.1)
        _CACHE["data"] = root
    return _CACHE["data"]  # type: ignore[return-value]


def tiny_config(student: str = "x3d_xs", **kw):
    from levil_edge.config import ModelConfig

    return ModelConfig(student=student, num_classes=len(CLASSES), labels=list(CLASSES), frames=FRAMES,
                       stride=STRIDE, size=SIZE, **kw)


def trained_checkpoint(tmp_path_factory) -> Path:
    """A tiny X3D trained for ~60 steps on the generated clips, saved with save_checkpoint."""
    if "ckpt" not in _CACHE:
        import torch

        from levil_edge.data.clips import load_eval_clips
        from levil_edge.data.specs import load_spec
        from levil_edge.data.transforms import to_model_input
        from levil_edge.students import create_student, save_checkpoint

        torch.manual_seed(0)
        cfg = tiny_config()
        spec = load_spec(str(dataset(tmp_path_factory)))
        xs, ys = [], []
        for it in spec.items:
            clips = load_eval_clips(it.path, cfg, 4, "pyav")  # uint8 (4, T, S, S, 3)
            xs.append(to_model_input(clips, cfg.mean, cfg.std))
            ys += [it.label] * len(clips)
        x, y = torch.from_numpy(np.concatenate(xs)), torch.tensor(ys)
        model = create_student("x3d_xs", len(CLASSES), dropout=0.0, **TINY_X3D)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(0)
        model.train()
        for _ in range(STEPS):
            idx = torch.randint(0, len(x), (16,), generator=g)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).float().mean())
        _CACHE["train_acc"] = acc
        _CACHE["ckpt"] = save_checkpoint(tmp_path_factory.mktemp("ckpt"), model, cfg).parent
    return _CACHE["ckpt"]  # type: ignore[return-value]


def train_accuracy() -> float:
    return float(_CACHE.get("train_acc", float("nan")))


def int8_export(tmp_path_factory) -> Path:
    """``export --int8`` of the trained checkpoint (dynamic batch 1..4) into a deploy folder, made
    once per session. Read-only for tests: copy it (shutil.copytree) before changing anything."""
    if "int8_export" not in _CACHE:
        from levil_edge.export import export_model

        out = tmp_path_factory.mktemp("int8_export") / "deploy"
        _CACHE["int8_result"] = export_model(trained_checkpoint(tmp_path_factory), out, int8=True,
                                             calib_data=str(dataset(tmp_path_factory)), calib_clips=40,
                                             max_batch=4, heldout_clips=8, decoder="pyav")
        _CACHE["int8_export"] = out
    return _CACHE["int8_export"]  # type: ignore[return-value]


def int8_export_result() -> dict:
    return _CACHE["int8_result"]  # type: ignore[return-value]
