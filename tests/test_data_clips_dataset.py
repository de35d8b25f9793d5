"""clips.py (path -> model clips) and the torch ClipDataset/collate_clips with broken videos."""

from __future__ import annotations

import numpy as np
import pytest

from levil_edge.config import ModelConfig
from levil_edge.data.clips import load_eval_clips, load_train_clip, load_uniform_frames
from levil_edge.data.decoders import available_decoders
from levil_edge.data.sampling import eval_clip_indices
from levil_edge.data.transforms import center_crop, resize_short_side
from tests.data_fixtures import gradient_frames, make_broken, write_mp4

DECODERS = ["pyav"] + (["decord"] if "decord" in available_decoders() else [])


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    frames = gradient_frames(40, 48, 64)
    return write_mp4(folder / "v.mp4", frames), frames


@pytest.mark.parametrize("decoder", DECODERS)
def test_eval_clips_match_reference_pipeline(video, decoder):
    path, frames = video
    cfg = ModelConfig("x3d_xs", 3, frames=4, stride=3, size=32)
    clips = load_eval_clips(path, cfg, num_clips=3, decoder=decoder)
    assert clips.shape == (3, 4, 32, 32, 3) and clips.dtype == np.uint8
    # Reference: the source frames at the same indices, resized + centre-cropped in numpy/PIL.
    for k, idx in enumerate(eval_clip_indices(40, 4, 3, 3)):
        ref = center_crop(resize_short_side(frames[idx], 32), 32)
        assert np.abs(clips[k].astype(int) - ref).mean() < 5.0
    assert np.array_equal(clips, load_eval_clips(path, cfg, 3, decoder))  # deterministic


def test_train_clip_seeded_and_varied(video):
    path, _ = video
    a = load_train_clip(path, 4, 2, 32, np.random.default_rng(1), "pyav")
    b = load_train_clip(path, 4, 2, 32, np.random.default_rng(1), "pyav")
    assert a.shape == (4, 32, 32, 3) and np.array_equal(a, b)
    others = [load_train_clip(path, 4, 2, 32, np.random.default_rng(s), "pyav") for s in range(2, 5)]
    assert any(not np.array_equal(a, o) for o in others)
    no_aug = load_train_clip(path, 4, 2, 32, np.random.default_rng(1), "pyav", scale=(1, 1), ratio=(1, 1), flip=0)
    assert no_aug.shape == (4, 32, 32, 3)


def test_uniform_frames_native_and_resized(video):
    path, frames = video
    native = load_uniform_frames(path, 8, None, "pyav")
    assert native.shape == (8, 48, 64, 3)
    assert np.abs(native[0].astype(int) - frames[2]).mean() < 4.0  # centre of the first of 8 segments
    assert load_uniform_frames(path, 8, 24, "pyav").shape == (8, 24, 32, 3)


def test_clips_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, levil_edge.data, levil_edge.data.clips, levil_edge.data.specs, levil_edge.data.subsets, levil_edge.data.check; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_dataloader_with_workers_survives_broken_videos(tmp_path, video):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from levil_edge.data.dataset import ClipDataset, collate_clips

    good = video[0]
    broken = make_broken(tmp_path, good)
    items = [(good, 0), (broken["zero"], 1), (good, 1), (broken["text"], 0), (good, 2), (broken["truncated"], 2),
             (broken["garbled"], 0)]
    ds = ClipDataset(items, mode="train", frames=4, stride=2, size=32, decoder="pyav", seed=0)
    bad = ds.probe_all(workers=2, progress=False)  # workers reuse these probes
    assert sorted(p for p, _ in bad) == sorted(str(p) for p in broken.values())
    assert set(ds.infos) == {str(good)} and ds.infos[str(good)].num_frames == 40
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_clips)
    clips, invalid = [], []
    for batch in loader:
        invalid += batch["invalid_paths"]
        assert batch["num_invalid"] == len(batch["invalid_paths"])
        if batch["clips"] is not None:
            assert batch["clips"].dtype == torch.uint8 and batch["clips"].shape[1:] == (4, 32, 32, 3)
            assert len(batch["labels"]) == len(batch["clips"])
            clips.append(batch["clips"])
    assert sorted(invalid) == sorted(str(p) for p in broken.values())
    assert sum(len(c) for c in clips) == 3
    # The same seed gives the same clips whatever the number of workers.
    single = next(iter(DataLoader(ds, batch_size=3, num_workers=0, collate_fn=collate_clips)))
    assert torch.equal(single["clips"], clips[0])


def test_dataset_eval_and_uniform_modes(video, tmp_path):
    pytest.importorskip("torch")
    from levil_edge.data.dataset import ClipDataset, collate_clips

    path = video[0]
    small = write_mp4(tmp_path / "small.mp4", gradient_frames(6, 32, 32))
    ev = ClipDataset([path], mode="eval", frames=4, stride=2, size=32, num_clips=2, decoder="pyav")
    batch = collate_clips([ev[0], ev[0]])
    assert tuple(batch["clips"].shape) == (2, 2, 4, 32, 32, 3) and batch["labels"].tolist() == [-1, -1]
    un = ClipDataset([path], mode="uniform", size=24, num_uniform=6, decoder="pyav")
    assert tuple(un[0]["clip"].shape) == (6, 24, 32, 3)
    native = ClipDataset([path, small], mode="uniform", size=None, num_uniform=3, decoder="pyav")
    mixed = collate_clips([native[0], native[1]])
    assert isinstance(mixed["clips"], list) and [tuple(c.shape) for c in mixed["clips"]] == [(3, 48, 64, 3), (3, 32, 32, 3)]
    all_bad = collate_clips([{**un[0], "valid": False, "clip": None, "error": "x"}])
    assert all_bad["clips"] is None and all_bad["num_invalid"] == 1
