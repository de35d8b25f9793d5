"""X-CLIP teacher (``XCLIPModel``): a native video model whose text embeddings depend on the video.

X-CLIP adds a video-conditioned prompt to every text embedding, so there is no video-independent
label embedding to cache: its targets are per-(video, label set) similarities (``kind="logits"``).

Scale: X-CLIP's ``logits_per_video`` is ``exp(logit_scale) * cos``. We divide the learned scale
back out and keep the cosine, then apply the same ``tau`` as every other teacher
(``softmax(cos / tau)``), so ``--tau`` means the same thing whichever teacher is used
(X-CLIP's scale starts at 1/0.07 and is learned; LEViL's tau is 1/50).

The forward pass is split in two so that a label set's text tower runs once, not once per video
batch (it would dominate with thousands of pseudo-labels); ``tests/test_teachers.py`` checks the
split against ``XCLIPModel.forward`` logits."""

from __future__ import annotations

from typing import Sequence

import torch

from levil_edge.teachers.base import Frames, Teacher, _as_video_list, check_frames_match
from levil_edge.teachers.prompts import Templates, as_templates, format_prompts
from levil_edge.teachers.registry import register_teacher


@register_teacher({"xclip": "XCLIPModel"})
class XCLIPTeacher(Teacher):
    kind = "logits"

    def _pixel_values(self, frames: Frames) -> torch.Tensor:
        inputs, b, n = self.pixel_inputs(frames)
        check_frames_match(self, n)  # X-CLIP's temporal layers are built for a fixed frame count
        px = inputs["pixel_values"]
        return px.view(b, n, *px.shape[1:])  # (B, N, 3, S, S)

    def _vision(self, frames: Frames) -> tuple[torch.Tensor, torch.Tensor]:
        """-> video embeddings (B, D) (after the MIT, unnormalised), prompt image features (B, P, D)."""
        m = self.model
        px = self._pixel_values(frames)
        b, n = px.shape[:2]
        out = m.vision_model(pixel_values=px.flatten(0, 1))
        cls = m.visual_projection(out.pooler_output).view(b, n, -1)  # (B, N, D)
        video = m.mit(cls).pooler_output  # (B, D)
        patches = m.prompts_visual_layernorm(out.last_hidden_state[:, 1:, :]) @ m.prompts_visual_projection
        return video, patches.view(b, n, -1, video.shape[-1]).mean(1)  # (B, P, D)

    def _video_features(self, frames: Frames) -> torch.Tensor:
        return self._vision(frames)[0]

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.get_text_features(**self.text_inputs(texts)).pooler_output  # (L, D)

    @torch.inference_mode()
    def prepare_labels(self, labels: Sequence[str], template: Templates | None = None) -> list[torch.Tensor]:
        """Run the text tower once for a label set: projected, video-independent text embeddings
        per template, T x (M, D). Pass the result to ``cosine_prepared`` for any number of videos."""
        out = []
        for t in as_templates(template):
            texts = format_prompts(labels, t)
            chunks = []
            for start in range(0, len(texts), max(self.batch_size, 64)):
                self.calls["text"] += 1
                chunks.append(self._text_features(texts[start : start + max(self.batch_size, 64)]))
            out.append(torch.cat(chunks))
        return out

    def _cosine_batch(self, frames: Frames, text_raw: list[torch.Tensor]) -> torch.Tensor:
        m = self.model
        self.calls["video"] += 1
        video, img = self._vision(frames)
        per_template = []
        for text in text_raw:  # (M, D)
            text = text.unsqueeze(0).expand(video.shape[0], -1, -1)  # (B, M, D)
            text = text + m.prompts_generator(text, img)
            per_template.append(torch.nn.functional.normalize(text.float(), dim=-1))
        # Prompt ensembling on the video-conditioned text embeddings: mean, renormalise.
        text = torch.nn.functional.normalize(torch.stack(per_template).mean(0), dim=-1)
        video = torch.nn.functional.normalize(video.float(), dim=-1)
        return torch.einsum("bd,bmd->bm", video, text)  # (B, M)

    @torch.inference_mode()
    def cosine_prepared(self, frames: Frames, text_raw: list[torch.Tensor]) -> torch.Tensor:
        """(B, M) cosines for a label set prepared with ``prepare_labels``."""
        videos = _as_video_list(frames)
        out = [
            self._cosine_batch(videos[s : s + self.batch_size], text_raw)
            for s in range(0, len(videos), self.batch_size)
        ]
        return torch.cat(out).cpu()

    def cosine(self, frames: Frames, labels: Sequence[str], template: Templates | None = None) -> torch.Tensor:
        """(B, M) cosine between each video and its video-conditioned label prompts."""
        return self.cosine_prepared(frames, self.prepare_labels(list(labels), template))

    def embed_labels(self, labels: Sequence[str], template: Templates | None = None) -> torch.Tensor:
        """Video-independent text embeddings (before X-CLIP's video prompt): only an approximation
        of what X-CLIP compares videos with; targets use ``cosine`` instead."""
        return super().embed_labels(labels, template)
