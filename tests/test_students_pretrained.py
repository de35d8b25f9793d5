"""Loading torchvision-style state dicts (``--init``): the key names and shapes below are written
from torchvision's own source (torchvision/models/video/resnet.py and mobilenetv2.py), not from
our modules, so a renamed layer on our side fails here."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from levil_edge.errors import CheckpointError
from levil_edge.students import create_student, load_pretrained_backbone
from levil_edge.students.checkpoint import read_state_dict


def _bn(prefix: str, n: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (n,), f"{prefix}.bias": (n,), f"{prefix}.running_mean": (n,),
            f"{prefix}.running_var": (n,), f"{prefix}.num_batches_tracked": ()}


def torchvision_video_resnet_shapes(arch: str, num_classes: int = 400) -> dict[str, tuple]:
    """torchvision's VideoResNet (r3d_18 / r2plus1d_18) state-dict keys and shapes."""
    s: dict[str, tuple] = {}
    if arch == "r3d_18":  # BasicStem: Conv3d(3, 64, (3, 7, 7)) + BN
        s["stem.0.weight"] = (64, 3, 3, 7, 7)
        s.update(_bn("stem.1", 64))
    else:  # R2Plus1dStem: Conv3d(3, 45, (1, 7, 7)), BN, ReLU, Conv3d(45, 64, (3, 1, 1)), BN
        s["stem.0.weight"] = (45, 3, 1, 7, 7)
        s.update(_bn("stem.1", 45))
        s["stem.3.weight"] = (64, 45, 3, 1, 1)
        s.update(_bn("stem.4", 64))

    def conv(prefix: str, cin: int, cout: int, mid: int) -> None:
        if arch == "r3d_18":  # Conv3DSimple is the Conv3d itself
            s[f"{prefix}.weight"] = (cout, cin, 3, 3, 3)
        else:  # Conv2Plus1D: Sequential(Conv3d(cin, mid, 1x3x3), BN(mid), ReLU, Conv3d(mid, cout, 3x1x1))
            s[f"{prefix}.0.weight"] = (mid, cin, 1, 3, 3)
            s.update(_bn(f"{prefix}.1", mid))
            s[f"{prefix}.3.weight"] = (cout, mid, 3, 1, 1)

    inplanes = 64
    for li, planes in enumerate((64, 128, 256, 512), start=1):
        for bi in range(2):
            cin = inplanes if bi == 0 else planes
            mid = (cin * planes * 27) // (cin * 9 + 3 * planes)  # BasicBlock: from the block's own inplanes
            p = f"layer{li}.{bi}"
            conv(f"{p}.conv1.0", cin, planes, mid)
            s.update(_bn(f"{p}.conv1.1", planes))
            conv(f"{p}.conv2.0", planes, planes, mid)
            s.update(_bn(f"{p}.conv2.1", planes))
            if bi == 0 and li > 1:  # downsample: Conv3d(k=1, stride=2) + BN
                s[f"{p}.downsample.0.weight"] = (planes, inplanes, 1, 1, 1)
                s.update(_bn(f"{p}.downsample.1", planes))
        inplanes = planes
    s["fc.weight"], s["fc.bias"] = (num_classes, 512), (num_classes,)
    return s


def torchvision_mobilenet_v2_shapes(num_classes: int = 1000) -> dict[str, tuple]:
    s: dict[str, tuple] = {"features.0.0.weight": (32, 3, 3, 3)}
    s.update(_bn("features.0.1", 32))
    cin, idx = 32, 1
    for t, c, n, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for _ in range(n):
            hidden, p, j = cin * t, f"features.{idx}.conv", 0
            if t != 1:
                s[f"{p}.0.0.weight"] = (hidden, cin, 1, 1)
                s.update(_bn(f"{p}.0.1", hidden))
                j = 1
            s[f"{p}.{j}.0.weight"] = (hidden, 1, 3, 3)
            s.update(_bn(f"{p}.{j}.1", hidden))
            s[f"{p}.{j + 1}.weight"] = (c, hidden, 1, 1)
            s.update(_bn(f"{p}.{j + 2}", c))
            cin, idx = c, idx + 1
    s["features.18.0.weight"] = (1280, 320, 1, 1)
    s.update(_bn("features.18.1", 1280))
    s["classifier.1.weight"], s["classifier.1.bias"] = (num_classes, 1280), (num_classes,)
    return s


def random_state(shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {k: (torch.tensor(7) if k.endswith("num_batches_tracked") else torch.randn(shape, generator=g))
            for k, shape in shapes.items()}


@pytest.mark.parametrize("arch", ["r3d_18", "r2plus1d_18"])
def test_torchvision_kinetics_state_dict_loads(arch, tmp_path) -> None:
    state = random_state(torchvision_video_resnet_shapes(arch))
    # Same class count: torchvision's state dict loads strictly into our module.
    create_student(arch, 400).load_state_dict(state, strict=True)

    pth = tmp_path / f"{arch}.pth"
    torch.save(state, pth)
    model = create_student(arch, 10, pretrained=pth)  # our head keeps its 10 classes
    report = model.pretrained_report
    assert report["skipped_head"] == ["fc.bias", "fc.weight"] and not report["unexpected"]
    assert report["missing"] == []  # the head is reported as skipped, not missing
    own = model.state_dict()
    for k, v in state.items():
        if not k.startswith("fc."):
            assert torch.equal(own[k], v), k
    assert model.fc.weight.shape == (10, 512)


def test_mobilenet_v2_imagenet_state_dict_loads(tmp_path) -> None:
    state = random_state(torchvision_mobilenet_v2_shapes(1000))
    path = tmp_path / "mobilenet_v2.safetensors"
    save_file(state, str(path))
    model = create_student("mobilenetv2_tsm", 1000)
    report = load_pretrained_backbone(model, path)
    assert not report["missing"] and not report["unexpected"] and not report["skipped_head"]
    torch.testing.assert_close(model.fc.weight, state["classifier.1.weight"])  # classifier.1 -> fc
    torch.testing.assert_close(model.state_dict()["features.17.conv.1.0.weight"], state["features.17.conv.1.0.weight"])


def test_pretrained_wrappers_and_ddp_prefix_are_unwrapped(tmp_path) -> None:
    state = random_state(torchvision_video_resnet_shapes("r3d_18"))
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "ddp.pth")
    assert set(read_state_dict(tmp_path / "ddp.pth")) == set(state)


class _Evil:  # any pickled object that is not plain tensors/containers
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pretrained_refuses_code_pickles_and_wrong_architectures(tmp_path) -> None:
    torch.save({"fc.weight": torch.zeros(2, 2), "payload": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="safe load refuses") as refused:
        read_state_dict(tmp_path / "evil.pth")
    assert "weights_only=False" not in str(refused.value)  # never advise the unsafe load
    torch.save(random_state(torchvision_video_resnet_shapes("r3d_18")), tmp_path / "r3d.pth")
    with pytest.raises(CheckpointError, match="does not fit r2plus1d_18"):
        create_student("r2plus1d_18", 400, pretrained=tmp_path / "r3d.pth")
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="shares no backbone"):
        create_student("x3d_xs", 4, pretrained=tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="no pretrained weights"):
        create_student("x3d_xs", 4, pretrained=tmp_path / "missing.pth")
