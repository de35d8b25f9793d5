"""Shared assets for the training tests: a small generated dataset, a tiny CLIP teacher and a
pseudo-label vocabulary, built once per test session under pytest's base temp folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLASSES = ("move_left", "move_right", "move_up")
VOCAB = ("move left", "move right", "move up", "spin", "grow")


@dataclass
class TrainAssets:
    videos: Path  # class folders, 4 videos per class, 8 frames of 32x32
    labels: Path  # labels.txt of the dataset
    vocab: Path
    teacher: Path  # tiny CLIPModel folder (embed dim 16)
    cache: Path  # teacher cache shared by the tests (filled on first use)


def train_assets(tmp_path_factory) -> TrainAssets:
    os.environ["HF_HUB_OFFLINE"] = "1"
    root = Path(tmp_path_factory.getbasetemp()) / "train_assets"
    videos, teacher = root / "videos", root / "tiny-clip"
    if not (videos / "labels.txt").is_file():
        from levil_edge.data.synthetic import generate_dataset

        generate_dataset(videos, classes=CLASSES, videos_per_class=4, frames=8, size=32, seed=0)
    if not teacher.is_dir():
        from tests.teacher_fixtures import make_tiny_clip

        make_tiny_clip(root, name="tiny-clip")
    vocab = root / "vocab.txt"
    vocab.write_text("".join(v + "\n" for v in VOCAB), encoding="utf-8")
    return TrainAssets(videos, videos / "labels.txt", vocab, teacher, root / "cache")


def tiny_distill_options(assets: TrainAssets, out: Path, **kw):
    """Smallest sensible distill run: x3d_xs, 4 frames of 32 px, batch 4, 2 epochs of 3 steps."""
    from levil_edge.train import DistillOptions

    base = dict(videos=str(assets.videos), vocab=str(assets.vocab), teacher=str(assets.teacher), out=str(out),
                cache=str(assets.cache), student="x3d_xs", epochs=2, batch_size=4, frames=4, size=32,
                workers=0, device="cpu", log_every=1, warmup_epochs=0.5)
    base.update(kw)
    return DistillOptions(**base)
