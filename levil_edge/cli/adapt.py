"""`levil-edge adapt`: Co-Settle temporal adaptation of a CLIP/SigLIP image teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from levil_edge.adapt.adapt_options import AdaptConfig  # torch-free
from levil_edge.cli.common import console, kv_table, print_json
from levil_edge.cli.options import (
    ConfigOpt,
    Decoder,
    DecoderOpt,
    DeviceOpt,
    JsonOpt,
    RootOpt,
    SeedOpt,
    UnlabeledDataOpt,
    VideosAliasOpt,
)
from levil_edge.cli.params import command_values, field_defaults, merge_data, on_command_line
from levil_edge.errors import UsageError

_A = field_defaults(AdaptConfig)  # the defaults' only home; the flags show and pass them

# adapt's flags that are named differently in AdaptConfig
_FIELD_OF = {"workers": "num_workers"}


def adapt(
    ctx: typer.Context,
    teacher: Annotated[
        Optional[str],
        typer.Option("--teacher", help="CLIP or SigLIP model: a save_pretrained folder or a cached hub id.", show_default=False),
    ] = None,
    data: UnlabeledDataOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Adapter folder to write, e.g. adapters/k400.", show_default=False)] = None,
    config: ConfigOpt = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Training epochs (1 warm-up, then cosine).")] = _A["epochs"],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Frame pairs per step.")] = _A["batch_size"],
    lr: Annotated[
        Optional[float], typer.Option("--lr", help="Peak learning rate (default: 1e-4 x batch-size / 256, the paper's rule).")
    ] = None,
    frames_gap: Annotated[
        float, typer.Option("--frames-gap", help="Distance between the two frames, as a share of the clip.")
    ] = _A["frames_gap"],
    val: Annotated[
        Optional[str],
        typer.Option("--val", help="Held-out videos for the diagnostics (default: 10% of --data, at most 32, kept out of training)."),
    ] = None,
    diag_frames: Annotated[int, typer.Option("--diag-frames", min=2, help="Frames per held-out video.")] = _A["diag_frames"],
    workers: Annotated[int, typer.Option("--workers", min=0, help="DataLoader worker processes.")] = _A["num_workers"],
    device: DeviceOpt = "auto",
    decoder: DecoderOpt = Decoder(_A["decoder"]),
    root: RootOpt = None,
    seed: SeedOpt = _A["seed"],
    videos_alias: VideosAliasOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Co-Settle: make a CLIP/SigLIP teacher's features temporally consistent (no labels).

    Trains a small projection on the frozen vision tower's patch tokens with a temporal
    cycle-consistency walk; reports intra/inter-video distance and cycle accuracy on held-out
    videos before and after.

    Writes adapter.safetensors, adapter.json, config.json (replay: --config OUT/config.json), metrics.jsonl
    and diagnostics (.json, .md, .png).
    Use it with `distill --teacher-adapter OUT` (feature-distillation target).

    Example: levil-edge adapt --teacher openai/clip-vit-base-patch16 --data videos/ --out adapters/k400
    (or: levil-edge adapt --config adapt.yaml; its keys are the flags, plus AdaptConfig's fields)
    """
    import dataclasses

    from levil_edge.adapt.train import adapt as run_adapt
    from levil_edge.cli.params import build_options, require_data

    fields = {f.name for f in dataclasses.fields(AdaptConfig)}
    values = command_values(
        ctx, config, data=merge_data(data, **{"--videos": videos_alias}),
        data_given=videos_alias is not None or on_command_line(ctx, "data"), aliases={"videos": "data", **{field: flag for flag, field in _FIELD_OF.items()}},
        extras=fields - set(_FIELD_OF.values()) - set(ctx.params), hidden=["videos_alias"],
    )
    run_args = {k: values.pop(k) for k in ("teacher", "data", "out", "val", "device", "root")}
    cfg = build_options(AdaptConfig, values, renames=_FIELD_OF)
    for name in ("teacher", "out"):
        if run_args[name] is None:
            raise UsageError(f"missing option '--{name}'")
    result = run_adapt(run_args["teacher"], require_data(run_args["data"]), run_args["out"], cfg, val=run_args["val"],
                       device=run_args["device"], root=run_args["root"])
    if json_out:
        print_json(result.to_dict())
        return
    _print_result(result)


def _print_result(result) -> None:
    from levil_edge.adapt.diagnostics import diagnostics_rows

    console.print(
        kv_table(
            "levil-edge adapt",
            {
                "adapter": result.out_dir,
                "id": result.adapter_id,
                "videos": f"{result.train_videos} train, {result.val_videos} held out, {result.skipped} skipped",
                "steps": result.steps,
                "last train loss": _fmt(result.history[-1].get("train_loss")),
                "diagnostics": result.files.get("png"),
            },
        )
    )
    table = Table(title="Co-Settle diagnostics (held-out videos)", title_justify="left")
    for col in ("metric", "before", "after", "better"):
        table.add_column(col)
    for metric, before, after, better in diagnostics_rows(result.before, result.after):
        table.add_row(metric, _fmt(before), _fmt(after), better)
    console.print(table)


def _fmt(x) -> str:
    return "-" if x is None or x != x else f"{x:.4f}"


def register(app) -> None:
    app.command("adapt")(adapt)
