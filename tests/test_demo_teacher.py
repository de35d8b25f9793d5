"""The demo teacher: its tokenizer, augmentations, a tiny training run loaded back through
``load_teacher``, and the shipped weights' zero-shot accuracy on fresh clips."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from levil_edge.data import synthetic as syn  # noqa: E402

# The trainer is an offline tool of the repository (tools/), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import train_demo_teacher as tt  # noqa: E402


@pytest.fixture(scope="module")
def tags():
    return tt.class_tags()


@pytest.fixture(scope="module")
def tokenizer(tags):
    return tt.build_tokenizer(tt.vocabulary_words(tags))


def test_tokenizer_words_are_single_tokens_and_eos_is_highest(tokenizer, tags):
    for w in tt.vocabulary_words(tags):
        assert len(tokenizer(w, add_special_tokens=False)["input_ids"]) == 1, w
    assert tokenizer.eos_token_id == len(tokenizer) - 1  # XCLIPTextModel pools at argmax(input_ids)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    enc = tokenizer(["grow", "a video of something moving to the left."], padding=True)
    for ids in enc["input_ids"]:
        assert ids[0] == tokenizer.bos_token_id
        assert int(np.argmax(ids)) == ids.index(tokenizer.eos_token_id)  # pooled at the real end
    unk = tokenizer("a $ thing", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id in unk and tokenizer.eos_token_id not in unk


def test_class_tags_hold_the_label_text_and_parsed_verbs(tags):
    assert set(tags) == set(syn.CLASS_NAMES)
    assert tags["move_left"][0] == "move left" and tags["rotate_clockwise"][0] == "rotate clockwise"
    assert "shrink" in tags["shrink"] and "bounce" in tags["bounce"]


def _centroid_x(clip):
    diff = np.abs(clip.astype(np.float32) - np.median(clip, axis=0)).sum(-1)
    diff = np.where(diff > 60, diff, 0)
    xs = np.arange(clip.shape[2])[None, None, :]
    return (diff * xs).sum((1, 2)) / (diff.sum((1, 2)) + 1e-6)


def test_augment_maps_the_class_with_the_pixels():
    clip, _ = syn.render_clip("move_left", np.random.default_rng(0), 16, 64, 0.0)
    seen = set()
    for seed in range(16):
        out, cls = tt.augment(clip, "move_left", np.random.default_rng(seed))
        cx = _centroid_x(out)
        moved = cx[-1] - cx[0]
        assert cls in ("move_left", "move_right")
        assert (moved < 0) == (cls == "move_left"), (seed, cls, moved)
        seen.add(cls)
    assert seen == {"move_left", "move_right"}
    for seed in range(8):  # bounce is never turned upside down
        assert tt.augment(clip, "bounce", np.random.default_rng(seed))[1] == "bounce"


def test_multi_positive_loss_prefers_matching_classes():
    import torch

    v = torch.eye(4)[[0, 1, 2, 0]]
    classes = torch.tensor([0, 1, 2, 0])
    scale = torch.tensor(np.log(10.0), dtype=torch.float32)
    good = tt.multi_positive_loss(v, v.clone(), classes, scale)
    bad = tt.multi_positive_loss(v, v[[1, 2, 0, 1]], classes, scale)
    assert good < bad


def test_tiny_training_run_exports_a_loadable_xclip(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = tt.Settings(vision_width=32, vision_layers=1, text_width=32, text_layers=1, embed_dim=32, mit_layers=1,
                    bank_per_class=1, val_per_class=1, batch=8, steps=2, eval_every=2, ckpt_every=1, threads=1)
    state = tt.train(tmp_path / "work", s, export_to=tmp_path / "teacher")
    assert state["step"] == 2 and (tmp_path / "work" / "checkpoint.pt").is_file()
    resumed = tt.train(tmp_path / "work", tt.Settings(**{**s.__dict__, "steps": 3}), export_to=None)
    assert resumed["step"] == 3  # resumed, not restarted

    from levil_edge.teachers import load_teacher

    teacher = load_teacher(str(tmp_path / "teacher"), device="cpu")
    assert teacher.kind == "logits" and teacher.num_frames == 8
    clips = np.stack([syn.render_clip(c, np.random.default_rng(i), 16, 64)[0][::2] for i, c in enumerate(syn.CLASS_NAMES[:3])])
    logits = teacher.logits(clips, ["move left", "grow"], template="{}")
    assert tuple(logits.shape) == (3, 2) and np.isfinite(logits.numpy()).all()


@pytest.mark.skipif(not (tt.TEACHER_DIR / "config.json").is_file(), reason="the shipped demo teacher is not trained yet")
def test_shipped_teacher_is_well_above_chance(monkeypatch):
    """Fresh clips (a seed the teacher never saw), the demo's prompts: top-1 must beat chance (10%) by far."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from levil_edge.metrics import summarize
    from levil_edge.teachers import load_teacher

    teacher = load_teacher(str(tt.TEACHER_DIR), device="cpu")
    from levil_edge.data.sampling import uniform_indices

    assert sum(f.stat().st_size for f in tt.TEACHER_DIR.iterdir()) < 8 * 2**20  # "a few MB at most"
    idx = uniform_indices(16, teacher.num_frames)  # as the teacher wrapper samples a 16-frame video
    clips, labels = [], []
    for ci, c in enumerate(syn.CLASS_NAMES):
        for k in range(6):
            clips.append(syn.render_clip(c, np.random.default_rng([999, ci, k]), 16, 64, 0.3)[0][idx])
            labels.append(ci)
    scores = teacher.logits(np.stack(clips), [tt.class_text(c) for c in syn.CLASS_NAMES], template="{}").numpy()
    assert summarize(scores, np.array(labels))["top1"] > 0.4
    if os.environ.get("LEVIL_DEBUG"):
        print(summarize(scores, np.array(labels), list(syn.CLASS_NAMES))["per_class"])
