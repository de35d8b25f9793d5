"""``levil-edge evaluate``: K-clip accuracy of a checkpoint, run folder, .onnx or .engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from levil_edge.cli.common import console, print_json
from levil_edge.cli.options import DataOpt, Decoder, DecoderOpt, DeviceOpt, JsonOpt, LabelsOpt, RootOpt


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        model: Annotated[str, typer.Option("--model", "-m", help="Run folder (uses best/), checkpoint folder, .safetensors, .onnx or .engine.")],
        data: DataOpt,
        clips: Annotated[int, typer.Option("--clips", help="Deterministic clips per video, scores averaged (LEViL: 10).")] = 10,
        labels: LabelsOpt = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Write eval.json and eval_confusion.png here.")] = None,
        decoder: DecoderOpt = Decoder.auto,
        device: DeviceOpt = "auto",
        root: RootOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Top-1, top-5 and mean per-class accuracy with a per-class table and a confusion matrix.

        Example: levil-edge evaluate --model runs/zsd-ft --data ucf/:1:test --clips 10 --out runs/zsd-ft/eval
        """
        from levil_edge.eval_report import report_tables
        from levil_edge.train.eval_checkpoint import evaluate

        report = evaluate(model, data, clips=clips, labels=labels, out=out, decoder=decoder.value,
                          device=device, root=root)
        if json_out:
            print_json(report)
            return
        for table in report_tables(report, title=f"evaluate {model}"):
            console.print(table)
        if report.get("skipped_videos"):
            console.print(f"[yellow]{len(report['skipped_videos'])} videos could not be decoded and were skipped[/]")
        if "files" in report:
            console.print(f"wrote {report['files']['json']} and {report['files']['confusion_png']}")
