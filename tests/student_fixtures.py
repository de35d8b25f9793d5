"""Helpers shared by the student tests."""

from __future__ import annotations

import math

import torch
from torch import nn


def randomize_bn(model: nn.Module, x: torch.Tensor, seed: int = 0) -> nn.Module:
    """Random BN affines, then BN statistics measured on ``x``; returns the model in eval mode.

    A fresh model in eval mode has running stats (0, 1) that do not fit its activations, so deep
    students saturate and give the same logits for every clip, which would make equality checks
    (checkpoint round trip, ONNX vs PyTorch) meaningless."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration pass
        nn.init.normal_(model.fc.weight, 0, 1 / math.sqrt(model.num_features), generator=g)
        model.train()
        model(x)
    for m in bns:
        m.momentum = 0.1
    return model.eval()
