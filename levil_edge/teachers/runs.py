"""``cache fill`` and ``zeroshot`` as library calls: load the dataset and the teacher, then fill one
shard of the teacher target cache, or score every video against the class prompts.

``TeacherRun`` says how to load a teacher and feed it videos; both calls (and the CLI commands over
them) share it, so neither takes a dozen loose teacher options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from levil_edge.config import DEFAULT_TAU


@dataclass(frozen=True)
class TeacherRun:
    """A teacher (Hugging Face id or local folder) and how to run it over videos.

    ``frames``: frames per video (default: the teacher's, 8). ``feature_hook``: e.g.
    ``levil_edge.adapt.adapter_hook(folder)`` for Co-Settle features. ``decoder``: how its frames
    are read (``auto``, ``decord``, ``pyav``)."""

    model: str | os.PathLike
    frames: Optional[int] = None
    batch_size: int = 8
    device: str = "auto"
    dtype: Optional[str] = None
    decoder: str = "auto"
    trust_remote_code: bool = False
    feature_hook: Optional[Callable[[Any], Any]] = None

    def load(self):
        from levil_edge.teachers.loading import load_teacher

        return load_teacher(self.model, device=self.device, dtype=self.dtype, trust_remote_code=self.trust_remote_code,
                            batch_size=self.batch_size, num_frames=self.frames, feature_hook=self.feature_hook)


def fill_teacher_cache(
    teacher: TeacherRun,
    data: str,
    cache: str | os.PathLike,
    *,
    views: int = 1,
    shard: str | tuple[int, int] = "0/1",
    labels: str | os.PathLike | None = None,
    template: str | list[str] | None = None,
    root: str | None = None,
    retry_bad: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the frozen ``teacher`` over ``data`` and store per-view embeddings in ``cache``
    (resumable; ``shard``: ``"i/n"`` or ``(i, n)``). ``labels``: a label file (vocab.txt or
    labels.txt) whose texts are cached too, with ``template`` (default ``PSEUDO_LABEL_TEMPLATE``);
    X-CLIP needs them. Returns ``fill_cache``'s report dict."""
    from levil_edge.data.specs import load_spec, read_labels
    from levil_edge.teachers.fill import fill_cache
    from levil_edge.teachers.prompts import PSEUDO_LABEL_TEMPLATE
    from levil_edge.utils.io import ensure_writable
    from levil_edge.utils.shards import parse_shard

    shard_t = parse_shard(shard) if isinstance(shard, str) else tuple(shard)
    ensure_writable(cache, "folder")  # before the teacher loads
    spec = load_spec(data, root=root)
    model = teacher.load()
    sets = [(read_labels(labels), template or PSEUDO_LABEL_TEMPLATE)] if labels else None
    return fill_cache(spec.items, model, cache, views=views, shard=shard_t, decoder=teacher.decoder,
                      label_sets=sets, retry_bad=retry_bad, progress=progress)  # fmt: skip


def run_zeroshot(
    teacher: TeacherRun,
    data: str,
    *,
    labels: str | os.PathLike | None = None,
    template: str | Sequence[str] | None = None,
    clips: int = 1,
    tau: float = DEFAULT_TAU,
    cache: str | os.PathLike | None = None,
    humanize: bool = True,
    root: str | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Zero-shot top-1/top-5/per-class accuracy of ``teacher`` on the labelled dataset ``data``
    (``template``: default ``TARGET_CLASS_TEMPLATE``); ``out``: also write the result there."""
    from levil_edge.data.specs import load_spec
    from levil_edge.teachers.formula import check_tau
    from levil_edge.teachers.prompts import TARGET_CLASS_TEMPLATE
    from levil_edge.teachers.zeroshot import zeroshot_eval
    from levil_edge.utils.io import atomic_write_json, ensure_writable

    check_tau(tau)  # before the teacher runs over every video
    if out is not None:
        ensure_writable(out, "file")  # before the teacher runs over every video
    if cache is not None:
        ensure_writable(cache, "folder")
    spec = load_spec(data, labels=labels, root=root)
    model = teacher.load()
    result = zeroshot_eval(model, spec.items, spec.classes, template=template or TARGET_CLASS_TEMPLATE, clips=clips,
                           tau=tau, cache_dir=cache, decoder=teacher.decoder, humanize=humanize,
                           progress=progress)  # fmt: skip
    result["data"] = data
    if out is not None:
        atomic_write_json(out, result)
    return result
