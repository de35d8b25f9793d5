"""Frozen vision-language teachers, prompt templates and the teacher target cache.

``load_teacher`` (torch + transformers) is imported lazily so that ``levil_edge.teachers.prompts``
and the cache readers stay cheap to import."""

from __future__ import annotations

from typing import Any

__all__ = [
    "load_teacher",
    "Teacher",
    "TeacherTargets",
    "TeacherCache",
    "fill_cache",
    "soft_targets_from_embeddings",
    "soft_targets_from_cosines",
    "PSEUDO_LABEL_TEMPLATE",
    "TARGET_CLASS_TEMPLATE",
    "DEFAULT_TAU",
]

_LAZY = {
    "load_teacher": "levil_edge.teachers.loading",
    "Teacher": "levil_edge.teachers.base",
    "TeacherTargets": "levil_edge.teachers.targets",
    "soft_targets_from_embeddings": "levil_edge.teachers.formula",
    "soft_targets_from_cosines": "levil_edge.teachers.formula",
    "TeacherCache": "levil_edge.teachers.cache",
    "fill_cache": "levil_edge.teachers.fill",
    "PSEUDO_LABEL_TEMPLATE": "levil_edge.teachers.prompts",
    "TARGET_CLASS_TEMPLATE": "levil_edge.teachers.prompts",
}

from levil_edge.config import DEFAULT_TAU  # noqa: E402,F401 - re-exported


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'levil_edge.teachers' has no attribute {name!r}")
