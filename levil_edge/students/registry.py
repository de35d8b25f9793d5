"""Student registry and factory (timm's ``@register_model`` + ``create_model``).

A model file decorates its builder with ``@register_student(default_cfg)``; ``create_student``
is the one way the rest of levil-edge builds a student."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any, Callable

from levil_edge.config import KINETICS_MEAN, KINETICS_STD
from levil_edge.errors import ConfigError

_REGISTRY: dict[str, Callable[..., Any]] = {}
_DEFAULT_CFGS: dict[str, dict[str, Any]] = {}

# Every default cfg has these keys; a builder's own dict overrides them.
_BASE_CFG: dict[str, Any] = {
    "frames": 8,
    "stride": 2,
    "size": 112,
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


def _ensure_builtin() -> None:
    # Importing the model modules runs their decorators; done lazily so registry.py stays tiny.
    from levil_edge.students import mobilenet_tsm, resnet3d, x3d  # noqa: F401


def list_students() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def _check_name(name: str) -> None:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown student {name!r}: choose one of {', '.join(sorted(_REGISTRY))} (see `levil-edge models`)")


def _check_kwargs(name: str, kw: dict[str, Any]) -> None:
    params = inspect.signature(_REGISTRY[name]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kw) - set(params))
    if unknown:
        allowed = sorted(set(params) - {"num_classes", "dropout", "embed_dim"})
        raise ConfigError(f"student {name!r} takes no option(s) {unknown}: allowed extra options are {allowed or 'none'}")


def get_default_cfg(name: str) -> dict[str, Any]:
    """frames, stride, size, mean, std, dropout, description of a registered student (a copy)."""
    _check_name(name)
    return copy.deepcopy(_DEFAULT_CFGS[name])


def create_student(
    name: str,
    num_classes: int,
    *,
    embed_dim: int | None = None,
    dropout: float | None = None,
    pretrained: str | Path | None = None,
    **kw: Any,
):
    """Build a registered student.

    ``dropout=None`` takes the student's default (``get_default_cfg(name)["dropout"]``).
    ``pretrained``: a local torchvision-style state dict (``.pth`` / ``.safetensors``) loaded into
    the backbone; head weights whose shape differs (another class count) are skipped."""
    _check_name(name)
    if dropout is None:
        dropout = _DEFAULT_CFGS[name]["dropout"]
    _check_kwargs(name, kw)
    model = _REGISTRY[name](num_classes, dropout=dropout, embed_dim=embed_dim, **kw)
    model.student_name = name
    model.student_kwargs = dict(kw)  # saved into config.json (extra) so load_checkpoint rebuilds the same shape
    model.default_cfg = get_default_cfg(name)
    if pretrained is not None:
        from levil_edge.students.checkpoint import load_pretrained_backbone

        model.pretrained_report = load_pretrained_backbone(model, pretrained)
    return model


def student_config(name: str, num_classes: int, labels: list[str] | None = None, **overrides: Any):
    """A ``ModelConfig`` for ``name`` filled from its default cfg (frames, stride, size, mean, std);
    ``overrides`` set any ModelConfig field (``label_kind``, ``embed_dim``, ``frames``...)."""
    from levil_edge.config import ModelConfig

    cfg = get_default_cfg(name)
    fields = {k: cfg[k] for k in ("frames", "stride", "size", "mean", "std")}
    return ModelConfig(student=name, num_classes=num_classes, labels=list(labels or []), **{**fields, **overrides})
