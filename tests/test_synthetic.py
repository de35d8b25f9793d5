"""The synthetic video generator: classes, motions, captions, H.264 files, dataset layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from levil_edge.data import synthetic as syn
from levil_edge.errors import UsageError


def _decode(path):
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _motion_centroids(clip: np.ndarray) -> np.ndarray:
    """(T, 2) x, y centroid of what differs from the per-pixel temporal median (the moving object)."""
    diff = np.abs(clip.astype(np.float32) - np.median(clip, axis=0)).sum(-1)  # (T, H, W)
    diff = np.where(diff > 60, diff, 0)
    ys, xs = np.mgrid[: clip.shape[1], : clip.shape[2]]
    w = diff.sum((1, 2)) + 1e-6
    return np.stack([(diff * xs).sum((1, 2)) / w, (diff * ys).sum((1, 2)) / w], 1)


def test_classes_are_labels_with_phrases():
    assert len(syn.MOTION_CLASSES) >= 10
    assert len(set(syn.CLASS_NAMES)) == len(syn.CLASS_NAMES)
    for c in syn.MOTION_CLASSES:
        assert c.name.replace("_", "").isalpha() and c.name == c.name.lower()
        assert c.phrases and all(p and g for p, g in c.phrases)
        assert c.text in c.prompt
    with pytest.raises(UsageError, match="choose from"):
        syn.get_class("jump")


@pytest.mark.parametrize("cls", syn.CLASS_NAMES)
def test_render_clip_shape_and_caption(cls):
    clip, caption = syn.render_clip(cls, np.random.default_rng(0), frames=8, size=32, difficulty=0.5)
    assert clip.shape == (8, 32, 32, 3) and clip.dtype == np.uint8
    assert clip.std() > 5  # not a blank clip
    phrases = [p for pair in syn.get_class(cls).phrases for p in pair]
    assert any(p in caption for p in phrases), caption
    assert caption[0].isupper() and caption.endswith(".")


def test_render_is_deterministic_for_an_rng_seed():
    a, ca = syn.render_clip("bounce", np.random.default_rng(3), 8, 32)
    b, cb = syn.render_clip("bounce", np.random.default_rng(3), 8, 32)
    c, _ = syn.render_clip("bounce", np.random.default_rng(4), 8, 32)
    assert np.array_equal(a, b) and ca == cb
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "cls,axis,sign",
    [("move_left", 0, -1), ("move_right", 0, 1), ("move_up", 1, -1), ("move_down", 1, 1)],
)
def test_direction_classes_move_the_right_way(cls, axis, sign):
    for seed in range(5):
        clip, _ = syn.render_clip(cls, np.random.default_rng(seed), frames=16, size=64, difficulty=0.0)
        c = _motion_centroids(clip)
        assert sign * (c[-1, axis] - c[0, axis]) > 8, (seed, c[:, axis])


def test_rotation_sense_differs_between_the_two_rotation_classes():
    # The same rng stream gives the same shape and start; only the sense differs.
    cw, _ = syn.render_clip("rotate_clockwise", np.random.default_rng(1), 8, 64, 0.0)
    ccw, _ = syn.render_clip("rotate_counterclockwise", np.random.default_rng(1), 8, 64, 0.0)
    changed = lambda a, b: (np.abs(a.astype(int) - b.astype(int)).sum(-1) > 60).sum()  # noqa: E731
    assert changed(cw[0], ccw[0]) == 0 and changed(cw[3], ccw[3]) > 10
    for seed in range(5):  # image y points down: a growing angle turns clockwise on screen
        a = syn._main_track("rotate_clockwise", np.random.default_rng(seed), 16, 64, 0.5).a
        b = syn._main_track("rotate_counterclockwise", np.random.default_rng(seed), 16, 64, 0.5).a
        assert (np.diff(a) > 0).all() and (np.diff(b) < 0).all()
        assert np.abs(np.diff(a)).max() < np.radians(40)  # no aliasing into the other sense


def test_grow_and_shrink_change_the_object_area():
    for cls, sign in (("grow", 1), ("shrink", -1)):
        tr = syn._main_track(cls, np.random.default_rng(0), 16, 64, 0.3)
        assert sign * (tr.r[-1] - tr.r[0]) > 4


def test_blink_turns_the_object_off_and_on():
    for seed in range(5):
        tr = syn._main_track("blink", np.random.default_rng(seed), 16, 64, 0.3)
        assert 0 < tr.on.sum() < 16


def test_bad_arguments_raise_usage_errors():
    with pytest.raises(UsageError):
        syn.render_clip("grow", np.random.default_rng(0), frames=2)
    with pytest.raises(UsageError):
        syn.render_clip("grow", np.random.default_rng(0), difficulty=2.0)


def test_write_video_roundtrip(tmp_path):
    clip, _ = syn.render_clip("move_right", np.random.default_rng(0), 12, 48, 0.2)
    path = syn.write_video(tmp_path / "a.mp4", clip, fps=8)
    back = _decode(path)
    assert back.shape == clip.shape
    assert np.abs(back.astype(np.float32) - clip).mean() < 8  # lossy, but close
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temp file left behind


def test_write_video_rejects_odd_sizes(tmp_path):
    with pytest.raises(UsageError, match="even"):
        syn.write_video(tmp_path / "odd.mp4", np.zeros((4, 33, 32, 3), np.uint8))


def test_generate_dataset_folders(tmp_path):
    classes = ["move_left", "grow", "blink"]
    recs = syn.generate_dataset(tmp_path / "ds", classes=classes, videos_per_class=2, frames=8, size=32, seed=1)
    assert len(recs) == 6
    assert (tmp_path / "ds" / "labels.txt").read_text().split() == classes
    for r in recs:
        assert r["path"].endswith(".mp4") and f"/{r['class']}/" in r["path"]
        assert classes[r["label"]] == r["class"]
        assert _decode(r["path"]).shape == (8, 32, 32, 3)
    lines = [json.loads(x) for x in (tmp_path / "ds" / "captions.jsonl").read_text().splitlines()]
    assert [x["path"] for x in lines] == [r["path"] for r in recs]
    assert all(x["model"] == "synthetic-template" and x["caption"] for x in lines)


def test_generate_dataset_flat_hides_the_class(tmp_path):
    recs = syn.generate_dataset(tmp_path / "pool", videos_per_class=2, frames=8, size=32, seed=0, layout="flat")
    assert len(recs) == 2 * len(syn.CLASS_NAMES)
    names = {p.name for p in (tmp_path / "pool").glob("*.mp4")}
    assert len(names) == len(recs) and all(n.startswith("video_") for n in names)
    ann = (tmp_path / "pool" / "annotations.txt").read_text().splitlines()
    assert sorted(ann) == sorted(f"{r['rel']} {r['label']}" for r in recs)
    assert len({r["label"] for r in recs[:5]}) > 1  # shuffled, not class by class


def test_generate_dataset_is_deterministic_and_stable(tmp_path):
    a = syn.generate_dataset(tmp_path / "a", classes=["bounce", "shrink"], videos_per_class=2, frames=8, size=32, seed=5)
    b = syn.generate_dataset(tmp_path / "b", classes=["bounce", "shrink"], videos_per_class=3, frames=8, size=32, seed=5)
    c = syn.generate_dataset(tmp_path / "c", classes=["bounce", "shrink"], videos_per_class=2, frames=8, size=32, seed=6)
    by_rel = {r["rel"]: r for r in b}
    for r in a:  # adding videos does not change the earlier ones
        assert r["caption"] == by_rel[r["rel"]]["caption"]
        assert np.array_equal(_decode(r["path"]), _decode(by_rel[r["rel"]]["path"]))
    assert any(not np.array_equal(_decode(x["path"]), _decode(y["path"])) for x, y in zip(a, c))


def test_generate_dataset_rejects_bad_options(tmp_path):
    with pytest.raises(UsageError):
        syn.generate_dataset(tmp_path, classes=["nope"])
    with pytest.raises(UsageError):
        syn.generate_dataset(tmp_path, layout="tree")
    with pytest.raises(UsageError):
        syn.generate_dataset(tmp_path, classes=["grow", "grow"])


def test_module_is_torch_free():
    import subprocess
    import sys

    code = "import sys, levil_edge.data.synthetic; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_written_videos_skip_x264_lookahead(tmp_path):
    """x264's lookahead made the same frames encode to different bytes on a busy machine (and the
    demo's results vary with them); write_video switches it off. x264 records its options in the file."""
    clip, _ = syn.render_clip("grow", np.random.default_rng(0), frames=8, size=32)
    data = syn.write_video(tmp_path / "v.mp4", clip).read_bytes()
    for opt in (b"bframes=0", b"scenecut=0", b"mbtree=0", b" threads=1 "):
        assert opt in data, opt
    assert syn.write_video(tmp_path / "w.mp4", clip).read_bytes() == data
