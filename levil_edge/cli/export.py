"""``levil-edge export``: checkpoint -> FP32 ONNX (+ ORT check), INT8 Q/DQ files, build_engine.sh, engines."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from levil_edge.cli.common import console, err_console, fmt_pct, print_json
from levil_edge.cli.options import Decoder, DecoderOpt, JsonOpt, LabelsOpt, RootOpt, SeedOpt


class CalibMethod(str, enum.Enum):
    minmax = "minmax"
    percentile = "percentile"


class Quantizer(str, enum.Enum):
    ort = "ort"
    modelopt = "modelopt"


def export_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Run folder (uses best/, else last/), checkpoint folder or .safetensors.")],
    out: Annotated[Path, typer.Option("--out", help="Deploy folder, e.g. deploy/r3d: built aside and swapped in whole.")],
    int8: Annotated[bool, typer.Option("--int8", help="Also write INT8 Q/DQ files (TensorRT form and ORT CPU form).")] = False,
    calib_data: Annotated[Optional[str], typer.Option("--calib-data", help="Videos for calibration (any dataset spec); labels not needed.")] = None,
    calib_clips: Annotated[int, typer.Option("--calib-clips", min=1, help="Calibration clips (a warning below 300).")] = 300,
    calib_method: Annotated[CalibMethod, typer.Option("--calib-method", help="Activation range method.")] = CalibMethod.minmax,
    calib_ranges: Annotated[Optional[Path], typer.Option("--calib-ranges", exists=True, dir_okay=False, help="Re-quantise from a saved calibration.json, no videos.")] = None,
    quantizer: Annotated[Quantizer, typer.Option("--quantizer", help="Who makes the INT8 TensorRT file: ort (ours) or modelopt (NVIDIA Model Optimizer, pip install 'levil-edge[modelopt]').")] = Quantizer.ort,
    batch: Annotated[Optional[int], typer.Option("--batch", min=1, max=1, help="Static batch (only 1): the file accepts exactly one clip.")] = None,
    dynamic_batch: Annotated[int, typer.Option("--dynamic-batch", min=1, help="Largest batch of the dynamic batch axis.")] = 16,
    opset: Annotated[Optional[int], typer.Option("--opset", min=13, max=23, help="ONNX opset (default 20; 17 with --legacy-exporter).")] = None,
    legacy: Annotated[bool, typer.Option("--legacy-exporter", help="TorchScript exporter (opset 17) for models dynamo cannot trace.")] = False,
    engine: Annotated[bool, typer.Option("--engine", help="Also build TensorRT engines here (needs tensorrt and a GPU).")] = False,
    workspace: Annotated[float, typer.Option("--workspace", min=0.1, help="TensorRT builder workspace in GiB.")] = 2.0,
    labels: LabelsOpt = None,
    root: RootOpt = None,
    decoder: DecoderOpt = Decoder.auto,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Export a student to ONNX (checked against PyTorch on real clips), optionally INT8 and TensorRT.

    Example: levil-edge export --model runs/ft/best --out deploy/r3d --int8 --calib-data data/train
    """
    from levil_edge.export.pipeline import ExportOptions, export_model

    result = export_model(model, out, ExportOptions(
        int8=int8, calib_data=calib_data, calib_clips=calib_clips, calib_method=calib_method.value,
        calib_ranges=calib_ranges, labels=labels, root=root, max_batch=None if batch == 1 else dynamic_batch,
        opset=opset, legacy=legacy, engine=engine, workspace_gb=workspace, decoder=decoder.value, seed=seed,
        quantizer=quantizer.value,
    ))
    if json_out:
        print_json(result)
        return
    _print(result)


def _print(result: dict) -> None:
    from rich.table import Table

    chk = result["onnx_check"]
    console.print(
        f"ONNX Runtime vs PyTorch on {chk['num_clips']} clips ({result['check_clips_from']}): "
        f"max |diff| {chk['max_abs_diff']:.2e} (tolerance {chk['tolerance']:.1e}) [green]ok[/]"
    )
    int8 = result.get("int8") or {}
    for name, c in int8.get("trt_check", {}).items():
        style = "green" if c["ok"] else "red"
        console.print(f"TensorRT check of {name}: [{style}]{'ok' if c['ok'] else 'FAIL'}[/] (opset {c['opset']}, "
                      f"{c['qdq_nodes']} Q/DQ nodes, {c['per_channel_weights']} per-channel weights)")
        for f in c["failures"][:10]:
            console.print(f"  [red]- {f}[/]")
    for w in int8.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {w}")
    for note in [(result.get("fp16") or {}).get("reason"), *int8.get("skipped", [])]:
        if note:
            err_console.print(f"[dim]{note}[/]", highlight=False)
    for e in result.get("engines", []):
        if e.get("skipped"):
            err_console.print(f"[yellow]engine {e['precision']} skipped:[/] {e['skipped']}")
        elif e.get("note"):
            err_console.print(f"[yellow]note ({e['precision']} engine):[/] {e['note']}")
    table = Table(title=f"exported to {result['out']}", title_justify="left")
    for col in ("file", "precision", "size", "check", "Q/DQ", "left in float", "top-1 agreement", "logit cosine"):
        table.add_column(col)
    for r in result["files"]:
        table.add_row(
            r["file"], r["precision"], "-" if r["size_mb"] is None else f"{r['size_mb']:.1f} MB", r["check"],
            str(r.get("qdq_nodes", "-")), r.get("float_nodes", "-"),
            fmt_pct(r["top1_agreement"]), "-" if r["logit_cosine"] is None else f"{r['logit_cosine']:.4f}",
        )
    console.print(table)
    if int8:
        console.print(f"agreement measured on {int8['heldout_clips']} held-out clips; ranges kept in {int8['ranges']}")
    top = sorted({f.split("/")[0] + ("/" if "/" in f else "") for f in result["deploy_files"]})
    console.print(f"for the device: {', '.join(top)} (read {result['readme']})", highlight=False)
    if result.get("kept"):
        console.print(f"kept from the previous folder: {', '.join(result['kept'])}", highlight=False)
    console.print("next:")
    for cmd in result["next"]:
        console.print(f"  {cmd}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
