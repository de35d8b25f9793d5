"""R3D-18 and R(2+1)D-18 in plain torch, with exactly the parameter and buffer names of
``torchvision.models.video`` (stem, layer1..4, fc), so torchvision's Kinetics-400 state dicts
load with ``load_state_dict`` (torchvision itself does not import on this CPU-only setup).

Structure follows Tran et al., "A Closer Look at Spatiotemporal Convolutions" (arXiv 1711.11248)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from levil_edge.students.base import Student, check_input, init_weights
from levil_edge.students.registry import register_student


class Conv3DSimple(nn.Conv3d):
    """Full 3x3x3 convolution (R3D)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int | None = None, stride: int = 1) -> None:
        super().__init__(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (stride, stride, stride)


class Conv2Plus1D(nn.Sequential):
    """1x3x3 spatial conv -> BN -> ReLU -> 3x1x1 temporal conv (R(2+1)D). Keys: 0, 1, 3."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_planes, midplanes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (stride, stride, stride)


ConvBuilder = Callable[..., nn.Module]


class BasicBlock(nn.Module):
    def __init__(
        self, inplanes: int, planes: int, conv: ConvBuilder, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        # R(2+1)D picks the mid width so that the (2+1)D pair has the parameters of one 3x3x3 conv.
        midplanes = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
        self.conv1 = nn.Sequential(conv(inplanes, planes, midplanes, stride), nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv(planes, planes, midplanes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


def basic_stem(width: int = 64) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem(width: int = 64) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(3, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(45),
        nn.ReLU(inplace=True),
        nn.Conv3d(45, width, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


class VideoResNet(Student):
    """ResNet layout: a stem, four stages of basic blocks (ResNet-18: 2, 2, 2, 2 blocks of 64..512
    channels; the stem's width is the first stage's), global average pool, ``fc``."""

    def __init__(
        self,
        stem: Callable[[int], nn.Module],  # width -> stem module
        conv: ConvBuilder,
        num_classes: int,
        *,
        layers: tuple[int, int, int, int] = (2, 2, 2, 2),
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        dropout: float = 0.0,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.inplanes = widths[0]
        self.stem = stem(widths[0])
        self.layer1 = self._make_layer(conv, widths[0], layers[0], stride=1)
        self.layer2 = self._make_layer(conv, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(conv, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(conv, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self._init_head(widths[3], num_classes, dropout, embed_dim)
        init_weights(self)

    def _make_layer(self, conv: ConvBuilder, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            ds_stride = conv.downsample_stride(stride)  # type: ignore[attr-defined]
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, kernel_size=1, stride=ds_stride, bias=False), nn.BatchNorm3d(planes)
            )
        mods = [BasicBlock(self.inplanes, planes, conv, stride, downsample)]
        self.inplanes = planes
        mods += [BasicBlock(planes, planes, conv) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        x = self.stem(x)  # (B, widths[0], T, H/2, W/2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, widths[3], T/8, H/16, W/16)
        return self.avgpool(x).flatten(1)  # (B, widths[3])


@register_student(
    {
        "description": "3D ResNet-18, LEViL's student (torchvision keys)",
        "family": "resnet3d",
    }
)
def r3d_18(num_classes: int, *, dropout: float = 0.0, embed_dim: int | None = None) -> VideoResNet:
    return VideoResNet(basic_stem, Conv3DSimple, num_classes, dropout=dropout, embed_dim=embed_dim)


@register_student(
    {
        "description": "R(2+1)D-18, factorised 3D convs (torchvision keys)",
        "family": "resnet3d",
    }
)
def r2plus1d_18(num_classes: int, *, dropout: float = 0.0, embed_dim: int | None = None) -> VideoResNet:
    return VideoResNet(r2plus1d_stem, Conv2Plus1D, num_classes, dropout=dropout, embed_dim=embed_dim)


@register_student(
    {
        "description": "tiny 3D ResNet (1 block per stage, 16..128 channels) for small inputs and the demo",
        "family": "resnet3d",
    }
)
def r3d_tiny(
    num_classes: int,
    *,
    dropout: float = 0.0,
    embed_dim: int | None = None,
    layers: tuple[int, ...] = (1, 1, 1, 1),
    widths: tuple[int, ...] = (16, 32, 64, 128),
) -> VideoResNet:
    return VideoResNet(basic_stem, Conv3DSimple, num_classes, layers=tuple(layers), widths=tuple(widths),  # type: ignore[arg-type]
                       dropout=dropout, embed_dim=embed_dim)
