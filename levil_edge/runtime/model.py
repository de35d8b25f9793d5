"""Load an exported model by file type and run it on float32 clips. Torch-free.

- ``.onnx``: ONNX Runtime (TensorRT / CUDA / CPU execution providers, whichever are present and asked for).
- ``.engine``: a TensorRT engine through ``levil_edge.runtime.tensorrt`` (TensorRT 10 and 11), refused
  with a one-line message when ``engine.json`` says it was built for another TensorRT or GPU.

The input contract (frames, size, mean/std, labels) comes from the sidecar ``model.json`` next to
the file, or from the ONNX metadata when the file travels alone. Nothing is guessed. A file that
does not belong to the export its sidecar describes (a re-export killed halfway) is refused."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge import artifacts as A
from levil_edge.artifacts import precision_of
from levil_edge.config import ModelConfig
from levil_edge.errors import RuntimeModelError, UsageError

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}

__all__ = ["EdgeModel", "OrtBackend", "load_model", "precision_of"]


class EdgeModel:
    """A loaded model: ``predict(x)`` maps float32 (N, 3, T, H, W) to logits (N, C)."""

    def __init__(self, path: Path, cfg: ModelConfig, backend, precision: str, sidecar: dict | None,
                 props: dict[str, str] | None = None):
        self.path, self.cfg, self.backend, self.precision, self.sidecar = path, cfg, backend, precision, sidecar
        self.props = props or {}

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

    @cached_property
    def source_sha256(self) -> str | None:
        """SHA-256 of the FP32 model.onnx this model was made from (its own for a lone FP32 file)."""
        if self.sidecar and self.path.name in (self.sidecar.get("sha256") or {}) or self.path.suffix in A.ENGINE_SUFFIXES:
            return (self.sidecar or {}).get("source_sha256")
        if self.props.get(A.SOURCE_KEY):
            return self.props[A.SOURCE_KEY]
        if self.precision == "fp32":
            from levil_edge.utils.io import file_sha256

            return file_sha256(self.path)
        return None

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
    cuda=None,
) -> EdgeModel:
    """Open ``path`` (.onnx or .engine); ``providers`` like ["cuda", "cpu"] (ORT only); ``cuda``: the
    CUDA runtime backend for engines (default: ``levil_edge.runtime.cudart.runtime()``)."""
    path = A.resolve_model(path, (A.RUNTIME,), what="the edge runtime")
    sidecar = A.read_sidecar(path.parent)
    if path.suffix in A.ONNX_SUFFIXES:
        backend = OrtBackend(path, providers, threads)
        props = backend.custom_metadata()
        A.check_in_export(path, sidecar, props)
        cfg = cfg or _config_of(path, sidecar, props)
    else:
        from levil_edge.runtime.tensorrt import TrtRunner, check_engine

        check_engine(path)
        props = {}
        cfg = cfg or _config_of(path, sidecar, props)
        backend = TrtRunner(path, cuda=cuda)
        if tuple(backend.input_shape[1:]) != tuple(cfg.input_shape):
            raise RuntimeModelError(f"{path.name} takes {backend.input_shape[1:]} but {A.SIDECAR} says {cfg.input_shape}: "
                                    f"rebuild it with `bash {path.parent / A.BUILD_SCRIPT}`")
    return EdgeModel(path, cfg, backend, precision_of(path, sidecar), sidecar, props)


def _config_of(path: Path, sidecar: dict | None, props: dict[str, str]) -> ModelConfig:
    if sidecar and "config" in sidecar:
        return ModelConfig.from_dict(sidecar["config"])
    cfg = A.config_from_props(props)
    if cfg is None:
        raise RuntimeModelError(
            f"{path} has no levil-edge metadata (no {A.SIDECAR} beside it, none in the file): "
            f"export it with `levil-edge export` or copy {A.SIDECAR} next to it"
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
