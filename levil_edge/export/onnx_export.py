"""PyTorch student -> FP32 ONNX, and the ONNX-Runtime-vs-PyTorch check that every export runs.

The dynamo exporter is the default: it gives opset 20 (TensorRT 10 parses up to 20) and a cleaner
graph. The legacy TorchScript exporter stays as a fallback at opset 17 for models dynamo cannot
trace. The file is always a single file (no external data): engines are built from it on the device
and a lone .onnx is easier to carry around."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from levil_edge.artifacts import INPUT_NAME, OUTPUT_NAME
from levil_edge.config import ModelConfig
from levil_edge.errors import ExportError
DEFAULT_OPSET = 20
LEGACY_OPSET = 17
# ORT and PyTorch use different conv algorithms; logits of a healthy export agree to ~1e-5
# relative. 1e-3 of the logit scale catches wrong graphs without flagging float noise.
REL_TOLERANCE = 1e-3


def export_onnx(
    model,
    cfg: ModelConfig,
    out_path: str | Path,
    *,
    max_batch: int | None = 16,
    opset: int | None = None,
    legacy: bool = False,
) -> dict[str, Any]:
    """Write ``model`` (eval mode, CPU) as FP32 ONNX with the config in its metadata.

    max_batch=None: a static batch of 1. Otherwise the batch axis is dynamic (1..max_batch).
    Returns {"path", "opset", "exporter", "batch"}."""
    import onnx
    import torch

    from levil_edge.artifacts import set_onnx_metadata
    from levil_edge.utils.io import atomic_path

    model = model.eval().cpu()
    # Export with batch 2 when the axis is dynamic: a batch of 1 invites torch.export to specialise it.
    example = torch.zeros((1 if max_batch is None else 2, *cfg.input_shape), dtype=torch.float32)  # (B, 3, T, H, W)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, _quiet():
        try:
            if legacy:
                _export_legacy(model, example, tmp, opset or LEGACY_OPSET, dynamic=max_batch is not None)
            else:
                _export_dynamo(model, example, tmp, opset or DEFAULT_OPSET, max_batch)
        except Exception as exc:  # noqa: BLE001 - exporter errors are many types; give one actionable line
            _reraise_os_error(exc)
            hint = "try --legacy-exporter" if not legacy else "check the model for untraceable Python control flow"
            raise ExportError(f"ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}): {hint}") from exc
        proto = onnx.load(str(tmp))
        set_onnx_metadata(proto, cfg, {"max_batch": str(max_batch or 1)})
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return {
        "path": str(out_path),
        "opset": onnx_opset(proto),
        "exporter": "legacy" if legacy else "dynamo",
        "batch": "1" if max_batch is None else f"1..{max_batch}",
    }


def _reraise_os_error(exc: BaseException) -> None:
    """A full disk or a read-only folder is not the exporter's fault: let the OSError through (the CLI
    maps it to one line naming the path), also when the exporter wrapped it in its own exception."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError):
            raise exc
        if "No space left on device" in str(exc):
            import errno

            raise OSError(errno.ENOSPC, "No space left on device while writing the ONNX file") from exc
        exc = exc.__cause__ or exc.__context__


def _export_dynamo(model, example, path: Path, opset: int, max_batch: int | None) -> None:
    import torch

    dynamic = None
    if max_batch is not None:
        dynamic = ({0: torch.export.Dim("batch", min=1, max=max_batch)},)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        opset_version=opset,
        dynamic_shapes=dynamic,
        external_data=False,  # one self-contained file; students are far below the 2 GB limit
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        optimize=True,
        verbose=False,
    )


def _export_legacy(model, example, path: Path, opset: int, dynamic: bool) -> None:
    import torch

    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes=axes,
        do_constant_folding=True,
    )


@contextlib.contextmanager
def _quiet():
    # The dynamo exporter prints progress lines to stdout (keep it clean for --json) and logs a
    # "torchvision is not installed" line per torchvision op, which is noise for our students.
    import logging
    import warnings

    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def onnx_opset(proto) -> int:
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def torch_logits(model, x: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """float32 (N, 3, T, H, W) -> (N, C) logits from the PyTorch model, in batches."""
    import torch

    model = model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            outs.append(model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))).float().numpy())
    return np.concatenate(outs)


def compare_with_torch(
    model, onnx_path: str | Path, x: np.ndarray, max_batch: int | None = 16, cfg: ModelConfig | None = None
) -> dict[str, Any]:
    """Run the same clips through PyTorch and ONNX Runtime (CPU) and compare the logits.

    Raises ExportError when the max abs difference exceeds REL_TOLERANCE x the logit scale."""
    from levil_edge.runtime.model import load_model

    batch = 1 if max_batch is None else min(8, max_batch)
    ref = torch_logits(model, x, batch)
    got = load_model(onnx_path, providers=["cpu"], cfg=cfg).predict(x, batch_size=batch)
    diff = float(np.abs(ref - got).max())
    scale = float(max(1.0, np.abs(ref).max()))
    result = {
        "num_clips": int(len(x)),
        "max_abs_diff": diff,
        "logit_scale": scale,
        "tolerance": REL_TOLERANCE * scale,
        "top1_equal": float((ref.argmax(1) == got.argmax(1)).mean()),
        "ok": bool(diff <= REL_TOLERANCE * scale),
    }
    if not result["ok"]:
        raise ExportError(
            f"ONNX Runtime and PyTorch disagree on {onnx_path} (max |diff| {diff:.3g} > {REL_TOLERANCE * scale:.3g}): "
            "re-export with --legacy-exporter or report the student"
        )
    return result
