"""The Co-Settle paper's diagnostics on held-out videos, before and after adaptation.

- intra-video distance: for adjacent sampled frames of one video, each patch's distance to its
  nearest patch in the next frame, mean of the closest 50%; lower = temporally consistent.
- inter-video distance: distance between same-position patches of the middle frames of two
  videos, averaged over video pairs; higher = videos stay distinguishable.
- Both are also divided by a diameter (2 x the 95th-percentile distance to the centre: per video
  for intra, over all videos for inter), since raw distances of the original and the projected
  features live on different scales; the normalised numbers are the ones to compare.
- cycle accuracy: the walk t1 -> t2 -> t1 over 2x2-pooled patches at the paper's five time pairs;
  share of nodes that come back to themselves. cycle loss: the training walk (returning frame
  with augmented positions, fixed windows) on the same pairs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from levil_edge.adapt.losses import WALK_EPS, round_trip
from levil_edge.adapt.objective import walk_nodes
from levil_edge.adapt.posaug import augment_position_grid

#: (t1, t2) as fractions of the clip, as in the public evaluation code.
TIME_PAIRS = ((0.25, 0.4), (0.35, 0.5), (0.45, 0.6), (0.55, 0.7), (0.65, 0.8))
METRICS = ("intra", "inter", "intra_norm", "inter_norm", "inter_intra_ratio", "cycle_acc", "cycle_loss")
DIAMETER_QUANTILE = 0.95


@dataclass
class HeldOut:
    """Frozen tokens of the held-out videos, computed once (the encoder never changes)."""

    tokens: torch.Tensor  # (V, T, N, D) plain frames
    returning: torch.Tensor  # (V, K, N, D) frame t1 of each time pair, augmented positions
    pairs: list[tuple[int, int]]  # K frame-index pairs into T
    grid: int
    pool: int
    temperature: float
    paths: list[str]
    skipped: int


def time_pair_indices(num_frames: int) -> list[tuple[int, int]]:
    return [(min(int(a * num_frames), num_frames - 1), min(int(b * num_frames), num_frames - 1)) for a, b in TIME_PAIRS]


@torch.no_grad()
def prepare_held_out(
    encoder,
    paths: Sequence[str | os.PathLike],
    num_frames: int = 8,
    pool: int = 2,
    temperature: float = 0.03,
    pos_ratio: float = 10.0,
    decoder: str = "auto",
    seed: int = 0,
) -> HeldOut:
    """Decode ``num_frames`` uniform frames per video, encode them once. Bad videos are skipped."""
    from levil_edge.data.clips import load_uniform_frames
    from levil_edge.data.decoders import get_decoder
    from levil_edge.errors import LevilError
    from levil_edge.utils.progress import track

    dec = get_decoder(decoder)
    pairs = time_pair_indices(num_frames)
    gen = torch.Generator().manual_seed(seed)
    tokens, returning, kept, skipped = [], [], [], 0
    for path in track(list(paths), description="held-out videos"):
        try:
            frames = load_uniform_frames(path, num_frames, size=encoder.image_size, decoder=dec)  # (T, S, >=S, 3)
        except (LevilError, OSError, RuntimeError, ValueError):
            skipped += 1
            continue
        pixels = encoder.preprocess(frames)  # (T, 3, S, S)
        tokens.append(encoder.patch_tokens(pixels).cpu())
        ret = []
        for t1, _ in pairs:  # a fixed random window per pair, so before/after see the same walk
            grid_aug = augment_position_grid(encoder.position_grid(), encoder.grid, pos_ratio, generator=gen)
            ret.append(encoder.patch_tokens(pixels[t1 : t1 + 1], position_grid=grid_aug)[0].cpu())
        returning.append(torch.stack(ret))
        kept.append(os.fspath(path))
    if not tokens:
        from levil_edge.errors import DatasetError

        raise DatasetError("no held-out video could be decoded; check --val (or the videos) with `levil-edge data check`")
    return HeldOut(torch.stack(tokens), torch.stack(returning), pairs, encoder.grid, pool, temperature, kept, skipped)


def _diameter(points: torch.Tensor) -> torch.Tensor:
    """2 x the 95th-percentile distance of (P, D) points to their mean."""
    radius = torch.linalg.vector_norm(points - points.mean(0, keepdim=True), dim=-1)
    return 2 * torch.quantile(radius, DIAMETER_QUANTILE)


def intra_video_distance(feats: torch.Tensor) -> tuple[float, float]:
    """(V, T, N, D) -> (mean raw, mean diameter-normalised) intra-video distance."""
    raw, norm = [], []
    n = feats.shape[2]
    keep = max(1, n // 2)
    for video in feats:  # (T, N, D)
        nearest = torch.cdist(video[:-1], video[1:]).min(dim=-1).values  # (T-1, N)
        d = nearest.topk(keep, dim=-1, largest=False).values.mean()
        raw.append(d)
        norm.append(d / (_diameter(video.flatten(0, 1)) + 1e-8))
    return float(torch.stack(raw).mean()), float(torch.stack(norm).mean())


def inter_video_distance(feats: torch.Tensor) -> tuple[float, float]:
    """(V, T, N, D) -> (raw, normalised) mean distance between same-position patches of the
    middle frames of every pair of videos; NaN with fewer than two videos."""
    v, t = feats.shape[:2]
    if v < 2:
        return math.nan, math.nan
    mid = feats[:, t // 2]  # (V, N, D)
    dist = torch.cdist(mid.transpose(0, 1), mid.transpose(0, 1)).mean(0)  # (N, V, V) -> (V, V)
    upper = torch.triu(torch.ones(v, v, dtype=torch.bool), diagonal=1)
    raw = dist[upper].mean()
    return float(raw), float(raw / (_diameter(mid.flatten(0, 1)) + 1e-8))


def cycle_scores(feats: torch.Tensor, returning: torch.Tensor, held: HeldOut) -> tuple[float, float]:
    """(cycle accuracy of the plain walk, cycle loss of the augmented walk) over the time pairs."""
    nodes = walk_nodes(feats, held.grid, held.pool)  # (V, T, M, D)
    ret_nodes = walk_nodes(returning, held.grid, held.pool)  # (V, K, M, D)
    accs, losses = [], []
    for k, (t1, t2) in enumerate(held.pairs):
        p1, p2 = nodes[:, t1], nodes[:, t2]
        plain = round_trip(p1, p2, p1, held.temperature)  # (V, M, M)
        eye = torch.arange(plain.shape[-1])
        accs.append((plain.argmax(-1) == eye).float().mean())
        walk = round_trip(p1, p2, ret_nodes[:, k], held.temperature)
        losses.append(-torch.log(walk.diagonal(dim1=-2, dim2=-1) + WALK_EPS).mean())
    return float(torch.stack(accs).mean()), float(torch.stack(losses).mean())


@torch.no_grad()
def measure(held: HeldOut, project: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """All diagnostics for the features ``project(tokens)`` (None: the original tokens)."""
    feats, returning = held.tokens, held.returning
    if project is not None:
        feats, returning = project(feats), project(returning)
    intra, intra_norm = intra_video_distance(feats)
    inter, inter_norm = inter_video_distance(feats)
    acc, loss = cycle_scores(feats, returning, held)
    ratio = inter_norm / intra_norm if intra_norm > 0 else math.nan
    return {
        "intra": intra,
        "inter": inter,
        "intra_norm": intra_norm,
        "inter_norm": inter_norm,
        "inter_intra_ratio": ratio,
        "cycle_acc": acc,
        "cycle_loss": loss,
    }


def nan_to_none(obj):
    """Replace NaN floats (e.g. inter-video distance with one held-out video) by None, recursively,
    so the JSON written is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    return obj


def diagnostics_rows(before: dict, after: dict) -> list[tuple[str, float, float, str]]:
    """(metric, before, after, which way is better) rows for tables."""
    better = {
        "intra": "lower",
        "inter": "higher",
        "intra_norm": "lower",
        "inter_norm": "higher",
        "inter_intra_ratio": "higher",
        "cycle_acc": "higher",
        "cycle_loss": "lower",
    }
    return [(m, before[m], after[m], better[m]) for m in METRICS]


def write_diagnostics(out_dir: str | Path, before: dict, after: dict, extra: dict | None = None) -> dict[str, Path]:
    """diagnostics.json, diagnostics.md (table) and diagnostics.png (before/after bars of the
    scale-free metrics), all written atomically."""
    from levil_edge.utils.io import atomic_write_json, atomic_write_text

    out = Path(out_dir)
    rows = diagnostics_rows(before, after)
    atomic_write_json(out / "diagnostics.json", nan_to_none({"before": before, "after": after, **(extra or {})}))
    lines = ["| metric | before | after | better |", "|---|---|---|---|"]
    lines += [f"| {m} | {b:.4f} | {a:.4f} | {w} |" for m, b, a, w in rows]
    atomic_write_text(out / "diagnostics.md", "\n".join(lines) + "\n")
    png = _plot(out / "diagnostics.png", before, after)
    return {"json": out / "diagnostics.json", "table": out / "diagnostics.md", "png": png}


def _plot(path: Path, before: dict, after: dict) -> Path:
    from levil_edge.utils.plots import _plt, _save

    plt = _plt()
    names = ["intra_norm", "inter_norm", "cycle_acc"]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, [before[n] for n in names], 0.4, label="before (frozen teacher)", color="#9ecae9")
    ax.bar(x + 0.2, [after[n] for n in names], 0.4, label="after (Co-Settle)", color="#4c78a8")
    ax.set_xticks(x, ["intra-video dist.\n(lower better)", "inter-video dist.\n(higher better)", "cycle accuracy\n(higher better)"])
    ax.set_title("Co-Settle diagnostics on held-out videos")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
