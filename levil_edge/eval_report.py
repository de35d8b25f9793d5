"""Turn per-video scores and labels into the shared evaluation report (torch-free).

Used by ``levil-edge evaluate`` (PyTorch checkpoints) and by the edge runtime's evaluation of
ONNX / TensorRT models, so every accuracy figure, table and plot is made the same way.

    clip_logits (K, C) per video --aggregate_clip_scores--> scores (N, C)
    scores + labels --build_report--> dict (JSON-ready) --write_report--> report.json, confusion.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from levil_edge.errors import DatasetError
from levil_edge.metrics import softmax, summarize


def aggregate_clip_scores(clip_logits: np.ndarray, how: str = "prob") -> np.ndarray:
    """Video-level scores from K clips: the mean of the clip softmax probabilities ("prob",
    MMAction2's default and what LEViL's 10-clip protocol averages) or of the raw logits
    ("logits").  (K, C) -> (C,)."""
    clip_logits = np.asarray(clip_logits, dtype=np.float64)
    if clip_logits.ndim == 1:
        clip_logits = clip_logits[None]
    if how == "prob":
        return softmax(clip_logits, axis=-1).mean(axis=0)
    if how == "logits":
        return clip_logits.mean(axis=0)
    raise ValueError(f"unknown clip aggregation {how!r}: use 'prob' or 'logits'")


def label_index_map(dataset_classes: Sequence[str], model_labels: Sequence[str], what: str | None = None) -> np.ndarray:
    """For each dataset class, its index among the model's labels.  -> (len(dataset_classes),)

    Raises DatasetError naming the dataset classes the model does not know (the usual cause:
    a labels file from another dataset, or a pseudo-label checkpoint that was never fine-tuned).
    ``what`` replaces the default message start and hint (e.g. for a training labels file)."""
    index = {name: i for i, name in enumerate(model_labels)}
    unknown = [c for c in dataset_classes if c not in index]
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" ... ({len(unknown)} in all)" if len(unknown) > 8 else "")
        raise DatasetError(
            (what or "the dataset has classes the model does not know: {shown}; pass the labels file the model "
             "was fine-tuned with (--labels) or evaluate on matching data").format(shown=shown)
        )
    return np.array([index[c] for c in dataset_classes], dtype=np.int64)


def dataset_labels(spec, model_labels: Sequence[str]) -> np.ndarray:
    """Per item of a labelled dataset spec, the index of its class among the model's labels.  -> (N,)

    The one check that a model and a dataset talk about the same classes (``evaluate``, ``bench
    --data``, finetune's validation): class names are matched by name (DatasetError naming the
    unknown ones); a list file with bare integer labels and no labels file is taken to index the
    model's labels directly."""
    if any(it.label is None for it in spec.items):
        raise DatasetError(f"{spec.source}: some videos have no label; accuracy needs a labelled dataset spec")
    numeric = spec.classes == [str(i) for i in range(len(spec.classes))]
    if numeric and list(model_labels) != list(spec.classes):
        if len(spec.classes) > len(model_labels):
            raise DatasetError(f"{spec.source}: label index {len(spec.classes) - 1} but the model has {len(model_labels)} classes")
        return np.array([it.label for it in spec.items], dtype=np.int64)
    mapping = label_index_map(spec.classes, model_labels)
    return mapping[np.array([it.label for it in spec.items], dtype=np.int64)]


def build_report(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    **meta: Any,
) -> dict[str, Any]:
    """metrics.summarize plus whatever describes the run (model path, clips, skipped videos...).
    scores (N, C), labels (N,) -> JSON-ready dict."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:  # every video failed to decode: still a well-formed (empty) report
        scores = np.zeros((0, len(class_names)))
    report = summarize(scores, np.asarray(labels, dtype=np.int64), class_names)
    report.update(meta)
    return report


def per_class_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(class, support, accuracy) strings for a table, worst class first (what a user fixes next).
    Classes without validation videos come last."""
    rows = sorted(
        report["per_class"],
        key=lambda r: (r["accuracy"] is None, r["accuracy"] if r["accuracy"] is not None else 0.0, r["class"]),
    )
    return [
        (r["class"], str(r["support"]), "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%")
        for r in rows
    ]


def report_tables(report: dict[str, Any], title: str = "evaluation", max_classes: int = 40):
    """Two rich tables: the summary and the per-class accuracy (rich is a core dependency)."""
    from rich.table import Table

    def pct(x):
        return "-" if x is None or x != x else f"{100 * x:.1f}%"

    summary = Table(title=title, show_header=False, title_justify="left")
    summary.add_column("key", style="bold")
    summary.add_column("value")
    for key in ("model", "backend", "data", "num_videos", "num_clips", "skipped_videos"):
        if key in report:
            value = report[key]
            summary.add_row(key, str(len(value) if isinstance(value, list) else value))
    summary.add_row("top-1", pct(report["top1"]))
    summary.add_row("top-5", pct(report["top5"]))
    summary.add_row("mean class accuracy", pct(report["mean_class_accuracy"]))

    classes = Table(title="per class (worst first)", title_justify="left")
    classes.add_column("class")
    classes.add_column("videos", justify="right")
    classes.add_column("accuracy", justify="right")
    rows = per_class_rows(report)
    for row in rows[:max_classes]:
        classes.add_row(*row)
    if len(rows) > max_classes:
        classes.add_row(f"... {len(rows) - max_classes} more in the JSON", "", "")
    return summary, classes


def write_report(report: dict[str, Any], out_dir: str | Path, stem: str = "eval") -> dict[str, Path]:
    """Write ``<stem>.json`` and ``<stem>_confusion.png`` into out_dir (atomically); return the paths."""
    from levil_edge.utils.io import atomic_write_json
    from levil_edge.utils.plots import confusion_matrix_plot

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "confusion_png": out / f"{stem}_confusion.png"}
    report = dict(report, files={k: str(v) for k, v in paths.items()})
    atomic_write_json(paths["json"], report)
    confusion_matrix_plot(
        paths["confusion_png"],
        report["confusion_matrix"],
        report["class_names"],
        title=f"top-1 {100 * report['top1']:.1f}%" if report["num_videos"] else "no videos",
    )
    return paths
