"""`levil-edge adapt` on real tiny transformers towers (built from a config, saved, loaded back by
path with HF_HUB_OFFLINE=1) and generated videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from levil_edge.errors import CheckpointError, ConfigError, TeacherError, UsageError

IMAGE, PATCH = 64, 8  # an 8x8 grid, pooled 2x2 into 16 walk nodes
TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEVIL_NO_PROGRESS", "1")


def _text():
    from tests.teacher_fixtures import _text_config, make_tiny_tokenizer

    tok = make_tiny_tokenizer()
    return tok, _text_config(tok)


def _save(model, tok, processor, folder: Path) -> Path:
    model.eval().save_pretrained(folder)
    tok.save_pretrained(folder)  # a full teacher folder: levil_edge.teachers.load_teacher reads it too
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    torch.manual_seed(0)
    tok, text = _text()
    cfg = CLIPConfig(text_config=text, vision_config=dict(TOWER, image_size=IMAGE, patch_size=PATCH), projection_dim=16)
    proc = CLIPImageProcessorPil(size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE})
    return _save(CLIPModel(cfg), tok, proc, tmp_path_factory.mktemp("teachers") / "clip64")


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory) -> Path:
    from transformers import CLIPImageProcessorPil, SiglipConfig, SiglipModel

    torch.manual_seed(1)
    tok, text = _text()
    cfg = SiglipConfig(text_config=text, vision_config=dict(TOWER, image_size=IMAGE, patch_size=PATCH))
    proc = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    return _save(SiglipModel(cfg), tok, proc, tmp_path_factory.mktemp("teachers") / "siglip64")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    from levil_edge.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("adapt_videos")
    # 4 per class: the held-out tenth must hold enough videos for a stable validation cycle loss
    generate_dataset(root, videos_per_class=4, frames=16, size=64, seed=0, layout="flat")
    (root / "broken.mp4").write_bytes(b"not a video at all")  # must be skipped and counted
    return root


def _frames(seed: int, shape=(2, 3, 48, 56, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_clip_encoder_matches_the_clip_model_and_the_position_hook_replaces_positions(tiny_clip):
    from transformers import CLIPModel

    from levil_edge.adapt.encoder import load_encoder
    from levil_edge.adapt.posaug import augment_position_grid

    enc = load_encoder(tiny_clip)
    assert (enc.family, enc.grid, enc.dim, enc.num_prefix) == ("clip", 8, 32, 1)
    assert not any(p.requires_grad for p in enc.parameters())
    pixels = enc.preprocess(_frames(0)[0])  # (3, 3, 64, 64)
    tokens = enc.patch_tokens(pixels)
    assert tokens.shape == (3, 64, 32)

    full = CLIPModel.from_pretrained(tiny_clip).eval()
    with torch.no_grad():
        ref = full.vision_model(pixel_values=pixels).last_hidden_state[:, 1:]
        ref = full.vision_model.post_layernorm(ref)
    torch.testing.assert_close(tokens, ref)

    grid = augment_position_grid(enc.position_grid(), enc.grid, 10.0, offset=(7, 30))
    hooked = enc.patch_tokens(pixels, position_grid=grid)
    assert not torch.allclose(hooked, tokens)
    # the same forward written out by hand with the replaced position grid
    vm = full.vision_model
    with torch.no_grad():
        patches = vm.embeddings.patch_embedding(pixels).flatten(2).transpose(1, 2) + grid
        cls = (vm.embeddings.class_embedding + vm.embeddings.position_embedding.weight[0]).expand(3, 1, -1)
        h = vm.pre_layrnorm(torch.cat([cls, patches], dim=1))
        manual = vm.post_layernorm(vm.encoder(inputs_embeds=h).last_hidden_state[:, 1:])
    torch.testing.assert_close(hooked, manual)
    torch.testing.assert_close(enc.patch_tokens(pixels), tokens)  # the hook is gone afterwards


def test_siglip_tower_is_supported(tiny_siglip):
    from levil_edge.adapt.encoder import load_encoder
    from levil_edge.adapt.objective import CoSettleObjective
    from levil_edge.adapt.projection import CoSettleProjection

    enc = load_encoder(tiny_siglip)
    assert (enc.family, enc.grid, enc.num_prefix) == ("siglip", 8, 0)
    assert enc.mean.flatten().tolist() == [0.5, 0.5, 0.5]
    pair = torch.from_numpy(_frames(1, (2, 2, IMAGE, IMAGE, 3)))
    losses = CoSettleObjective(enc, CoSettleProjection(enc.dim))(pair, torch.Generator().manual_seed(0))
    assert set(losses) == {"loss", "cycle", "kl", "acc"} and torch.isfinite(losses["loss"])
    losses["loss"].backward()


def test_xclip_and_other_models_are_refused_with_one_clear_line(tmp_path):
    from tests.teacher_fixtures import make_tiny_xclip

    from levil_edge.adapt.encoder import load_encoder

    with pytest.raises(TeacherError, match="CLIP and SigLIP ViT image teachers only.*'xclip'") as err:
        load_encoder(make_tiny_xclip(tmp_path))
    assert "\n" not in str(err.value)
    with pytest.raises(TeacherError, match="cannot read a model config"):
        load_encoder(tmp_path / "missing")


def test_saved_adapter_reloads_and_gives_identical_embeddings(tiny_clip, tiny_siglip, tmp_path):
    from levil_edge.adapt import load_adapted_teacher
    from levil_edge.adapt.artifact import WEIGHTS, save_adapter
    from levil_edge.adapt.encoder import load_encoder
    from levil_edge.adapt.projection import CoSettleProjection

    torch.manual_seed(3)
    enc = load_encoder(tiny_clip)
    proj = CoSettleProjection(enc.dim).eval()
    out = tmp_path / "adapter"
    save_adapter(out, proj, {"teacher": str(tiny_clip), "family": "clip", "dim": enc.dim, "grid": enc.grid})

    frames = _frames(4)  # (B=2, N=3, 48, 56, 3)
    with torch.no_grad():  # reference: the in-memory projection, averaged by hand
        tokens = proj(enc.patch_tokens(enc.preprocess(frames.reshape(6, 48, 56, 3))))  # (6, 64, 32)
        want = F.normalize(tokens.reshape(2, 3 * 64, 32).mean(1), dim=-1)

    a = load_adapted_teacher(None, out)  # teacher taken from adapter.json
    b = load_adapted_teacher(tiny_clip, out, device="cpu")
    got = a.embed_features(frames)
    assert got.shape == (2, 32) and got.dtype == torch.float32
    torch.testing.assert_close(got, want)
    assert torch.equal(got, b.embed_features(frames))
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(2))
    assert a.id == b.id and a.id.startswith(f"{tiny_clip}+cosettle-") and len(a.adapter_hash) == 12

    torch.testing.assert_close(a.embed_features(frames[0]), got[:1])  # one video (N, H, W, 3)
    torch.testing.assert_close(a.embed_features(list(frames)), got)
    with pytest.raises(UsageError, match="expects uint8 frames"):
        a.embed_features(frames[..., :2])
    with pytest.raises(ConfigError, match="trained on"):
        load_adapted_teacher(tiny_siglip, out)  # another family
    (out / WEIGHTS).write_bytes((out / WEIGHTS).read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="hash differs"):
        load_adapted_teacher(None, out)
    with pytest.raises(CheckpointError, match="not an adapter folder"):
        load_adapted_teacher(None, tmp_path)


def test_attach_adapter_gives_a_loaded_teacher_the_adapted_features(tiny_clip, tmp_path):
    from tests.teacher_fixtures import make_tiny_xclip

    from levil_edge.adapt import adapter_hook, load_adapted_teacher
    from levil_edge.adapt.artifact import save_adapter
    from levil_edge.adapt.projection import CoSettleProjection
    from levil_edge.teachers import load_teacher

    torch.manual_seed(5)
    out = tmp_path / "adapter"
    save_adapter(out, CoSettleProjection(32), {"teacher": str(tiny_clip), "family": "clip", "dim": 32, "grid": 8})
    plain = load_teacher(tiny_clip, device="cpu")
    teacher = load_teacher(tiny_clip, device="cpu", feature_hook=adapter_hook(out))
    assert teacher.id.startswith(plain.id + "+cosettle-") and teacher.id != plain.id
    frames = _frames(6)
    torch.testing.assert_close(teacher.embed_features(frames), load_adapted_teacher(tiny_clip, out).embed_features(frames))
    # the text-aligned embedding is untouched
    torch.testing.assert_close(teacher.embed_videos(frames), plain.embed_videos(frames))
    with pytest.raises(TeacherError, match="CLIP and SigLIP"):
        load_teacher(make_tiny_xclip(tmp_path), device="cpu", feature_hook=adapter_hook(out))


@pytest.mark.integration
def test_adapt_cli_end_to_end_lowers_the_cycle_loss(tiny_clip, videos, tmp_path, capsys):
    from levil_edge.adapt import load_adapted_teacher
    from levil_edge.cli.app import run

    out = tmp_path / "adapters" / "tiny"
    argv = [
        "adapt", "--teacher", str(tiny_clip), "--videos", str(videos), "--out", str(out),
        "--epochs", "4", "--batch-size", "8", "--lr", "0.03", "--device", "cpu", "--json",
    ]
    assert run(argv) == 0
    result = json.loads(capsys.readouterr().out)

    for name in ("adapter.safetensors", "adapter.json", "config.json", "metrics.jsonl", "diagnostics.json", "diagnostics.md",
                 "diagnostics.png"):
        assert (out / name).is_file(), name
    replay = json.loads((out / "config.json").read_text())  # what `adapt --config OUT/config.json` replays
    assert (replay["teacher"], replay["data"], replay["epochs"], replay["lr"]) == (str(tiny_clip), str(videos), 4, 0.03)
    assert (out / "diagnostics.png").read_bytes()[:4] == b"\x89PNG"
    assert result["skipped"] >= 1  # broken.mp4
    hist = result["history"]
    assert [h["epoch"] for h in hist] == list(range(5))
    assert hist[-1]["val_cycle_loss"] < hist[0]["val_cycle_loss"] - 0.05, hist
    assert result["after"]["intra_norm"] < result["before"]["intra_norm"]
    meta = json.loads((out / "adapter.json").read_text())
    assert (meta["dim"], meta["grid"], meta["pool"], meta["teacher"]) == (32, 8, 2, str(tiny_clip))
    assert meta["training"]["kl_weight"] == 3.0 and meta["training"]["frames_gap"] == 0.15

    adapted = load_adapted_teacher(tiny_clip, out)
    assert adapted.id == result["adapter_id"]
    assert adapted.embed_features(_frames(5)).shape == (2, 32)


@pytest.mark.integration
def test_adapt_cli_refuses_xclip_with_exit_code_1(tmp_path, videos, capsys):
    from tests.teacher_fixtures import make_tiny_xclip

    from levil_edge.cli.app import run

    teacher = make_tiny_xclip(tmp_path)
    capsys.readouterr()  # drop save_pretrained's progress output
    argv = ["adapt", "--teacher", str(teacher), "--videos", str(videos), "--out", str(tmp_path / "a")]
    assert run(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "CLIP and SigLIP" in err and len(err.splitlines()) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_adapt_on_cuda_matches_cpu_features(tiny_clip, videos, tmp_path):
    from levil_edge.adapt import AdaptConfig, adapt, load_adapted_teacher

    out = tmp_path / "gpu"
    cfg = AdaptConfig(epochs=2, batch_size=8, lr=0.03)
    result = adapt(tiny_clip, videos, out, cfg, device="cuda")
    assert result.steps > 0 and "cuda" in json.loads((out / "adapter.json").read_text())["training"]["device"]
    frames = _frames(7)
    on_gpu = load_adapted_teacher(tiny_clip, out, device="cuda").embed_features(frames).cpu()
    on_cpu = load_adapted_teacher(tiny_clip, out, device="cpu").embed_features(frames)
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-3)
