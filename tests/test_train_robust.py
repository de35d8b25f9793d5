"""Training options refused before any work, the smallest crop each student takes, and videos
that pass the teacher cache but fail in the student loader (the trainer's own bad-video path)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from levil_edge.cli.app import run as cli
from tests.robust_fixtures import corrupt_keeping_stat, fill_teacher_cache
from tests.train_fixtures import tiny_distill_options, train_assets


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return train_assets(tmp_path_factory)


@pytest.mark.parametrize("extra, needle", [
    (["--tau", "0"], "--tau must be positive, got 0.0"),
    (["--tau", "-0.02"], "--tau must be positive"),
    (["--tau", "nan"], "--tau must be a finite number"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number"),
    (["--size", "1"], "--size 1 is too small for x3d_xs: it takes crops of at least 32 px"),
    (["--student", "r3d_tiny", "--size", "16"], "--size 16 is too small for r3d_tiny: it takes crops of at least 17 px"),
])
def test_distill_refuses_impossible_options_before_any_work(assets, tmp_path, capsys, extra, needle):
    capsys.readouterr()
    rc = cli(["distill", "--videos", str(assets.videos), "--vocab", str(assets.vocab), "--teacher", str(assets.teacher),
              "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "cache"), "--student", "x3d_xs",
              "--device", "cpu", "--workers", "0", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_finetune_checks_tau_and_the_size_of_the_init_student(assets, tmp_path):
    from levil_edge.errors import UsageError
    from levil_edge.train import finetune

    common = dict(labels=str(assets.labels), train=str(assets.videos), out=str(tmp_path / "ft"), workers=0, device="cpu")
    with pytest.raises(UsageError, match="--tau must be positive"):
        finetune(teacher=str(assets.teacher), tau=0.0, **common)
    with pytest.raises(UsageError, match="too small for r3d_18"):  # finetune's default student
        finetune(no_teacher=True, size=8, **common)
    assert not (tmp_path / "ft").exists()


def test_min_size_is_the_smallest_crop_each_student_trains_on():
    """One training step on a batch of one clip (what is left when the others fail to decode)
    works at the minimum; for resnet3d one pixel less fails (its last BatchNorm sees one value)."""
    from levil_edge.students import create_student, list_students
    from levil_edge.students.factory import get_default_cfg
    from levil_edge.train.common import MIN_SIZE

    torch.manual_seed(0)
    for name in list_students():
        family = get_default_cfg(name)["family"]
        smallest = MIN_SIZE[family]
        model = create_student(name, 3).train()
        model(torch.randn(1, 3, 4, smallest, smallest)).sum().backward()
        if family == "resnet3d":
            with pytest.raises(ValueError, match="more than 1 value per channel"):
                model(torch.randn(1, 3, 4, smallest - 1, smallest - 1))


def test_videos_that_fail_in_the_student_loader_are_skipped(assets, tmp_path):
    """The teacher cache holds targets for every video, then five of them rot on disk: the four
    clips of the first batch (the step is skipped) and one of the second (it trains on three)."""
    from levil_edge.train import distill
    from levil_edge.train.data import MixedBatchSampler

    videos, cache = tmp_path / "videos", tmp_path / "cache"
    shutil.copytree(assets.videos, videos)
    paths = fill_teacher_cache(videos, assets.teacher, cache, assets.vocab)
    sampler = MixedBatchSampler([len(paths)], [4], 3, seed=0)
    first, second = ([paths[i] for i, *_ in sampler.batch(0, step)] for step in (0, 1))
    broken = first + second[:1]
    for p in broken:
        corrupt_keeping_stat(p)
    result = distill(tiny_distill_options(assets, tmp_path / "run", videos=str(videos), cache=str(cache), epochs=1))
    assert result["num_videos"] == 12 and result["teacher_skipped_videos"] == []  # the cache still had them all
    assert sorted(result["bad_videos"]) == sorted(broken) and result["steps"] == 3
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "step"] == [2, 3]  # step 1 had no clip to train on
    assert next(r for r in records if r["kind"] == "epoch")["bad_videos"] == 5
