"""``fill_cache``: run the frozen teacher once over a video list and store its outputs.

Resumable (videos already in the cache are skipped; a part file is written atomically every
``save_every`` batches, so a killed run keeps all but the last few batches), shardable
(``shard=(i, n)`` takes the videos whose path hashes to i), bad videos skipped, counted and
listed in the shard's manifest."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from rich.progress import TextColumn

from levil_edge.errors import DecodeError, UsageError
from levil_edge.teachers.cache import Sampling, TeacherCache, item_path, shard_tag, video_key, view_indices
from levil_edge.teachers.prompts import PSEUDO_LABEL_TEMPLATE, as_templates, label_set_hash
from levil_edge.teachers.targets import text_embeddings
from levil_edge.utils.progress import progress_bar
from levil_edge.utils.shards import shard_of

LabelSets = Sequence[Any]  # label lists, or (labels, template) pairs


def load_views(path: str, decoder, num_frames: int, views: int, size: int | None) -> np.ndarray:
    """uint8 (K, N, H, W, 3): K views of N frames, decoded in one pass, short side ``size``."""
    total = decoder.probe(path).num_frames
    idx = np.concatenate([view_indices(total, num_frames, k, views) for k in range(views)])
    frames = decoder.read_frames(path, idx, size=size)  # (K*N, H, W, 3)
    return frames.reshape(views, num_frames, *frames.shape[1:])


def _normalise_label_sets(label_sets: LabelSets | None) -> list[tuple[list[str], list[str]]]:
    out = []
    for entry in label_sets or []:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], (list, tuple)):
            labels, template = entry
        else:
            labels, template = entry, PSEUDO_LABEL_TEMPLATE
        labels = [str(x) for x in labels]
        if not labels:
            raise UsageError("a label set passed to fill_cache is empty")
        out.append((labels, as_templates(template)))
    return out


@dataclass(kw_only=True)
class FillOptions:
    """How ``fill_cache`` runs: one field per ``levil-edge cache fill`` knob."""

    views: int = 1  # temporal views per video (clips for zero-shot)
    shard: tuple[int, int] = (0, 1)  # (i, n): the videos whose path hashes to i
    decoder: Any = "auto"
    batch_size: int | None = None  # videos per teacher forward; None: the teacher's
    save_every: int = 4  # batches per part file (what a killed run can lose)
    workers: int = 2  # decoding threads
    retry_bad: bool = False  # decode the videos this shard's manifest lists as bad again
    progress: bool = True


def fill_cache(
    items: Sequence[Any],
    teacher,
    cache_dir: str | os.PathLike,
    opts: FillOptions | None = None,
    *,
    label_sets: LabelSets | None = None,
    features_fn: Callable | None = None,
    labels: Sequence[str] | None = None,
    template: Any = PSEUDO_LABEL_TEMPLATE,
    **options: Any,
) -> dict[str, Any]:
    """Compute and store the teacher outputs of ``items`` (VideoItem / dict with "path" / paths).

    Per video: ``views`` views of ``teacher.num_frames`` frames (``cache.view_indices``) ->
    "embedding" (K, D). ``features_fn(frames) -> (B, D')`` (default ``teacher.embed_features``,
    set by a Co-Settle adapter) adds "features" (K, D'). ``label_sets``: label lists or
    (labels, template) pairs; their text embeddings are cached too, and for X-CLIP the per-view
    cosines ("cos.<hash>", (K, M)) are what gets stored for each set.

    Returns a report: videos in this shard, computed, already cached, bad (this shard, all runs),
    elapsed seconds, videos/s, teacher forwards.

    ``labels``/``template`` add one label set (shorthand for ``label_sets=[(labels, template)]``).
    Keyword ``options`` are ``FillOptions`` fields (``views=2``, ``shard=(0, 3)``, ...) and override ``opts``.
    ``fill_cache(teacher, items, ...)`` (teacher first) is accepted too."""
    from levil_edge.data import get_decoder

    if hasattr(items, "embed_videos") and not hasattr(teacher, "embed_videos"):
        items, teacher = teacher, items
    if labels is not None:
        label_sets = [*(label_sets or []), (list(labels), template)]
    o = replace(opts or FillOptions(), **options)
    views, shard = o.views, tuple(o.shard)
    if views < 1:
        raise UsageError(f"views must be >= 1, got {views}")
    i_shard, n_shards = shard
    if not 0 <= i_shard < n_shards:
        raise UsageError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    sets = _normalise_label_sets(label_sets)
    if teacher.kind == "logits" and not sets:
        raise UsageError(f"{teacher.id} scores a video together with its labels (X-CLIP), so its cache needs them: "
                         "pass --labels (vocab.txt for distill, labels.txt for finetune)")
    cache = TeacherCache.open(cache_dir, teacher=teacher, create=True)
    sampling = Sampling(teacher.num_frames, views)
    features_fn = features_fn or getattr(teacher, "embed_features", None)
    dec = get_decoder(o.decoder)
    tag = f"{shard_tag(shard)}-f{sampling.num_frames}v{sampling.views}"  # one manifest per shard and sampling
    calls0 = dict(teacher.calls)
    _cache_label_texts(cache, teacher, sets)
    hashes = [label_set_hash(labels, templates) for labels, templates in sets] if teacher.kind == "logits" else []

    paths = [item_path(it) for it in items]
    mine = [p for p in paths if shard_of(p, n_shards) == i_shard]
    manifest = _start_manifest(cache, tag, shard, sampling, sets)
    known_bad = {b["key"] for b in manifest["bad"]} if not o.retry_bad else set()
    if o.retry_bad:
        manifest["bad"] = []
    todo, cached, new_bad = _plan(cache, teacher, mine, sampling, hashes, known_bad)
    manifest["bad"].extend(new_bad)
    # X-CLIP: the text tower runs once per label set, and only when there are videos to do
    prepared = [(h, teacher.prepare_labels(*s)) for h, s in zip(hashes, sets)] if todo else []

    writer = _PartWriter(cache, tag, manifest, o.save_every)
    batches = _decoded_batches(todo, dec, sampling, teacher.image_size, o.batch_size or teacher.batch_size, o.workers)
    elapsed = _fill_loop(batches, len(todo), teacher, prepared, features_fn, writer, o.progress, tag)
    manifest["bad"] = _dedupe(manifest["bad"])
    writer.flush(elapsed, complete=True)
    bad_list = [b["path"] for b in manifest["bad"]]
    return {
        "cache_dir": str(cache.root),
        "teacher_id": teacher.id,
        "shard": f"{i_shard}/{n_shards}",
        "videos_total": len(paths),
        "videos_in_shard": len(mine),
        "computed": writer.done,
        "already_cached": cached,
        "bad": len(bad_list),
        "bad_videos": bad_list,
        "views": views,
        "num_frames": teacher.num_frames,
        "label_sets": len(sets),
        "elapsed_s": round(elapsed, 3),
        "videos_per_s": round(writer.done / elapsed, 3) if elapsed > 0 and writer.done else 0.0,
        "teacher_forwards": {k: teacher.calls[k] - calls0.get(k, 0) for k in teacher.calls},
    }


def _fill_loop(batches, total: int, teacher, prepared, features_fn, writer: "_PartWriter", progress: bool, tag: str) -> float:
    """Run the teacher over decoded batches; bad videos go to the manifest. -> elapsed seconds.
    Whatever was computed is flushed even when interrupted (KeyboardInterrupt, a crash)."""
    t0 = time.perf_counter()
    with progress_bar(TextColumn("{task.fields[rate]}")) if progress else _NoBar() as bar:
        task = bar.add_task(f"teacher cache {tag}", total=total, rate="")
        processed = 0
        try:
            for batch in batches:
                good = [(p, k, f) for p, k, f in batch if not isinstance(f, Exception)]
                for p, k, f in batch:
                    if isinstance(f, Exception):
                        writer.manifest["bad"].append({"path": p, "key": k, "error": str(f).splitlines()[0][:300]})
                if good:
                    arrays = _run_teacher(teacher, [f for _, _, f in good], prepared, features_fn)
                    writer.add([p for p, _, _ in good], [k for _, k, _ in good], arrays)
                processed += len(batch)
                bar.update(task, advance=len(batch), rate=_rate(processed, t0))
        finally:
            writer.flush(time.perf_counter() - t0, complete=False)
    return time.perf_counter() - t0


def _dedupe(bad: list[dict]) -> list[dict]:
    seen: dict[tuple, dict] = {}
    for b in bad:
        seen[(b.get("path"), b.get("key"))] = b
    return list(seen.values())


def _cache_label_texts(cache: TeacherCache, teacher, sets) -> None:
    """Embedding teachers: cache the label text embeddings now (they do not depend on videos)."""
    if teacher.kind != "logits":
        for labels, templates in sets:
            text_embeddings(cache, labels, templates, teacher)


def _start_manifest(cache: TeacherCache, tag: str, shard, sampling: Sampling, sets) -> dict[str, Any]:
    old = cache.read_manifest(tag) or {}
    if old and old.get("sampling") != sampling.to_dict():
        old = {}  # another sampling for the same shard: start a new manifest, parts stay valid
    label_sets = dict(old.get("label_sets", {}))
    for labels, templates in sets:
        label_sets[label_set_hash(labels, templates)] = {"labels": labels, "template": templates}
    return {
        "shard": list(shard),
        "sampling": sampling.to_dict(),
        "teacher_id": cache.teacher_id,
        "parts": list(old.get("parts", [])),
        "videos": int(old.get("videos", 0)),
        "bad": list(old.get("bad", [])),
        "label_sets": label_sets,
        "complete": False,
    }


def _plan(cache, teacher, paths, sampling, hashes, known_bad):
    """Split a shard's videos into (to compute, number already cached, newly found missing files)."""
    todo, cached, bad = [], 0, []
    needed = ["embedding"] + [f"cos.{h}" for h in hashes]
    for p in paths:
        key = video_key(p, teacher.id, sampling)
        if key is None:
            bad.append({"path": p, "key": None, "error": "no such file"})
        elif key in known_bad:
            continue
        elif all(cache.has(key, n) for n in needed):
            cached += 1
        else:
            todo.append((p, key))
    return todo, cached, bad


def _decoded_batches(todo, dec, sampling: Sampling, size: int, batch_size: int, workers: int) -> Iterator[list]:
    """Batches of (path, key, frames (K, N, H, W, 3) or the DecodeError); decoding runs in threads,
    one batch ahead of the teacher."""

    def load(entry):
        path, key = entry
        try:
            return path, key, load_views(path, dec, sampling.num_frames, sampling.views, size)
        except DecodeError as exc:
            return path, key, exc
        except (OSError, ValueError, RuntimeError) as exc:
            return path, key, DecodeError(f"{path}: {exc}")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        chunks = [todo[s : s + batch_size] for s in range(0, len(todo), batch_size)]
        pending = pool.map(load, chunks[0]) if chunks else None
        for c in range(len(chunks)):
            batch = list(pending)
            pending = pool.map(load, chunks[c + 1]) if c + 1 < len(chunks) else None
            yield batch


def _run_teacher(teacher, frames: list[np.ndarray], prepared, features_fn) -> dict[str, np.ndarray]:
    """B videos of (K, N, H, W, 3) -> arrays of (B, K, ...)."""
    b, k = len(frames), frames[0].shape[0]
    flat = [view for f in frames for view in f]  # B*K videos (N, H, W, 3)
    out = {"embedding": teacher.embed_videos(flat).numpy().reshape(b, k, -1)}
    for h, state in prepared:
        out[f"cos.{h}"] = teacher.cosine_prepared(flat, state).numpy().reshape(b, k, -1)
    if features_fn is not None:
        out["features"] = _features(features_fn, flat).reshape(b, k, -1)
    return out


def _features(features_fn, videos: list[np.ndarray]) -> np.ndarray:
    """features_fn over videos whose frame sizes may differ (aspect ratios): one call per size."""
    out: list[np.ndarray | None] = [None] * len(videos)
    shapes = sorted({v.shape for v in videos})
    for shape in shapes:
        idx = [i for i, v in enumerate(videos) if v.shape == shape]
        feats = np.asarray(_to_numpy(features_fn(np.stack([videos[i] for i in idx]))), dtype=np.float32)  # (b, D')
        for j, i in enumerate(idx):
            out[i] = feats[j]
    return np.stack(out)  # type: ignore[arg-type]


def _to_numpy(x):
    return x.detach().float().cpu().numpy() if hasattr(x, "detach") else x


class _PartWriter:
    """Accumulates computed rows; writes a part + the manifest every ``save_every`` batches."""

    def __init__(self, cache: TeacherCache, tag: str, manifest: dict, save_every: int) -> None:
        self.cache, self.tag, self.manifest, self.save_every = cache, tag, manifest, max(1, save_every)
        self.paths: list[str] = []
        self.keys: list[str] = []
        self.arrays: dict[str, list[np.ndarray]] = {}
        self.batches = 0
        self.done = 0
        self.t0 = time.perf_counter()

    def add(self, paths, keys, arrays: dict[str, np.ndarray]) -> None:
        self.paths += paths
        self.keys += keys
        for name, a in arrays.items():
            self.arrays.setdefault(name, []).append(a)
        self.batches += 1
        self.done += len(keys)
        if self.batches % self.save_every == 0:
            self.flush(time.perf_counter() - self.t0)

    def flush(self, elapsed: float, complete: bool = False) -> None:
        if self.keys:
            arrays = {name: np.concatenate(parts) for name, parts in self.arrays.items()}
            part = self.cache.write_part("videos", self.tag, arrays, self.keys, self.paths)
            self.manifest["parts"].append(part.name)
            self.manifest["videos"] += len(self.keys)
            self.paths, self.keys, self.arrays = [], [], {}
        self.manifest["complete"] = complete
        self.manifest["last_elapsed_s"] = round(elapsed, 3)
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.cache.write_manifest(self.tag, self.manifest)


def _rate(done: int, t0: float) -> str:
    dt = time.perf_counter() - t0
    return f"{done / dt:.2f} videos/s" if dt > 0 else ""


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass
