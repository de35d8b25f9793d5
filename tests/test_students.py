"""Every registered student through one parametrized test of the shared interface, plus the
checkpoint round trip and its error messages, FLOP counting and the temporal shift."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

from levil_edge.config import ModelConfig
from levil_edge.errors import CheckpointError, ConfigError
from levil_edge.students import (
    count_flops,
    count_params,
    create_student,
    get_default_cfg,
    list_students,
    load_checkpoint,
    register_student,
    save_checkpoint,
    student_config,
)
from levil_edge.students.mobilenet_tsm import temporal_shift
from tests.student_fixtures import randomize_bn

STUDENTS = ["mobilenetv2_tsm", "r2plus1d_18", "r3d_18", "r3d_tiny", "x3d_xs"]
SMALL = (2, 3, 4, 32, 32)  # (B, 3, T, H, W): tiny clips keep the suite fast on 2 cores

# (params in M, GFLOPs at 8x112x112) with a 400-class head: FINDINGS.md / torchvision's tables x2.
TARGETS = {"r3d_18": (33.4, 40.7), "r2plus1d_18": (31.5, 40.5), "x3d_xs": (2.6, 0.63), "mobilenetv2_tsm": (2.7, 1.30),
           # ours, counted by hand: stem 3x7x7 + one basic block per stage (16, 32, 64, 128 channels)
           "r3d_tiny": (0.956, 1.51)}


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.randn(SMALL, generator=torch.Generator().manual_seed(1))


def test_registry_lists_every_student() -> None:
    assert list_students() == STUDENTS
    for name in STUDENTS:
        cfg = get_default_cfg(name)
        assert {"frames", "stride", "size", "mean", "std", "description", "dropout"} <= set(cfg)
        assert len(cfg["mean"]) == 3 and len(cfg["std"]) == 3
    cfg = get_default_cfg("x3d_xs")
    cfg["frames"] = 99  # a copy: the registry's default must not change
    assert get_default_cfg("x3d_xs")["frames"] == 8


def test_registry_errors_say_what_to_do() -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        create_student("resnet50", 10)
    with pytest.raises(ConfigError, match="allowed extra options"):
        create_student("r3d_18", 10, width_mult=2.0)
    with pytest.raises(ConfigError, match="num_classes"):
        create_student("x3d_xs", 0)


def test_register_student_decorator_adds_a_student(clip) -> None:
    from levil_edge.students import registry
    from levil_edge.students.x3d import X3D

    @register_student({"description": "test-only tiny X3D", "frames": 4}, name="_tiny_x3d_test")
    def tiny(num_classes, *, dropout=0.0, embed_dim=None):
        return X3D(num_classes, widths=(8, 8, 8, 8), depths=(1, 1, 1, 1), num_features=16, dropout=dropout, embed_dim=embed_dim)

    try:
        assert "_tiny_x3d_test" in list_students()
        assert get_default_cfg("_tiny_x3d_test")["frames"] == 4
        assert create_student("_tiny_x3d_test", 3)(clip).shape == (2, 3)
    finally:
        registry._REGISTRY.pop("_tiny_x3d_test")
        registry._DEFAULT_CFGS.pop("_tiny_x3d_test")


@pytest.mark.parametrize("name", STUDENTS)
def test_student_interface_and_checkpoint_round_trip(name, clip, tmp_path) -> None:
    torch.manual_seed(0)
    model = randomize_bn(create_student(name, 5, embed_dim=7), clip)
    with torch.no_grad():
        logits = model(clip)
        feats = model.forward_features(clip)
        assert logits.shape == (2, 5)
        assert feats.shape == (2, model.num_features)
        torch.testing.assert_close(model.forward_head(feats), logits)
        assert model.forward_embed(feats).shape == (2, 7)
        logits2, embed = model(clip, return_embed=True)  # one call, for DDP
        torch.testing.assert_close(logits2, logits)
        torch.testing.assert_close(embed, model.forward_embed(feats))
    # non-trivial outputs (clips differ, classes differ), so the equality checks below mean something
    assert (logits[0] - logits[1]).abs().max() > 1e-3 and logits.std() > 1e-3
    # clips are independent: batch element 0 alone gives the same logits
    with torch.no_grad():
        # float32 convs pick other kernels for another batch size: agree to float32 noise, not bits
            torch.testing.assert_close(model(clip[:1]), logits[:1], atol=2e-4, rtol=1e-3)

    cfg = student_config(name, 5, list("abcde"), embed_dim=7)
    assert (cfg.frames, cfg.size) == (get_default_cfg(name)["frames"], get_default_cfg(name)["size"])
    weights = save_checkpoint(tmp_path / "ckpt", model, cfg)
    assert weights.name == "model.safetensors" and (tmp_path / "ckpt" / "config.json").is_file()
    for path in (tmp_path / "ckpt", weights):
        loaded, cfg2 = load_checkpoint(path)
        assert cfg2.labels == list("abcde") and cfg2.embed_dim == 7 and not loaded.training
        with torch.no_grad():
            torch.testing.assert_close(loaded(clip), logits, atol=0, rtol=0)
            torch.testing.assert_close(loaded.forward_embed(loaded.forward_features(clip)), model.forward_embed(feats))

    # new head for a new label set; the embedding head can be dropped and exports stay logits-only
    model.reset_classifier(3)
    model.set_embed_head(None)
    assert model.num_classes == 3 and model.embed_head is None
    with torch.no_grad():
        assert model(clip).shape == (2, 3)
    with pytest.raises(ConfigError, match="embedding head"):
        model.forward_embed(feats)
    with pytest.raises(ConfigError, match=r"\(B, 3, T, H, W\)"):
        model(clip.transpose(1, 2))  # (B, T, 3, H, W): a common mistake


@pytest.mark.parametrize("name", ["x3d_xs", "mobilenetv2_tsm", "r3d_tiny"])
def test_light_students_train(name, clip) -> None:
    """One optimiser step on the light students: gradients reach the stem and are finite."""
    torch.manual_seed(0)
    model = create_student(name, 4, embed_dim=6).train()
    feats = model.forward_features(clip)
    loss = nn.functional.cross_entropy(model.forward_head(feats), torch.tensor([0, 3])) + model.forward_embed(feats).pow(2).mean()
    loss.backward()
    first = next(model.parameters())
    assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0


@pytest.mark.parametrize("name", STUDENTS)
def test_param_and_flop_counts_near_targets(name) -> None:
    params_m, gflops = TARGETS[name]
    model = create_student(name, 400)
    assert count_params(model) / 1e6 == pytest.approx(params_m, rel=0.05)
    assert count_flops(model, (1, 3, 8, 112, 112)) == pytest.approx(gflops, rel=0.05)


def test_count_flops_matches_hand_count() -> None:
    model = nn.Sequential(
        nn.Conv3d(3, 4, (3, 3, 3), padding=1),  # out (1, 4, 2, 6, 6): 288 outputs x 81 MACs
        nn.Conv3d(4, 4, 3, padding=1, groups=4),  # depthwise: 288 x 27
        nn.BatchNorm3d(4),  # not counted
        nn.Flatten(),
        nn.Linear(288, 5),  # 5 x 288
    )
    macs = 288 * 81 + 288 * 27 + 5 * 288
    assert count_flops(model, (1, 3, 2, 6, 6)) == pytest.approx(2 * macs / 1e9)
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    assert model.training  # count_flops restores the mode


def test_temporal_shift_matches_reference() -> None:
    b, t, c, h, w = 2, 4, 16, 3, 3
    x = torch.randn(b * t, c, h, w)
    # Reference: TSM's original in-place formulation.
    ref = torch.zeros(b, t, c, h, w)
    v = x.view(b, t, c, h, w)
    fold = c // 8
    ref[:, :-1, :fold] = v[:, 1:, :fold]
    ref[:, 1:, fold : 2 * fold] = v[:, :-1, fold : 2 * fold]
    ref[:, :, 2 * fold :] = v[:, :, 2 * fold :]
    torch.testing.assert_close(temporal_shift(x, t), ref.view(b * t, c, h, w), atol=0, rtol=0)


def test_tsm_student_sees_frame_order(clip) -> None:
    """Plain frame averaging would ignore order; with the shift, reversing time changes the output."""
    model = randomize_bn(create_student("mobilenetv2_tsm", 5), clip)
    with torch.no_grad():
        assert not torch.allclose(model(clip), model(clip.flip(2)), atol=1e-5)


# --- checkpoint errors: one line that says what to do ---
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    model = create_student("x3d_xs", 3, dropout=0.3, widths=(8, 8, 8, 8), depths=(1, 1, 1, 1), num_features=16)
    cfg = ModelConfig(student="x3d_xs", num_classes=3, labels=["a", "b", "c"])
    save_checkpoint(folder, model, cfg)
    assert cfg.extra == {}  # the caller's config is not modified
    return folder


def test_checkpoint_keeps_student_kwargs_and_dropout(tiny_ckpt) -> None:
    model, cfg = load_checkpoint(tiny_ckpt)
    assert cfg.extra["student_kwargs"]["num_features"] == 16 and model.num_features == 16
    assert cfg.extra["dropout"] == 0.3 and model.drop_rate == 0.3


def test_checkpoint_errors(tiny_ckpt, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no model at .*nope"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no best/ or last/ checkpoint and no model file"):
        load_checkpoint(tmp_path)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "model.safetensors").write_bytes((tiny_ckpt / "model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match="no config.json"):
        load_checkpoint(lonely / "model.safetensors")
    (lonely / "config.json").write_text((tiny_ckpt / "config.json").read_text())
    (lonely / "model.safetensors").write_bytes((tiny_ckpt / "model.safetensors").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(lonely)
    with pytest.raises(CheckpointError, match="--init"):
        torch.save({}, tmp_path / "x.pth")
        load_checkpoint(tmp_path / "x.pth")


def test_checkpoint_of_a_run_folder_and_advice_that_names_real_files(tiny_ckpt, tmp_path) -> None:
    run = tmp_path / "runs" / "ft"
    shutil.copytree(tiny_ckpt, run / "best")  # weights at best/model.safetensors, as a run writes them
    assert load_checkpoint(run)[1].labels == ["a", "b", "c"]
    two = tmp_path / "two"
    shutil.copytree(tiny_ckpt, two)
    (two / "model.safetensors").rename(two / "a.safetensors")
    shutil.copy(two / "a.safetensors", two / "b.safetensors")
    with pytest.raises(CheckpointError, match="2 .safetensors files") as err:
        load_checkpoint(two)
    advised = str(err.value).split("e.g. ")[1].rstrip(")")
    assert load_checkpoint(advised)[1].labels == ["a", "b", "c"]  # the advised path exists and loads


def test_checkpoint_head_vs_labels_mismatch(tiny_ckpt, tmp_path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((tiny_ckpt / "model.safetensors").read_bytes())
    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    cfg.update(num_classes=4, labels=["a", "b", "c", "d"])
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="3-class head but config.json says 4"):
        load_checkpoint(folder)


def test_save_unwraps_ddp_style_wrappers(tmp_path) -> None:
    class Wrapper(nn.Module):  # what DistributedDataParallel looks like from outside: .module
        def __init__(self, module):
            super().__init__()
            self.module = module

    model = create_student("x3d_xs", 3, widths=(8, 8, 8, 8), depths=(1, 1, 1, 1), num_features=16)
    save_checkpoint(tmp_path, Wrapper(model), ModelConfig(student="x3d_xs", num_classes=3))
    loaded, _ = load_checkpoint(tmp_path)  # strict: no "module." prefixes in the file
    torch.testing.assert_close(loaded.fc.weight, model.fc.weight)


def test_save_refuses_a_config_that_does_not_describe_the_model(tmp_path) -> None:
    model = create_student("x3d_xs", 3, widths=(8, 8, 8, 8), depths=(1, 1, 1, 1), num_features=16)
    with pytest.raises(ConfigError, match="reset_classifier"):
        save_checkpoint(tmp_path, model, ModelConfig(student="x3d_xs", num_classes=4))
    with pytest.raises(ConfigError, match="student"):
        save_checkpoint(tmp_path, model, ModelConfig(student="r3d_18", num_classes=3))
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.integration
def test_models_cli_lists_every_student(capsys) -> None:
    from levil_edge.cli.app import run

    assert run(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == STUDENTS
    for name, (params_m, gflops) in TARGETS.items():
        assert rows[name]["params_m"] == pytest.approx(params_m, rel=0.05)
        assert rows[name]["gflops"] == pytest.approx(gflops, rel=0.05)
        assert rows[name]["clip"] == "8x112x112" and rows[name]["stride"] == 1
    assert run(["models", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "x3d_xs" in out and "10-class head" in out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", STUDENTS)
def test_students_on_cuda_match_cpu(name, clip, monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # TF32 convs would differ by ~1e-3
    model = randomize_bn(create_student(name, 5), clip)
    with torch.no_grad():
        ref = model(clip)
        got = model.cuda()(clip.cuda()).cpu()
    torch.testing.assert_close(got, ref, atol=1e-3, rtol=1e-3)
