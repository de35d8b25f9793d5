"""Latency / throughput (and optionally accuracy and agreement) of exported models, side by side.
Torch-free: this is what runs on the Jetson (``levil-edge bench``)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from levil_edge.artifacts import INT8_CPU_FILE
from levil_edge.errors import UsageError
from levil_edge.utils.io import ensure_writable

WARMUP = 3
MIN_ITERS = 5


def latency_stats(times_s: Sequence[float], batch: int) -> dict[str, float]:
    t = np.asarray(times_s) * 1000.0  # ms per batch
    return {
        "iters": int(len(t)),
        "p50_ms": float(np.percentile(t, 50)),
        "p90_ms": float(np.percentile(t, 90)),
        "p99_ms": float(np.percentile(t, 99)),
        "mean_ms": float(t.mean()),
        "clips_per_s": float(batch * 1000.0 / t.mean()),
    }


def time_model(model, batch: int, *, iters: int | None = None, seconds: float = 3.0, warmup: int = WARMUP) -> dict[str, float]:
    """Run ``model`` on a fixed random batch: warm-up, then ``iters`` runs, or at least
    ``seconds`` (and MIN_ITERS runs). Random data is fine for latency: dense CNN cost does not depend on values."""
    x = np.random.default_rng(0).standard_normal((batch, *model.cfg.input_shape)).astype(np.float32)
    for _ in range(warmup):
        model.run(x)
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        model.run(x)
        times.append(time.perf_counter() - t0)
        if iters is not None:
            if len(times) >= iters:
                break
        elif time.perf_counter() - start >= seconds and len(times) >= MIN_ITERS:
            break
    return latency_stats(times, batch)


def time_e2e(model, videos: Sequence[str], decoder: Any, *, iters: int | None, seconds: float) -> dict[str, float]:
    """Decode + preprocess + run one clip per video (cycling): the latency a camera pipeline sees."""
    from levil_edge.runtime.preprocess import video_to_input

    times, decode = [], []
    start = time.perf_counter()
    i = 0
    while True:
        t0 = time.perf_counter()
        x = video_to_input(videos[i % len(videos)], model.cfg, 1, decoder)
        t1 = time.perf_counter()
        model.predict(x)
        times.append(time.perf_counter() - t0)
        decode.append(t1 - t0)
        i += 1
        if (iters is not None and i >= iters) or (iters is None and time.perf_counter() - start >= seconds and i >= MIN_ITERS):
            break
    stats = latency_stats(times, 1)
    stats["decode_preprocess_ms"] = float(np.median(decode) * 1000)
    return stats


def device_facts(providers: Sequence[str]) -> dict[str, Any]:
    from levil_edge.system import jetson_info

    facts: dict[str, Any] = {"cpu": _cpu_name(), "cores": os.cpu_count(), "arch": platform.machine()}
    if any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider", "TensorRT") for p in providers):
        try:
            from levil_edge.runtime.cudart import device_info

            facts.update(device_info())
        except Exception:  # noqa: BLE001 - a fact, not a requirement
            facts["gpu"] = "unknown"
    jetson = jetson_info()
    if jetson:
        facts["jetson"] = jetson
        facts["power_mode"] = jetson.get("power_mode")
    return facts


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _label(m) -> str:
    return f"{Path(m.path).name} ({m.precision}, {m.provider.replace('ExecutionProvider', '')})"


@dataclass(kw_only=True)
class BenchOptions:
    """How ``bench_models`` times (and, with ``data``, scores) the models: one field per ``levil-edge bench`` flag."""

    batch: int = 8  # timed besides batch 1 (clamped to what each file accepts)
    iters: int | None = None  # timed runs; None: as many as fit in ``seconds``
    seconds: float = 3.0
    threads: int | None = None
    providers: list[str] | None = None
    data: str | None = None  # videos: accuracy (labelled) and agreement with the FP32 model
    labels: str | None = None
    root: str | None = None
    num_clips: int = 10
    max_videos: int | None = None
    e2e: bool = False  # also time decode + preprocess + inference
    decoder: Any = "auto"
    plot: str | Path | None = None


def bench_models(paths: Sequence[str | Path], opts: BenchOptions | None = None, **options: Any) -> dict[str, Any]:
    """Benchmark each model at batch 1 and ``batch`` (clamped to what the file accepts).

    ``bench_models(paths, BenchOptions(...))`` or ``bench_models(paths, batch=4, data=...)`` (keyword
    options are ``BenchOptions`` fields and override ``opts``). With ``data``: top-1/top-5 (shared
    metrics code) and agreement with the FP32 model in the list.
    Returns a JSON-ready dict: {"device", "threads", "models": [...], "warnings": [...], "plot"?}."""
    from levil_edge.runtime.model import load_model

    o = replace(opts or BenchOptions(), **options)
    if not paths:
        raise UsageError("pass at least one --model FILE")
    if o.plot:
        ensure_writable(o.plot, "file")  # the chart is written last: fail before the models load and run
    models = [load_model(p, o.providers, o.threads) for p in paths]
    data, batch, iters, seconds, decoder = o.data, o.batch, o.iters, o.seconds, o.decoder
    spec = _spec(data, o.labels, o.root, o.max_videos) if (data or o.e2e) else None
    items = [(it.path, it.label) for it in spec.items] if spec else []
    if o.e2e and not items:
        raise UsageError("--e2e needs --data SPEC (videos to decode)")
    truth = _truth(spec, models) if data else {}
    if data:
        _check_one_export(models)
    rows, scores = [], {}
    for m in models:
        row: dict[str, Any] = {**m.describe(), "label": _label(m), "threads": getattr(m.backend, "threads", None), "latency": {}}
        for b in sorted({max(1, m.batch_range[0]), max(m.batch_range[0], min(batch, m.batch_range[1]))}):
            row["latency"][str(b)] = time_model(m, b, iters=iters, seconds=seconds)
        if o.e2e:
            row["e2e"] = time_e2e(m, [it[0] for it in items], decoder, iters=iters, seconds=seconds)
        if data:
            row["accuracy"], scores[m.path] = _accuracy(m, items, truth.get(m.path), o.num_clips, decoder)
        rows.append(row)
    result: dict[str, Any] = {
        "device": device_facts([m.provider for m in models]),
        "threads": o.threads or int(os.environ.get("LEVIL_THREADS", "0") or 0) or "default",
        "batch": batch, "models": rows, "warnings": int8_warnings(rows),
    }
    if scores:
        _add_agreement(models, rows, scores)
    if o.plot:
        result["plot"] = str(latency_plot(rows, o.plot))
    return result


def _spec(data, labels, root, max_videos):
    import dataclasses

    from levil_edge.data.specs import load_spec

    spec = load_spec(data, labels=labels, root=root)
    return dataclasses.replace(spec, items=spec.items[:max_videos]) if max_videos else spec


def _truth(spec, models) -> dict[Any, np.ndarray | None]:
    """Each model's label index per video (the check ``evaluate`` makes: a model whose classes are not
    the data's is refused before anything runs); None for unlabelled data."""
    from levil_edge.eval_report import dataset_labels

    if any(it.label is None for it in spec.items):
        return {m.path: None for m in models}
    return {m.path: dataset_labels(spec, m.class_names) for m in models}


def _check_one_export(models) -> None:
    """Agreement compares files of one export: refuse a derived file made from another model.onnx."""
    ref = next((m for m in models if m.precision == "fp32"), None)
    if ref is None:
        return
    for m in models:
        if m is not ref and m.source_sha256 and ref.source_sha256 and m.source_sha256 != ref.source_sha256:
            raise UsageError(f"{m.path} was not made from {ref.path} (another export): bench --data compares the files "
                             "of one export; pass files from the same deploy folder")


def _accuracy(m, items, truth, num_clips, decoder) -> tuple[dict[str, Any], np.ndarray]:
    from levil_edge.metrics import summarize
    from levil_edge.runtime.eval_edge import evaluate_model

    s, kept = evaluate_model(m, items, num_clips=num_clips, decoder=decoder, return_kept=True)
    if truth is None:
        return {"num_videos": int(len(kept)), "top1": None, "top5": None, "note": "unlabelled data"}, s
    rep = summarize(s, truth[kept], m.class_names)
    return {k: rep[k] for k in ("num_videos", "top1", "top5", "mean_class_accuracy")}, s


def _add_agreement(models, rows, scores) -> None:
    from levil_edge.metrics import agreement

    ref = next((m for m in models if m.precision == "fp32"), None)
    if ref is None:
        return
    for m, row in zip(models, rows):
        if m is not ref:
            row["agreement_with_fp32"] = agreement(scores[ref.path], scores[m.path])


def _int8_advice(row: dict) -> str:
    if "TensorRT" in row["provider"]:
        return "common for 3D convolutions on TensorRT; ship FP16"
    if row["precision"] == "int8-cpu":
        return "INT8 does not pay off for this model on this CPU; ship the FP32 model"
    return f"the TensorRT form is made for TensorRT; on ONNX Runtime CPU use {INT8_CPU_FILE}"


def int8_warnings(rows: list[dict]) -> list[str]:
    """INT8 that is not faster than FP16 (or FP32 when there is no FP16), same provider, same batch."""
    out = []
    for r in rows:
        if not r["precision"].startswith("int8"):
            continue
        refs = [x for x in rows if x["provider"] == r["provider"] and x["precision"] == "fp16"]
        refs = refs or [x for x in rows if x["provider"] == r["provider"] and x["precision"] == "fp32"]
        for ref in refs:
            b = max(set(r["latency"]) & set(ref["latency"]), key=int, default=None)
            if b and r["latency"][b]["p50_ms"] >= ref["latency"][b]["p50_ms"]:
                out.append(
                    f"{Path(r['path']).name} is not faster than {Path(ref['path']).name} at batch {b} "
                    f"({r['latency'][b]['p50_ms']:.1f} vs {ref['latency'][b]['p50_ms']:.1f} ms): " + _int8_advice(r)
                )
    return out


def latency_plot(rows: list[dict], path: str | Path) -> Path:
    from levil_edge.utils.plots import bar_chart

    values = {f"{Path(r['path']).name} b{b}": s["p50_ms"] for r in rows for b, s in r["latency"].items()}
    return bar_chart(path, values, title="p50 latency per batch (lower is better)", xlabel="ms")
