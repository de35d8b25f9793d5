"""Student checkpoints: ``<name>.safetensors`` + ``config.json`` (a ``ModelConfig``) in one folder,
both written atomically; and loading of torchvision-style pretrained backbones (``--init``)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from levil_edge.config import ModelConfig
from levil_edge.errors import CheckpointError, ConfigError
from levil_edge.utils.io import atomic_path

log = logging.getLogger(__name__)

HEAD_PREFIXES = ("fc.", "embed_head.")
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
    """(weights file, config.json) for a checkpoint folder or a .safetensors file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: pass a folder with model.safetensors + config.json")
    if path.is_dir():
        weights = path / "model.safetensors"
        if not weights.is_file():
            found = sorted(path.glob("*.safetensors"))
            if len(found) != 1:
                what = "no .safetensors file" if not found else f"{len(found)} .safetensors files"
                raise CheckpointError(f"{path} holds {what}: pass the weights file itself (e.g. {path}/best.safetensors)")
            weights = found[0]
        return weights, path / "config.json"
    if path.suffix in _TORCH_SUFFIXES:
        raise CheckpointError(
            f"{path.name} is a torch pickle, not a levil-edge checkpoint: use it as a pretrained backbone (--init)"
        )
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path} is not a .safetensors file or a checkpoint folder")
    return path, path.parent / "config.json"


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError on broken files
        raise CheckpointError(f"cannot read {path} ({exc}): the file is truncated or not safetensors") from exc


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig]:
    """Rebuild the student described by ``config.json`` and load its weights (strict).

    ``path``: a checkpoint folder, or a ``.safetensors`` file with ``config.json`` beside it.
    Returns ``(model in eval mode on device, cfg)``."""
    weights, cfg_path = _resolve(path)
    if not cfg_path.is_file():
        raise ConfigError(f"no config.json beside {weights}: copy the config.json that was saved with these weights")
    cfg = ModelConfig.load(cfg_path)
    state = _read_safetensors(weights)
    _check_state_matches_cfg(state, cfg, weights)
    from levil_edge.students.registry import create_student

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


# --- pretrained backbones (torchvision-style state dicts) ---
def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from ``.safetensors`` or a torch ``.pth`` (``weights_only=True``:
    a pickle that holds code is refused). Unwraps ``{"state_dict": ...}``/``{"model": ...}`` and
    the ``module.`` prefix that DistributedDataParallel adds."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no pretrained weights at {path}: pass a local .pth or .safetensors file")
    if path.suffix == ".safetensors":
        state: Any = _read_safetensors(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError for code-carrying pickles, RuntimeError for broken zips
            raise CheckpointError(
                f"cannot load {path.name}: {torch_load_failure(exc)}; "
                "save a plain state dict (torch.save(model.state_dict(), ...)) or convert it to safetensors"
            ) from exc
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} is not a state dict of tensors: save model.state_dict()")
    return {k.removeprefix("module."): v for k, v in state.items()}


def torch_load_failure(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in a few words. Never torch's own
    text: it advises ``weights_only=False``, which lets a downloaded file run code."""
    import pickle
    import re

    if isinstance(exc, pickle.UnpicklingError):
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"a pickled {found.group(1)} object" if found else "pickled objects other than tensors"
        return f"it holds {what}, which a safe load refuses (unpickling it could run code)"
    return "it is truncated or not a torch file"


def load_pretrained_backbone(model: nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Load a torchvision-style state dict into ``model``; keep the model's own head when the
    checkpoint's head has another shape (e.g. 400 Kinetics classes vs our 10).

    Returns ``{"loaded", "skipped_head", "missing", "unexpected"}`` key lists; missing and
    unexpected keys are also logged. Raises ``CheckpointError`` when a backbone tensor has the wrong
    shape or nothing matches (a checkpoint of another architecture)."""
    state = read_state_dict(path)
    for old, new in getattr(model, "pretrained_key_map", {}).items():
        state = {(new + k[len(old):] if k.startswith(old) else k): v for k, v in state.items()}
    own = model.state_dict()
    loadable, skipped, wrong = {}, [], []
    for k, v in state.items():
        if k not in own:
            continue
        if own[k].shape == v.shape:
            loadable[k] = v
        elif k.startswith(HEAD_PREFIXES):
            skipped.append(k)
        else:
            wrong.append(f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}")
    name = getattr(model, "student_name", type(model).__name__)
    if wrong:
        raise CheckpointError(f"{Path(path).name} does not fit {name}: {len(wrong)} tensors differ in shape (e.g. {wrong[0]})")
    backbone = [k for k in loadable if not k.startswith(HEAD_PREFIXES)]
    if not backbone:
        raise CheckpointError(f"{Path(path).name} shares no backbone weights with {name}: is it a checkpoint of {name}?")
    model.load_state_dict(loadable, strict=False)
    report = {
        "loaded": sorted(loadable),
        "skipped_head": sorted(skipped),
        "missing": sorted(set(own) - set(loadable) - set(skipped)),
        "unexpected": sorted(set(state) - set(own)),
    }
    missing_backbone = [k for k in report["missing"] if not k.startswith(HEAD_PREFIXES)]
    if missing_backbone or report["unexpected"]:
        log.warning(
            "pretrained %s: %d backbone keys missing (e.g. %s), %d unexpected (e.g. %s)",
            Path(path).name, len(missing_backbone), missing_backbone[:3],
            len(report["unexpected"]), report["unexpected"][:3],
        )
    return report
