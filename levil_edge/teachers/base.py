"""The teacher interface: a frozen vision-language model that embeds videos and label texts.

Subclasses (``clip.py``, ``siglip.py``, ``xclip.py``) only say how to run their towers; frame
preprocessing, batching, text-embedding ensembling and the soft-target formula live here, so
every teacher forms targets the same way (LEViL: q = softmax(cos(v, t) / tau), tau = 1/50)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from levil_edge.config import DEFAULT_TAU
from levil_edge.errors import TeacherError, UsageError
from levil_edge.teachers.formula import check_tau, soft_targets_from_cosines
from levil_edge.teachers.prompts import Templates, as_templates, format_prompts

# A batch of videos: uint8 (B, N, H, W, 3), or a list of B uint8 (N, H, W, 3) arrays whose frame
# sizes may differ (the image processor resizes them all to the teacher's input size).
Frames = Any


class Teacher:
    """A frozen teacher. Always in eval mode; every call runs under ``torch.inference_mode``.

    ``id`` is stable across runs and machines (model name + revision or weights hash + dtype) and
    keys the target cache. ``calls`` counts tower forwards (``"video"``, ``"text"``): the cache
    tests and the benchmark use it to prove that reading targets runs no teacher forward."""

    kind = "embedding"  # "logits" for teachers whose text side depends on the video (X-CLIP)

    def __init__(
        self,
        model,
        tokenizer,
        image_processor,
        *,
        id: str,
        num_frames: int = 8,
        batch_size: int = 8,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.id = id
        self.num_frames = int(num_frames)
        self.batch_size = max(1, int(batch_size))
        self.device = torch.device(device)
        self.dtype = dtype
        self.calls = {"video": 0, "text": 0}
        # Optional extra per-view features (the Co-Settle adapter sets it): frames -> (B, D').
        self.embed_features: Callable[[Frames], torch.Tensor] | None = None

    # --- facts about the model (subclasses override where their config differs) ---
    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def image_size(self) -> int:
        size = self.model.config.vision_config.image_size
        return int(size[0] if isinstance(size, (list, tuple)) else size)

    @property
    def text_max_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, kind={self.kind!r}, embed_dim={self.embed_dim})"

    # --- preprocessing ---
    def pixel_inputs(self, frames: Frames) -> tuple[dict[str, torch.Tensor], int, int]:
        """Videos -> processor outputs for all B*N frames, plus (B, N).

        The image processor is the pillow one (no torchvision); it resizes, crops and normalises
        exactly as for the model's pretraining."""
        videos = _as_video_list(frames)
        n = videos[0].shape[0]
        if any(v.shape[0] != n for v in videos):
            raise UsageError("all videos in a batch need the same number of frames")
        images = [frame for v in videos for frame in v]  # B*N arrays (H, W, 3)
        inputs = self.image_processor(images=images, return_tensors="pt")
        out = {k: v.to(self.device) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        if "pixel_values" in out:
            out["pixel_values"] = out["pixel_values"].to(self.dtype)
        return out, len(videos), n

    def text_inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.text_max_length, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    # --- towers (subclasses) ---
    def _video_features(self, frames: Frames) -> torch.Tensor:
        """One batch of videos -> unnormalised (B, D)."""
        raise NotImplementedError

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """One batch of texts -> unnormalised (L, D)."""
        raise NotImplementedError

    # --- public API ---
    @torch.inference_mode()
    def embed_videos(self, frames: Frames) -> torch.Tensor:
        """uint8 (B, N, H, W, 3) (or a list of (N, H, W, 3)) -> float32 (B, D), L2-normalised."""
        videos = _as_video_list(frames)
        out = []
        for start in range(0, len(videos), self.batch_size):
            self.calls["video"] += 1
            out.append(self._video_features(videos[start : start + self.batch_size]).float())
        return _l2(torch.cat(out)).cpu()

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts as given (no template) -> float32 (L, D), L2-normalised."""
        texts = list(texts)
        if not texts:
            raise UsageError("no texts to embed: the label list is empty")
        out = []
        step = max(self.batch_size, 64)  # the text tower is cheap; larger batches
        for start in range(0, len(texts), step):
            self.calls["text"] += 1
            out.append(self._text_features(texts[start : start + step]).float())
        return _l2(torch.cat(out)).cpu()

    def embed_labels(self, labels: Sequence[str], template: Templates | None = None) -> torch.Tensor:
        """Label names -> (M, D). With several templates: CLIP prompt ensembling (mean of the
        normalised embeddings over templates, renormalised)."""
        templates = as_templates(template)
        embs = [self.embed_texts(format_prompts(labels, t)) for t in templates]  # T x (M, D)
        return _l2(torch.stack(embs).mean(0))

    def prepare_labels(self, labels: Sequence[str], template: Templates | None = None) -> Any:
        """Run the text side once for a label set; pass the result to ``cosine_prepared``."""
        return self.embed_labels(labels, template)  # (M, D)

    def cosine_prepared(self, frames: Frames, prepared: Any) -> torch.Tensor:
        return self.embed_videos(frames) @ prepared.T  # (B, M)

    def cosine(self, frames: Frames, labels: Sequence[str], template: Templates | None = None) -> torch.Tensor:
        """Cosine similarity of each video with each label prompt: (B, M) in [-1, 1]."""
        return self.cosine_prepared(frames, self.prepare_labels(labels, template))

    def logits(
        self, frames: Frames, labels: Sequence[str], template: Templates | None = None, tau: float = DEFAULT_TAU
    ) -> torch.Tensor:
        """cos / tau, (B, M). The teacher's own learned logit scale is not used: one tau for all."""
        check_tau(tau)
        return self.cosine(frames, labels, template) / tau

    def soft_targets(
        self, frames: Frames, labels: Sequence[str], template: Templates | None = None, tau: float = DEFAULT_TAU
    ) -> torch.Tensor:
        """LEViL soft targets q = softmax(cos / tau) over the labels, (B, M)."""
        return soft_targets_from_cosines(self.cosine(frames, labels, template), tau)


def _l2(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


def _as_video_list(frames: Frames) -> list[np.ndarray]:
    if isinstance(frames, torch.Tensor):
        frames = frames.cpu().numpy()
    if isinstance(frames, np.ndarray):
        if frames.ndim == 4:  # one video (N, H, W, 3)
            frames = frames[None]
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise UsageError(f"videos must be uint8 (B, N, H, W, 3), got shape {frames.shape}")
        videos = list(frames)
    else:
        videos = [np.asarray(v) for v in frames]
    if not videos:
        raise UsageError("no videos to embed")
    for v in videos:
        if v.ndim != 4 or v.shape[-1] != 3:
            raise UsageError(f"each video must be uint8 (N, H, W, 3), got shape {v.shape}")
        if v.dtype != np.uint8:
            raise UsageError(f"video frames must be uint8 0..255, got {v.dtype}")
    return videos


def check_frames_match(teacher: Teacher, n: int) -> None:
    if n != teacher.num_frames:
        raise TeacherError(f"{teacher.id} takes {teacher.num_frames} frames per video, got {n}")
