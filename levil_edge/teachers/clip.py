"""CLIP-family teachers (``CLIPModel``, MetaCLIP-2): frames embedded one by one, mean-pooled."""

from __future__ import annotations

from typing import Sequence

import torch

from levil_edge.teachers.base import Frames, Teacher
from levil_edge.teachers.registry import register_teacher


@register_teacher({"clip": "CLIPModel", "metaclip_2": "MetaClip2Model"})
class CLIPTeacher(Teacher):
    """Video embedding = mean over frames of the L2-normalised per-frame image embeddings
    (transformers 5.x: the projected embedding is ``get_image_features(...).pooler_output``),
    renormalised by ``embed_videos``. Normalising each frame first lets every frame count equally."""

    def _image_features(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model.get_image_features(**inputs).pooler_output  # (B*N, D)

    def _video_features(self, frames: Frames) -> torch.Tensor:
        inputs, b, n = self.pixel_inputs(frames)
        feats = torch.nn.functional.normalize(self._image_features(inputs).float(), dim=-1)
        return feats.view(b, n, -1).mean(1)  # (B, D)

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.get_text_features(**self.text_inputs(texts)).pooler_output  # (L, D)
