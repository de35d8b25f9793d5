"""Student checkpoints: ``<name>.safetensors`` + ``config.json`` (a ``ModelConfig``) in one folder,
both written atomically; and loading of torchvision-style pretrained backbones (``--init``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from levil_edge.config import ModelConfig
from levil_edge.errors import CheckpointError, ConfigError
from levil_edge.students.weights import (  # noqa: F401 - re-exported: the checkpoint API
    HEAD_PREFIXES,
    _read_safetensors,
    load_pretrained_backbone,
    read_state_dict,
    torch_load_failure,
)
from levil_edge.utils.io import atomic_path

_TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


# --- levil-edge checkpoints ---
def save_checkpoint(folder: str | Path, model: nn.Module, cfg: ModelConfig, name: str = "model") -> Path:
    """Write ``folder/<name>.safetensors`` and ``folder/config.json``; return the weights path.

    ``cfg`` must describe ``model`` (student, class count, embedding head): a mismatch is refused
    here rather than discovered when someone loads the file."""
    model = unwrap_model(model)
    _check_cfg_matches_model(cfg, model)
    from safetensors.torch import save_file

    # What create_student needs to rebuild this exact shape (and the training dropout), kept in a
    # copy of cfg so the caller's object is not changed behind its back.
    extra = dict(cfg.extra)
    if getattr(model, "student_kwargs", None):
        extra["student_kwargs"] = dict(model.student_kwargs)
    if hasattr(model, "drop_rate"):
        extra["dropout"] = float(model.drop_rate)
    cfg = dataclasses.replace(cfg, extra=extra)
    folder = Path(folder)
    weights = folder / f"{name}.safetensors"
    # safetensors refuses shared or non-contiguous storage: give it plain CPU copies.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "student": cfg.student})
    cfg.save(folder / "config.json")
    return weights


def unwrap_model(model: nn.Module) -> nn.Module:
    """The student inside DistributedDataParallel (``.module``) or torch.compile (``._orig_mod``),
    so checkpoint keys never carry their prefixes."""
    while True:
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _check_cfg_matches_model(cfg: ModelConfig, model: nn.Module) -> None:
    student = getattr(model, "student_name", None)
    if student is not None and student != cfg.student:
        raise ConfigError(f"config says student {cfg.student!r} but the model is {student!r}: fix cfg.student")
    if getattr(model, "num_classes", cfg.num_classes) != cfg.num_classes:
        raise ConfigError(
            f"config says {cfg.num_classes} classes but the model head has {model.num_classes}: "
            "call model.reset_classifier(n) or fix cfg.num_classes/labels"
        )
    if getattr(model, "embed_dim", cfg.embed_dim) != cfg.embed_dim:
        raise ConfigError(f"config embed_dim={cfg.embed_dim} but the model has embed_dim={model.embed_dim}: make them agree")


def _resolve(path: str | Path) -> tuple[Path, Path]:
    """(weights file, config.json) for a run folder (its best/, else last/), a checkpoint folder or a
    .safetensors file."""
    from levil_edge.artifacts import CHECKPOINT, resolve_model

    path = Path(path)
    if path.is_file() and path.suffix in _TORCH_SUFFIXES:
        raise CheckpointError(
            f"{path.name} is a torch pickle, not a levil-edge checkpoint: use it as a pretrained backbone (--init)"
        )
    if path.is_file() and path.suffix != ".safetensors":
        raise CheckpointError(f"{path} is not a .safetensors file or a checkpoint folder")
    if not (path.is_dir() and any(path.glob("*.safetensors"))):
        # a run folder -> its checkpoint; a missing path or a folder without one -> the one-line advice
        # of --model resolution, which names what is there
        path = resolve_model(path, (CHECKPOINT,))
    if path.is_file():
        return path, path.parent / "config.json"
    weights = path / "model.safetensors"
    if not weights.is_file():
        found = sorted(path.glob("*.safetensors"))
        if len(found) > 1:
            raise CheckpointError(f"{path} holds {len(found)} .safetensors files: pass the weights file itself "
                                  f"(e.g. {found[0]})")
        weights = found[0]
    return weights, path / "config.json"


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig]:
    """Rebuild the student described by ``config.json`` and load its weights (strict).

    ``path``: a run folder (its best/, else last/), a checkpoint folder, or a ``.safetensors`` file
    with ``config.json`` beside it.
    Returns ``(model in eval mode on device, cfg)``."""
    weights, cfg_path = _resolve(path)
    if not cfg_path.is_file():
        raise ConfigError(f"no config.json beside {weights}: copy the config.json that was saved with these weights")
    cfg = ModelConfig.load(cfg_path)
    state = _read_safetensors(weights)
    _check_state_matches_cfg(state, cfg, weights)
    from levil_edge.students.factory import create_student

    kwargs = dict(cfg.extra.get("student_kwargs", {}))
    dropout = cfg.extra.get("dropout")  # None: the student's default
    model = create_student(cfg.student, cfg.num_classes, embed_dim=cfg.embed_dim, dropout=dropout, **kwargs)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        missing, unexpected = _diff_keys(model, state)
        raise CheckpointError(
            f"{weights.name} does not fit student {cfg.student!r} (missing {missing[:3]}, unexpected {unexpected[:3]}): "
            "is config.json from the same run?"
        ) from exc
    return model.to(device).eval(), cfg


def _check_state_matches_cfg(state: dict[str, torch.Tensor], cfg: ModelConfig, weights: Path) -> None:
    head = state.get("fc.weight")
    if head is not None and head.shape[0] != cfg.num_classes:
        raise ConfigError(
            f"{weights.name} has a {head.shape[0]}-class head but config.json says {cfg.num_classes} "
            f"({len(cfg.labels)} labels): use the config.json and labels saved with these weights"
        )
    embed = state.get("embed_head.weight")
    embed_dim = None if embed is None else embed.shape[0]
    if embed_dim != cfg.embed_dim:
        raise ConfigError(
            f"{weights.name} has embed_dim={embed_dim} but config.json says {cfg.embed_dim}: "
            "use the config.json saved with these weights"
        )


def _diff_keys(model: nn.Module, state: dict[str, Any]) -> tuple[list[str], list[str]]:
    own = set(model.state_dict())
    return sorted(own - set(state)), sorted(set(state) - own)
