"""K-clip evaluation of a PyTorch student (and dispatch of .onnx/.engine files to the edge runtime).

Both paths produce per-video scores and feed ``levil_edge.eval_report``, so the metrics, tables
and plots are the same code whichever backend ran the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from levil_edge.artifacts import CHECKPOINT, RUNTIME, RUNTIME_SUFFIXES, resolve_model
from levil_edge.errors import ConfigError, DatasetError
from levil_edge.eval_report import dataset_labels  # noqa: F401 - the one class check; finetune imports it from here


def predict_scores(model, cfg, items: Sequence[Any], num_clips: int = 10, decoder: str = "auto",
                   device=None, clips_per_batch: int = 32, aggregate: str = "prob",
                   description: str = "evaluating") -> tuple[np.ndarray, list[int], list[str]]:
    """Scores of every decodable video. -> (scores (N, C) float64, kept item indices, bad paths).

    ``num_clips`` deterministic clips per video (``data.clips.load_eval_clips``), clip softmax
    averaged (``evaluation.aggregate_clip_scores``)."""
    import torch

    from levil_edge.data.clips import load_eval_clips
    from levil_edge.data.decoders import get_decoder
    from levil_edge.data.transforms import to_model_input
    from levil_edge.eval_report import aggregate_clip_scores
    from levil_edge.utils.progress import track

    dec = get_decoder(decoder)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores, kept, bad = [], [], []
    with torch.inference_mode():
        for i, item in enumerate(track(items, description=description)):
            try:
                clips = load_eval_clips(item.path, cfg, num_clips, dec)  # uint8 (K, T, S, S, 3)
            except Exception:  # noqa: BLE001 - only decoding is inside: a broken video is skipped and reported
                bad.append(str(item.path))
                continue
            x = torch.from_numpy(to_model_input(clips, cfg.mean, cfg.std))  # (K, 3, T, S, S)
            logits = torch.cat([model(x[j:j + clips_per_batch].to(device)).float().cpu()
                                for j in range(0, len(x), clips_per_batch)])  # (K, C)
            scores.append(aggregate_clip_scores(logits.numpy(), aggregate))
            kept.append(i)
    model.train(was_training)
    num_classes = cfg.num_classes
    return (np.stack(scores) if scores else np.zeros((0, num_classes))), kept, bad


def load_model_for_eval(model_path: str | os.PathLike, device: str = "auto", labels: str | os.PathLike | None = None):
    """A run folder (best/ else last/), checkpoint folder or .safetensors -> (model, cfg, path)."""
    from levil_edge.data.specs import read_labels
    from levil_edge.students import load_checkpoint
    from levil_edge.utils.device import resolve_device
    from levil_edge.train.run import find_run_checkpoint

    path = find_run_checkpoint(model_path, what="evaluate")
    model, cfg = load_checkpoint(path, device=resolve_device(device))
    if labels is not None:
        names = read_labels(labels)
        if len(names) != cfg.num_classes:
            raise ConfigError(
                f"{labels} has {len(names)} classes but the model head has {cfg.num_classes}: "
                "pass the labels file the model was trained with"
            )
        cfg.labels = names
    if not cfg.labels:
        raise ConfigError(f"{path}/config.json names no labels: pass --labels labels.txt")
    return model, cfg, path


def evaluate(model: str | os.PathLike, data: str | os.PathLike, *, clips: int = 10,
             labels: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
             decoder: str = "auto", device: str = "auto", root: str | None = None,
             aggregate: str = "prob") -> dict[str, Any]:
    """Evaluate a checkpoint / run folder / .onnx / .engine on a labeled dataset spec.

    Returns the report dict (top1, top5, mean_class_accuracy, per_class, confusion_matrix, ...);
    with ``out`` also writes ``eval.json`` and ``eval_confusion.png`` there."""
    from levil_edge.data.specs import load_spec
    from levil_edge.eval_report import build_report, write_report

    if clips < 1:
        raise DatasetError(f"--clips must be >= 1 (got {clips})")
    if out is not None:
        from levil_edge.utils.io import ensure_writable

        ensure_writable(out, "folder")  # before the videos are decoded
    # a wrong --model (an export folder, a typo) is one line naming what evaluate takes, before any work
    resolved = resolve_model(model, (CHECKPOINT, RUNTIME), what="evaluate")
    spec = load_spec(data, root=root)
    if not spec.items:
        raise DatasetError(f"{data}: no videos found")
    if resolved.suffix in RUNTIME_SUFFIXES:
        scores, y, names, bad, backend = _runtime_scores(resolved, spec, clips, decoder, labels)
    else:
        net, cfg, ckpt = load_model_for_eval(resolved, device, labels)
        y_all = dataset_labels(spec, cfg.labels)
        scores, kept, bad = predict_scores(net, cfg, spec.items, clips, decoder, aggregate=aggregate)
        y, names, backend = y_all[kept], cfg.labels, "pytorch"
    report = build_report(scores, y, names, model=str(model), backend=backend, data=str(data),
                          num_clips=clips, skipped_videos=bad)
    if out is not None:
        report["files"] = {k: str(v) for k, v in write_report(report, out).items()}
    return report


def _runtime_scores(model, spec, clips: int, decoder: str, labels):
    """.onnx / .engine through the edge runtime (ONNX Runtime or TensorRT, no torch).
    -> (scores (N, C), labels as model indices (N,), class names, skipped paths, backend)."""
    from levil_edge.utils.extras import require

    runtime_eval = require("levil_edge.runtime.eval_edge", what=f"evaluating {Path(model).suffix} files")
    scores, y, names = runtime_eval.evaluate_model(model, spec.items, num_clips=clips, decoder=decoder)
    names = list(names)
    if labels is not None:
        from levil_edge.data.specs import read_labels

        names = read_labels(labels)
        if len(names) != np.asarray(scores).shape[1]:
            raise ConfigError(f"{labels} has {len(names)} classes but {model} outputs {np.asarray(scores).shape[1]}: "
                              "pass the labels file the model was trained with")
    # The runtime returns dataset class indices of the videos it could decode: map them onto the model's labels.
    remap = dataset_labels(spec, names)
    by_dataset_label = {it.label: int(m) for it, m in zip(spec.items, remap)}
    y = np.array([by_dataset_label[int(v)] for v in np.asarray(y)], dtype=np.int64)
    skipped = [f"({len(spec.items) - len(y)} videos, see the log)"] if len(y) < len(spec.items) else []
    return np.asarray(scores), y, names, skipped, "tensorrt" if Path(model).suffix != ".onnx" else "onnxruntime"
