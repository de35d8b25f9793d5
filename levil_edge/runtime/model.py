"""Load an exported model by file type and run it on float32 clips. Torch-free.

- ``.onnx``: ONNX Runtime (TensorRT / CUDA / CPU execution providers, whichever are present and asked for).
- ``.engine``: a TensorRT engine through ``levil_edge.export.tensorrt`` (TensorRT 10 and 11), refused
  with a one-line message when ``engine.json`` says it was built for another TensorRT or GPU.

The input contract (frames, size, mean/std, labels) comes from the sidecar ``model.json`` next to
the file, or from the ONNX metadata when the file travels alone. Nothing is guessed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.config import ModelConfig
from levil_edge.errors import RuntimeModelError, UsageError

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}


def precision_of(path: str | Path, sidecar: dict | None = None) -> str:
    """fp32 / fp16 / int8-qdq (TensorRT form) / int8-cpu (ORT CPU form), from the sidecar or the name."""
    name = Path(path).name
    if sidecar and name in sidecar.get("files", {}):
        return sidecar["files"][name]
    parts = name.split(".")
    if "int8" in parts:
        return "int8-cpu" if "cpu" in parts else "int8-qdq" if "trt" in parts else "int8"
    if "fp16" in parts:
        return "fp16"
    return "fp32"


class EdgeModel:
    """A loaded model: ``predict(x)`` maps float32 (N, 3, T, H, W) to logits (N, C)."""

    def __init__(self, path: Path, cfg: ModelConfig, backend, precision: str, sidecar: dict | None):
        self.path, self.cfg, self.backend, self.precision, self.sidecar = path, cfg, backend, precision, sidecar

    @property
    def provider(self) -> str:
        return self.backend.provider

    @property
    def batch_range(self) -> tuple[int, int]:
        """(min, max) batch the file accepts."""
        return self.backend.batch_range

    @property
    def class_names(self) -> list[str]:
        return list(self.cfg.labels) or [str(i) for i in range(self.cfg.num_classes)]

    def run(self, x: np.ndarray) -> np.ndarray:
        """One forward pass; the batch must lie in ``batch_range``."""
        return self.backend.run(np.ascontiguousarray(x, dtype=np.float32))

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """float32 (N, 3, T, H, W) -> (N, C) logits, split into batches the file accepts.

        A static-batch file gets its exact batch: the last chunk is padded and the padding dropped."""
        lo, hi = self.batch_range
        bs = max(lo, min(batch_size or hi, hi))
        outs = []
        for i in range(0, len(x), bs):
            chunk = x[i : i + bs]
            n = len(chunk)
            if n < lo:
                pad = np.zeros((lo - n, *chunk.shape[1:]), dtype=np.float32)
                chunk = np.concatenate([chunk, pad])
            outs.append(self.run(chunk)[:n])
        if not outs:
            return np.zeros((0, self.cfg.num_classes), dtype=np.float32)
        return np.concatenate(outs)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "precision": self.precision,
            "provider": self.provider,
            "batch_range": list(self.batch_range),
            "student": self.cfg.student,
            "input": [3, self.cfg.frames, self.cfg.size, self.cfg.size],
            "num_classes": self.cfg.num_classes,
        }


def load_model(
    path: str | Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    cfg: ModelConfig | None = None,
) -> EdgeModel:
    """Open ``path`` (.onnx or .engine); ``providers`` like ["cuda", "cpu"] (ORT only)."""
    from levil_edge.export.metadata import read_sidecar

    path = Path(path)
    if not path.is_file():
        raise RuntimeModelError(f"no model file at {path}: pass a .onnx or .engine written by `levil-edge export`")
    sidecar = read_sidecar(path.parent)
    if path.suffix == ".onnx":
        backend = OrtBackend(path, providers, threads)
        cfg = cfg or _config_of(path, sidecar, backend.custom_metadata())
    elif path.suffix in (".engine", ".plan"):
        from levil_edge.export.tensorrt import TrtRunner, check_engine_json

        check_engine_json(path)
        cfg = cfg or _config_of(path, sidecar, {})
        backend = TrtRunner(path)
    else:
        raise UsageError(f"{path.name}: unknown model type {path.suffix!r}; use a .onnx or .engine file")
    return EdgeModel(path, cfg, backend, precision_of(path, sidecar), sidecar)


def _config_of(path: Path, sidecar: dict | None, props: dict[str, str]) -> ModelConfig:
    from levil_edge.export.metadata import config_from_props

    if sidecar and "config" in sidecar:
        return ModelConfig.from_dict(sidecar["config"])
    cfg = config_from_props(props)
    if cfg is None:
        raise RuntimeModelError(
            f"{path} has no levil-edge metadata (no model.json beside it, none in the file): "
            "export it with `levil-edge export` or copy model.json next to it"
        )
    return cfg


class OrtBackend:
    """An onnxruntime InferenceSession with the batch range read from the graph input."""

    def __init__(self, path: Path, providers: list[str] | None, threads: int | None):
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = [PROVIDER_ALIASES.get(p.lower(), p) for p in providers] if providers else _default_providers(available)
        missing = [p for p in wanted if p not in available]
        if missing:
            raise UsageError(f"execution provider(s) {missing} not available here (available: {available}): pick another --provider")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = threads or int(os.environ.get("LEVIL_THREADS", "0") or 0)
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=wanted)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types
            raise RuntimeModelError(f"ONNX Runtime cannot load {path} ({str(exc).splitlines()[0][:200]}): re-export it") from exc
        self.threads = threads or None
        self.provider = self.session.get_providers()[0]
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        b = inp.shape[0]
        self.batch_range = (b, b) if isinstance(b, int) else (1, _max_batch(self.session) or 64)

    def custom_metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]


def _max_batch(session) -> int | None:
    meta = session.get_modelmeta().custom_metadata_map
    try:
        return int(meta.get("max_batch", "")) or None
    except ValueError:
        return None


def _default_providers(available: list[str]) -> list[str]:
    # CUDA first when present; the TensorRT EP is opt-in because it builds an engine at start-up.
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
