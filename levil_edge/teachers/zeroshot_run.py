"""``levil-edge zeroshot`` as one library call: load the dataset and the teacher, score every video
against the class prompts, optionally write the results JSON. Returns the result dict."""

from __future__ import annotations

import os
from typing import Any, Sequence


def run_zeroshot(
    teacher: str | os.PathLike,
    data: str,
    *,
    labels: str | os.PathLike | None = None,
    template: str | Sequence[str] | None = None,
    clips: int = 1,
    tau: float = 0.02,
    cache: str | os.PathLike | None = None,
    humanize: bool = True,
    frames: int | None = None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str | None = None,
    decoder: str = "auto",
    root: str | None = None,
    trust_remote_code: bool = False,
    out: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Zero-shot top-1/top-5/per-class accuracy of ``teacher`` on the labelled dataset ``data``
    (``template``: default ``TARGET_CLASS_TEMPLATE``); ``out``: also write the result there."""
    from levil_edge.data.specs import load_spec
    from levil_edge.teachers import load_teacher
    from levil_edge.teachers.prompts import TARGET_CLASS_TEMPLATE
    from levil_edge.teachers.zeroshot import zeroshot_eval
    from levil_edge.utils.io import atomic_write_json, ensure_writable

    if out is not None:
        ensure_writable(out, "file")  # before the teacher runs over every video
    if cache is not None:
        ensure_writable(cache, "folder")
    spec = load_spec(data, labels=labels, root=root)
    model = load_teacher(teacher, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         batch_size=batch_size, num_frames=frames)  # fmt: skip
    result = zeroshot_eval(model, spec.items, spec.classes, template=template or TARGET_CLASS_TEMPLATE, clips=clips,
                           tau=tau, cache_dir=cache, decoder=decoder, humanize=humanize,
                           progress=progress)  # fmt: skip
    result["data"] = data
    if out is not None:
        atomic_write_json(out, result)
    return result
