"""Teacher targets for training, read once from the teacher cache into tensors.

The cache (``levil_edge.teachers``) stores per-(video, view) embeddings; here they become a
``TargetTable``: soft targets (N, V, C) = softmax(cos / tau) over the head's labels and, for
feature distillation, the normalised embeddings (or the adapter's features) (N, V, E). When the
cache lacks videos, it is filled first (rank 0 runs the teacher, the other ranks wait), so the
teacher never runs twice for the same view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from levil_edge.errors import CacheError
from levil_edge.teachers.formula import soft_targets_from_cosines
from levil_edge.train.ddp import DistInfo, barrier
from levil_edge.train.tasks import TargetTable


@dataclass
class TeacherSetup:
    model: str  # id or path given to load_teacher
    cache_dir: Path
    device: str = "auto"
    batch_size: int = 8
    trust_remote_code: bool = False
    decoder: str = "auto"
    adapter: Optional[Any] = None  # Co-Settle adapter folder or feature hook (see feature_hook): its features become the FD-VLM target


def load_target_table(setup: TeacherSetup, items: Sequence[Any], label_texts: Sequence[str], template: str,
                      tau: float, dist: DistInfo, with_embed: bool = False) -> tuple[TargetTable, np.ndarray, dict]:
    """-> (table over ``items``, valid (N,) bool (False: the teacher could not decode it), info)."""
    from levil_edge.teachers import TeacherTargets

    targets = None
    if dist.is_main:
        targets = _open_or_fill(setup, items, label_texts, template)
    barrier(dist)  # the other ranks read the cache only once rank 0 has filled it
    if targets is None:
        targets = TeacherTargets.load(setup.cache_dir, items, label_texts=label_texts, template=template)
    valid = np.asarray(targets.valid, dtype=bool)
    table = TargetTable(soft=_soft(targets, tau), embed=_embed(targets) if with_embed else None)
    info = {"teacher_id": targets.cache.teacher_id, "teacher_kind": targets.kind, "embed_dim": int(table.embed.shape[-1]) if table.embed is not None else targets.embed_dim,
            "views": targets.num_views, "teacher_bad_videos": [p for p, ok in zip(targets.paths, valid) if not ok]}
    return table, valid, info


def _open_or_fill(setup: TeacherSetup, items, label_texts, template):
    """Open the cache as this teacher's (the teacher is loaded, which runs no forward, so that a
    cache filled by another teacher or embedding size is refused rather than silently used),
    fill what is missing, and read the targets."""
    from levil_edge.teachers import TeacherTargets

    teacher = _load_teacher(setup)
    try:
        return TeacherTargets.load(setup.cache_dir, items, label_texts=label_texts, template=template, teacher=teacher)
    except CacheError as exc:
        if "holds targets of teacher" in str(exc):
            raise  # another teacher's cache (or its embedding size changed): filling would not help
    _fill(setup, teacher, items, label_texts, template)
    return TeacherTargets.load(setup.cache_dir, items, label_texts=label_texts, template=template, teacher=teacher)


def _load_teacher(setup: TeacherSetup):
    from levil_edge.teachers import load_teacher

    return load_teacher(setup.model, device=setup.device, trust_remote_code=setup.trust_remote_code,
                        batch_size=setup.batch_size, feature_hook=feature_hook(setup.adapter))


def feature_hook(adapter):
    """``teacher_adapter`` as the teacher's feature hook: None, a hook (any callable), or a Co-Settle
    adapter folder, which becomes ``levil_edge.adapt.adapter_hook(folder)``. Teachers never import
    adapt: the hook is handed to them."""
    if adapter is None or callable(adapter):
        return adapter
    from levil_edge.adapt import adapter_hook

    return adapter_hook(adapter)


def _fill(setup: TeacherSetup, teacher, items, label_texts, template) -> None:
    from levil_edge.teachers import fill_cache

    # The label set is filled too: its text embeddings (or, for X-CLIP, per-view cosines) get cached.
    # With an adapter, the cache also stores its temporally consistent features beside the
    # text-aligned embedding; soft targets keep using the embedding (the joint text space).
    features_fn = getattr(teacher, "embed_features", None) if setup.adapter else None
    fill_cache(items, teacher, setup.cache_dir, decoder=setup.decoder, labels=list(label_texts), template=template,
               features_fn=features_fn)


def _soft(targets, tau: float) -> torch.Tensor:
    """(N, V, C) float32 soft targets for every (video, view), through the cache's public
    ``cosines`` (embedding teachers: cos from cached embeddings; X-CLIP: cached cosines).
    Rows the teacher could not decode stay uniform; they are dropped from training anyway."""
    n, v = len(targets), targets.num_views
    rows = np.flatnonzero(np.asarray(targets.valid, dtype=bool))
    cos = np.zeros((n, v, len(targets.label_texts)), dtype=np.float32)
    for k in range(v):
        if len(rows):
            cos[rows, k] = targets.cosines(rows, k)  # (n_valid, C)
    return soft_targets_from_cosines(torch.from_numpy(cos), tau)


def _embed(targets) -> torch.Tensor:
    """(N, V, E): the adapter's features when the cache has them (Co-Settle), else the teacher's
    L2-normalised video embeddings."""
    rows = np.flatnonzero(np.asarray(targets.valid, dtype=bool))
    first = targets.features(int(rows[0]), 0) if len(rows) else None
    if first is None:
        return torch.from_numpy(np.ascontiguousarray(targets.embeddings, dtype=np.float32))
    out = np.zeros((len(targets), targets.num_views, len(first)), dtype=np.float32)
    for i in rows:
        for k in range(targets.num_views):
            out[i, k] = targets.features(int(i), k)
    return torch.from_numpy(out)
