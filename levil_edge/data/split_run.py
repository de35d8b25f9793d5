"""``levil-edge data split`` as one library call (torch-free): a stratified, seeded labeled subset
of a dataset, the rest as the unlabeled pool, written as dataset specs. Returns a SplitResult."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SplitResult:
    source: str
    seed: int
    classes: list[str]
    files: dict[str, str]  # labeled, unlabeled, labels -> path
    labeled: int
    unlabeled: int
    per_class: dict[str, list[int]] = field(default_factory=dict)  # class -> [labeled, unlabeled]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output of ``levil-edge data split``."""
        return {"files": dict(self.files), "labeled": self.labeled, "unlabeled": self.unlabeled,
                "per_class": {c: list(v) for c, v in self.per_class.items()}}


def split_dataset(
    data: str,
    out: str | os.PathLike,
    *,
    label_ratio: float | None = None,
    labels_per_class: int | None = None,
    labels: str | os.PathLike | None = None,
    root: str | None = None,
    seed: int = 0,
) -> SplitResult:
    """Write ``out/labeled.txt`` ('path label' lines), ``out/unlabeled.txt`` (paths only: the
    pool's labels stay hidden) and ``out/labels.txt``; every list is itself a dataset spec."""
    from levil_edge.data.specs import load_spec
    from levil_edge.data.subsets import split_labeled, write_labels, write_list

    out = Path(out)
    ds = load_spec(data, labels=labels, root=root)
    labeled, pool = split_labeled(ds, ratio=label_ratio, per_class=labels_per_class, seed=seed)
    files = {"labeled": out / "labeled.txt", "unlabeled": out / "unlabeled.txt", "labels": out / "labels.txt"}
    write_list(files["labeled"], labeled)
    write_list(files["unlabeled"], pool, with_labels=False)
    write_labels(files["labels"], ds.classes)
    counts_l, counts_u = labeled.class_counts(), pool.class_counts()
    return SplitResult(source=str(ds.source), seed=seed, classes=list(ds.classes),
                       files={k: str(v) for k, v in files.items()}, labeled=len(labeled.items),
                       unlabeled=len(pool.items), per_class={c: [counts_l[c], counts_u[c]] for c in ds.classes})
