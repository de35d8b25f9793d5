"""Classification metrics, numpy only: shared by ``evaluate`` (PyTorch), ``bench``/``predict``
(ONNX Runtime, TensorRT) and the demo, so every number is computed the same way."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the k highest scores. scores: (N, C), labels: (N,)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((topk == labels[:, None]).any(axis=1).mean())


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return cm


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall per class; NaN for classes with no examples."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def agreement(scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and mean per-row cosine of two models' logits on the same inputs."""
    a, b = np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)
    top1 = float((a.argmax(1) == b.argmax(1)).mean()) if len(a) else float("nan")
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = (a * b).sum(1) / np.maximum(na * nb, 1e-12)
    return {"top1_agreement": top1, "logit_cosine": float(cos.mean()) if len(a) else float("nan")}


def summarize(
    scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Top-1, top-5, mean per-class accuracy, per-class table and confusion matrix, JSON-ready."""
    scores, labels = np.asarray(scores), np.asarray(labels, dtype=np.int64)
    num_classes = scores.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    cm = confusion_matrix(scores.argmax(1), labels, num_classes)
    pca = per_class_accuracy(cm)
    return {
        "num_videos": int(len(labels)),
        "top1": topk_accuracy(scores, labels, 1),
        "top5": topk_accuracy(scores, labels, 5),
        "mean_class_accuracy": float(np.nanmean(pca)) if np.isfinite(pca).any() else float("nan"),
        "per_class": [
            {"class": names[c], "support": int(cm[c].sum()), "accuracy": None if np.isnan(pca[c]) else float(pca[c])}
            for c in range(num_classes)
        ],
        "confusion_matrix": cm.tolist(),
        "class_names": names,
    }
