"""The captioner interface and what all backends share: defaults, device/dtype choice, loading
a model folder's small JSON files. Imports no backend; ``factory.load_captioner`` picks one."""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from levil_edge.errors import TeacherError
from levil_edge.utils.device import resolve_dtype
from levil_edge.utils.extras import require

# LEViL's captioning prompt and frame count (docs/method.md)
DEFAULT_PROMPT = (
    "Describe the scene, the objects, and the activity taking place in the video "
    "briefly in one or two complete sentences."
)
DEFAULT_FRAMES = 8
DEFAULT_MAX_NEW_TOKENS = 64
DTYPES = ("auto", "fp32", "fp16", "bf16")


class Captioner(abc.ABC):
    """A frozen VLM that turns uniformly sampled frames into one caption per video."""

    id: str  # model id or path, written into every caption record
    frame_size: int | None = None  # decode frames at this short side (None: native)
    wants_timing: bool = False  # caption() takes metas=[{fps, total_num_frames, frames_indices}]

    @abc.abstractmethod
    def caption(self, videos: Sequence[np.ndarray], prompt: str = DEFAULT_PROMPT,
                max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[str]:
        """videos: each uint8 (N, H, W, 3) -> one caption per video (greedy decoding)."""


def captioner_dtype(dtype: str, device):
    """A captioner's weights dtype: ``utils.device.resolve_dtype`` preferring bf16 ('auto' -> bf16 on a
    CUDA GPU that supports it, fp16 on other GPUs, fp32 on CPU)."""
    require("torch", what="captioning")
    return resolve_dtype(dtype, device, prefer_bf16=True)


def read_model_json(model: str, filename: str) -> dict | None:
    """A small JSON file of a local folder or a Hub repo (cache / HF_HUB_OFFLINE respected); None if absent."""
    from transformers.utils import cached_file

    try:
        path = cached_file(model, filename, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        return None
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_model_text(model: str, filename: str) -> str | None:
    from transformers.utils import cached_file

    try:
        path = cached_file(model, filename, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        return None
    return None if path is None else Path(path).read_text(encoding="utf-8")


def load_model_config(model: str, trust_remote_code: bool = False):
    transformers = require("transformers", what="captioning")
    try:
        return transformers.AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise TeacherError(
            f"cannot load captioner {model!r} ({first[:160]}): pass a local model folder or a Hugging Face id "
            "that is downloaded (offline: HF_HUB_OFFLINE=1 needs it in the cache)"
        ) from exc
