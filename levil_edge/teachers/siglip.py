"""SigLIP / SigLIP 2 teachers. Same pooling as CLIP; differences are in the text side.

SigLIP was trained with texts padded to the maximum length (64) and pools the last token, so
texts are tokenised with ``padding="max_length"`` and no attention mask, as its processor does.
Its sigmoid bias is a constant per pair, so it cancels in a softmax over labels and is unused."""

from __future__ import annotations

from typing import Sequence

import torch

from levil_edge.teachers.clip import CLIPTeacher
from levil_edge.teachers.registry import register_teacher


@register_teacher({"siglip": "SiglipModel", "siglip2": "Siglip2Model"})
class SiglipTeacher(CLIPTeacher):
    @property
    def embed_dim(self) -> int:
        return int(self.model.config.vision_config.hidden_size)

    @property
    def image_size(self) -> int:
        vc = self.model.config.vision_config
        if getattr(vc, "num_patches", None):  # SigLIP 2 NaFlex: a patch budget, not a fixed size
            return int(round(vc.num_patches**0.5)) * int(vc.patch_size)
        return super().image_size

    def text_inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=self.text_max_length, return_tensors="pt"
        )
        return {"input_ids": enc["input_ids"].to(self.device)}
