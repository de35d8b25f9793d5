"""``levil-edge bench``: latency, throughput (and accuracy, agreement) of exported models side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from levil_edge.cli.common import console, err_console, fmt_pct, print_json
from levil_edge.cli.options import Decoder, DecoderOpt, JsonOpt, LabelsOpt, ProviderOpt, RootOpt, ThreadsOpt


def bench_cmd(
    model: Annotated[List[str], typer.Option("--model", "-m", help="Model files (.onnx/.engine); repeat or list several.")],
    extra: Annotated[Optional[List[str]], typer.Argument(help="More model files.", show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Labelled videos: adds accuracy and agreement with the FP32 model.")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch to time besides batch 1.")] = 8,
    iters: Annotated[Optional[int], typer.Option("--iters", min=1, help="Timed iterations (default: as many as fit in --seconds).")] = None,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Minimum timed seconds per model and batch.")] = 3.0,
    clips: Annotated[int, typer.Option("--clips", min=1, help="--data: clips per video.")] = 10,
    max_videos: Annotated[Optional[int], typer.Option("--max-videos", min=1, help="--data: use at most this many videos.")] = None,
    e2e: Annotated[bool, typer.Option("--e2e", help="Also time decode + preprocess + inference per clip (needs --data).")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG latency chart here.")] = None,
    provider: ProviderOpt = None,
    threads: ThreadsOpt = None,
    labels: LabelsOpt = None,
    root: RootOpt = None,
    decoder: DecoderOpt = Decoder.auto,
    json_out: JsonOpt = False,
) -> None:
    """Benchmark exported models: p50/p90/p99/mean latency and clips/s at batch 1 and --batch.

    Example: levil-edge bench --model deploy/r3d/model.onnx deploy/r3d/model.int8.cpu.onnx --data data/val --plot bench.png
    """
    from levil_edge.runtime.bench import BenchOptions, bench_models

    result = bench_models(list(model) + list(extra or []), BenchOptions(
        batch=batch, iters=iters, seconds=seconds, threads=threads, providers=provider,
        data=data, labels=str(labels) if labels else None, root=root, num_clips=clips, max_videos=max_videos,
        e2e=e2e, decoder=decoder.value, plot=plot,
    ))
    if json_out:
        print_json(result)
        return
    _print(result)


def _print(result: dict) -> None:
    from rich.table import Table

    d = result["device"]
    where = d.get("gpu") or d.get("cpu")
    power = f", power mode {d['power_mode']}" if d.get("power_mode") else ""
    table = Table(title=f"bench on {where} ({d.get('cores')} cores{power}), threads {result['threads']}", title_justify="left")
    for col in ("model", "precision", "provider", "batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "clips/s", "top-1", "agree w/ FP32"):
        table.add_column(col, justify="right" if col not in ("model", "precision", "provider") else "left")
    for r in result["models"]:
        acc = r.get("accuracy", {}).get("top1")
        agr = r.get("agreement_with_fp32", {}).get("top1_agreement")
        rows = list(r["latency"].items()) + ([("e2e", r["e2e"])] if "e2e" in r else [])
        for i, (b, s) in enumerate(rows):
            first = i == 0
            table.add_row(
                Path(r["path"]).name if first else "", r["precision"] if first else "", r["provider"].replace("ExecutionProvider", "") if first else "",
                b, f"{s['p50_ms']:.1f}", f"{s['p90_ms']:.1f}", f"{s['p99_ms']:.1f}", f"{s['mean_ms']:.1f}", f"{s['clips_per_s']:.1f}",
                fmt_pct(acc) if first else "", fmt_pct(agr) if first else "",
            )
    console.print(table)
    for r in result["models"]:
        if "e2e" in r:
            console.print(f"{Path(r['path']).name}: decode + preprocess {r['e2e']['decode_preprocess_ms']:.1f} ms of {r['e2e']['p50_ms']:.1f} ms per clip (e2e p50)")
    for w in result["warnings"]:
        err_console.print(f"[yellow]warning:[/] {w}")
    if result.get("plot"):
        console.print(f"latency chart: {result['plot']}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
