"""Teacher target cache: fill, resume, shards, bad videos, targets without teacher forwards, CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from levil_edge.data import get_decoder  # noqa: E402
from levil_edge.errors import CacheError, UsageError  # noqa: E402
from levil_edge.teachers import TeacherTargets, fill_cache, load_teacher  # noqa: E402
from levil_edge.teachers.cache import TeacherCache, parse_shard, view_indices  # noqa: E402
from levil_edge.teachers.fill import load_views  # noqa: E402
from tests.teacher_fixtures import make_tiny_clip, make_tiny_siglip, make_tiny_xclip  # noqa: E402

CLASSES = ["move_left", "move_right", "grow"]
VOCAB = ["move left", "move right", "grow", "spin"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["LEVIL_NO_PROGRESS"] = "1"
    from levil_edge.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("cache_assets")
    records = generate_dataset(root / "videos", classes=CLASSES, videos_per_class=3, frames=12, size=32, seed=0)
    bad = root / "videos_bad" / "broken.mp4"
    bad.parent.mkdir()
    bad.write_text("not a video\n" * 10)
    return {
        "root": root,
        "videos": root / "videos",
        "paths": [r["path"] for r in records],
        "bad": str(bad),
        "clip": make_tiny_clip(root),
        "xclip": make_tiny_xclip(root),
    }


@pytest.fixture(scope="module")
def clip(assets):
    return load_teacher(assets["clip"], device="cpu", batch_size=2)


def test_view_indices():
    np.testing.assert_array_equal(view_indices(80, 8, 0, 1), (np.arange(8) * 10 + 5))  # segment centres
    views = [view_indices(80, 8, k, 4) for k in range(4)]
    assert len({tuple(v) for v in views}) == 4  # K views pick different frames
    assert all(v.max() < 80 and v.min() >= 0 for v in views)
    assert view_indices(3, 8, 0, 1).max() == 2  # short video: frames repeat
    assert parse_shard("1/4") == (1, 4)
    with pytest.raises(Exception, match="0 <= i < n"):
        parse_shard("4/4")


def test_fill_then_targets_equal_teacher_and_run_no_video_forward(assets, clip, tmp_path):
    paths = assets["paths"] + [assets["bad"]]
    rep = fill_cache(paths, clip, tmp_path / "c", views=2, label_sets=[VOCAB])
    assert (rep["computed"], rep["bad"], rep["bad_videos"]) == (9, 1, [assets["bad"]])
    assert rep["videos_per_s"] > 0
    # the cached embeddings are the teacher's on the same views
    frames = load_views(paths[4], get_decoder(), 8, 2, clip.image_size)
    np.testing.assert_allclose(TeacherTargets.load(tmp_path / "c", paths).video_embedding(4, 1),
                               clip.embed_videos(frames[1:2])[0].numpy(), atol=1e-6)  # fmt: skip

    calls = dict(clip.calls)
    targets = TeacherTargets.load(tmp_path / "c", paths, label_texts=VOCAB, teacher=clip)
    assert (targets.kind, targets.num_views, targets.embed_dim) == ("embedding", 2, 16)
    assert targets.valid.tolist() == [True] * 9 + [False]
    assert targets.text_embeddings.shape == (4, 16)
    q = targets.soft_targets([0, 1], [0, 1], tau=0.02)
    v = np.stack([targets.video_embedding(0, 0), targets.video_embedding(1, 1)])
    np.testing.assert_allclose(q, torch.softmax(torch.from_numpy(v @ targets.text_embeddings.T) / 0.02, -1).numpy(), atol=1e-6)
    # another tau, then a new vocabulary: no video forward; the new texts once, then from the cache
    assert not np.allclose(targets.soft_targets([0], 0, tau=0.1), targets.soft_targets([0], 0, tau=0.02))
    targets.set_labels(["shrink", "blink"], "a video of a person {}.", teacher=clip)
    assert clip.calls["video"] == calls["video"] and clip.calls["text"] == calls["text"] + 1
    TeacherTargets.load(tmp_path / "c", paths, label_texts=["shrink", "blink"], template="a video of a person {}.")
    assert clip.calls == {"video": calls["video"], "text": calls["text"] + 1}
    assert targets.index_of(paths[3]) == 3
    with pytest.raises(CacheError, match="failed to decode"):
        targets.video_embedding(9, 0)


def test_resume_after_interruption(assets, clip, tmp_path):
    calls = {"n": 0}

    def crash_on_third_batch(frames):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # a killed fill
        return torch.zeros(len(frames), 4)

    with pytest.raises(KeyboardInterrupt):
        fill_cache(assets["paths"], clip, tmp_path / "c", features_fn=crash_on_third_batch, save_every=1)
    manifest = json.loads(next((tmp_path / "c").glob("manifest-*.json")).read_text())
    assert manifest["videos"] == 4 and not manifest["complete"]  # two batches of 2 were kept
    before = clip.calls["video"]
    rep = fill_cache(assets["paths"], clip, tmp_path / "c", features_fn=lambda f: torch.ones(len(f), 4))
    assert (rep["already_cached"], rep["computed"]) == (4, 5)
    assert clip.calls["video"] - before == 3  # only the 5 missing videos (batches of 2)
    targets = TeacherTargets.load(tmp_path / "c", assets["paths"])
    assert targets.valid.all() and targets.features(8, 0).shape == (4,)
    again = fill_cache(assets["paths"], clip, tmp_path / "c")
    assert (again["computed"], again["teacher_forwards"]["video"]) == (0, 0)


def test_shards_merge(assets, clip, tmp_path):
    paths = assets["paths"]
    reps = [fill_cache(paths, clip, tmp_path / "sharded", shard=(i, 3)) for i in range(3)]
    assert sum(r["computed"] for r in reps) == len(paths) and all(r["videos_in_shard"] < len(paths) for r in reps)
    fill_cache(paths, clip, tmp_path / "single")
    merged = TeacherTargets.load(tmp_path / "sharded", paths)
    single = TeacherTargets.load(tmp_path / "single", paths)
    np.testing.assert_allclose(merged.embeddings, single.embeddings, atol=1e-6)
    info = TeacherCache.open(tmp_path / "sharded").info()
    assert (info["videos"], info["complete_shards"]) == (len(paths), 3)


def test_two_samplings_in_one_folder(assets, clip, tmp_path):
    paths = assets["paths"][:3]
    fill_cache(paths, clip, tmp_path / "c", views=1)
    fill_cache(paths[:2], clip, tmp_path / "c", views=3)
    assert TeacherTargets.load(tmp_path / "c", paths).num_views == 1  # the one that covers all videos
    assert TeacherTargets.load(tmp_path / "c", paths[:2], views=3).num_views == 3
    with pytest.raises(CacheError, match="not views=2"):
        TeacherTargets.load(tmp_path / "c", paths, views=2)


def test_cache_refuses_another_teacher(assets, clip, tmp_path):
    fill_cache(assets["paths"][:2], clip, tmp_path / "c")
    siglip = load_teacher(make_tiny_siglip(tmp_path), device="cpu")
    with pytest.raises(CacheError, match="holds targets of teacher tiny-clip.*pass another --cache"):
        fill_cache(assets["paths"][:2], siglip, tmp_path / "c")
    with pytest.raises(CacheError, match="no cached teacher targets"):
        TeacherTargets.load(tmp_path / "c", assets["paths"])  # 7 videos never filled
    with pytest.raises(CacheError, match="no teacher cache"):
        TeacherTargets.load(tmp_path / "nothing", assets["paths"])


def test_xclip_caches_cosines_per_label_set(assets, tmp_path):
    xclip = load_teacher(assets["xclip"], device="cpu", batch_size=4)
    paths = assets["paths"][:4]
    fill_cache(paths, xclip, tmp_path / "x", label_sets=[(CLASSES, "a video of a person {}.")])
    calls = dict(xclip.calls)
    targets = TeacherTargets.load(tmp_path / "x", paths, label_texts=CLASSES, template="a video of a person {}.")
    assert targets.kind == "logits" and xclip.calls == calls
    frames = load_views(paths[2], get_decoder(), 8, 1, xclip.image_size)
    ref = xclip.cosine(frames, CLASSES, "a video of a person {}.")[0].numpy()
    np.testing.assert_allclose(targets.logits(2, 0), ref, atol=1e-5)
    np.testing.assert_allclose(targets.soft_targets([2], 0, 0.02)[0], torch.softmax(torch.from_numpy(ref) / 0.02, -1).numpy(), atol=1e-5)
    with pytest.raises(CacheError, match="no cosines for this label set"):
        TeacherTargets.load(tmp_path / "x", paths, label_texts=VOCAB)
    # a second label set only adds cosines; the first stays readable
    fill_cache(paths, xclip, tmp_path / "x", labels=VOCAB)
    assert TeacherTargets.load(tmp_path / "x", paths, label_texts=VOCAB).cosine_table.shape == (4, 1, 4)
    TeacherTargets.load(tmp_path / "x", paths, label_texts=CLASSES, template="a video of a person {}.")
    # X-CLIP's targets exist only per label set: a fill without labels is refused before any work
    with pytest.raises(UsageError, match="pass --labels"):
        fill_cache(paths, xclip, tmp_path / "y")
    assert not (tmp_path / "y").exists()


@pytest.mark.integration
def test_zeroshot_and_cache_cli(assets, tmp_path, capsys):
    from levil_edge.cli.app import run

    labels = str(assets["videos"] / "labels.txt")
    args = ["zeroshot", "--teacher", str(assets["clip"]), "--data", str(assets["videos"]), "--labels", labels,
            "--cache", str(tmp_path / "zs"), "--clips", "2", "--json", "--device", "cpu"]  # fmt: skip
    assert run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_videos"] == 9 and result["clips"] == 2 and result["cache"]["computed"] == 9
    assert 0 <= result["top1"] <= result["top5"] <= 1 and len(result["per_class"]) == 3
    assert result["label_texts"] == ["move left", "move right", "grow"]
    assert result["template"] == ["a video of a person {}."]
    # second run with another template: served from the cache
    assert run(args + ["--template", "{}"]) == 0
    assert json.loads(capsys.readouterr().out)["cache"]["computed"] == 0

    assert run(["cache", "fill", "--teacher", str(assets["xclip"]), "--data", str(assets["videos"]), "--cache",
                str(tmp_path / "xc"), "--shard", "0/2", "--labels", labels, "--json", "--device", "cpu"]) == 0  # fmt: skip
    fill = json.loads(capsys.readouterr().out)
    assert fill["shard"] == "0/2" and fill["computed"] == fill["videos_in_shard"] > 0
    assert run(["cache", "info", str(tmp_path / "xc"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "logits" and info["videos"] == fill["computed"] and len(info["label_sets"]) == 1
    assert run(["cache", "info", str(tmp_path / "xc")]) == 0  # the table
    assert "teacher cache" in capsys.readouterr().out
    assert run(["zeroshot", "--teacher", str(tmp_path / "missing"), "--data", str(assets["videos"])]) == 1
    assert "no model at" in capsys.readouterr().err
