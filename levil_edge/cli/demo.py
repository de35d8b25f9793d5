"""`levil-edge demo`: the whole pipeline on built-in data, ending with the paper's table in miniature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.panel import Panel
from rich.table import Table

from levil_edge.cli.common import console, err_console, print_json
from levil_edge.cli.options import Decoder, DecoderOpt, DeviceOpt, JsonOpt, SeedOpt


def demo(
    out: Annotated[Path, typer.Option("--out", help="Run folder: data, runs, exports, demo.json, REPORT.md.")] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller data and shorter training (about 2 minutes on 2 CPU cores; the full demo takes about 5).")] = False,
    seed: SeedOpt = 0,
    student: Annotated[str, typer.Option("--student", help="Student architecture (see `levil-edge models`); the default learns these motions in minutes on a CPU.")] = "r3d_tiny",
    captioner: Annotated[
        Optional[str], typer.Option("--captioner", help="Caption the pool with this VLM instead of the generator's template captions.")
    ] = None,
    teacher: Annotated[
        Optional[str], typer.Option("--teacher", help="Teacher folder or id (default: the small X-CLIP shipped with levil-edge).")
    ] = None,
    label_ratio: Annotated[float, typer.Option("--label-ratio", help="Share of the target train split that keeps its labels.")] = 0.05,
    device: DeviceOpt = "auto",
    decoder: DecoderOpt = Decoder.auto,
    json_out: JsonOpt = False,
) -> None:
    """Run the whole pipeline on generated videos: captions, vocabulary, teacher zero-shot, distill + finetune
    with 5% labels, the scratch baseline, ONNX FP32/INT8 export and benchmark.

    Example: levil-edge demo --quick --out runs/demo
    """
    from levil_edge.demo import DemoOptions, run_demo

    opts = DemoOptions(out=str(out), quick=quick, seed=seed, student=student, captioner=captioner, teacher=teacher,
                       label_ratio=label_ratio, device=device, decoder=decoder.value)

    def narrate(stage: str, title: str, text: str) -> None:
        if not json_out:  # stdout stays pure JSON with --json
            err_console.print(Panel(text, title=f"[bold]{title}", title_align="left", border_style="cyan"))

    result = run_demo(opts, narrate=narrate)
    if json_out:
        print_json({k: result[k] for k in ("table", "classes", "stage_seconds", "total_seconds", "report", "notes")})
        return
    print_table(result)


def print_table(result: dict) -> None:
    batch = result.get("bench", {}).get("batch", 8)
    table = Table(title=f"levil-edge demo: top-1 on the target test split ({len(result['classes'])} classes)", title_justify="left")
    table.add_column("model")
    table.add_column("top-1", justify="right")
    table.add_column("p50 b1", justify="right")
    table.add_column(f"p50 b{batch}", justify="right")
    fmt = lambda x, pct=False: "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.1f} ms")  # noqa: E731
    for row in result["table"]:
        table.add_row(row["model"], fmt(row["top1"], True), fmt(row["p50_ms_b1"]), fmt(row["p50_ms_batch"]))
    console.print(table)
    gap = result["finetune_test"]["top1"] - result["scratch_test"]["top1"]
    console.print(f"distilled + finetuned vs scratch: [bold]{100 * gap:+.1f} points[/bold]; "
                  f"took {result['total_seconds']:.0f} s; report: {result['report']}")


def register(app) -> None:
    app.command("demo", help="The whole pipeline on built-in synthetic videos, ending with one comparison table.")(demo)
