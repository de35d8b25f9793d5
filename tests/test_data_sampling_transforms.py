"""Frame samplers and spatial transforms (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from levil_edge.data import sampling, transforms
from levil_edge.errors import UsageError


def test_uniform_indices_spread_and_short_videos():
    assert sampling.uniform_indices(300, 8).tolist() == [18, 56, 93, 131, 168, 206, 243, 281]
    short = sampling.uniform_indices(3, 8)
    assert short.min() == 0 and short.max() == 2 and np.all(np.diff(short) >= 0)


def test_random_clip_in_range_and_seeded():
    a = sampling.random_clip_indices(100, 8, 2, np.random.default_rng(3))
    b = sampling.random_clip_indices(100, 8, 2, np.random.default_rng(3))
    assert np.array_equal(a, b) and np.all(np.diff(a) == 2) and a.max() < 100
    starts = {int(sampling.random_clip_indices(100, 8, 2, np.random.default_rng(s))[0]) for s in range(50)}
    assert len(starts) > 10 and max(starts) <= 100 - 15


def test_eval_clips_even_and_loop_short_videos():
    clips = sampling.eval_clip_indices(300, 8, 2, 10)
    starts = [int(c[0]) for c in clips]
    assert len(clips) == 10 and starts == sorted(starts) and starts[0] > 0 and clips[-1][-1] < 300
    (centre,) = sampling.eval_clip_indices(100, 8, 2, 1)  # K = 1: the centre clip
    assert abs(int(centre[0]) - (100 - 15) / 2) <= 0.5
    (loop,) = sampling.eval_clip_indices(5, 8, 1, 1)
    assert loop.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    with pytest.raises(UsageError):
        sampling.eval_clip_indices(0, 8, 1, 1)


def _clip(t=4, h=30, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_resize_center_crop_shapes():
    x = _clip()
    assert transforms.resize_short_side(x, 15).shape == (4, 15, 20, 3)
    assert transforms.resize_short_side(x, 21).shape == (4, 21, 28, 3)  # 28.0
    assert transforms.resize_short_side(x[:, :, :41], 15).shape == (4, 15, 20, 3)  # 20.5 -> even
    y = transforms.center_crop(x, 20)
    assert y.shape == (4, 20, 20, 3) and np.array_equal(y, x[:, 5:25, 10:30])
    assert transforms.center_crop(x, 64).shape == (4, 64, 64, 3)  # too small: upscaled first


def test_random_resized_crop_same_box_for_all_frames():
    x = np.repeat(_clip(t=1), 5, axis=0)  # identical frames stay identical after the crop
    y = transforms.random_resized_crop(x, 16, np.random.default_rng(0))
    assert y.shape == (5, 16, 16, 3) and all(np.array_equal(y[0], f) for f in y)
    for s in range(30):
        top, left, ch, cw = transforms.sample_crop_box(30, 40, np.random.default_rng(s))
        assert 0 <= top and top + ch <= 30 and 0 <= left and left + cw <= 40
        assert 0.3 * 1200 <= ch * cw <= 1200


def test_hflip():
    x = _clip()
    assert np.array_equal(transforms.hflip(x)[:, :, 0], x[:, :, -1])


def test_normalize_reference_and_batched_input():
    x = _clip()
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    ref = ((x.astype(np.float64) / 255 - mean) / std).transpose(3, 0, 1, 2)
    out = transforms.normalize(x, mean, std)
    assert out.dtype == np.float32 and out.shape == (3, 4, 30, 40)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    batch = transforms.to_model_input(np.stack([x, x[::-1]]), mean, std)
    assert batch.shape == (2, 3, 4, 30, 40)
    np.testing.assert_allclose(batch[1], transforms.normalize(x[::-1], mean, std), atol=1e-6)
    with pytest.raises(UsageError):
        transforms.normalize(x.astype(np.float32), mean, std)
