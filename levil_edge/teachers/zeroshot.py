"""Zero-shot accuracy of a teacher on a labelled video set: the number users want before training.

Goes through the target cache (``fill_cache`` + ``TeacherTargets``), so a second run, another
prompt template or another temperature does not re-run the video tower."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Sequence

import numpy as np

from levil_edge.errors import DatasetError, UsageError
from levil_edge.metrics import summarize
from levil_edge.teachers.prompts import TARGET_CLASS_TEMPLATE, Templates, as_templates, humanize_label
from levil_edge.config import DEFAULT_TAU
from levil_edge.teachers.targets import TeacherTargets


def class_prompts(class_names: Sequence[str], humanize: bool = True) -> list[str]:
    """Class names -> the label texts put into the template (``ApplyEyeMakeup`` -> ``apply eye makeup``)."""
    return [humanize_label(c) if humanize else c for c in class_names]


def zeroshot_eval(
    teacher,
    items: Sequence[Any],
    class_names: Sequence[str],
    *,
    template: Templates = TARGET_CLASS_TEMPLATE,
    clips: int = 1,
    tau: float = DEFAULT_TAU,
    cache_dir: str | os.PathLike | None = None,
    decoder: Any = "auto",
    humanize: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Top-1/top-5/per-class accuracy of ``teacher`` over ``items`` (VideoItem with ``.label``).

    ``clips`` > 1: that many views per video (``cache.view_indices``), their softmax(cos / tau)
    scores averaged (LEViL evaluates with 10 clips). ``cache_dir`` None: a temporary cache."""
    if clips < 1:
        raise UsageError(f"--clips must be >= 1, got {clips}")
    labelled = [it for it in items if getattr(it, "label", None) is not None]
    if not labelled:
        raise DatasetError("no labelled videos: zero-shot accuracy needs a spec with labels (class folders, a list or CSV)")
    if not class_names:
        raise DatasetError("no class names: pass --labels labels.txt")
    texts = class_prompts(class_names, humanize)
    templates = as_templates(template)
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="levil-zeroshot-") as tmp:
            return _run(teacher, labelled, class_names, texts, templates, clips, tau, tmp, decoder, progress, False)
    return _run(teacher, labelled, class_names, texts, templates, clips, tau, cache_dir, decoder, progress, True)


def _run(teacher, items, class_names, texts, templates, clips, tau, cache_dir, decoder, progress, kept) -> dict[str, Any]:
    from levil_edge.teachers.fill import fill_cache

    report = fill_cache(items, teacher, cache_dir, views=clips, decoder=decoder,
                        label_sets=[(texts, templates)], progress=progress)  # fmt: skip
    targets = TeacherTargets.load(cache_dir, items, label_texts=texts, template=templates, teacher=teacher,
                                  views=clips, num_frames=teacher.num_frames)  # fmt: skip
    rows = np.flatnonzero(targets.valid)
    scores = video_scores(targets, rows, tau)  # (V, C)
    labels = np.array([items[i].label for i in rows], dtype=np.int64)
    result = summarize(scores, labels, list(class_names))
    result.update(
        teacher=teacher.id,
        kind=teacher.kind,
        template=templates,
        label_texts=texts,
        clips=clips,
        tau=tau,
        num_frames=teacher.num_frames,
        bad_videos=[targets.paths[i] for i in np.flatnonzero(~targets.valid)],
        cache_dir=str(cache_dir) if kept else None,
        cache={k: report[k] for k in ("computed", "already_cached", "bad", "videos_per_s", "elapsed_s")},
    )
    return result


def video_scores(targets: TeacherTargets, rows: np.ndarray, tau: float) -> np.ndarray:
    """(len(rows), C): softmax(cos / tau) averaged over the cached views of each video."""
    per_view = [targets.soft_targets(rows, k, tau) for k in range(targets.num_views)]  # K x (V, C)
    return np.mean(per_view, axis=0)
