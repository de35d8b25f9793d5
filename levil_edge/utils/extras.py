"""Optional dependencies: import them with one clear line when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from levil_edge.errors import MissingExtraError

# module -> the extra that provides it
_EXTRA_OF = {
    "torch": "train",
    "transformers": "train",
    "safetensors": "train",
    "onnx": "train",
    "onnxscript": "train",
    "yaml": "train",
    "spacy": "train",
    "lemminflect": "train",
    "decord": "train",
    "tensorrt": "trt",
    "pytest": "dev",
}


def require(module: str, extra: str | None = None, what: str = "this command") -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or _EXTRA_OF.get(module.split(".")[0])
        hint = (
            f"pip install 'levil-edge[{extra}]'" if extra else f"pip install {module.split('.')[0]}"
        )
        if module.split(".")[0] == "torch":
            hint = "pip install torch==2.13.0 (or your CUDA build) and then " + hint
        raise MissingExtraError(f"{what} needs {module.split('.')[0]} ({exc}): {hint}") from exc


def has_module(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:  # noqa: BLE001 - a broken install counts as absent (e.g. CUDA torchvision on CPU)
        return False
