"""PNG plots (matplotlib, Agg backend, imported lazily). Files are written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    from levil_edge.utils.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    _plt().close(fig)
    return path


def bar_chart(
    path: str | Path,
    values: Mapping[str, float],
    title: str = "",
    xlabel: str = "",
    horizontal: bool = True,
) -> Path:
    plt = _plt()
    names, vals = list(values.keys()), list(values.values())
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(names) + 1)) if horizontal else (max(5, 0.6 * len(names)), 4))
    if horizontal:
        ax.barh(names[::-1], vals[::-1], color="#4c78a8")
        ax.set_xlabel(xlabel)
    else:
        ax.bar(names, vals, color="#4c78a8")
        ax.set_ylabel(xlabel)
        ax.tick_params(axis="x", rotation=30)
    ax.set_title(title)
    return _save(fig, path)


def line_plot(
    path: str | Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
) -> Path:
    """series: name -> (x values, y values)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion_matrix_plot(path: str | Path, cm: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "") -> Path:
    import numpy as np

    plt = _plt()
    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * n + 2), max(4, 0.45 * n + 1.5)))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=90)
    ax.set_yticks(range(n), class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)
