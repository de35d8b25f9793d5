"""MobileNetV2 + Temporal Shift Module (Lin, Gan, Han, "TSM", ICCV 2019): a 2D CNN that sees
time by shifting 1/8 of the channels one frame back and 1/8 one frame forward at the start of
every residual branch. Frames are folded into the batch and the logits' features are averaged
over time.

The module and parameter names are those of torchvision's ``mobilenet_v2`` (``features.N...``;
the shift adds no parameters), so an ImageNet MobileNetV2 state dict loads into the backbone;
its ``classifier.1`` maps onto our ``fc``.

The shift is written with slices, ``F.pad`` and ``torch.cat`` (no in-place slice assignment) so it
exports to ONNX as Slice/Pad/Concat, which TensorRT and ORT quantisation handle."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from levil_edge.students.base import Student, check_input, init_weights
from levil_edge.students.registry import register_student


def temporal_shift(x: torch.Tensor, frames: int, fold_div: int = 8) -> torch.Tensor:
    """(B*T, C, H, W) -> same shape; channels [0, C/8) come from frame t+1, [C/8, 2C/8) from t-1,
    zeros where the neighbour is outside the clip (TSM's zero padding)."""
    _, c, h, w = x.shape
    x = x.reshape(-1, frames, c, h, w)  # (B, T, C, H, W)
    fold = c // fold_div
    # F.pad's tuple runs from the last axis backwards; its last pair pads the time axis (dim 1).
    back = F.pad(x[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))  # frame t sees t+1
    fwd = F.pad(x[:, :-1, fold : 2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))  # frame t sees t-1
    return torch.cat([back, fwd, x[:, :, 2 * fold :]], dim=2).reshape(-1, c, h, w)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v  # never round down by more than 10%


class ConvBNReLU(nn.Sequential):
    """Keys 0 (conv), 1 (BN): torchvision's Conv2dNormActivation."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:  # (B*T, C, H, W)
        if self.use_res_connect:
            # TSM's "residual shift": only the branch sees neighbouring frames, the identity stays.
            return x + self.conv(temporal_shift(x, frames))
        return self.conv(x)


# t (expansion), c (channels), n (blocks), s (stride of the first block): MobileNetV2's table.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2TSM(Student):
    pretrained_key_map = {"classifier.1.": "fc."}  # torchvision ImageNet checkpoint -> our head

    def __init__(
        self, num_classes: int, *, width_mult: float = 1.0, dropout: float = 0.2, embed_dim: int | None = None
    ) -> None:
        super().__init__()
        cin = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU(3, cin, stride=2)]
        for t, c, n, s in _SETTINGS:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(ConvBNReLU(cin, last, kernel=1))
        self.features = nn.Sequential(*features)
        self._init_head(last, num_classes, dropout, embed_dim)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        _, c, t, h, w = x.shape  # (B, 3, T, H, W)
        x = x.transpose(1, 2).reshape(-1, c, h, w)  # (B*T, 3, H, W): frames folded into the batch
        for block in self.features:
            x = block(x, t) if isinstance(block, InvertedResidual) else block(x)
        x = x.mean(dim=(2, 3))  # (B*T, 1280)
        return x.reshape(-1, t, x.shape[1]).mean(dim=1)  # (B, 1280): average over time


@register_student(
    {
        "description": "MobileNetV2 2D + temporal shift (Jetson)",
        "family": "tsm",
        "dropout": 0.2,
    }
)
def mobilenetv2_tsm(
    num_classes: int, *, dropout: float = 0.2, embed_dim: int | None = None, width_mult: float = 1.0
) -> MobileNetV2TSM:
    return MobileNetV2TSM(num_classes, width_mult=width_mult, dropout=dropout, embed_dim=embed_dim)
