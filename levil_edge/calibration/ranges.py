"""Calibration ranges as a small JSON file, so a model can be re-quantised without the
calibration videos (``levil-edge export --int8 --calib-ranges deploy/x/calibration.json``).

Torch- and onnxruntime-free: plain JSON with one [min, max] pair per activation tensor name of
the pre-processed FP32 graph (names are stable for a given ``model.onnx``; the file records its
SHA-256 so a mismatch is caught)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from levil_edge.errors import CalibrationError

FORMAT = "levil-edge-calibration-ranges"
VERSION = 1



def save_ranges(
    path: str | Path,
    ranges: dict[str, tuple[float, float]],
    *,
    method: str,
    num_clips: int,
    model_sha256: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    from levil_edge.utils.io import atomic_write_json

    obj = {
        "format": FORMAT,
        "version": VERSION,
        "method": method,
        "num_clips": int(num_clips),
        "model_sha256": model_sha256,
        **(extra or {}),
        "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in sorted(ranges.items())},
    }
    atomic_write_json(path, obj)
    return Path(path)


def load_ranges(path: str | Path) -> dict[str, Any]:
    """Read and validate a ranges file: {"method", "num_clips", "model_sha256", "ranges": {name: (lo, hi)}}."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"no calibration ranges at {path}: run `levil-edge export --int8 --calib-data ...` once")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path} is not valid JSON ({exc}): calibrate again with --calib-data") from exc
    if obj.get("format") != FORMAT or not isinstance(obj.get("ranges"), dict):
        raise CalibrationError(f"{path} is not a levil-edge calibration ranges file: calibrate again with --calib-data")
    bad = [k for k, v in obj["ranges"].items() if not (isinstance(v, list) and len(v) == 2 and v[0] <= v[1])]
    if bad:
        raise CalibrationError(f"{path}: invalid range for {bad[:3]}: calibrate again with --calib-data")
    obj["ranges"] = {k: (float(v[0]), float(v[1])) for k, v in obj["ranges"].items()}
    return obj
