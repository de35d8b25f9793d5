"""Qwen2-VL / Qwen2.5-VL / Qwen3-VL captioners (GPU-side backends).

Their processors carry a video processor that needs torchvision; where torchvision does not import
(the CPU machines here: the index only has CUDA builds), loading stops with one line saying so.
Frames are passed as one pre-sampled video (``do_sample_frames=False``) with metadata (fps and the
sampled frame indices) so Qwen3-VL's timestamps and Qwen2.5-VL's temporal position ids are right.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from levil_edge.captioning.base import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_PROMPT,
    Captioner,
    captioner_dtype,
)
from levil_edge.captioning.registry import register_captioner
from levil_edge.errors import MissingExtraError, TeacherError
from levil_edge.utils.device import resolve_device
from levil_edge.utils.extras import has_module, require


def require_torchvision(model: str) -> None:
    if not has_module("torchvision"):
        raise MissingExtraError(
            f"{model}: Qwen-VL processors need torchvision, which does not import here; install the torchvision "
            "that matches your torch (GPU machines) or caption with a SmolVLM2 model (no torchvision needed)"
        )


def video_messages(prompt: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]


@register_captioner("qwen2_vl", "qwen2_5_vl", "qwen3_vl", family="Qwen2-VL/Qwen2.5-VL/Qwen3-VL")
class QwenVLCaptioner(Captioner):
    wants_timing = True  # the runner passes fps and frame indices (see caption(metas=...))

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", trust_remote_code: bool = False):
        require_torchvision(model)
        transformers = require("transformers", what="Qwen-VL captioning")
        self.id = model
        self.device = resolve_device(device)
        self.dtype = captioner_dtype(dtype, self.device)
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                model, dtype=self.dtype, trust_remote_code=trust_remote_code
            ).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise TeacherError(f"cannot load captioner {model!r}: {str(exc).splitlines()[0][:200]}") from exc
        self.processor.tokenizer.padding_side = "left"
        self.frame_size = None  # the video processor resizes to its own pixel budget

    def caption(self, videos: Sequence[np.ndarray], prompt: str = DEFAULT_PROMPT,
                max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, metas: Sequence[dict] | None = None) -> list[str]:
        import torch

        proc = self.processor
        text = proc.apply_chat_template(video_messages(prompt), add_generation_prompt=True)
        # without metadata: pretend one frame per second, in order
        metas = metas or [
            {"total_num_frames": len(v), "fps": 1.0, "frames_indices": list(range(len(v)))} for v in videos
        ]
        inputs = proc(text=[text] * len(videos), videos=[np.asarray(v) for v in videos], video_metadata=list(metas),
                      do_sample_frames=False, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]  # (B, <= max_new_tokens)
        return [t.strip() for t in proc.batch_decode(new_tokens, skip_special_tokens=True)]
