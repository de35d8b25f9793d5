"""``levil-edge predict``: top-k labels per video (K-clip averaging), or over time on a stream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from levil_edge.cli.common import console, print_json
from levil_edge.cli.options import Decoder, DecoderOpt, JsonOpt, ProviderOpt, ThreadsOpt


def predict_cmd(
    videos: Annotated[List[str], typer.Argument(help="Video files or folders of videos; with --stream one file, URL (rtsp://...) or camera (/dev/video0, 0).")],
    model: Annotated[str, typer.Option("--model", "-m", help="A .onnx or .engine from `levil-edge export`.")],
    topk: Annotated[int, typer.Option("--topk", min=1, help="Labels to show per video.")] = 5,
    clips: Annotated[int, typer.Option("--clips", min=1, help="Clips per video, softmax averaged.")] = 10,
    per_clip: Annotated[bool, typer.Option("--per-clip", help="Also show the top label of every clip.")] = False,
    stream: Annotated[bool, typer.Option("--stream", help="Slide a window over a long video, camera or RTSP stream.")] = False,
    step: Annotated[Optional[int], typer.Option("--step", min=1, help="--stream: frames between windows (default: the clip length).")] = None,
    max_seconds: Annotated[Optional[float], typer.Option("--max-seconds", help="--stream: stop after this long.")] = None,
    provider: ProviderOpt = None,
    threads: ThreadsOpt = None,
    decoder: DecoderOpt = Decoder.auto,
    json_out: JsonOpt = False,
) -> None:
    """Predict action labels with an exported model (no torch needed).

    Example: levil-edge predict clip1.mp4 videos/ --model deploy/r3d/model.int8.cpu.onnx --topk 3
    """
    if stream:
        _stream(videos, model, topk, step, max_seconds, provider, threads, json_out)
        return
    from levil_edge.runtime.predict import predict_videos

    result = predict_videos(videos, model, topk=topk, num_clips=clips, per_clip=per_clip, decoder=decoder.value,
                            providers=provider, threads=threads)
    if json_out:
        print_json(result)
        return
    _print(result, topk)


def _print(result: dict, topk: int) -> None:
    from rich.table import Table

    m = result["model"]
    table = Table(title=f"{Path(m['path']).name} ({m['precision']}, {m['provider']}), {result['num_clips']} clips/video",
                  title_justify="left")
    table.add_column("video")
    table.add_column(f"top-{topk}")
    table.add_column("decode ms", justify="right")
    table.add_column("infer ms", justify="right")
    for v in result["videos"]:
        top = ", ".join(f"{t['label']} {100 * t['score']:.1f}%" for t in v["top"])
        table.add_row(Path(v["path"]).name, top, f"{v['decode_ms']:.0f}", f"{v['infer_ms']:.0f}")
        if "clips" in v:
            table.add_row("", "clips: " + " | ".join(c["label"] for c in v["clips"]), "", "")
    for e in result["errors"]:
        table.add_row(Path(e["path"]).name, f"[red]{e['error']}[/]", "-", "-")
    console.print(table)


def _stream(sources, model, topk, step, max_seconds, provider, threads, json_out) -> None:
    from rich.table import Table

    from levil_edge.errors import UsageError
    from levil_edge.runtime.stream import stream_predict

    if len(sources) != 1:
        raise UsageError("--stream takes exactly one source (a file, rtsp:// URL or camera)")
    events = []
    for ev in stream_predict(sources[0], model, step=step, topk=topk, max_seconds=max_seconds, providers=provider, threads=threads):
        events.append(ev)
        if not json_out:
            t = "-" if ev["time_s"] is None else f"{ev['time_s']:7.2f}s"
            top = ", ".join(f"{x['label']} {100 * x['score']:.0f}%" for x in ev["top"])
            console.print(f"{t}  {top}  ({ev['fps']:.1f} fps)", highlight=False)
    fps = events[-1]["fps"] if events else 0.0
    if json_out:
        print_json({"source": sources[0], "windows": events, "fps": fps})
        return
    table = Table(title=f"stream {sources[0]}", title_justify="left")
    for col in ("windows", "achieved fps", "last label"):
        table.add_column(col)
    table.add_row(str(len(events)), f"{fps:.1f}", events[-1]["top"][0]["label"] if events else "-")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)
