"""Student factory (timm's ``_factory``): ``create_student`` is the one way the rest of
levil-edge builds a student. Above the registry and the model files: importing the built-in
model files here runs their ``@register_student`` decorators."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from levil_edge.errors import ConfigError
from levil_edge.students.registry import builder, default_cfg, is_registered, registered_names


def _ensure_builtin() -> None:
    # Importing the model modules runs their decorators (lazily: importing the package builds nothing).
    from levil_edge.students import mobilenet_tsm, resnet3d, x3d  # noqa: F401


def list_students() -> list[str]:
    _ensure_builtin()
    return registered_names()


def _check_name(name: str) -> None:
    _ensure_builtin()
    if not is_registered(name):
        raise ConfigError(f"unknown student {name!r}: choose one of {', '.join(registered_names())} (see `levil-edge models`)")


def _check_kwargs(name: str, kw: dict[str, Any]) -> None:
    params = inspect.signature(builder(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kw) - set(params))
    if unknown:
        allowed = sorted(set(params) - {"num_classes", "dropout", "embed_dim"})
        raise ConfigError(f"student {name!r} takes no option(s) {unknown}: allowed extra options are {allowed or 'none'}")


def get_default_cfg(name: str) -> dict[str, Any]:
    """frames, stride, size, mean, std, dropout, description of a registered student (a copy)."""
    _check_name(name)
    return default_cfg(name)


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
        dropout = default_cfg(name)["dropout"]
    _check_kwargs(name, kw)
    model = builder(name)(num_classes, dropout=dropout, embed_dim=embed_dim, **kw)
    model.student_name = name
    model.student_kwargs = dict(kw)  # saved into config.json (extra) so load_checkpoint rebuilds the same shape
    model.default_cfg = get_default_cfg(name)
    if pretrained is not None:
        from levil_edge.students.weights import load_pretrained_backbone

        model.pretrained_report = load_pretrained_backbone(model, pretrained)
    return model


def student_config(name: str, num_classes: int, labels: list[str] | None = None, **overrides: Any):
    """A ``ModelConfig`` for ``name`` filled from its default cfg (frames, stride, size, mean, std);
    ``overrides`` set any ModelConfig field (``label_kind``, ``embed_dim``, ``frames``...)."""
    from levil_edge.config import ModelConfig

    cfg = get_default_cfg(name)
    fields = {k: cfg[k] for k in ("frames", "stride", "size", "mean", "std")}
    return ModelConfig(student=name, num_classes=num_classes, labels=list(labels or []), **{**fields, **overrides})
