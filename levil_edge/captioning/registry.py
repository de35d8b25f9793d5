"""Captioner registry: a Hugging Face ``model_type`` -> the backend class that runs it. Imports
nothing of ``levil_edge.captioning``; backend modules (``smolvlm.py``, ``qwen.py``) decorate their
class with ``@register_captioner(...)`` and ``factory.py`` imports them."""

from __future__ import annotations

from typing import Any

_BY_TYPE: dict[str, Any] = {}  # model_type -> Captioner subclass
_FAMILIES: dict[str, tuple[str, ...]] = {}  # family name -> its model types (for messages)


def register_captioner(*model_types: str, family: str):
    """Class decorator: the class captions models of these ``model_type`` values."""

    def wrap(cls):
        for t in model_types:
            if t in _BY_TYPE and _BY_TYPE[t] is not cls:
                raise ValueError(f"captioner model_type {t!r} is registered twice")  # a programming error
            _BY_TYPE[t] = cls
        _FAMILIES[family] = tuple(model_types)
        return cls

    return wrap


def captioner_class(model_type: str):
    """The registered class for ``model_type``, or None."""
    return _BY_TYPE.get(model_type)


def families() -> dict[str, tuple[str, ...]]:
    return dict(_FAMILIES)
