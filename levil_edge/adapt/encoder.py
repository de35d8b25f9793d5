"""The frozen image encoder under Co-Settle: the vision tower of a CLIP or SigLIP model from
transformers, returning patch tokens, with a hook that swaps the position embeddings.

Only ViTs with a learned square position grid qualify (CLIP, SigLIP). X-CLIP (a video model
with its own temporal layers), SigLIP 2 NaFlex, ResNet CLIPs and anything else are refused with
one line, because the positional augmentation needs that grid."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from levil_edge.errors import TeacherError

# model_type -> (tower family, prefix tokens before the patches, transformers vision class)
_SUPPORTED = {
    "clip": ("clip", 1, "CLIPVisionModel"),
    "clip_vision_model": ("clip", 1, "CLIPVisionModel"),
    "metaclip_2": ("clip", 1, "MetaClip2VisionModel"),
    "siglip": ("siglip", 0, "SiglipVisionModel"),
    "siglip_vision_model": ("siglip", 0, "SiglipVisionModel"),
}
# Fallback normalisation when the folder has no preprocessor_config.json.
_DEFAULT_MEAN_STD = {
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def _load_config(source: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for a bad path/id
        raise TeacherError(
            f"cannot read a model config from {source!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "pass a local CLIP/SigLIP folder (save_pretrained) or a cached hub id"
        ) from exc


def _check_supported(source: str, config) -> tuple[str, int, str]:
    model_type = getattr(config, "model_type", "?")
    if model_type not in _SUPPORTED:
        raise TeacherError(
            f"adapt supports CLIP and SigLIP ViT image teachers only; {source!r} is a {model_type!r} model "
            "(X-CLIP, SigLIP 2 and other video or non-ViT teachers have no fixed per-frame position grid to adapt): "
            "pass a CLIP or SigLIP model instead"
        )
    return _SUPPORTED[model_type]


def _read_mean_std(source: str, family: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """image_mean / image_std of the model's own image processor (preprocessor_config.json)."""
    path = Path(source) / "preprocessor_config.json"
    if not path.is_file():
        try:
            from transformers.utils import cached_file

            found = cached_file(source, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
            path = Path(found) if found else path
        except Exception:  # noqa: BLE001 - no cached processor: use the family default
            pass
    if path.is_file():
        cfg = json.loads(path.read_text(encoding="utf-8"))
        if "image_mean" in cfg and "image_std" in cfg:
            return tuple(cfg["image_mean"]), tuple(cfg["image_std"])
    return _DEFAULT_MEAN_STD[family]


class FrozenViTEncoder(torch.nn.Module):
    """Frozen CLIP/SigLIP vision tower -> patch tokens (B, grid*grid, D), CLS dropped.

    ``patch_tokens(pixels, position_grid=...)`` encodes with replaced patch position embeddings
    (the returning frame of the cycle walk). ``preprocess`` turns uint8 frames into the tower's
    normalised input without torchvision."""

    def __init__(self, tower: torch.nn.Module, family: str, num_prefix: int, mean, std, source: str):
        super().__init__()
        self.tower = tower.eval().requires_grad_(False)
        self.family = family
        self.num_prefix = num_prefix
        self.source = source
        cfg = tower.config
        self.image_size = int(cfg.image_size)
        self.patch_size = int(cfg.patch_size)
        if self.image_size % self.patch_size:
            raise TeacherError(f"{source!r}: image size {self.image_size} is not a multiple of patch {self.patch_size}")
        self.grid = self.image_size // self.patch_size
        self.dim = int(cfg.hidden_size)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):  # the tower stays in eval mode whatever the caller does
        super().train(mode)
        self.tower.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def position_grid(self) -> torch.Tensor:
        """The learned patch position embeddings (grid*grid, D), without the CLS position."""
        weight = self.tower.embeddings.position_embedding.weight  # (prefix + g*g, D)
        return weight[self.num_prefix :]

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> float (N, 3, S, S): centre square crop, bicubic resize to the
        tower's size (the CLIP processor's resize-short-side + centre-crop), then mean/std."""
        x = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
        x = x.to(self.device).permute(0, 3, 1, 2).float() / 255.0  # (N, 3, H, W)
        h, w = x.shape[-2:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, :, top : top + side, left : left + side]
        if side != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", antialias=True, align_corners=False)
            x = x.clamp(0.0, 1.0)
        return (x - self.mean) / self.std

    def normalize(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, S, S, 3) already at the tower's size -> float (N, 3, S, S)."""
        x = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
        x = x.to(self.device).permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std

    @contextlib.contextmanager
    def _position_override(self, position_grid: torch.Tensor | None) -> Iterator[None]:
        """While active, the embeddings module adds ``position_grid - original`` to the patch tokens.

        A forward hook keeps transformers' own embedding code (and its checks) in charge; only
        the position term of the patch tokens changes, the CLS token keeps its own."""
        if position_grid is None:
            yield
            return
        delta = (position_grid.to(self.position_grid()) - self.position_grid()).detach()  # (g*g, D)

        def hook(_module, _inputs, output):
            out = output.clone()
            out[:, self.num_prefix :, :] += delta
            return out

        handle = self.tower.embeddings.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    @torch.no_grad()
    def patch_tokens(self, pixels: torch.Tensor, position_grid: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, S, S) normalised pixels -> (N, grid*grid, D) patch tokens after the final LayerNorm."""
        with self._position_override(position_grid):
            out = self.tower(pixel_values=pixels.to(self.device))
        tokens = out.last_hidden_state[:, self.num_prefix :, :]
        if self.family == "clip":
            # CLIPVisionModel only layer-norms the pooled CLS; Co-Settle uses ln_post on the patches.
            tokens = self.tower.post_layernorm(tokens)
        return tokens.float()  # a half-precision teacher still feeds a float32 projection


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_encoder(source: str | os.PathLike, device: str | torch.device = "cpu") -> FrozenViTEncoder:
    """Load the vision tower of a CLIP/SigLIP model (a full CLIPModel/SiglipModel folder or hub id,
    or a vision-only one). Weights come through transformers (safetensors; never remote code)."""
    source = str(source)
    config = _load_config(source)
    family, num_prefix, class_name = _check_supported(source, config)
    import transformers

    try:
        with _quiet_transformers():  # the text tower's weights are "unexpected" here, by design
            tower = getattr(transformers, class_name).from_pretrained(source, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001
        raise TeacherError(
            f"cannot load the {family} vision tower from {source!r} ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc
    mean, std = _read_mean_std(source, family)
    return FrozenViTEncoder(tower.float(), family, num_prefix, mean, std, source).to(device)


def encoder_from_model(model: torch.nn.Module, source: str, mean=None, std=None) -> FrozenViTEncoder:
    """Wrap the vision tower of an already loaded CLIPModel/SiglipModel (or vision model), sharing
    its weights (no second copy in memory). ``mean``/``std`` default to the family's values."""
    family, num_prefix, _ = _check_supported(source, model.config)
    tower = getattr(model, "vision_model", model)
    if mean is None or std is None:
        mean, std = _DEFAULT_MEAN_STD[family]
    device = next(tower.parameters()).device
    return FrozenViTEncoder(tower, family, num_prefix, tuple(mean), tuple(std), source).to(device)
