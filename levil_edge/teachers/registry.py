"""Teacher registry: a Hugging Face ``model_type`` -> (transformers model class name, teacher
class). Imports nothing of ``levil_edge.teachers``; the teacher modules (``clip.py``,
``siglip.py``, ``xclip.py``) decorate their class with ``@register_teacher({...})`` and the factory
(``loading.load_teacher``) imports them."""

from __future__ import annotations

from typing import Any

_BY_TYPE: dict[str, tuple[str, Any]] = {}


def register_teacher(model_classes: dict[str, str]):
    """Class decorator: ``{model_type: transformers model class name}`` this teacher class runs."""

    def wrap(cls):
        for model_type, hf_class in model_classes.items():
            if model_type in _BY_TYPE and _BY_TYPE[model_type][1] is not cls:
                raise ValueError(f"teacher model_type {model_type!r} is registered twice")  # a programming error
            _BY_TYPE[model_type] = (hf_class, cls)
        return cls

    return wrap


def teacher_backend(model_type: str) -> tuple[str, Any] | None:
    """(transformers model class name, teacher class) for ``model_type``, or None."""
    return _BY_TYPE.get(model_type)


def registered_model_types() -> list[str]:
    return sorted(_BY_TYPE)
