"""Training losses, each a few lines and each tested against a plain reference formula
(tests/test_losses.py). Shapes: B = batch, C = classes (or M pseudo-labels), D = embedding size."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """mean_i( -sum_k q_ik log p_ik ), p = softmax(logits).  (B, C), (B, C) -> scalar.

    Computed in float32: under bf16 autocast log_softmax over thousands of pseudo-labels loses
    the small target mass that carries the teacher's ranking."""
    if len(logits) == 0:
        return logits.sum() * 0.0
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(targets.float() * logp).sum(dim=-1).mean()


def feature_mse(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """FD-VLM feature distillation: MSE between the L2-normalised student embedding and the
    L2-normalised teacher video embedding.  (B, D), (B, D) -> scalar.

    Both sides are normalised because the teacher's contrastive space only carries direction;
    matching the norm would waste capacity."""
    s = F.normalize(student_emb.float(), dim=-1)
    t = F.normalize(teacher_emb.float(), dim=-1)
    return F.mse_loss(s, t)


def pseudo_label_mask(teacher_probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Rows whose teacher confidence (max probability) is strictly above ``threshold``.  (B, C) -> (B,) bool."""
    return teacher_probs.max(dim=-1).values > threshold


def pseudo_label_ce(logits: torch.Tensor, teacher_probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """FD-VLM hard pseudo-label CE: CE(logits, argmax q) averaged over the confident rows only
    (zero, with a graph, when no row is confident).  (B, C), (B, C) -> scalar."""
    mask = pseudo_label_mask(teacher_probs, threshold)
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask].float(), teacher_probs[mask].argmax(dim=-1))


def hard_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Plain CE on labeled clips; zero (with a graph) on an empty batch."""
    if len(logits) == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), labels)
