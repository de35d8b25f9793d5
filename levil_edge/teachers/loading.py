"""``load_teacher`` (the teacher factory): a Hugging Face model id or local folder -> a ``Teacher``.

Dispatch is on the config's ``model_type`` through ``registry.py``, which the teacher modules
fill with ``@register_teacher``. Nothing is downloaded unless the id is not cached
and the network is reachable (``HF_HUB_OFFLINE=1`` forbids it); remote code runs only with
``trust_remote_code=True``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Optional

from levil_edge.errors import TeacherError, UsageError
from levil_edge.teachers.registry import registered_model_types, teacher_backend
from levil_edge.utils.device import resolve_device, resolve_dtype
from levil_edge.utils.extras import require

DEFAULT_BATCH_SIZE = 8


def _ensure_builtin() -> None:
    # Importing the teacher modules runs their @register_teacher decorators (torch + transformers).
    from levil_edge.teachers import clip, siglip, xclip  # noqa: F401


def supported_model_types() -> list[str]:
    _ensure_builtin()
    return registered_model_types()


def load_teacher(
    model_id_or_path: str | os.PathLike,
    *,
    device: str = "auto",
    dtype=None,
    trust_remote_code: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_frames: int | None = None,
    revision: str | None = None,
    feature_hook: Optional[Callable[[Any], Any]] = None,
):
    """Load a frozen teacher.

    ``num_frames``: frames per video (default 8; X-CLIP's is fixed by its config).
    ``feature_hook``: called as ``feature_hook(teacher)`` once the teacher is built, to give it
    extra features (``teacher.embed_features``), e.g. ``levil_edge.adapt.adapter_hook(folder)``
    for a Co-Settle adapter. The caller (train, the CLI) loads it: teachers never import adapt."""
    require("torch", what="teachers")
    transformers = require("transformers", what="teachers")
    source = str(model_id_or_path)
    config = _load_config(transformers, source, revision, trust_remote_code)
    model_type = getattr(config, "model_type", None)
    backend = teacher_backend(model_type) if model_type in supported_model_types() else None
    if backend is None:
        raise TeacherError(
            f"{source} is a {model_type!r} model; supported teachers: {', '.join(supported_model_types())} "
            "(CLIP, MetaCLIP-2, SigLIP, SigLIP 2, X-CLIP)"
        )
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    model_cls_name, teacher_cls = backend
    kw = dict(revision=revision, trust_remote_code=trust_remote_code)
    from levil_edge.utils.progress import progress_enabled

    if not progress_enabled():  # LEVIL_NO_PROGRESS=1 or output to a file: no "Loading weights" bar either
        transformers.utils.logging.disable_progress_bar()
    try:
        model = getattr(transformers, model_cls_name).from_pretrained(source, dtype=torch_dtype, **kw).to(dev)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kw)
        processor = _image_processor(transformers, source, model_type, kw)
    except (OSError, ValueError) as exc:
        raise TeacherError(f"cannot load teacher {source}: {_short(exc)}") from exc
    frames = _num_frames(config, model_type, num_frames)
    teacher = teacher_cls(
        model,
        tokenizer,
        processor,
        id=teacher_id(source, config, torch_dtype),
        num_frames=frames,
        batch_size=batch_size,
        device=dev,
        dtype=torch_dtype,
    )
    if feature_hook is not None:
        feature_hook(teacher)
    return teacher


def _load_config(transformers, source: str, revision, trust_remote_code: bool):
    path = Path(source).expanduser()
    looks_local = path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1
    if looks_local and not (path / "config.json").is_file():
        raise TeacherError(
            f"no model at {source}: pass a Hugging Face model id (needs network/cache) or a local folder with config.json"
        )
    try:
        return transformers.AutoConfig.from_pretrained(
            str(path) if looks_local else source, revision=revision, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise TeacherError(
            f"no model at {source}: pass a Hugging Face model id (needs network/cache) or a local folder "
            f"with config.json ({_short(exc)})"
        ) from exc


def _image_processor(transformers, source: str, model_type: str, kw: dict):
    """The pillow image processor (torchvision is not needed). X-CLIP repos name a VideoMAE
    *video* processor, which needs torchvision; X-CLIP frames are plain CLIP images, so its
    size/crop/mean/std are read into a ``CLIPImageProcessorPil`` instead."""
    proc = transformers.AutoImageProcessor.from_pretrained(source, backend="pil", **kw)
    if model_type == "xclip" and not type(proc).__name__.startswith("CLIPImageProcessor"):
        size = getattr(proc, "size", None) or {"shortest_edge": 224}
        if isinstance(size, int):
            size = {"shortest_edge": size}
        crop = getattr(proc, "crop_size", None) or {"height": 224, "width": 224}
        proc = transformers.CLIPImageProcessorPil(
            size=dict(size), crop_size=dict(crop), image_mean=proc.image_mean, image_std=proc.image_std
        )
    return proc


def _num_frames(config, model_type: str, num_frames: int | None) -> int:
    if model_type == "xclip":
        native = int(config.vision_config.num_frames)
        if num_frames is not None and num_frames != native:
            raise TeacherError(f"this X-CLIP model takes exactly {native} frames per video; drop --frames or pass {native}")
        return native
    if num_frames is not None and num_frames < 1:
        raise UsageError(f"num_frames must be >= 1, got {num_frames}")
    return int(num_frames or 8)


def teacher_id(source: str, config, dtype) -> str:
    """Stable across machines: hub id + commit, or folder name + hash of the weight files."""
    dtype_name = str(dtype).replace("torch.", "")
    path = Path(source).expanduser()
    if path.is_dir():
        return f"{path.resolve().name}@{weights_hash(path)}/{dtype_name}"
    commit = getattr(config, "_commit_hash", None) or _snapshot_name(source)
    return f"{source}@{commit[:12]}/{dtype_name}"


def _snapshot_name(source: str) -> str:
    """The hub cache keeps each revision in ``snapshots/<commit>/``: its name is the commit."""
    try:
        from transformers.utils import cached_file

        return Path(cached_file(source, "config.json")).parent.name
    except Exception:  # noqa: BLE001 - an id without a local snapshot: nothing better to name it by
        return "unknown"


def weights_hash(folder: Path, chunk: int = 1 << 20) -> str:
    """sha256 over the weight files' names and bytes (a ViT-B/32 takes about a second)."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth"))
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()[:12]


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
