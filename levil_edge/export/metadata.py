"""Model metadata that travels with every exported file: ONNX ``metadata_props`` and the sidecar
``model.json``. Torch-free and onnx-free at import: the runtime reads the sidecar on a Jetson.

The sidecar is the source of truth (an engine file carries no metadata of its own); the ONNX
props repeat it so that a lone ``.onnx`` still says what it expects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from levil_edge.config import ModelConfig
from levil_edge.errors import RuntimeModelError

SIDECAR = "model.json"
# Key in ONNX metadata_props that holds the whole ModelConfig as JSON.
CONFIG_KEY = "levil_edge.config"


def export_info(cfg: ModelConfig, files: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """The sidecar content: the model config plus what was exported and how."""
    return {"format": "levil-edge-model", "config": cfg.to_dict(), "files": files or {}, **extra}


def write_sidecar(folder: str | Path, info: dict[str, Any]) -> Path:
    from levil_edge.utils.io import atomic_write_json

    path = Path(folder) / SIDECAR
    atomic_write_json(path, info)
    return path


def read_sidecar(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / SIDECAR
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuntimeModelError(f"{path} is not valid JSON ({exc}): re-run `levil-edge export`") from exc


def onnx_props(cfg: ModelConfig) -> dict[str, str]:
    """Flat string props for ONNX metadata_props (readable by Netron and onnxruntime's modelmeta)."""
    return {
        CONFIG_KEY: cfg.to_json(),
        "labels": json.dumps(cfg.labels),
        "frames": str(cfg.frames),
        "stride": str(cfg.stride),
        "size": str(cfg.size),
        "mean": json.dumps(list(cfg.mean)),
        "std": json.dumps(list(cfg.std)),
        "student": cfg.student,
        "run": cfg.run or "",
        "levil_edge_version": cfg.version or "",
        "input_layout": "float32 (B, 3, T, H, W) = (uint8 / 255 - mean) / std, RGB",
    }


def set_onnx_metadata(model_proto, cfg: ModelConfig, extra: dict[str, str] | None = None) -> None:
    """Replace levil-edge's keys in ``model_proto.metadata_props`` (an onnx.ModelProto).

    ``extra``: more string props, e.g. {"max_batch": "16"} (the runtime's batch limit)."""
    props = {**onnx_props(cfg), **(extra or {})}
    keep = [p for p in model_proto.metadata_props if p.key not in props]
    del model_proto.metadata_props[:]
    for p in keep:
        model_proto.metadata_props.add(key=p.key, value=p.value)
    for k, v in props.items():
        model_proto.metadata_props.add(key=k, value=v)


def config_from_props(props: dict[str, str]) -> ModelConfig | None:
    """ModelConfig from ONNX custom metadata (onnxruntime's ``modelmeta.custom_metadata_map``)."""
    text = props.get(CONFIG_KEY)
    return ModelConfig.from_json(text) if text else None
