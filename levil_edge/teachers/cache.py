"""The teacher target cache: per-video view embeddings stored once, read every epoch (torch-free).

The teacher is frozen, so its outputs are computed once (``fill_cache``, ``levil-edge cache
fill``) and soft targets are formed at training time from cached video and text embeddings
(``targets.TeacherTargets``): changing the vocabulary or tau never re-runs the video tower.

Layout of a cache folder (one teacher per folder)::

    cache.json                     teacher id, kind, embed_dim (checked on every open)
    videos/<shard>-<seq>.safetensors   "embedding" (V, K, D) float32, optional "features" (V, K, D'),
                                   and for X-CLIP "cos.<label-set hash>" (V, K, M); metadata "keys"/"paths"
    texts/<shard>-<seq>.safetensors    "embedding" (L, D); metadata "keys" (teacher + template + text)
    manifest-<shard>-f<N>v<K>.json per fill shard and sampling: parts, counts, bad videos, label sets

Every file is written atomically, a part every few batches, so a killed fill keeps what it
computed. Shards (``--shard i/n``) write their own parts and manifest, so many machines can fill
one folder (a shared file system, or copy the folders together); readers merge all parts.

A video's key hashes its absolute path, size, mtime, the teacher id and the sampling
(frames per view, number of views): an edited video or another sampling is simply a miss."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from levil_edge.errors import CacheError
from levil_edge.utils.io import atomic_path, atomic_write_json
from levil_edge.utils.shards import parse_shard  # noqa: F401 - re-exported: the cache's --shard

FORMAT = "levil-edge-teacher-cache"
VERSION = 1
SCHEME = "uniform-offset-v1"  # how view k's frames are picked: see view_indices

__all__ = ["TeacherCache", "Sampling", "view_indices", "video_key", "text_key", "item_path"]


# --------------------------------------------------------------------------- sampling and keys
@dataclass(frozen=True)
class Sampling:
    """How the frames of each cached view were chosen."""

    num_frames: int
    views: int = 1
    scheme: str = SCHEME

    def to_dict(self) -> dict[str, Any]:
        return {"num_frames": self.num_frames, "views": self.views, "scheme": self.scheme}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Sampling":
        return cls(int(d["num_frames"]), int(d.get("views", 1)), str(d.get("scheme", SCHEME)))


def view_indices(num_frames: int, n: int, view: int, views: int) -> np.ndarray:
    """Frame indices of view ``view`` of ``views``: ``n`` uniformly spaced frames, each taken at a
    deterministic offset inside its segment, ``(view + 0.5) / views``. One view is the segment
    centres (``data.sampling.uniform_indices``, LEViL's teacher input); K views tile the segments,
    so K > 1 gives the teacher different frames of the same video. Short videos repeat frames."""
    seg = num_frames / n
    idx = ((np.arange(n) + (view + 0.5) / views) * seg).astype(np.int64)
    return np.minimum(idx, num_frames - 1)


def _stat(path: str | os.PathLike) -> tuple[str, int, int] | None:
    p = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(p)
    except OSError:
        return None
    return p, st.st_size, st.st_mtime_ns


def video_key(path: str | os.PathLike, teacher_id: str, sampling: Sampling) -> str | None:
    """The cache key of one video (None when the file does not exist)."""
    st = _stat(path)
    if st is None:
        return None
    p, size, mtime = st
    raw = f"{p}|{size}|{mtime}|{teacher_id}|{sampling.num_frames}|{sampling.views}|{sampling.scheme}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:24]


def item_path(item: Any) -> str:
    """The video path of a list item: a path, a ``{"path": ...}`` dict or anything with ``.path``
    (``levil_edge.data.specs.VideoItem``)."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, dict):
        return os.fspath(item["path"])
    return os.fspath(item.path)


def text_key(teacher_id: str, templates_key: str, text: str) -> str:
    return hashlib.sha1(f"{teacher_id}\x1d{templates_key}\x1d{text}".encode("utf-8")).hexdigest()[:24]


def shard_tag(shard: tuple[int, int]) -> str:
    return f"s{shard[0]:03d}of{shard[1]:03d}"


# --------------------------------------------------------------------------- the store
class TeacherCache:
    """A cache folder: its metadata, and an index over all parts of all shards.

    ``TeacherCache.open(folder, teacher=...)`` checks that the folder belongs to that teacher;
    ``create=True`` makes a new one. Reading is lazy; parts are loaded whole on first use."""

    def __init__(self, root: str | os.PathLike, meta: dict[str, Any]) -> None:
        self.root = Path(root)
        self.meta = meta
        self._arrays: dict[Path, dict[str, np.ndarray]] = {}
        self._video_index: dict[tuple[str, str], tuple[Path, int]] | None = None
        self._text_index: dict[str, tuple[Path, int]] | None = None

    # --- opening ---
    @classmethod
    def open(cls, root: str | os.PathLike, teacher=None, create: bool = False) -> "TeacherCache":
        root = Path(root)
        meta_path = root / "cache.json"
        if not meta_path.is_file():
            if not create:
                raise CacheError(
                    f"no teacher cache at {root}: fill it first with `levil-edge cache fill --teacher MODEL "
                    f"--data SPEC --cache {root}`"
                )
            if teacher is None:
                raise CacheError("creating a cache needs the teacher")
            meta = {
                "format": FORMAT,
                "version": VERSION,
                "teacher_id": teacher.id,
                "kind": teacher.kind,
                "embed_dim": int(teacher.embed_dim),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            atomic_write_json(meta_path, meta)
            return cls(root, meta)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CacheError(f"{meta_path} is unreadable ({exc}): delete the cache folder and fill it again") from exc
        if meta.get("format") != FORMAT:
            raise CacheError(f"{root} is not a levil-edge teacher cache: pass another --cache folder")
        cache = cls(root, meta)
        if teacher is not None:
            cache.check_teacher(teacher)
        return cache

    def check_teacher(self, teacher) -> None:
        if int(teacher.embed_dim) != int(self.meta["embed_dim"]) or teacher.id != self.meta["teacher_id"]:
            raise CacheError(
                f"cache {self.root} holds targets of teacher {self.meta['teacher_id']} (dim {self.meta['embed_dim']}), "
                f"not of {teacher.id} (dim {teacher.embed_dim}): pass another --cache folder or delete this one"
            )

    @property
    def teacher_id(self) -> str:
        return str(self.meta["teacher_id"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def embed_dim(self) -> int:
        return int(self.meta["embed_dim"])

    # --- manifests ---
    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.root.glob("manifest-*.json")):
            try:
                out.append(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue  # a manifest is rewritten atomically; unreadable means foreign: ignore
        return out

    def samplings(self) -> list[Sampling]:
        seen = {Sampling.from_dict(m["sampling"]) for m in self.manifests() if "sampling" in m}
        return sorted(seen, key=lambda s: (s.num_frames, s.views))

    def bad_videos(self) -> dict[str, str]:
        """key -> error, over all shards."""
        return {b["key"]: b["error"] for m in self.manifests() for b in m.get("bad", []) if b.get("key")}

    def label_sets(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for m in self.manifests():
            out.update(m.get("label_sets", {}))
        return out

    # --- parts ---
    def _parts(self, sub: str) -> list[Path]:
        return sorted((self.root / sub).glob("*.safetensors"), key=lambda p: (p.stat().st_mtime_ns, p.name))

    @staticmethod
    def _part_meta(path: Path) -> dict[str, Any]:
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            names = list(f.keys())
        return {"keys": json.loads(meta.get("keys", "[]")), "paths": json.loads(meta.get("paths", "[]")), "arrays": names}

    def video_index(self) -> dict[tuple[str, str], tuple[Path, int]]:
        """(video key, array name) -> (part file, row); later parts win."""
        if self._video_index is None:
            index: dict[tuple[str, str], tuple[Path, int]] = {}
            for part in self._parts("videos"):
                info = self._part_meta(part)
                for name in info["arrays"]:
                    for row, key in enumerate(info["keys"]):
                        index[(key, name)] = (part, row)
            self._video_index = index
        return self._video_index

    def text_index(self) -> dict[str, tuple[Path, int]]:
        if self._text_index is None:
            index: dict[str, tuple[Path, int]] = {}
            for part in self._parts("texts"):
                for row, key in enumerate(self._part_meta(part)["keys"]):
                    index[key] = (part, row)
            self._text_index = index
        return self._text_index

    def has(self, key: str, name: str = "embedding") -> bool:
        return (key, name) in self.video_index()

    def _load(self, part: Path) -> dict[str, np.ndarray]:
        if part not in self._arrays:
            from safetensors.numpy import load_file

            self._arrays[part] = load_file(str(part))
        return self._arrays[part]

    def gather(self, keys: Sequence[str | None], name: str = "embedding") -> tuple[np.ndarray | None, np.ndarray]:
        """Stack array ``name`` for ``keys`` -> (array (V, ...) with zeros where missing, found mask (V,))."""
        index = self.video_index()
        found = np.array([k is not None and (k, name) in index for k in keys], dtype=bool)
        if not found.any():
            return None, found
        first = index[(next(k for k, f in zip(keys, found) if f), name)]
        proto = self._load(first[0])[name][first[1]]
        out = np.zeros((len(keys), *proto.shape), dtype=np.float32)
        for i, key in enumerate(keys):
            if found[i]:
                part, row = index[(key, name)]
                out[i] = self._load(part)[name][row]
        return out, found

    def gather_texts(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        index = self.text_index()
        found = np.array([k in index for k in keys], dtype=bool)
        out = np.zeros((len(keys), self.embed_dim), dtype=np.float32)
        for i, key in enumerate(keys):
            if found[i]:
                part, row = index[key]
                out[i] = self._load(part)["embedding"][row]
        return out, found

    # --- writing ---
    def next_part(self, sub: str, tag: str) -> Path:
        folder = self.root / sub
        folder.mkdir(parents=True, exist_ok=True)
        seqs = [int(m.group(1)) for p in folder.glob(f"{tag}-*.safetensors") if (m := re.search(r"-(\d+)\.safetensors$", p.name))]
        return folder / f"{tag}-{(max(seqs) + 1) if seqs else 0:06d}.safetensors"

    def write_part(self, sub: str, tag: str, arrays: dict[str, np.ndarray], keys: list[str], paths: Iterable[str] = ()) -> Path:
        from safetensors.numpy import save_file

        path = self.next_part(sub, tag)
        meta = {"keys": json.dumps(keys), "paths": json.dumps(list(paths))}
        with atomic_path(path) as tmp:
            save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}, str(tmp), metadata=meta)
        self._video_index = None if sub == "videos" else self._video_index
        self._text_index = None if sub == "texts" else self._text_index
        return path

    def put_texts(self, keys: list[str], embeddings: np.ndarray) -> None:
        # a unique name: several shard processes may embed label texts at the same moment
        import uuid

        self.write_part("texts", f"texts-{uuid.uuid4().hex[:12]}", {"embedding": embeddings}, keys)

    def write_manifest(self, tag: str, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.root / f"manifest-{tag}.json", manifest)

    def read_manifest(self, tag: str) -> dict[str, Any] | None:
        p = self.root / f"manifest-{tag}.json"
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    # --- summary ---
    def info(self) -> dict[str, Any]:
        index = self.video_index()
        keys = {k for k, name in index if name == "embedding"}
        arrays = sorted({name for _, name in index})
        size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        manifests = self.manifests()
        return {
            "cache_dir": str(self.root),
            "teacher_id": self.teacher_id,
            "kind": self.kind,
            "embed_dim": self.embed_dim,
            "videos": len(keys),
            "bad_videos": len(self.bad_videos()),
            "samplings": [s.to_dict() for s in self.samplings()],
            "arrays": arrays,
            "video_parts": len(self._parts("videos")),
            "texts": len(self.text_index()),
            "label_sets": {h: len(v.get("labels", [])) for h, v in self.label_sets().items()},
            "shards": [m.get("shard") for m in manifests],
            "complete_shards": sum(bool(m.get("complete")) for m in manifests),
            "size_mb": round(size / 2**20, 2),
        }
