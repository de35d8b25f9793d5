"""Teacher targets for training, read from the cache: no teacher forward at training time.

Usage (distillation over pseudo-labels)::

    targets = TeacherTargets.load(cache_dir, dataset_items, label_texts=vocab, template="{}",
                                  teacher=teacher_or_None)
    i = targets.index_of(path)                      # or the item's position in dataset_items
    q = targets.soft_targets([i], views=[k], tau=1/50)   # (1, M) float32 = softmax(cos / tau)
    v = targets.video_embedding(i, k)               # (D,) float32, L2-normalised (FD-VLM MSE)

Soft targets are formed here from cached video embeddings and (cached) text embeddings, so a new
vocabulary or tau only runs the text tower (once, then cached too). X-CLIP (``kind="logits"``)
caches cosines per label set instead: ``targets.logits(i, k)``.

``soft_targets_from_embeddings`` is the pure formula, for numpy arrays or torch tensors.
This module imports torch only when it is handed torch tensors or has to run the teacher."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from levil_edge.config import DEFAULT_TAU
from levil_edge.errors import CacheError, UsageError
from levil_edge.teachers.formula import soft_targets_from_cosines, soft_targets_from_embeddings  # noqa: F401 - re-exported
from levil_edge.teachers.cache import Sampling, TeacherCache, item_path, text_key, video_key
from levil_edge.teachers.prompts import PSEUDO_LABEL_TEMPLATE, Templates, as_templates, label_set_hash, templates_key

def resolve_sampling(cache: TeacherCache, views: int | None, num_frames: int | None, paths: Sequence[str] = ()) -> Sampling:
    """The sampling to read: the one asked for; if several fit (e.g. 1 view for training and 10
    from ``zeroshot --clips 10`` in one folder), the one that covers most of ``paths``, then the
    one with fewer views."""
    found = cache.samplings()
    matches = [s for s in found if (views is None or s.views == views) and (num_frames is None or s.num_frames == num_frames)]
    if not matches:
        have = ", ".join(f"{s.views} view(s) x {s.num_frames} frames" for s in found) or "nothing"
        raise CacheError(
            f"cache {cache.root} has {have}, not views={views} frames={num_frames}: fill it with "
            "`levil-edge cache fill ... --views K` or pass the views it has"
        )
    if len(matches) == 1:
        return matches[0]

    def coverage(s: Sampling) -> tuple[int, int]:
        hits = sum(cache.has(k) for p in paths if (k := video_key(p, cache.teacher_id, s)) is not None)
        return hits, -s.views

    return max(matches, key=coverage)


class TeacherTargets:
    """Cached teacher outputs for a fixed list of videos (row i = ``items[i]``)."""

    def __init__(self, cache: TeacherCache, paths: list[str], sampling: Sampling) -> None:
        self.cache = cache
        self.paths = paths
        self.sampling = sampling
        self.keys = [video_key(p, cache.teacher_id, sampling) for p in paths]
        self._row = {os.path.abspath(p): i for i, p in enumerate(paths)}
        emb, found = cache.gather(self.keys, "embedding")
        self.embeddings = emb if emb is not None else np.zeros((len(paths), sampling.views, cache.embed_dim), np.float32)
        self.valid = found  # (V,) False for videos that failed to decode (or are missing, strict=False)
        self._features = cache.gather(self.keys, "features")[0] if found.any() else None
        self.label_texts: list[str] | None = None
        self.template: list[str] | None = None
        self._text: np.ndarray | None = None
        self._cos: np.ndarray | None = None  # X-CLIP (V, K, M)

    # --- construction ---
    @classmethod
    def load(
        cls,
        cache_dir: str | os.PathLike,
        items_or_paths: Sequence[Any],
        label_texts: Sequence[str] | None = None,
        template: Templates = PSEUDO_LABEL_TEMPLATE,
        teacher=None,
        *,
        views: int | None = None,
        num_frames: int | None = None,
        strict: bool = True,
    ) -> "TeacherTargets":
        """Open the cache for these videos (VideoItem, dict with "path", or path strings).

        ``teacher``: only needed when text embeddings of ``label_texts`` are not cached yet (its
        id must match the cache). ``strict``: raise CacheError when a video is neither cached nor
        recorded as undecodable; with ``strict=False`` such rows are just invalid (``.valid``)."""
        cache = TeacherCache.open(cache_dir, teacher=teacher)
        paths = [item_path(it) for it in items_or_paths]
        self = cls(cache, paths, resolve_sampling(cache, views, num_frames, paths))
        missing = self._missing()
        if strict and missing:
            raise CacheError(
                f"{len(missing)} of {len(self.paths)} videos have no cached teacher targets in {cache.root} "
                f"(first: {self.paths[missing[0]]}): run `levil-edge cache fill --teacher MODEL --data SPEC "
                f"--cache {cache.root} --views {self.sampling.views}`"
            )
        if label_texts is not None:
            self.set_labels(label_texts, template, teacher)
        return self

    def _missing(self) -> list[int]:
        bad = self.cache.bad_videos()
        # a file that no longer exists (key None) cannot be filled: it is invalid, not missing
        return [i for i, (k, ok) in enumerate(zip(self.keys, self.valid)) if not ok and k is not None and k not in bad]

    def set_labels(self, label_texts: Sequence[str], template: Templates = PSEUDO_LABEL_TEMPLATE, teacher=None) -> None:
        """Switch the label set (vocabulary or target classes). Video embeddings are not re-read;
        text embeddings come from the cache or, once, from ``teacher``'s text tower."""
        labels, templates = list(label_texts), as_templates(template)
        if not labels:
            raise UsageError("the label list is empty")
        if self.kind == "logits":
            self._cos = self._gather_cosines(labels, templates)
        else:
            self._text = text_embeddings(self.cache, labels, templates, teacher)
        self.label_texts, self.template = labels, templates

    def _gather_cosines(self, labels: list[str], templates: list[str]) -> np.ndarray:
        h = label_set_hash(labels, templates)
        cos, found = self.cache.gather(self.keys, f"cos.{h}")
        if cos is None or (self.valid & ~found).any():
            raise CacheError(
                f"X-CLIP cache {self.cache.root} has no cosines for this label set ({len(labels)} labels, "
                f"hash {h}): run `levil-edge cache fill ... --labels LABELS.txt` with the same labels and template"
            )
        return cos  # (V, K, M)

    # --- whole tables (training reads them once into tensors) ---
    @property
    def cosine_table(self) -> np.ndarray | None:
        """X-CLIP: (V, K, M) cached cosines of the current label set; None for embedding teachers."""
        return self._cos

    @property
    def features_table(self) -> np.ndarray | None:
        """(V, K, D') extra features (Co-Settle adapter), or None."""
        return self._features

    # --- facts ---
    @property
    def kind(self) -> str:
        return self.cache.kind

    @property
    def num_views(self) -> int:
        return self.sampling.views

    @property
    def embed_dim(self) -> int:
        return self.cache.embed_dim

    def __len__(self) -> int:
        return len(self.paths)

    def index_of(self, path: str | os.PathLike) -> int:
        try:
            return self._row[os.path.abspath(os.fspath(path))]
        except KeyError:
            raise CacheError(f"{path} is not one of the videos these targets were loaded for") from None

    # --- per-video arrays ---
    def _check(self, i: int, k: int) -> None:
        if not 0 <= k < self.num_views:
            raise UsageError(f"view {k} out of range: the cache has {self.num_views} view(s) per video")
        if not self.valid[i]:
            raise CacheError(f"{self.paths[i]} has no cached targets (it failed to decode or is not filled yet)")

    def video_embedding(self, i: int, k: int = 0) -> np.ndarray:
        """(D,) float32, L2-normalised."""
        self._check(i, k)
        return self.embeddings[i, k]

    def features(self, i: int, k: int = 0) -> np.ndarray | None:
        """(D',) extra features (e.g. Co-Settle adapted), or None when the cache has none."""
        self._check(i, k)
        return None if self._features is None else self._features[i, k]

    @property
    def text_embeddings(self) -> np.ndarray:
        """(M, D) float32 of the current label set (not for X-CLIP: its texts depend on the video)."""
        if self._text is None:
            raise CacheError("no label set: pass label_texts= to TeacherTargets.load or call set_labels()")
        return self._text

    def logits(self, i: int, k: int = 0) -> np.ndarray:
        """(M,) cosine similarity of view k with each label (X-CLIP cache; for embedding teachers it
        is computed from the embeddings). Divide by tau and softmax for targets."""
        self._check(i, k)
        if self.kind == "logits":
            if self._cos is None:
                raise CacheError("no label set: pass label_texts= to TeacherTargets.load or call set_labels()")
            return self._cos[i, k]
        return self.text_embeddings @ self.embeddings[i, k]

    def cosines(self, indices: Sequence[int], views: Sequence[int] | int = 0) -> np.ndarray:
        """(B, M) cosines for rows ``indices`` at views ``views`` (one per row, or one for all)."""
        idx = np.asarray(indices, dtype=np.int64)
        vws = np.broadcast_to(np.asarray(views, dtype=np.int64), idx.shape)
        for i, k in zip(idx, vws):
            self._check(int(i), int(k))
        if self.kind == "logits":
            if self._cos is None:
                raise CacheError("no label set: pass label_texts= to TeacherTargets.load or call set_labels()")
            return self._cos[idx, vws]
        return self.embeddings[idx, vws] @ self.text_embeddings.T

    def soft_targets(self, indices: Sequence[int], views: Sequence[int] | int = 0, tau: float = DEFAULT_TAU) -> np.ndarray:
        """(B, M) float32 softmax(cos / tau): LEViL's q for a batch (same formula for every teacher)."""
        return soft_targets_from_cosines(self.cosines(indices, views), tau)


def text_embeddings(cache: TeacherCache, labels: list[str], templates: list[str], teacher=None) -> np.ndarray:
    """(M, D) label embeddings (prompt-ensembled over ``templates``), from the cache or computed
    with ``teacher`` (and then stored). Keyed by teacher id + templates + label text."""
    tkey = templates_key(templates)
    keys = [text_key(cache.teacher_id, tkey, t) for t in labels]
    emb, found = cache.gather_texts(keys)
    if not found.all():
        if teacher is None:
            raise CacheError(
                f"{int((~found).sum())} label texts have no cached embedding in {cache.root}: pass the teacher "
                "(TeacherTargets.load(..., teacher=load_teacher(MODEL))) or fill with --labels"
            )
        cache.check_teacher(teacher)
        todo = [t for t, f in zip(labels, found) if not f]
        new = teacher.embed_labels(todo, templates).numpy().astype(np.float32)  # (m, D)
        cache.put_texts([k for k, f in zip(keys, found) if not f], new)
        emb[~found] = new
    return emb


def load_targets(cache_dir: str | Path, items, **kw) -> TeacherTargets:
    """Alias of ``TeacherTargets.load``."""
    return TeacherTargets.load(cache_dir, items, **kw)
