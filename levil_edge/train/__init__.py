"""Training: ``distill`` (LEViL zero-shot distillation + FD-VLM feature distillation),
``finetune`` (target-label-set-aware fine-tuning), ``evaluate`` (K-clip accuracy), run folders,
resume and DDP (torch). The heavy imports happen inside the functions.

>>> from levil_edge.train import DistillOptions, distill
>>> result = distill(DistillOptions(videos="clips/", vocab="vocab.txt", teacher="./clip", out="runs/zsd", epochs=1))
"""

from __future__ import annotations

__all__ = ["distill", "finetune", "evaluate", "DistillOptions", "FinetuneOptions", "TrainOptions"]

# Bound eagerly: the submodules share these names, and a lazily resolved attribute would be
# shadowed by the submodule once it is imported.
from levil_edge.train.run_options import DistillOptions, FinetuneOptions, TrainOptions  # noqa: E402
from levil_edge.train.distill import distill  # noqa: E402
from levil_edge.train.eval_checkpoint import evaluate  # noqa: E402
from levil_edge.train.finetune import finetune  # noqa: E402
