"""distill / finetune through the library: run folder, resume equivalence, NaN guard, bad videos,
error messages. Tiny everything: x3d_xs, 4 frames of 32 px, 12 generated videos, tiny CLIP."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from levil_edge.errors import CacheError, CheckpointError, DatasetError, TrainingError, UsageError
from tests.train_fixtures import train_assets, tiny_distill_options


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return train_assets(tmp_path_factory)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_distill_run_folder_and_resume_equivalence(assets, tmp_path):
    from levil_edge.train import distill

    vocab = tmp_path / "vocab.txt"
    vocab.write_text(assets.vocab.read_text())
    full = distill(tiny_distill_options(assets, tmp_path / "full", feature_weight=0.5, vocab=str(vocab)))
    assert full["steps"] == 6 and full["epochs"] == 2 and not full["stopped_early"]
    run = tmp_path / "full"
    for name in ("config.json", "metrics.jsonl", "summary.json", "loss_curve.png", "last/model.safetensors",
                 "last/config.json", "last/trainer_state.pt", "best/model.safetensors"):
        assert (run / name).is_file(), name
    cfg = json.loads((run / "last/config.json").read_text())
    assert cfg["label_kind"] == "pseudo" and cfg["num_classes"] == 5 and cfg["embed_dim"] == 16
    state = torch.load(run / "last/trainer_state.pt", weights_only=True)  # loadable without pickled code
    assert state["step"] == 6

    # Stop mid-epoch 1 (after 2 of 3 steps), then resume: same weights as the uninterrupted run.
    stopped = distill(tiny_distill_options(assets, tmp_path / "resumed", feature_weight=0.5, stop_after=2))
    assert stopped["stopped_early"] and stopped["steps"] == 2
    resumed = distill(tiny_distill_options(assets, tmp_path / "resumed", feature_weight=0.5, resume=True))
    assert resumed["steps"] == 6
    a, b = _weights(run / "last"), _weights(tmp_path / "resumed/last")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    steps = [r["step"] for r in map(json.loads, (tmp_path / "resumed/metrics.jsonl").read_text().splitlines())
             if r["kind"] == "step"]
    assert steps == list(range(1, 7))  # the log reads like one uninterrupted run

    with pytest.raises(UsageError, match="already holds a run"):
        distill(tiny_distill_options(assets, tmp_path / "full"))
    vocab.write_text(assets.vocab.read_text() + "jump\n")  # the vocabulary changed since the run started
    with pytest.raises(CheckpointError, match="head has 5 outputs but the vocabulary/labels now have 6"):
        distill(tiny_distill_options(assets, tmp_path / "full", feature_weight=0.5, resume=True, vocab=str(vocab)))
    with pytest.raises(UsageError, match="different options"):
        distill(tiny_distill_options(assets, tmp_path / "full", vocab=str(vocab), resume=True, lr=1e-3))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(assets, tmp_path):
    from levil_edge.train import distill
    from levil_edge.train.tasks import DistillTask

    real_call = DistillTask.__call__

    def poisoned(self, model, batch):  # the loss turns NaN at the 3rd step
        out = real_call(self, model, batch)
        poisoned.calls += 1
        if poisoned.calls == 3:
            out["loss"] = out["loss"] * float("nan")
        return out

    poisoned.calls = 0
    DistillTask.__call__ = poisoned
    try:
        with pytest.raises(TrainingError, match=r"NaN/inf at step 3 .*last good checkpoint"):
            distill(tiny_distill_options(assets, tmp_path / "nan", save_every=1))
    finally:
        DistillTask.__call__ = real_call
    state = torch.load(tmp_path / "nan/last/trainer_state.pt", weights_only=True)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in _weights(tmp_path / "nan/last").values())


def test_bad_videos_are_skipped_and_listed(assets, tmp_path):
    from levil_edge.train import distill

    videos = tmp_path / "videos"
    shutil.copytree(assets.videos, videos)
    (videos / "move_up" / "broken.mp4").write_text("not a video")
    result = distill(tiny_distill_options(assets, tmp_path / "bad", videos=str(videos), epochs=1))
    assert result["num_videos"] == 12
    assert any(p.endswith("broken.mp4") for p in result["bad_videos"])
    summary = json.loads((tmp_path / "bad/summary.json").read_text())
    assert any(p.endswith("broken.mp4") for p in summary["bad_videos"])


def test_teacher_with_another_embedding_size_is_refused(assets, tmp_path):
    from levil_edge.train import distill
    from tests.teacher_fixtures import make_tiny_siglip

    other = make_tiny_siglip(tmp_path)  # embed dim 32, the shared cache holds dim 16
    with pytest.raises(CacheError, match=r"dim 16.*dim 32"):
        distill(tiny_distill_options(assets, tmp_path / "other", teacher=str(other)))


def test_distill_normalises_with_the_students_registered_mean_and_std(assets, tmp_path, monkeypatch):
    """The student's registry default cfg is the one source of its input normalisation, in distill as in
    finetune: the loader normalises with it and the checkpoint's config (hence ONNX, runtime) records it."""
    from levil_edge.students import list_students, registry
    from levil_edge.train import distill

    list_students()  # the built-in students are registered on first use
    name, mean, std = "x3d_xs_other_norm", (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    monkeypatch.setitem(registry._REGISTRY, name, registry.builder("x3d_xs"))
    monkeypatch.setitem(registry._DEFAULT_CFGS, name, {**registry.default_cfg("x3d_xs"), "mean": mean, "std": std})
    seen = []
    import levil_edge.train.common as common

    real = common.build_loader
    monkeypatch.setattr(common, "build_loader", lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    distill(tiny_distill_options(assets, tmp_path / "run", student=name, epochs=1))
    cfg = json.loads((tmp_path / "run" / "last" / "config.json").read_text())
    assert (tuple(cfg["mean"]), tuple(cfg["std"])) == (mean, std)
    assert [(tuple(kw["mean"]), tuple(kw["std"])) for kw in seen] == [(mean, std)]


def test_finetune_scratch_supervised_and_label_errors(assets, tmp_path):
    from levil_edge.train import finetune

    common = dict(train=str(assets.videos), student="x3d_xs", epochs=1, batch_size=4, frames=4, size=32,
                  workers=0, device="cpu", cache=str(assets.cache))
    result = finetune(labels=str(assets.labels), out=str(tmp_path / "sup"), labels_per_class=1, no_teacher=True,
                      val=str(assets.videos), val_clips=1, tensorboard=True, **common)
    assert list((tmp_path / "sup/tensorboard").glob("events.out.tfevents.*"))
    assert result["num_labeled"] == 3 and result["num_unlabeled"] == 0 and result["init"] == "scratch"
    assert len((tmp_path / "sup/labeled.txt").read_text().splitlines()) == 3
    assert result["best_val_top1"] is not None
    cfg = json.loads((tmp_path / "sup/best/config.json").read_text())
    assert cfg["labels"] == ["move_left", "move_right", "move_up"] and cfg["label_kind"] == "classes"

    # --init with a torchvision-style .pth backbone (weights_only load; the head is re-initialised)
    from levil_edge.students import create_student

    torch.save(create_student("x3d_xs", 400).state_dict(), tmp_path / "backbone.pth")
    result = finetune(labels=str(assets.labels), out=str(tmp_path / "pth"), labels_per_class=1, no_teacher=True,
                      init=str(tmp_path / "backbone.pth"), **common)
    assert result["init"].startswith("backbone") and result["steps"] == 1

    # Fully labeled data with a teacher (no unlabeled pool): its soft targets go to the labeled
    # clips, soft-CE beside CE, and the summary says so.
    full = finetune(labels=str(assets.labels), out=str(tmp_path / "full"), teacher=str(assets.teacher), log_every=1,
                    **common)
    assert (full["teacher_targets"], full["num_labeled"], full["num_unlabeled"]) == ("labeled", 12, 0)
    steps = [r for r in map(json.loads, (tmp_path / "full/metrics.jsonl").read_text().splitlines()) if r["kind"] == "step"]
    assert len(steps) == 3 and all(r["soft"] > 0 for r in steps)
    for r in steps:  # ce_weight = soft_weight = 0.5, both over the same (labeled) clips
        assert r["loss"] == pytest.approx(0.5 * r["ce"] + 0.5 * r["soft"], rel=1e-5)
    with pytest.raises(UsageError, match="--unlabeled-fraction 0"):  # a pool, but no room for it in a batch
        finetune(labels=str(assets.labels), out=str(tmp_path / "noun"), teacher=str(assets.teacher), labels_per_class=1,
                 unlabeled_fraction=0.0, **common)

    partial = tmp_path / "labels.txt"
    partial.write_text("move_left\nspin\n")
    with pytest.raises(DatasetError, match="move_right, move_up"):
        finetune(labels=str(partial), out=str(tmp_path / "bad"), **common)
    # the failed run saved nothing, so its folder is simply reused once the labels are fixed
    assert finetune(labels=str(assets.labels), out=str(tmp_path / "bad"), no_teacher=True, **common)["steps"] == 3


def test_finetune_from_distill_run_with_teacher_and_pseudo_labels(assets, tmp_path):
    from levil_edge.train import distill, finetune

    distill(tiny_distill_options(assets, tmp_path / "zsd", epochs=1, feature_weight=1.0))
    result = finetune(labels=str(assets.labels), train=str(assets.videos), out=str(tmp_path / "ft"),
                      label_ratio=0.25, init=str(tmp_path / "zsd"), teacher=str(assets.teacher), pseudo_threshold=0.0,
                      student="x3d_xs", epochs=1, batch_size=4, workers=0, device="cpu", cache=str(assets.cache), log_every=1)
    assert result["init"].endswith("zsd/best") and result["num_unlabeled"] == 9
    steps = [json.loads(l) for l in (tmp_path / "ft/metrics.jsonl").read_text().splitlines()]
    first = next(r for r in steps if r["kind"] == "step")
    assert {"ce", "soft", "pseudo", "pseudo_frac"} <= first.keys() and first["pseudo_frac"] == 1.0
    cfg = json.loads((tmp_path / "ft/last/config.json").read_text())
    assert (cfg["frames"], cfg["size"], cfg["embed_dim"], cfg["num_classes"]) == (4, 32, None, 3)  # geometry of the init


def test_mixed_batch_sampler_is_deterministic_disjoint_and_resumable():
    from levil_edge.train.data import MixedBatchSampler

    def batches(rank, world, start=0, epoch=1):
        s = MixedBatchSampler([3, 10], [2, 3], steps_per_epoch=2, seed=5, rank=rank, world_size=world)
        s.set_epoch(epoch, start)
        return list(s)

    one = batches(0, 1)
    assert one == batches(0, 1) and len(one) == 2
    assert all(sum(i < 3 for i, *_ in b) == 2 and sum(i >= 3 for i, *_ in b) == 3 for b in one)  # 2 labeled + 3 unlabeled
    assert batches(0, 1, start=1) == one[1:]  # resuming at step 1 replays exactly the rest of the epoch
    r0, r1 = batches(0, 2, epoch=0), batches(1, 2, epoch=0)
    unl0, unl1 = ([i for b in r for i, *_ in b if i >= 3] for r in (r0, r1))
    assert set(unl0 + unl1) == set(range(3, 13))  # the ranks' slices cover every unlabeled video
    assert len(set(unl0) & set(unl1)) <= 2  # and overlap only where the 12 slots wrap past 10 videos
    assert batches(0, 1, epoch=2) != one  # a new epoch, a new order


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (mixed precision runs on CUDA only)")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_distill_on_cuda_with_mixed_precision(assets, tmp_path, amp):
    from levil_edge.train import distill

    result = distill(tiny_distill_options(assets, tmp_path / amp, device="cuda", amp=amp, feature_weight=0.5, epochs=1))
    assert result["steps"] == 3 and result["final_loss"] == result["final_loss"]  # finite
    assert all(torch.isfinite(v).all() for v in _weights(tmp_path / amp / "last").values())
