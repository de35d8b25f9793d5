"""Student registry (timm's ``_registry``): names -> builders and default cfgs. Imports nothing
of ``levil_edge.students``; model files import it and decorate their builders with
``@register_student(default_cfg)``. ``factory.py`` (above the model files) builds students.

The default cfg is the one source of a student's clip geometry: ``frames``, ``stride`` and ``size``
(and ``mean``/``std``); training options, ``ModelConfig`` and ``levil-edge models`` read it."""

from __future__ import annotations

import copy
from typing import Any, Callable

from levil_edge.config import DEFAULT_FRAMES, DEFAULT_SIZE, DEFAULT_STRIDE, KINETICS_MEAN, KINETICS_STD

_REGISTRY: dict[str, Callable[..., Any]] = {}
_DEFAULT_CFGS: dict[str, dict[str, Any]] = {}

# Every default cfg has these keys; a builder's own dict overrides them.
_BASE_CFG: dict[str, Any] = {
    "frames": DEFAULT_FRAMES,
    "stride": DEFAULT_STRIDE,
    "size": DEFAULT_SIZE,
    "mean": KINETICS_MEAN,
    "std": KINETICS_STD,
    "dropout": 0.0,
    "description": "",
}


def register_student(default_cfg: dict[str, Any] | None = None, *, name: str | None = None):
    """Decorator: register ``fn(num_classes, *, dropout, embed_dim, **kw) -> Student`` under its name."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name or fn.__name__
        if key in _REGISTRY and _REGISTRY[key] is not fn:
            raise ValueError(f"student {key!r} is registered twice")  # a programming error, not user input
        _REGISTRY[key] = fn
        _DEFAULT_CFGS[key] = {**_BASE_CFG, **(default_cfg or {})}
        return fn

    return wrap


def registered_names() -> list[str]:
    """Names registered so far (the factory imports the built-in model files first)."""
    return sorted(_REGISTRY)


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def builder(name: str) -> Callable[..., Any]:
    return _REGISTRY[name]


def default_cfg(name: str) -> dict[str, Any]:
    """A copy of a registered student's default cfg."""
    return copy.deepcopy(_DEFAULT_CFGS[name])
