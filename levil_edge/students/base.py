"""The interface every student shares (timm style): ``forward_features`` -> pooled ``(B, D)``,
``forward_head`` -> logits, ``reset_classifier``, and an optional feature-distillation head.

``forward`` returns logits only, so an ONNX export never carries the embedding head."""

from __future__ import annotations

import torch
from torch import nn

from levil_edge.errors import ConfigError


def check_input(x: torch.Tensor) -> None:
    """Refuse clips in the wrong layout with a message, instead of a shape error deep in a conv.
    (Static checks: torch.export evaluates them once at trace time, nothing lands in the ONNX graph.)"""
    if torch.jit.is_tracing():  # the legacy ONNX exporter: shapes are tensors there, checking would warn
        return
    if x.ndim != 5 or x.shape[1] != 3:
        raise ConfigError(
            f"students take float clips (B, 3, T, H, W), got shape {tuple(x.shape)}: move channels to axis 1 "
            "(uint8 (T, H, W, 3) frames become (3, T, H, W) with levil_edge.data.transforms.normalize)"
        )


def init_weights(model: nn.Module) -> None:
    """torchvision's initialisation for its video ResNets and MobileNetV2: Kaiming-normal convs
    (fan-out), BN to identity, small normal Linear layers."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class Student(nn.Module):
    """Base class. Subclasses build their backbone, then call ``_init_head``.

    The classifier is always ``self.fc`` (torchvision's name for the video ResNets), so head keys
    are the same on every student: ``fc.weight``, ``fc.bias``."""

    num_features: int
    num_classes: int
    embed_dim: int | None

    def _init_head(self, num_features: int, num_classes: int, dropout: float, embed_dim: int | None) -> None:
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1 (got {num_classes}): pass the size of the label set")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1) (got {dropout})")
        self.num_features = num_features
        self.num_classes = num_classes
        self.drop_rate = dropout
        self.head_drop = nn.Dropout(dropout)
        self.fc = nn.Linear(num_features, num_classes)
        self.embed_head: nn.Linear | None = None
        self.embed_dim = None
        self.set_embed_head(embed_dim)

    # --- the shared interface ---
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W) -> (B, D)
        raise NotImplementedError

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, C)
        return self.fc(self.head_drop(feats))

    def forward(self, x: torch.Tensor, return_embed: bool = False):
        """(B, 3, T, H, W) -> logits (B, C); with ``return_embed=True`` -> (logits, embed (B, E)).

        The keyword exists for DistributedDataParallel, which only syncs gradients of what runs
        inside ``forward``; exports call ``forward(x)`` and so never contain the embedding head."""
        feats = self.forward_features(x)  # (B, D)
        logits = self.forward_head(feats)
        # The legacy (TorchScript) ONNX exporter turns default arguments into tensors: never
        # branch on one while tracing; exports want the logits alone anyway.
        if not torch.jit.is_tracing() and return_embed:
            return logits, self.forward_embed(feats)
        return logits

    def forward_embed(self, feats: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, E)
        if self.embed_head is None:
            raise ConfigError("this student has no embedding head: create it with embed_dim=... or set_embed_head(dim)")
        return self.embed_head(feats)

    def get_classifier(self) -> nn.Linear:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh, randomly initialised ``num_classes`` head (e.g. pseudo-labels -> target classes)."""
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1 (got {num_classes})")
        device, dtype = self.fc.weight.device, self.fc.weight.dtype
        self.fc = nn.Linear(self.num_features, num_classes).to(device=device, dtype=dtype)
        self.num_classes = num_classes

    def set_embed_head(self, dim: int | None) -> None:
        """Add (``dim``) or remove (``None``) the Linear(num_features -> dim) feature-distillation head."""
        if dim is None:
            self.embed_head, self.embed_dim = None, None
            return
        if dim < 1:
            raise ConfigError(f"embed_dim must be >= 1 (got {dim}): use the teacher's embedding size")
        ref = self.fc.weight
        self.embed_head = nn.Linear(self.num_features, dim).to(device=ref.device, dtype=ref.dtype)
        self.embed_dim = int(dim)
