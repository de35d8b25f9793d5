"""Each training loss against a plain reference formula written with loops / numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from levil_edge.train import losses as L
from levil_edge.train.tasks import FinetuneTask, TargetTable


def _ref_soft_ce(logits: np.ndarray, q: np.ndarray) -> float:
    total = 0.0
    for row, qrow in zip(logits, q):
        m = max(row)
        logz = m + math.log(sum(math.exp(v - m) for v in row))
        total += -sum(qk * (v - logz) for qk, v in zip(qrow, row))
    return total / len(logits)


def test_soft_cross_entropy_matches_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, generator=g) * 3
    q = torch.softmax(torch.randn(5, 7, generator=g), -1)
    got = L.soft_cross_entropy(logits, q).item()
    assert got == pytest.approx(_ref_soft_ce(logits.double().numpy(), q.double().numpy()), rel=1e-5)


def test_soft_cross_entropy_with_one_hot_is_cross_entropy():
    logits = torch.randn(4, 3)
    y = torch.tensor([0, 2, 1, 2])
    got = L.soft_cross_entropy(logits, torch.nn.functional.one_hot(y, 3).float())
    assert got.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-6)


def test_soft_targets_match_formula_and_teachers_package():
    g = torch.Generator().manual_seed(1)
    v, t = torch.randn(3, 8, generator=g), torch.randn(6, 8, generator=g)
    vn = v.numpy() / np.linalg.norm(v.numpy(), axis=1, keepdims=True)
    tn = t.numpy() / np.linalg.norm(t.numpy(), axis=1, keepdims=True)
    cos = vn @ tn.T
    ref = np.exp(cos * 50) / np.exp(cos * 50).sum(1, keepdims=True)
    from levil_edge.teachers import soft_targets_from_cosines, soft_targets_from_embeddings

    # The one formula (teachers/formula.py), torch in -> torch out, numpy in -> numpy out.
    got = soft_targets_from_embeddings(torch.from_numpy(vn), torch.from_numpy(tn), tau=1 / 50).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(soft_targets_from_embeddings(vn, tn, 1 / 50), ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(soft_targets_from_cosines(cos, 1 / 50), ref, rtol=1e-4, atol=1e-6)


def test_feature_mse_on_normalised_embeddings():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(4, 16, generator=g) * 5, torch.randn(4, 16, generator=g)
    sn = s.numpy() / np.linalg.norm(s.numpy(), axis=1, keepdims=True)
    tn = t.numpy() / np.linalg.norm(t.numpy(), axis=1, keepdims=True)
    assert L.feature_mse(s, t).item() == pytest.approx(float(((sn - tn) ** 2).mean()), rel=1e-5)
    assert L.feature_mse(t * 3, t).item() == pytest.approx(0.0, abs=1e-7)  # scale does not matter


def test_pseudo_label_mask_and_ce():
    q = torch.tensor([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2]])
    mask = L.pseudo_label_mask(q, 0.4)
    assert mask.tolist() == [True, False, True, False]  # strictly above the threshold
    logits = torch.randn(4, 3)
    ref = (torch.nn.functional.cross_entropy(logits[0:1], torch.tensor([0]))
           + torch.nn.functional.cross_entropy(logits[2:3], torch.tensor([2]))) / 2
    assert L.pseudo_label_ce(logits, q, 0.4).item() == pytest.approx(ref.item(), rel=1e-6)


def test_pseudo_label_ce_is_zero_with_graph_when_nothing_is_confident():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = L.pseudo_label_ce(logits, torch.full((2, 3), 1 / 3), 0.4)
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph: DDP needs every rank to call backward
    assert logits.grad is not None


class _Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits, None


def test_finetune_task_combines_the_losses_as_documented():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 3, generator=g)
    soft = torch.softmax(torch.randn(4, 1, 3, generator=g) * 4, -1)  # (N, V, C)
    batch = {"video": None, "source": torch.tensor([0, 0, 0, 1, 1, 1]), "label": torch.tensor([0, 2, 1, -1, -1, -1]),
             "row": torch.tensor([0, 1, 2, 3, 0, 1]), "view": torch.zeros(6, dtype=torch.long)}
    task = FinetuneTask(TargetTable(soft=soft), ce_weight=0.5, soft_weight=0.5, pseudo_threshold=0.4, pseudo_weight=1.0)
    out = task(_Fixed(logits), batch)
    q = soft[[3, 0, 1], 0]
    ce = torch.nn.functional.cross_entropy(logits[:3], batch["label"][:3])
    sce = _ref_soft_ce(logits[3:].double().numpy(), q.double().numpy())
    mask = q.max(1).values > 0.4
    pce = torch.nn.functional.cross_entropy(logits[3:][mask], q[mask].argmax(1)) if mask.any() else torch.tensor(0.0)
    assert out["ce"].item() == pytest.approx(ce.item(), rel=1e-6)
    assert out["soft"].item() == pytest.approx(sce, rel=1e-5)
    assert out["loss"].item() == pytest.approx(0.5 * ce.item() + 0.5 * sce + pce.item(), rel=1e-5)
    supervised = FinetuneTask(None)(_Fixed(logits), batch)
    assert supervised["loss"].item() == pytest.approx(ce.item(), rel=1e-6)
