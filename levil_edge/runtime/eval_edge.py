"""K-clip evaluation of an exported model (.onnx / .engine) on labelled videos. Torch-free.

``levil-edge evaluate`` dispatches .onnx/.engine files here; ``bench --data`` uses it too, and
the report is built by the shared ``levil_edge.eval_report`` / ``levil_edge.metrics`` code."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from levil_edge.errors import DecodeError

log = logging.getLogger(__name__)


def _item(it: Any) -> tuple[str, int | None]:
    if isinstance(it, (tuple, list)):
        return str(it[0]), (None if len(it) < 2 or it[1] is None else int(it[1]))
    if isinstance(it, (str, Path)):
        return str(it), None
    return str(it.path), getattr(it, "label", None)


def video_scores(model, path: str, num_clips: int, decoder: Any, batch_size: int | None = None) -> np.ndarray:
    """(C,) video score: mean of the K clips' softmax (the evaluation protocol's aggregation)."""
    from levil_edge.eval_report import aggregate_clip_scores
    from levil_edge.runtime.preprocess import video_to_input

    x = video_to_input(path, model.cfg, num_clips, decoder)  # (K, 3, T, S, S)
    return aggregate_clip_scores(model.predict(x, batch_size))


def evaluate_model(
    path,
    items: Sequence[Any],
    num_clips: int = 10,
    decoder: Any = "auto",
    batch_size: int | None = None,
    providers: list[str] | None = None,
    threads: int | None = None,
    return_kept: bool = False,
):
    """Score every video -> (scores (N, C), labels (N,), class_names), or with ``return_kept``
    (scores (N, C), indices of the items kept (N,)).

    ``path``: a model file or an already loaded ``EdgeModel``. ``items``: VideoItem-like objects,
    (path, label) pairs or paths. Videos that fail to decode are skipped (logged); labels of the
    kept videos are returned as the items give them (-1 where an item has none): map them onto the
    model's classes with ``levil_edge.eval_report.dataset_labels``."""
    from levil_edge.data.decoders import get_decoder
    from levil_edge.runtime.model import EdgeModel, load_model
    from levil_edge.utils.progress import track

    model = path if isinstance(path, EdgeModel) else load_model(path, providers, threads)
    dec = get_decoder(decoder)
    scores, labels, kept, skipped = [], [], [], 0
    for i, it in enumerate(track(list(items), description=f"evaluating {Path(str(model.path)).name}")):
        p, label = _item(it)
        try:
            scores.append(video_scores(model, p, num_clips, dec, batch_size))
        except DecodeError as exc:
            skipped += 1
            log.warning("skipping %s: %s", p, exc)
            continue
        labels.append(-1 if label is None else label)
        kept.append(i)
    s = np.stack(scores) if scores else np.zeros((0, model.cfg.num_classes))
    if return_kept:
        return s, np.asarray(kept, dtype=np.int64)
    return s, np.asarray(labels, dtype=np.int64), model.class_names
