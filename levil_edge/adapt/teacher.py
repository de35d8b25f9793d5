"""An image teacher with its Co-Settle adapter: temporally consistent video features.

How other parts call it (teacher cache, ``distill --teacher-adapter``)::

    from levil_edge.adapt import load_adapted_teacher

    adapted = load_adapted_teacher("openai/clip-vit-base-patch16", "adapters/k400", device="cuda")
    feats = adapted.embed_features(frames)  # frames: uint8 (B, N, H, W, 3), any H, W
    # feats: float32 torch (B, D) on adapted.device, L2-normalised; D = adapted.embed_dim
    # (the vision width, e.g. 768 for ViT-B, not the text-aligned projection dim)
    adapted.id  # "openai/clip-vit-base-patch16+cosettle-1a2b3c4d5e6f": put it in cache keys

``teacher_path_or_id=None`` uses the teacher recorded in ``adapter.json``. A teacher already
loaded by ``levil_edge.teachers.load_teacher(..., feature_hook=adapter_hook("adapters/k400"))``
(teachers never import adapt: the caller passes the hook) gets the same thing through
``attach_adapter(teacher, adapter_dir)``: ``teacher.embed_features`` and an extended
``teacher.id``. Store these vectors as
"features" next to the text-aligned "embedding": they are the FD-VLM feature-distillation target.
Zero-shot soft targets must keep using the original embedding: the projection is trained only
for temporal correspondence, so its space is not aligned with the text tower.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from levil_edge.adapt.artifact import load_projection
from levil_edge.adapt.encoder import FrozenViTEncoder, encoder_from_model, load_encoder
from levil_edge.errors import ConfigError, UsageError


class AdaptedTeacher:
    """Frozen CLIP/SigLIP vision tower + trained Co-Settle projection."""

    kind = "features"

    def __init__(
        self, encoder: FrozenViTEncoder, projection, meta: dict, teacher_id: str | None = None, frames_per_forward: int = 64
    ):
        self.encoder = encoder
        self.projection = projection.to(encoder.device).eval()
        self.meta = meta
        self.teacher_id = teacher_id or str(meta.get("teacher", encoder.source))
        self.adapter_hash = str(meta["sha256"])[:12]
        self.id = f"{self.teacher_id}+cosettle-{self.adapter_hash}"
        self.embed_dim = encoder.dim
        self.num_frames = int(meta.get("num_frames", 8))  # a sensible default for callers that ask
        self.frames_per_forward = frames_per_forward  # bounds memory on long batches

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    @torch.no_grad()
    def patch_features(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> projected patch tokens (N, grid*grid, D)."""
        out = []
        for start in range(0, frames.shape[0], self.frames_per_forward):
            pixels = self.encoder.preprocess(frames[start : start + self.frames_per_forward])
            out.append(self.projection(self.encoder.patch_tokens(pixels)))
        return torch.cat(out)

    @torch.no_grad()
    def embed_features(self, frames) -> torch.Tensor:
        """uint8 (B, N, H, W, 3) -> (B, D): projected patch tokens averaged over patches and frames,
        L2-normalised. Also takes one video (N, H, W, 3) -> (1, D), or a list of (N, H, W, 3)."""
        frames = _as_videos(frames)
        b, n = frames.shape[:2]
        tokens = self.patch_features(frames.reshape(b * n, *frames.shape[2:]))  # (B*N, P, D)
        video = tokens.unflatten(0, (b, n)).mean(dim=(1, 2))  # (B, D)
        return F.normalize(video, dim=-1)

    def __repr__(self) -> str:
        return f"AdaptedTeacher(id={self.id!r}, dim={self.embed_dim}, grid={self.encoder.grid})"


def _as_videos(frames) -> np.ndarray | torch.Tensor:
    if isinstance(frames, (list, tuple)):
        if not frames or len({tuple(np.shape(v)) for v in frames}) != 1:
            raise UsageError("embed_features needs a non-empty list of videos of the same shape (N, H, W, 3)")
        frames = np.stack([np.asarray(v) for v in frames])
    if frames.ndim == 4:
        frames = frames[None]
    if frames.ndim != 5 or frames.shape[-1] != 3:
        raise UsageError(f"embed_features expects uint8 frames (B, N, H, W, 3), got shape {tuple(frames.shape)}")
    return frames


def _check_match(meta: dict, encoder: FrozenViTEncoder, source: str, adapter_dir) -> None:
    want = (int(meta["dim"]), int(meta["grid"]), str(meta.get("family", encoder.family)))
    got = (encoder.dim, encoder.grid, encoder.family)
    if want != got:
        raise ConfigError(
            f"adapter {Path(adapter_dir)} was trained on {meta['teacher']!r} (dim, grid, family) = {want}, "
            f"but {source!r} has {got}: pass the teacher it was trained on"
        )


def attach_adapter(teacher, adapter_dir: str | os.PathLike) -> AdaptedTeacher:
    """Give a loaded ``levil_edge.teachers`` teacher (CLIP/SigLIP) its Co-Settle features, sharing
    the teacher's vision tower (no second copy of the weights).

    Sets ``teacher.embed_features`` (frames -> (B, D') adapted features, stored by the cache as
    "features"), ``teacher.adapter`` (this AdaptedTeacher) and extends ``teacher.id`` with the
    adapter hash, so a cache filled with another adapter (or none) is never mixed with this one.
    ``embed_videos`` and the text side are untouched: soft targets stay text-aligned."""
    projection, meta = load_projection(adapter_dir)
    proc = getattr(teacher, "image_processor", None)
    encoder = encoder_from_model(teacher.model, teacher.id, getattr(proc, "image_mean", None), getattr(proc, "image_std", None))
    _check_match(meta, encoder, teacher.id, adapter_dir)
    adapted = AdaptedTeacher(encoder, projection, meta, teacher_id=teacher.id)
    teacher.embed_features = adapted.embed_features
    teacher.adapter = adapted
    teacher.id = adapted.id
    return adapted


class AdapterHook:
    """A Co-Settle adapter folder as a teacher feature hook: ``load_teacher(...,
    feature_hook=AdapterHook(folder))`` calls ``hook(teacher)``, which attaches the adapter.
    ``os.fspath(hook)`` / ``str(hook)`` give the folder, so run records keep the path."""

    def __init__(self, adapter_dir: str | os.PathLike) -> None:
        self.path = os.fspath(adapter_dir)

    def __call__(self, teacher) -> "AdaptedTeacher":
        return attach_adapter(teacher, self.path)

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"AdapterHook({self.path!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, AdapterHook) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)


def adapter_hook(adapter_dir: str | os.PathLike | None) -> AdapterHook | None:
    """``None`` -> None, else the folder as a teacher feature hook (see ``AdapterHook``)."""
    return None if adapter_dir is None else AdapterHook(adapter_dir)


def load_adapted_teacher(
    teacher_path_or_id: str | os.PathLike | None,
    adapter_dir: str | os.PathLike,
    device: str | torch.device = "cpu",
) -> AdaptedTeacher:
    """Load the teacher's vision tower and the adapter trained on it; refuse a mismatch."""
    projection, meta = load_projection(adapter_dir)
    source = str(teacher_path_or_id) if teacher_path_or_id is not None else str(meta["teacher"])
    if isinstance(device, str):
        from levil_edge.utils.device import resolve_device

        device = resolve_device(device)
    encoder = load_encoder(source, device=device)
    _check_match(meta, encoder, source, adapter_dir)
    return AdaptedTeacher(encoder, projection, meta)
