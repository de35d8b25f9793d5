"""Labeled subsets for few-label fine-tuning: stratified, seeded, >= 1 video per class. Torch-free.

``split_labeled(spec, ratio=0.05)`` (or ``per_class=K``) picks the labeled videos; the rest is the
unlabeled pool. ``write_list`` saves the choice as ``path label`` lines (readable by ``load_spec``),
so a run can be repeated exactly from its output folder.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

import numpy as np

from levil_edge.data.specs import DatasetSpec, VideoItem
from levil_edge.errors import DatasetError, UsageError
from levil_edge.utils.io import atomic_write_text

__all__ = ["split_labeled", "write_list", "write_labels"]


def split_labeled(
    spec: DatasetSpec,
    ratio: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> tuple[DatasetSpec, DatasetSpec]:
    """(labeled, unlabeled): per class, ``max(1, round(ratio * n_class))`` or ``min(per_class,
    n_class)`` videos chosen at random (seeded); the unlabeled pool keeps its true labels in the
    items (useful for evaluation) - training code must ignore them."""
    if (ratio is None) == (per_class is None):
        raise UsageError("give exactly one of --label-ratio or --labels-per-class")
    if ratio is not None and not 0 < ratio <= 1:
        raise UsageError(f"--label-ratio must be in (0, 1], got {ratio}")
    if per_class is not None and per_class < 1:
        raise UsageError(f"--labels-per-class must be >= 1, got {per_class}")
    if not spec.labeled:
        raise DatasetError(f"{spec.source}: a labeled subset needs labels on every video (got an unlabeled spec)")
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, item in enumerate(spec.items):
        by_class[int(item.label)].append(i)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for label in sorted(by_class):  # fixed order: the same seed gives the same subset
        members = by_class[label]
        k = min(per_class, len(members)) if per_class else max(1, math.floor(ratio * len(members) + 0.5))
        chosen.update(members[j] for j in rng.permutation(len(members))[:k])
    labeled = [it for i, it in enumerate(spec.items) if i in chosen]
    pool = [it for i, it in enumerate(spec.items) if i not in chosen]
    what = f"ratio={ratio}" if ratio else f"per_class={per_class}"
    return (
        DatasetSpec(labeled, list(spec.classes), spec.kind, f"{spec.source} [labeled {what} seed={seed}]"),
        DatasetSpec(pool, list(spec.classes), spec.kind, f"{spec.source} [unlabeled pool]"),
    )


def write_list(
    path: str | os.PathLike, items: list[VideoItem] | DatasetSpec, absolute: bool = True, with_labels: bool = True
) -> None:
    """Write ``path label`` lines, atomically; the label is omitted for unlabeled items or when
    ``with_labels`` is False (an unlabeled pool must not carry its ground truth into training)."""
    if isinstance(items, DatasetSpec):
        items = items.items
    lines = []
    for it in items:
        p = os.path.abspath(it.path) if absolute else it.path
        lines.append(p if it.label is None or not with_labels else f"{p} {it.label}")
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_labels(path: str | os.PathLike, classes: list[str]) -> None:
    """labels.txt: one class name per line, index order."""
    atomic_write_text(path, "".join(c + "\n" for c in classes))
