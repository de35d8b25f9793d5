"""The adapter folder: ``adapter.safetensors`` (projection weights) + ``adapter.json`` (teacher id,
dims, grid, walk settings, training config, weights hash). Written atomically; read back with
safetensors only (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

from levil_edge.adapt.projection import CoSettleProjection
from levil_edge.errors import CheckpointError
from levil_edge.utils.io import file_sha256

WEIGHTS = "adapter.safetensors"
META = "adapter.json"
FORMAT = "levil-edge/co-settle-adapter"
FORMAT_VERSION = 1



def save_adapter(out_dir: str | Path, projection: CoSettleProjection, meta: dict) -> dict:
    """Write the weights, then the JSON (with the weights' sha256). Returns the JSON written."""
    from safetensors.torch import save_file

    from levil_edge.utils.io import atomic_path, atomic_write_json

    out = Path(out_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in projection.state_dict().items()}
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "sha256": file_sha256(out / WEIGHTS)}
    atomic_write_json(out / META, meta)
    return meta


def read_adapter_meta(adapter_dir: str | Path) -> dict:
    folder = Path(adapter_dir)
    meta_path = folder / META
    if not meta_path.is_file() or not (folder / WEIGHTS).is_file():
        raise CheckpointError(
            f"{folder} is not an adapter folder (needs {META} and {WEIGHTS}); create one with `levil-edge adapt`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_path} is not valid JSON ({exc}); re-run `levil-edge adapt`") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not a Co-Settle adapter (format {meta.get('format')!r})")
    return meta


def load_projection(adapter_dir: str | Path) -> tuple[CoSettleProjection, dict]:
    """-> (projection in eval mode on CPU, meta). Checks the weights against the recorded hash."""
    from safetensors.torch import load_file

    folder = Path(adapter_dir)
    meta = read_adapter_meta(folder)
    digest = file_sha256(folder / WEIGHTS)
    if meta.get("sha256") and meta["sha256"] != digest:
        raise CheckpointError(f"{folder / WEIGHTS} does not match {META} (hash differs); re-run `levil-edge adapt`")
    projection = CoSettleProjection(int(meta["dim"]))
    try:
        projection.load_state_dict(load_file(str(folder / WEIGHTS)), strict=True)
    except (RuntimeError, OSError) as exc:
        raise CheckpointError(f"{folder / WEIGHTS} does not fit a projection of dim {meta['dim']}: {exc}") from exc
    meta["sha256"] = digest
    return projection.eval(), meta
