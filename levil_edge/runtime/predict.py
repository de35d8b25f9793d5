"""Top-k labels per video with K-clip averaging (``levil-edge predict``). Torch-free."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from levil_edge.errors import DecodeError


def topk_labels(scores: np.ndarray, names: Sequence[str], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-scores, kind="stable")[:k]
    return [{"label": names[i], "index": int(i), "score": float(scores[i])} for i in order]


def expand_videos(videos: Sequence[str | Path]) -> list[str]:
    """Video paths; a folder stands for its videos (a class-folder tree or a flat folder, read by
    ``levil_edge.data.specs.load_spec``, the dataset reader every command shares)."""
    from levil_edge.data.specs import load_spec

    out: list[str] = []
    for v in videos:
        if Path(v).is_dir():
            out += [str(it.path) for it in load_spec(str(v)).items]
        else:
            out.append(str(v))
    return out


def predict_videos(
    videos: Sequence[str | Path],
    model,
    *,
    topk: int = 5,
    num_clips: int = 10,
    per_clip: bool = False,
    decoder: Any = "auto",
    providers: list[str] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Predict each video (a folder: its videos). ``model``: a path or an EdgeModel. Returns a JSON-ready dict:
    {"model": {...}, "videos": [{"path", "top": [{"label", "score"}], "clips"?, "decode_ms", "infer_ms"}],
    "errors": [{"path", "error"}]}. Scores are the clips' mean softmax probability."""
    from levil_edge.data.decoders import get_decoder
    from levil_edge.metrics import softmax
    from levil_edge.runtime.model import EdgeModel, load_model
    from levil_edge.runtime.preprocess import video_to_input
    from levil_edge.utils.progress import track

    m = model if isinstance(model, EdgeModel) else load_model(model, providers, threads)
    dec = get_decoder(decoder)
    out: dict[str, Any] = {"model": m.describe(), "num_clips": num_clips, "videos": [], "errors": []}
    for v in track(expand_videos(videos), description="predicting"):
        t0 = time.perf_counter()
        try:
            x = video_to_input(v, m.cfg, num_clips, dec)  # (K, 3, T, S, S)
        except DecodeError as exc:
            out["errors"].append({"path": str(v), "error": str(exc)})
            continue
        t1 = time.perf_counter()
        probs = softmax(m.predict(x).astype(np.float64), axis=-1)  # (K, C)
        t2 = time.perf_counter()
        rec: dict[str, Any] = {
            "path": str(v), "top": topk_labels(probs.mean(0), m.class_names, topk),
            "decode_ms": 1000 * (t1 - t0), "infer_ms": 1000 * (t2 - t1),
        }
        if per_clip:
            rec["clips"] = [topk_labels(p, m.class_names, 1)[0] for p in probs]
        out["videos"].append(rec)
    if out["errors"] and not out["videos"]:
        raise DecodeError(f"no video could be read; first: {out['errors'][0]['error']}")
    return out
