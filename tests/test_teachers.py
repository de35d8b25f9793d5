"""Teachers: tiny real transformers models saved to disk and loaded back by path, offline."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from levil_edge.errors import TeacherError, UsageError  # noqa: E402
from levil_edge.teachers import load_teacher  # noqa: E402
from levil_edge.teachers.prompts import as_templates, humanize_label, label_set_hash  # noqa: E402
from levil_edge.teachers.formula import soft_targets_from_embeddings  # noqa: E402
from tests.teacher_fixtures import make_tiny_clip, make_tiny_siglip, make_tiny_siglip2, make_tiny_xclip  # noqa: E402

LABELS = ["run", "jump", "wave hands", "ride a bike"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    os.environ["HF_HUB_OFFLINE"] = "1"
    root = tmp_path_factory.mktemp("teachers")
    return {"clip": make_tiny_clip(root), "siglip": make_tiny_siglip(root), "siglip2": make_tiny_siglip2(root),
            "xclip": make_tiny_xclip(root)}  # fmt: skip


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, 8, 40, 56, 3), dtype=np.uint8)  # (B, N, H, W, 3), not square


def _plain_clip_video_embedding(teacher, frames):
    """Reference: processor + get_image_features per frame, normalise, mean, normalise."""
    out = []
    for video in frames:
        px = teacher.image_processor(images=list(video), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            f = teacher.model.get_image_features(pixel_values=px).pooler_output
        f = f / f.norm(dim=-1, keepdim=True)
        m = f.mean(0)
        out.append(m / m.norm())
    return torch.stack(out)


@pytest.mark.parametrize(
    "name,kind,dim",
    [("clip", "embedding", 16), ("siglip", "embedding", 32), ("siglip2", "embedding", 32), ("xclip", "logits", 16)],
)
def test_load_by_path_offline(models, name, kind, dim):
    t = load_teacher(models[name], device="cpu")
    assert (t.kind, t.embed_dim, t.image_size, t.num_frames) == (kind, dim, 32, 8)
    assert t.id == load_teacher(models[name], device="cpu").id  # stable: keys the cache
    assert t.id.startswith(f"tiny-{name}@") and t.id.endswith("/float32")
    assert not t.model.training and not any(p.requires_grad for p in t.model.parameters())


def test_clip_video_embedding_matches_plain_reference(models, videos):
    t = load_teacher(models["clip"], device="cpu", batch_size=2)
    emb = t.embed_videos(videos)
    assert emb.shape == (3, 16) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb, _plain_clip_video_embedding(t, videos), atol=1e-5, rtol=1e-4)
    assert t.calls["video"] == 2  # batches of 2


@pytest.mark.parametrize("name", ["clip", "siglip", "siglip2"])
def test_soft_targets_are_softmax_cos_over_tau(models, videos, name):
    t = load_teacher(models[name], device="cpu")
    tau = 0.05
    v = t.embed_videos(videos)
    texts = t.embed_texts([f"a video of a person {x}." for x in LABELS])
    ref = torch.softmax((v @ texts.T) / tau, dim=-1)
    got = t.soft_targets(videos, LABELS, "a video of a person {}.", tau=tau)
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got.sum(-1), torch.ones(3))
    np.testing.assert_allclose(soft_targets_from_embeddings(v.numpy(), texts.numpy(), tau), ref.numpy(), atol=1e-6)
    torch.testing.assert_close(soft_targets_from_embeddings(v, texts, tau), ref)
    # plain formula by hand, no helper at all
    cos = (v.numpy() @ texts.numpy().T) / tau
    e = np.exp(cos - cos.max(1, keepdims=True))
    np.testing.assert_allclose(got.numpy(), e / e.sum(1, keepdims=True), atol=1e-6)


def test_prompt_ensembling_is_mean_of_normalised_embeddings(models):
    t = load_teacher(models["clip"], device="cpu")
    templates = ["{}", "a video of a person {}."]
    e1 = t.embed_texts(LABELS)
    e2 = t.embed_texts([f"a video of a person {x}." for x in LABELS])
    ref = torch.nn.functional.normalize((e1 + e2) / 2, dim=-1)
    got = t.embed_labels(LABELS, templates)
    torch.testing.assert_close(got, ref)
    assert not torch.allclose(got, e1)


def test_siglip_texts_padded_to_max_length(models):
    t = load_teacher(models["siglip"], device="cpu")
    enc = t.text_inputs(["a", "a much longer label text"])
    assert set(enc) == {"input_ids"}
    assert enc["input_ids"].shape == (2, t.model.config.text_config.max_position_embeddings)
    with torch.no_grad():
        ref = t.model.get_text_features(**enc).pooler_output
    torch.testing.assert_close(t.embed_texts(["a", "a much longer label text"]),
                               torch.nn.functional.normalize(ref, dim=-1))  # fmt: skip


def test_xclip_cosine_matches_forward_logits(models, videos):
    """Our split X-CLIP pass (text tower once per label set) == XCLIPModel.forward / logit_scale."""
    t = load_teacher(models["xclip"], device="cpu", batch_size=2)
    inputs, b, n = t.pixel_inputs(videos)
    px = inputs["pixel_values"].view(b, n, 3, 32, 32)
    text = t.text_inputs(LABELS)
    with torch.no_grad():
        out = t.model(pixel_values=px, **text)
    ref = out.logits_per_video / t.model.logit_scale.exp()
    got = t.cosine(videos, LABELS, "{}")
    assert t.calls == {"video": 2, "text": 1}  # one text forward per label set, not per video batch
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(t.soft_targets(videos, LABELS, "{}", tau=0.02), torch.softmax(ref / 0.02, -1),
                               atol=1e-5, rtol=1e-4)  # fmt: skip
    assert t.embed_videos(videos).shape == (3, 16)


def test_xclip_frames_fixed_by_config(models):
    with pytest.raises(TeacherError, match="exactly 8 frames"):
        load_teacher(models["xclip"], device="cpu", num_frames=4)
    t = load_teacher(models["xclip"], device="cpu")
    with pytest.raises(TeacherError, match="takes 8 frames per video, got 4"):
        t.embed_videos(np.zeros((1, 4, 32, 32, 3), np.uint8))


def test_unknown_model_is_one_clear_line(tmp_path):
    with pytest.raises(TeacherError, match="no model at .*local folder with config.json") as err:
        load_teacher(tmp_path / "nothing-here", device="cpu")
    assert "\n" not in str(err.value)
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(TeacherError, match="supported teachers: clip"):
        load_teacher(tmp_path / "bert", device="cpu")


def test_bad_inputs(models):
    t = load_teacher(models["clip"], device="cpu")
    with pytest.raises(UsageError, match="uint8"):
        t.embed_videos(np.zeros((1, 8, 32, 32, 3), np.float32))
    with pytest.raises(UsageError, match="tau must be positive"):
        t.logits(np.zeros((1, 8, 32, 32, 3), np.uint8), LABELS, tau=0)
    with pytest.raises(UsageError, match="exactly once"):
        as_templates("no placeholder")


def test_prompts_helpers():
    assert humanize_label("ApplyEyeMakeup") == "apply eye makeup"
    assert humanize_label("playing_guitar") == "playing guitar"
    assert humanize_label("jump rope") == "jump rope"
    assert label_set_hash(["a", "b"], "{}") != label_set_hash(["a", "b"], "a {}.")
    assert label_set_hash(["a", "b"], "{}") != label_set_hash(["ab"], "{}")


def test_xclip_hub_style_videomae_preprocessor_runs_without_torchvision(models, tmp_path):
    """Real X-CLIP repos name a VideoMAE feature extractor; we read its numbers into the pillow
    CLIP image processor (X-CLIP frames are plain CLIP images)."""
    import shutil

    folder = shutil.copytree(models["xclip"], tmp_path / "xclip-hub-style")
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": 32, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "VideoMAEFeatureExtractor", "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "processor_class": "XCLIPProcessor", "resample": 2, "size": 32,
    }))  # fmt: skip
    t = load_teacher(folder, device="cpu")
    assert type(t.image_processor).__name__ == "CLIPImageProcessorPil"
    assert tuple(t.image_processor.image_mean) == (0.485, 0.456, 0.406)
    assert t.embed_videos(np.zeros((1, 8, 40, 50, 3), np.uint8)).shape == (1, 16)
