"""Option dataclasses of ``distill`` and ``finetune`` (the CLI fills them; Python callers may too):
the only home of the training option defaults. Their ``asdict`` is the resolved ``config.json`` of
a run. Clip geometry (frames, stride, size) defaults to None = the student's, from its registry
default cfg (``levil_edge.students.get_default_cfg``), so training, ``ModelConfig`` and
``levil-edge models`` agree."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Optional

from levil_edge.config import DEFAULT_TAU


@dataclass(kw_only=True)
class TrainOptions:
    out: str
    student: str = "r3d_18"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-4  # LEViL
    weight_decay: float = 0.05  # ours
    warmup_epochs: float = 1.0  # ours: linear warm-up, then cosine
    grad_clip: float = 1.0
    amp: str = "auto"  # auto | bf16 | fp16 | none (auto = bf16 on CUDA, none on CPU)
    workers: int = 4
    seed: int = 0
    device: str = "auto"
    # None: the student's default cfg (the built-in students: 8 consecutive frames, 112 px; 224 = paper setting).
    frames: Optional[int] = None
    stride: Optional[int] = None
    size: Optional[int] = None
    flip: float = 0.5  # horizontal-flip probability (0 when left/right is the label, e.g. "move left")
    min_crop: float = 0.35  # random resized crop keeps this fraction of the frame area at least (1 = no crop)
    decoder: str = "auto"
    ram_cache_mb: int = 0  # keep decoded videos in RAM (small datasets, workers=0): see data/memcache.py
    root: Optional[str] = None
    log_every: int = 10
    save_every: int = 0
    stop_after: Optional[int] = None  # debug: stop with a checkpoint after this many steps
    resume: bool = False
    tensorboard: bool = False
    trust_remote_code: bool = False
    teacher_batch_size: int = 8
    dropout: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        # A feature hook (``teacher_adapter``) is recorded as its folder.
        return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in asdict(self).items()}


@dataclass(kw_only=True)
class DistillOptions(TrainOptions):
    videos: str
    vocab: str
    teacher: str
    feature_weight: float = 0.0  # FD-VLM embedding MSE weight; 0 = LEViL ZSD only
    # Co-Settle adapter: its folder, or a teacher feature hook (``levil_edge.adapt.adapter_hook(folder)``,
    # which train builds from a folder); its features are the feature-distillation target.
    teacher_adapter: Optional[Any] = None
    tau: float = DEFAULT_TAU
    template: str = "{}"  # prompt for pseudo-labels
    cache: Optional[str] = None  # teacher target cache folder (default: <out>/teacher_cache)
    epochs: int = 100  # LEViL


@dataclass(kw_only=True)
class FinetuneOptions(TrainOptions):
    labels: str
    train: str
    label_ratio: Optional[float] = None
    labels_per_class: Optional[int] = None
    unlabeled: Optional[str] = None
    val: Optional[str] = None
    val_clips: int = 3  # evaluate uses 10; fewer keeps per-epoch validation cheap
    init: Optional[str] = None  # distill run, checkpoint, torchvision .pth, or None (from scratch)
    teacher: Optional[str] = None  # None or no_teacher: plain supervised training
    no_teacher: bool = False
    template: str = "a video of a person {}."
    # None: the --init checkpoint's (else r3d_18 and its default cfg's geometry); a value set here wins.
    student: Optional[str] = None
    tau: float = DEFAULT_TAU
    ce_weight: float = 0.5
    soft_weight: float = 0.5
    pseudo_threshold: Optional[float] = None  # FD-VLM: e.g. 0.4
    pseudo_weight: float = 1.0
    unlabeled_fraction: float = 0.5  # of each batch (paper 40 + 40)
    cache: Optional[str] = None
    epochs: int = 20  # LEViL
