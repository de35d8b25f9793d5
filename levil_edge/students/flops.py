"""Parameter and FLOP counts.

FLOPs are 2 x multiply-accumulates of the Conv and Linear layers only, counted with forward hooks
on one real forward pass. BatchNorm, activations, pooling, additions and the SE gating are *not*
counted (they are a few percent at most, and fuse into the convs on TensorRT). Note that
torchvision's and X3D's tables count MACs, i.e. half of our figure."""

from __future__ import annotations

import math

import torch
from torch import nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _macs(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, _CONVS):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return out.numel() * per_output
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def count_macs(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 8, 112, 112)) -> int:
    """Multiply-accumulates of one forward pass of ``model(torch.zeros(input_shape))``."""
    total = 0

    def hook(module: nn.Module, _inp, out) -> None:
        nonlocal total
        total += _macs(module, out)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (*_CONVS, nn.Linear))]
    was_training = model.training
    ref = next(model.parameters(), None)
    x = torch.zeros(input_shape, dtype=ref.dtype if ref is not None else torch.float32,
                    device=ref.device if ref is not None else "cpu")
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def count_flops(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 8, 112, 112)) -> float:
    """GFLOPs (2 x MACs of Conv/Linear layers; BN and activations excluded) for ``input_shape``."""
    return 2 * count_macs(model, input_shape) / 1e9


def describe_student(name: str, num_classes: int = 400) -> dict:
    """One row of ``levil-edge models``: params and GFLOPs at the student's default clip
    (``num_classes`` only changes the head; 400 = Kinetics, the figure papers quote)."""
    from levil_edge.students.factory import create_student, get_default_cfg

    cfg = get_default_cfg(name)
    model = create_student(name, num_classes)
    shape = (1, 3, cfg["frames"], cfg["size"], cfg["size"])
    return {
        "name": name,
        "params_m": round(count_params(model) / 1e6, 3),
        "gflops": round(count_flops(model, shape), 3),
        "num_features": model.num_features,
        "num_classes": num_classes,
        "frames": cfg["frames"],
        "size": cfg["size"],
        "stride": cfg["stride"],
        "clip": f"{cfg['frames']}x{cfg['size']}x{cfg['size']}",
        "description": cfg["description"],
    }


def describe_students(num_classes: int = 400) -> list[dict]:
    from levil_edge.students.factory import list_students

    return [describe_student(name, num_classes) for name in list_students()]
