"""Every student exports to ONNX (dynamo exporter, dynamic batch) and ONNX Runtime matches PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from levil_edge.students import create_student, list_students
from tests.student_fixtures import randomize_bn

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.mark.parametrize("name", list_students())
def test_student_exports_to_onnx_and_matches_pytorch(name, tmp_path) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 32, 32)  # (B, 3, T, H, W), small: export cost is graph size, not input size
    model = randomize_bn(create_student(name, 5, embed_dim=6), x)  # the embed head must not be exported
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), dynamo=True, input_names=["video"], output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False, verbose=False,
        )
    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == ["logits"]
    assert not any(n.op_type in ("ScatterND", "ScatterElements") for n in graph.node)  # no in-place slice writes

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (3, 1):  # a batch size other than the traced one: the batch axis is dynamic
        clip = torch.randn(batch, 3, 4, 32, 32, generator=torch.Generator().manual_seed(batch))
        (got,) = session.run(None, {"video": clip.numpy()})
        with torch.no_grad():
            ref = model(clip).numpy()
        assert got.shape == (batch, 5)
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()))
