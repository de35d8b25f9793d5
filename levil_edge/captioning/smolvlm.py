"""SmolVLM / SmolVLM2 captioner (HuggingFaceTB/SmolVLM2-256M/-500M/-2.2B-Video-Instruct).

SmolVLM2's own processor carries a video processor, which needs torchvision (a CUDA-only wheel
on CPU machines). We build the Idefics3 processor instead, from the checkpoint's image processor
(the pillow variant is picked without torchvision), tokenizer, image_seq_len and chat template, and
feed the sampled frames as a multi-image prompt ("Frame 1:", image, "Frame 2:", image, ..., prompt).
Frames are not split into tiles (``do_image_splitting=False``): one global view per frame, 64
image tokens each on the real checkpoints.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from levil_edge.captioning.base import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_PROMPT,
    Captioner,
    captioner_dtype,
    read_model_json,
    read_model_text,
)
from levil_edge.captioning.registry import register_captioner
from levil_edge.errors import TeacherError
from levil_edge.utils.device import resolve_device
from levil_edge.utils.extras import require


def frame_messages(num_frames: int, prompt: str) -> list[dict]:
    """One user turn: "Frame i:" + image for every frame, then the prompt."""
    content: list[dict] = []
    for i in range(num_frames):
        content += [{"type": "text", "text": f"Frame {i + 1}:"}, {"type": "image"}]
    content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


def _chat_template(model: str, tokenizer) -> str:
    """The checkpoint's template (chat_template.jinja / .json / tokenizer), else transformers' SmolVLM one."""
    text = read_model_text(model, "chat_template.jinja")
    if text:
        return text
    data = read_model_json(model, "chat_template.json")
    if data and data.get("chat_template"):
        return data["chat_template"]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    return DEFAULT_CHAT_TEMPLATE


def _image_seq_len(model: str, config) -> int:
    """Image tokens per frame: processor_config.json, else (image_size / patch)^2 / scale^2."""
    data = read_model_json(model, "processor_config.json") or {}
    if "image_seq_len" in data:
        return int(data["image_seq_len"])
    vision = config.vision_config
    return int((vision.image_size // vision.patch_size) ** 2 // (config.scale_factor**2))


def build_processor(model: str, config, trust_remote_code: bool = False):
    """Idefics3Processor from a SmolVLM(2) checkpoint, without torchvision."""
    transformers = require("transformers", what="SmolVLM captioning")
    try:
        image_processor = transformers.AutoImageProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
        tokenizer = transformers.AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as exc:
        raise TeacherError(f"cannot load the processor of {model!r}: {str(exc).splitlines()[0][:200]}") from exc
    tokenizer.padding_side = "left"  # batched generation continues every prompt from its last token
    return transformers.Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=_image_seq_len(model, config),
        chat_template=_chat_template(model, tokenizer),
    )


@register_captioner("smolvlm", "idefics3", family="SmolVLM/SmolVLM2")  # SmolVLM v1 checkpoints are idefics3
class SmolVLMCaptioner(Captioner):
    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", trust_remote_code: bool = False):
        transformers = require("transformers", what="SmolVLM captioning")
        self.id = model
        self.device = resolve_device(device)
        self.dtype = captioner_dtype(dtype, self.device)
        try:
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                model, dtype=self.dtype, trust_remote_code=trust_remote_code
            ).to(self.device).eval()
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            raise TeacherError(f"cannot load captioner weights from {model!r}: {first}") from exc
        self.processor = build_processor(model, self.model.config, trust_remote_code)
        # decode frames no larger than the processor will use (each frame becomes one square view)
        self.frame_size = int(self.processor.image_processor.max_image_size["longest_edge"])

    def caption(self, videos: Sequence[np.ndarray], prompt: str = DEFAULT_PROMPT,
                max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[str]:
        import torch

        proc = self.processor
        texts = [proc.apply_chat_template(frame_messages(len(v), prompt), add_generation_prompt=True) for v in videos]
        images = [list(v) for v in videos]  # per video: N uint8 (H, W, 3) frames
        inputs = proc(text=texts, images=images, return_tensors="pt", padding=True, do_image_splitting=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)  # (B, N, 3, S, S)
        with torch.inference_mode():
            out = self.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]  # (B, <= max_new_tokens)
        return [t.strip() for t in proc.batch_decode(new_tokens, skip_special_tokens=True)]
