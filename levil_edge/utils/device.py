"""The one place that turns a ``--device`` / ``--dtype`` string into torch objects (teachers,
captioners, training, evaluation and adapters all use it). torch is imported inside the
functions, so importing this module stays torch-free."""

from __future__ import annotations

from typing import Any

from levil_edge.errors import UsageError

# Every spelling accepted by --dtype (the CLI groups offer a subset) -> torch attribute name.
DTYPE_NAMES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}  # fmt: skip


def _torch():
    from levil_edge.utils.extras import require

    return require("torch", what="this command")


def resolve_device(device: Any = "auto"):
    """'auto' -> CUDA when torch sees a GPU, else CPU; returns a ``torch.device``. An explicit
    'cuda' on a machine without it is a ``UsageError``, not a quiet fallback to CPU."""
    torch = _torch()
    if isinstance(device, torch.device):
        dev = device
    elif device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(str(device))
        except RuntimeError as exc:
            raise UsageError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device} asked for CUDA but torch sees no GPU: use --device cpu")
    return dev


def resolve_dtype(dtype: Any, device: Any, *, prefer_bf16: bool = False):
    """``None`` / 'auto' -> float16 on CUDA (bfloat16 when ``prefer_bf16`` and the GPU has it),
    float32 on CPU (CPU half-precision matmuls are slow or missing). Names: float32/fp32,
    float16/fp16/half, bfloat16/bf16, or a ``torch.dtype``."""
    torch = _torch()
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or str(dtype).lower() == "auto":
        on_cuda = str(getattr(device, "type", device)).startswith("cuda")
        if not on_cuda:
            return torch.float32
        return torch.bfloat16 if prefer_bf16 and torch.cuda.is_bf16_supported() else torch.float16
    name = DTYPE_NAMES.get(str(dtype).lower())
    if name is None:
        raise UsageError(f"unknown dtype {dtype!r}: use auto, float32 (fp32), float16 (fp16) or bfloat16 (bf16)")
    return getattr(torch, name)
