"""Rows of the export table and the next commands, shared by the export steps (no torch, no onnx)."""

from __future__ import annotations

from pathlib import Path

from levil_edge import artifacts as A


def file_row(path: Path, precision: str, check: str = "", agreement: float | None = None,
             cosine: float | None = None) -> dict:
    """One row of ``export``'s table (and of the deploy folder's README)."""
    return {
        "file": path.name, "precision": precision,
        "size_mb": round(path.stat().st_size / 2**20, 2) if path.exists() else None,
        "check": check, "top1_agreement": agreement, "logit_cosine": cosine,
    }


def next_commands(out: Path, int8: bool) -> list[str]:
    best = out / (A.INT8_CPU_FILE if int8 else A.FP32_FILE)
    models = [A.FP32_FILE, A.INT8_CPU_FILE, A.INT8_TRT_FILE] if int8 else [A.FP32_FILE]
    return [
        f"levil-edge bench --model {' '.join(str(out / f) for f in models)}",
        f"levil-edge predict VIDEO.mp4 --model {best}",
        f"# on the Jetson: copy {out}/ as it is and follow its {A.DEVICE_README} (bash {A.BUILD_SCRIPT}, then predict/bench/DeepStream)",
    ]
