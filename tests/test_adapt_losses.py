"""Co-Settle pieces against plain loop references on small tensors (no models, no videos)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from levil_edge.adapt.diagnostics import inter_video_distance, intra_video_distance, time_pair_indices
from levil_edge.adapt.losses import WALK_EPS, cycle_walk_loss, pool_patch_grid, separability_kl
from levil_edge.adapt.objective import walk_pool
from levil_edge.adapt.pairs import pair_indices
from levil_edge.adapt.posaug import augment_position_grid, upsampled_size
from levil_edge.adapt.projection import CoSettleProjection
from levil_edge.adapt.train import AdaptConfig, lr_at

def _unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def _pool_ref(tokens, grid, pool):
    b, _, d = tokens.shape
    g = grid // pool
    out = torch.zeros(b, g * g, d, dtype=tokens.dtype)
    for bi in range(b):
        for r in range(g):
            for c in range(g):
                acc = torch.zeros(d, dtype=tokens.dtype)
                for dr in range(pool):
                    for dc in range(pool):
                        acc += tokens[bi, (r * pool + dr) * grid + c * pool + dc]
                out[bi, r * g + c] = acc / pool**2
    return out


def test_pool_patch_grid_matches_loop_reference():
    x = torch.randn(2, 16, 5, dtype=torch.float64)
    torch.testing.assert_close(pool_patch_grid(x, 4, 2), _pool_ref(x, 4, 2))
    assert pool_patch_grid(x, 4, 1) is x
    with pytest.raises(ValueError):
        pool_patch_grid(x, 5, 2)


def _softmax_rows(m):
    out = []
    for row in m:
        e = [math.exp(v) for v in row]
        s = sum(e)
        out.append([v / s for v in e])
    return out


def _cycle_ref(p1, p2, p1r, temp):
    """Loop reference: transition matrices, their product, CE against the identity."""
    losses, hits, count = 0.0, 0, 0
    for b in range(p1.shape[0]):
        m = p1.shape[1]
        a12 = _softmax_rows([[float(p1[b, i] @ p2[b, j]) / temp for j in range(m)] for i in range(m)])
        a21 = _softmax_rows([[float(p2[b, i] @ p1r[b, j]) / temp for j in range(m)] for i in range(m)])
        walk = [[sum(a12[i][k] * a21[k][j] for k in range(m)) for j in range(m)] for i in range(m)]
        for i in range(m):
            logits = [math.log(v + WALK_EPS) for v in walk[i]]
            lse = math.log(sum(math.exp(v) for v in logits))
            losses += lse - logits[i]
            hits += int(max(range(m), key=lambda j: logits[j]) == i)
            count += 1
    return losses / count, hits / count


@pytest.mark.parametrize("temp", [0.03, 0.5])
def test_cycle_walk_loss_matches_loop_reference(temp):
    p1, p2, p1r = _unit(2, 6, 4, seed=1), _unit(2, 6, 4, seed=2), _unit(2, 6, 4, seed=3)
    loss, acc = cycle_walk_loss(p1, p2, p1r, temp)
    ref_loss, ref_acc = _cycle_ref(p1, p2, p1r, temp)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-9)
    assert acc.item() == pytest.approx(ref_acc)


def test_cycle_walk_loss_is_low_for_a_consistent_walk_and_has_gradients():
    p1 = _unit(1, 9, 16, seed=4)
    consistent, _ = cycle_walk_loss(p1, p1, p1, 0.03)
    shuffled, _ = cycle_walk_loss(p1, _unit(1, 9, 16, seed=5), _unit(1, 9, 16, seed=6), 0.03)
    assert consistent.item() < 0.01 < shuffled.item()
    x = p1.clone().requires_grad_(True)
    cycle_walk_loss(x, _unit(1, 9, 16, seed=5), x, 0.1)[0].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_separability_kl_matches_loop_reference():
    proj, orig = _unit(2, 3, 4, 5, seed=7), _unit(2, 3, 4, 5, seed=8)
    total = 0.0
    for b in range(2):
        for t in range(3):
            for n in range(4):
                p = torch.softmax(orig[b, t, n], 0).tolist()
                q = torch.softmax(proj[b, t, n], 0).tolist()
                total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert separability_kl(proj, orig).item() == pytest.approx(total / 2, rel=1e-9)
    assert separability_kl(orig, orig).item() == pytest.approx(0.0, abs=1e-12)


def test_position_augmentation_keeps_shape_and_moves_positions():
    grid, dim = 4, 6
    pos = torch.randn(grid * grid, dim, dtype=torch.float64)
    aug = augment_position_grid(pos, grid, ratio=10.0, generator=torch.Generator().manual_seed(0))
    assert aug.shape == pos.shape and aug.dtype == pos.dtype
    assert not torch.allclose(aug, pos)
    # identity: no upsampling and the window at the origin
    torch.testing.assert_close(augment_position_grid(pos, grid, ratio=0.0, offset=(0, 0)), pos)
    assert upsampled_size(14, 10.0) == 154
    # the window really is a crop of the bicubic upsampling
    up = F.interpolate(pos.reshape(1, grid, grid, dim).permute(0, 3, 1, 2), size=(44, 44), mode="bicubic")
    want = up[0, :, 3:7, 5:9].permute(1, 2, 0).reshape(grid * grid, dim)
    torch.testing.assert_close(augment_position_grid(pos, grid, 10.0, offset=(3, 5)), want)
    with pytest.raises(ValueError):
        augment_position_grid(pos, grid, 10.0, offset=(41, 0))
    # different draws give different windows
    g = torch.Generator().manual_seed(1)
    draws = {tuple(augment_position_grid(pos, grid, 10.0, generator=g)[0].tolist()) for _ in range(5)}
    assert len(draws) > 1


def test_projection_is_linear_tanh_layernorm_per_token():
    proj = CoSettleProjection(8)
    x = torch.randn(2, 3, 5, 8)
    y = proj(x)
    assert y.shape == x.shape
    ref = F.layer_norm(torch.tanh(x @ proj.linear.weight.T + proj.linear.bias), (8,), proj.norm.weight, proj.norm.bias)
    torch.testing.assert_close(y, ref)
    assert sum(p.numel() for p in proj.parameters()) == 8 * 8 + 8 + 2 * 8


def test_lr_schedule_warms_up_then_decays_with_a_cosine():
    cfg = AdaptConfig(epochs=5, batch_size=256)
    peak = cfg.resolved_lr()
    assert peak == pytest.approx(1e-4)
    assert lr_at(0.5, cfg, peak) == pytest.approx(0.5e-4)
    assert lr_at(1.0, cfg, peak) == pytest.approx(1e-4)
    assert lr_at(3.0, cfg, peak) == pytest.approx(0.5e-4)
    assert lr_at(5.0, cfg, peak) == pytest.approx(0.0, abs=1e-12)
    assert AdaptConfig(batch_size=32).resolved_lr() == pytest.approx(1.25e-5)


def test_pairs_are_the_gap_apart_and_walk_pool_fits_the_grid():
    rng = np.random.default_rng(0)
    for _ in range(20):
        t1, t2 = pair_indices(100, 0.15, rng)
        assert t2 - t1 == 15 and 0 <= t1 and t2 < 100
    assert pair_indices(1, 0.15, rng) == (0, 0)
    t1, t2 = pair_indices(4, 0.15, rng)
    assert t2 - t1 == 1
    assert (walk_pool(14), walk_pool(7), walk_pool(8)) == (2, 1, 2)
    assert time_pair_indices(40) == [(10, 16), (14, 20), (18, 24), (22, 28), (26, 32)]


def test_intra_and_inter_video_distances_match_loop_references():
    feats = torch.randn(3, 4, 6, 5, dtype=torch.float64)  # (V, T, N, D)
    raw_sum = 0.0
    for video in feats:
        per_pair = []
        for t in range(3):
            nearest = sorted(min(float((video[t, i] - video[t + 1, j]).norm()) for j in range(6)) for i in range(6))
            per_pair.append(sum(nearest[:3]) / 3)
        raw_sum += sum(per_pair) / 3
    intra, intra_norm = intra_video_distance(feats)
    assert intra == pytest.approx(raw_sum / 3, rel=1e-6)
    assert 0 < intra_norm < intra
    mid = feats[:, 2]
    pairs = [(a, b) for a in range(3) for b in range(a + 1, 3)]
    ref = sum(float(sum((mid[a, n] - mid[b, n]).norm() for n in range(6)) / 6) for a, b in pairs) / len(pairs)
    inter, inter_norm = inter_video_distance(feats)
    assert inter == pytest.approx(ref, rel=1e-6)
    assert inter_norm > 0
    assert math.isnan(inter_video_distance(feats[:1])[0])


def test_held_out_split_is_disjoint_seeded_and_keeps_a_pair_when_it_can():
    from levil_edge.adapt.train import split_videos

    paths = [f"v{i}.mp4" for i in range(30)]
    cfg = AdaptConfig(seed=3)
    train, val = split_videos(paths, None, cfg)
    assert len(val) == 3 and not set(train) & set(val) and sorted(train + val) == sorted(paths)
    assert split_videos(paths, None, cfg) == (train, val)
    assert len(split_videos(paths[:5], None, cfg)[1]) == 2
    assert split_videos(paths[:3], None, cfg)[1] and split_videos(paths[:1], None, cfg) == (paths[:1], [])
    assert split_videos(paths, ["x.mp4"], cfg) == (paths, ["x.mp4"])  # --val: all of --videos trains
