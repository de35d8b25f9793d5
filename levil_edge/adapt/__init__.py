"""Co-Settle: temporally consistent features from a frozen CLIP/SigLIP image encoder.

A small projection (Linear -> Tanh -> LayerNorm) on the frozen vision tower's patch tokens, trained
self-supervised on unlabeled videos with a temporal cycle-consistency walk. See docs/method.md.

Public API (torch is imported only when one of these is used)::

    adapt(teacher, videos, out_dir, AdaptConfig(...), val=None, device="auto") -> AdaptResult
    load_adapted_teacher(teacher_path_or_id, adapter_dir, device="cpu") -> AdaptedTeacher
        .embed_features(uint8 (B, N, H, W, 3)) -> torch (B, D) L2-normalised; .id; .embed_dim
    attach_adapter(teacher, adapter_dir)  # a levil_edge.teachers teacher gains .embed_features
    adapter_hook(adapter_dir)  # the same, as load_teacher(..., feature_hook=...): teachers never import adapt
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "AdaptConfig": "levil_edge.adapt.adapt_options",
    "AdaptResult": "levil_edge.adapt.train",
    "adapt": "levil_edge.adapt.train",
    "AdaptedTeacher": "levil_edge.adapt.teacher",
    "load_adapted_teacher": "levil_edge.adapt.teacher",
    "attach_adapter": "levil_edge.adapt.teacher",
    "AdapterHook": "levil_edge.adapt.teacher",
    "adapter_hook": "levil_edge.adapt.teacher",
    "CoSettleProjection": "levil_edge.adapt.projection",
    "load_encoder": "levil_edge.adapt.encoder",
    "read_adapter_meta": "levil_edge.adapt.artifact",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: `import levil_edge.adapt` stays cheap and torch-free
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'levil_edge.adapt' has no attribute {name!r}")
