"""One training step as a small object (open_clip's DistillCLIPTask idea): batch in, dict of
named losses out (``"loss"`` is the one to back-propagate). The teacher never runs here: its
targets were computed once, cached, and are only indexed by (video row, view)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from levil_edge.train import losses as L


class TrainModule(nn.Module):
    """Student -> (logits, embedding or None) in one ``forward``, so DistributedDataParallel sees
    every parameter that takes part (calling forward_features/forward_embed on a DDP-wrapped model
    would bypass its gradient hooks)."""

    def __init__(self, student: nn.Module, with_embed: bool = False):
        super().__init__()
        self.student = student
        self.with_embed = with_embed

    def forward(self, x: torch.Tensor):  # (B, 3, T, H, W) -> (B, C), (B, E) | None
        feats = self.student.forward_features(x)  # (B, D)
        logits = self.student.forward_head(feats)
        emb = self.student.forward_embed(feats) if self.with_embed else None
        return logits, emb


@dataclass
class TargetTable:
    """Teacher targets of one pool of videos, indexed by (row, view).

    soft:  (N, V, C) soft targets over the head's classes (pseudo-labels or target classes)
    embed: (N, V, E) teacher video embeddings (or adapter features) for feature distillation"""

    soft: torch.Tensor | None = None
    embed: torch.Tensor | None = None

    def to(self, device) -> "TargetTable":
        return TargetTable(
            None if self.soft is None else self.soft.to(device),
            None if self.embed is None else self.embed.to(device),
        )


class DistillTask:
    """LEViL zero-shot distillation (soft CE to q) + optional FD-VLM embedding MSE."""

    def __init__(self, targets: TargetTable, feature_weight: float = 0.0, zsd_weight: float = 1.0):
        self.targets, self.feature_weight, self.zsd_weight = targets, feature_weight, zsd_weight

    def __call__(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits, emb = model(batch["video"])
        row, view = batch["row"], batch["view"]
        out = {"zsd": L.soft_cross_entropy(logits, self.targets.soft[row, view])}
        total = self.zsd_weight * out["zsd"]
        if self.feature_weight > 0:
            out["feature"] = L.feature_mse(emb, self.targets.embed[row, view])
            total = total + self.feature_weight * out["feature"]
        out["loss"] = total
        return out


class FinetuneTask:
    """LEViL TLSA: ce_weight * CE(labeled) + soft_weight * soft-CE(q over C classes, unlabeled)
    (+ pseudo_weight * hard CE on unlabeled clips whose teacher confidence > pseudo_threshold).

    Batches carry ``source``: 0 = labeled pool, 1 = unlabeled pool. ``targets`` is the table of
    pool ``soft_source`` (1: the unlabeled pool; 0: the labeled clips, on fully labeled data); None
    means plain supervised training (``--no-teacher``)."""

    def __init__(self, targets: TargetTable | None, ce_weight: float = 0.5, soft_weight: float = 0.5,
                 pseudo_threshold: float | None = None, pseudo_weight: float = 1.0, soft_source: int = 1):
        self.targets, self.ce_weight, self.soft_weight = targets, ce_weight, soft_weight
        self.pseudo_threshold, self.pseudo_weight = pseudo_threshold, pseudo_weight
        self.soft_source = soft_source

    def __call__(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits, _ = model(batch["video"])  # (B, C)
        lab = batch["source"] == 0
        out = {"ce": L.hard_cross_entropy(logits[lab], batch["label"][lab])}
        if self.targets is None:
            out["loss"] = out["ce"]
            return out
        taught = batch["source"] == self.soft_source
        q = self.targets.soft[batch["row"][taught], batch["view"][taught]]  # (U, C)
        out["soft"] = L.soft_cross_entropy(logits[taught], q)
        total = self.ce_weight * out["ce"] + self.soft_weight * out["soft"]
        if self.pseudo_threshold is not None:
            out["pseudo"] = L.pseudo_label_ce(logits[taught], q, self.pseudo_threshold)
            out["pseudo_frac"] = L.pseudo_label_mask(q, self.pseudo_threshold).float().mean().detach() if len(q) else logits.new_zeros(())
            total = total + self.pseudo_weight * out["pseudo"]
        out["loss"] = total
        return out
