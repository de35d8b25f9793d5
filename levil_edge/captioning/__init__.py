"""Video captioning with a VLM (LEViL stage A): ``load_captioner(model)`` and
``caption_dataset(spec, model, out)`` -> captions.jsonl ``{"path", "caption", "model", "prompt", "frames"}``.

Backends: SmolVLM/SmolVLM2 (CPU or GPU, no torchvision) and Qwen2-VL/2.5-VL/3-VL (need torchvision).
Only ``base`` constants are imported eagerly; torch/transformers load when a model does."""

from levil_edge.captioning.base import DEFAULT_FRAMES, DEFAULT_MAX_NEW_TOKENS, DEFAULT_PROMPT, Captioner
from levil_edge.captioning.factory import load_captioner
from levil_edge.captioning.run import CaptionReport, caption_dataset, caption_paths, parse_shard

__all__ = [
    "DEFAULT_FRAMES",
    "DEFAULT_MAX_NEW_TOKENS",
    "DEFAULT_PROMPT",
    "CaptionReport",
    "Captioner",
    "caption_dataset",
    "caption_paths",
    "load_captioner",
    "parse_shard",
]
