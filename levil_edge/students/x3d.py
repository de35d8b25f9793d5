"""An X3D-XS-like student (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video
Recognition", CVPR 2020): a 3D CNN of inverted bottlenecks with depthwise 3x3x3 convolutions.

Differences from the paper's X3D-XS, chosen for the edge: ReLU instead of Swish (Conv+ReLU fuses
into one INT8 kernel in ONNX Runtime and TensorRT; Swish does not), and an input of 8x112x112
instead of 4x160x160 (about the same number of pixels). Squeeze-excitation is kept (every other
block, as in X3D); it is a global pool + two 1x1x1 convs + sigmoid, all TensorRT-friendly."""

from __future__ import annotations

import torch
from torch import nn

from levil_edge.students.base import Student, check_input
from levil_edge.students.registry import register_student


def _round8(v: float) -> int:
    return max(8, int(v + 4) // 8 * 8)


def conv_bn(cin: int, cout: int, kernel, stride=1, padding=0, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=False),
        nn.BatchNorm3d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, ratio: float = 0.0625) -> None:
        super().__init__()
        hidden = _round8(channels * ratio)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.reduce = nn.Conv3d(channels, hidden, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv3d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        w = self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))  # (B, C, 1, 1, 1)
        return x * w


class X3DBlock(nn.Module):
    """1x1x1 expand -> depthwise 3x3x3 (spatial stride) -> [SE] -> ReLU -> 1x1x1 project, + shortcut."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int, use_se: bool) -> None:
        super().__init__()
        self.conv_a = conv_bn(cin, inner, 1)
        self.conv_b = conv_bn(inner, inner, 3, stride=(1, stride, stride), padding=1, groups=inner, act=False)
        self.se = SqueezeExcite(inner) if use_se else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.conv_c = conv_bn(inner, cout, 1, act=False)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = conv_bn(cin, cout, 1, stride=(1, stride, stride), act=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        y = self.conv_c(self.act(self.se(self.conv_b(self.conv_a(x)))))
        return self.relu(y + identity)


class X3D(Student):
    def __init__(
        self,
        num_classes: int,
        *,
        depths: tuple[int, ...] = (1, 2, 5, 3),
        widths: tuple[int, ...] = (24, 48, 96, 192),
        expansion: float = 2.25,
        stem_width: int = 24,
        head_width: int = 432,
        num_features: int = 2048,
        dropout: float = 0.0,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        # Stem: spatial 1x3x3 (stride 2) then depthwise temporal 5x1x1, as in X3D.
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_width, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
            conv_bn(stem_width, stem_width, (5, 1, 1), padding=(2, 0, 0), groups=stem_width),
        )
        stages, cin = [], stem_width
        for depth, width in zip(depths, widths):
            inner = int(round(width * expansion))
            blocks = [X3DBlock(cin if i == 0 else width, inner, width, 2 if i == 0 else 1, i % 2 == 0) for i in range(depth)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.conv5 = conv_bn(cin, head_width, 1)
        self.pool = nn.AdaptiveAvgPool3d(1)
        # X3D's pre-logits projection (a 1x1x1 conv on the pooled map == a Linear), without BN.
        self.pre_logits = nn.Sequential(nn.Linear(head_width, num_features, bias=False), nn.ReLU(inplace=True))
        self._init_head(num_features, num_classes, dropout, embed_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.modules():
            if isinstance(block, X3DBlock):
                # Zero-init the last BN of each residual branch: every block starts as identity.
                nn.init.zeros_(block.conv_c[1].weight)
        nn.init.normal_(self.fc.weight, 0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        x = self.stages(self.stem(x))  # (B, 192, T, H/32, W/32)
        x = self.pool(self.conv5(x)).flatten(1)  # (B, 432)
        return self.pre_logits(x)  # (B, 2048)


@register_student(
    {
        "description": "X3D-XS-like, depthwise 3D convs (Jetson)",
        "family": "x3d",
        "dropout": 0.5,
    }
)
def x3d_xs(
    num_classes: int,
    *,
    dropout: float = 0.5,
    embed_dim: int | None = None,
    depths: tuple[int, ...] = (1, 2, 5, 3),
    widths: tuple[int, ...] = (24, 48, 96, 192),
    num_features: int = 2048,
) -> X3D:
    return X3D(
        num_classes, depths=tuple(depths), widths=tuple(widths), num_features=num_features, dropout=dropout, embed_dim=embed_dim
    )
