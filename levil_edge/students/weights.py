"""Reading weight files safely (safetensors, ``weights_only`` torch pickles) and loading a
torchvision-style pretrained backbone into a student. Below both the factory (``pretrained=``)
and ``checkpoint.py``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from levil_edge.errors import CheckpointError

log = logging.getLogger(__name__)

HEAD_PREFIXES = ("fc.", "embed_head.")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError on broken files
        raise CheckpointError(f"cannot read {path} ({exc}): the file is truncated or not safetensors") from exc



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
