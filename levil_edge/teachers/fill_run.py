"""``levil-edge cache fill`` as one library call: load the dataset and the teacher, fill one shard
of the teacher target cache (resumable). Returns ``fill_cache``'s report dict."""

from __future__ import annotations

import os
from typing import Any


def fill_teacher_cache(
    teacher: str | os.PathLike,
    data: str,
    cache: str | os.PathLike,
    *,
    views: int = 1,
    shard: str | tuple[int, int] = "0/1",
    labels: str | os.PathLike | None = None,
    template: str | list[str] | None = None,
    frames: int | None = None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str | None = None,
    decoder: str = "auto",
    root: str | None = None,
    feature_hook=None,
    retry_bad: bool = False,
    trust_remote_code: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the frozen ``teacher`` over ``data`` and store per-view embeddings in ``cache``.

    ``shard``: ``"i/n"`` or ``(i, n)``. ``labels``: a label file (vocab.txt or labels.txt) whose
    texts are cached too, with ``template`` (default ``PSEUDO_LABEL_TEMPLATE``); X-CLIP needs them.
    ``feature_hook``: a Co-Settle adapter (``levil_edge.adapt.adapter_hook(folder)``) whose features are
    stored beside the embeddings."""
    from levil_edge.data.specs import load_spec, read_labels
    from levil_edge.teachers import load_teacher
    from levil_edge.teachers.fill import fill_cache
    from levil_edge.teachers.prompts import PSEUDO_LABEL_TEMPLATE
    from levil_edge.utils.io import ensure_writable
    from levil_edge.utils.shards import parse_shard

    shard_t = parse_shard(shard) if isinstance(shard, str) else tuple(shard)
    ensure_writable(cache, "folder")  # before the teacher loads
    spec = load_spec(data, root=root)
    model = load_teacher(teacher, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         batch_size=batch_size, num_frames=frames, feature_hook=feature_hook)  # fmt: skip
    sets = [(read_labels(labels), template or PSEUDO_LABEL_TEMPLATE)] if labels else None
    return fill_cache(spec.items, model, cache, views=views, shard=shard_t, decoder=decoder,
                      label_sets=sets, retry_bad=retry_bad, progress=progress)  # fmt: skip
