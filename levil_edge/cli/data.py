"""`levil-edge data check|split`: scan a dataset spec; write a labeled subset and its unlabeled pool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from levil_edge.cli.common import console, err_console, print_json
from levil_edge.cli.options import Decoder, DecoderOpt, JsonOpt, LabelsOpt, RootOpt, SeedOpt, SpecDataOpt
from levil_edge.cli.params import merge_data, require_data

SpecArg = Annotated[
    Optional[str],
    typer.Argument(
        help="Dataset spec: class folders, a folder of videos, a video, a 'path label' list, a CSV, "
        "or split files (ucfTrainTestlist/:1:train, hmdb51_splits/:1:test).",
        show_default=False,
    ),
]

data_app = typer.Typer(help="Inspect datasets and make labeled subsets.", no_args_is_help=True)


@data_app.command("check")
def check(
    spec: SpecArg = None,
    data: SpecDataOpt = None,
    labels: LabelsOpt = None,
    root: RootOpt = None,
    decoder: DecoderOpt = Decoder.auto,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Videos checked in parallel (threads).")] = 2,
    full: Annotated[bool, typer.Option("--full", help="Decode every frame to catch truncated files (slower).")] = False,
    show: Annotated[int, typer.Option("--show", min=0, help="Videos listed in the table (all bad ones always are).")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Check that every video of a dataset decodes; show frames, fps, resolution, duration and totals.

    Exits 0 with a summary even when some files are bad (they are listed).

    Example: levil-edge data check videos/ --full --workers 2  (or: levil-edge data check --data videos/)
    """
    from levil_edge.data.check import check_dataset
    from levil_edge.data.specs import load_spec

    ds = load_spec(require_data(merge_data(data, SPEC=spec)), labels=labels, root=root)
    report = check_dataset(ds, decoder=decoder.value, workers=workers, full=full)
    if json_out:
        print_json(report.to_dict())
        return
    _print_report(report, show)


def _print_report(report, show: int) -> None:
    table = Table(title=f"{report.source} ({report.kind}, decoder {report.decoder})", title_justify="left")
    for col in ("video", "label", "ok", "frames", "fps", "resolution", "duration s", "note"):
        table.add_column(col, overflow="fold")
    listed = [v for v in report.videos if not v.ok or v.error] + [v for v in report.good if not v.error][:show]
    base = Path(report.source) if Path(report.source).is_dir() else Path(report.source).parent
    for v in listed:
        note = (v.error or "").removeprefix(f"{v.path}: ")
        label = "-" if v.label is None else (report.classes[v.label] if v.label < len(report.classes) else str(v.label))
        frames = "-" if v.num_frames is None else str(v.num_frames)
        if v.decoded_frames is not None:
            frames += f" ({v.decoded_frames} decode)"
        table.add_row(
 _short_path(v.path, base), label, "[green]yes[/]" if v.ok else "[red]NO[/]", frames,
            "-" if v.fps is None else f"{v.fps:g}", "-" if v.width is None else f"{v.width}x{v.height}",
            "-" if v.duration is None else f"{v.duration:.2f}", note,
        )
    hidden = len(report.good) - len([v for v in listed if v.ok])
    if hidden > 0:
        table.caption = f"{hidden} more readable videos not shown (--show N, or --json for all)"
    console.print(table)
    t = report.totals()
    summary = Table(title="totals", show_header=False, title_justify="left")
    summary.add_column("key", style="bold")
    summary.add_column("value")
    for key in ("videos", "readable", "unreadable", "missing", "classes", "frames", "hours", "min_frames", "max_frames"):
        summary.add_row(key, "-" if t[key] is None else str(t[key]))
    summary.add_row("resolutions", ", ".join(t["resolutions"][:6]) + (" ..." if len(t["resolutions"]) > 6 else ""))
    console.print(summary)
    if report.missing:
        err_console.print(f"[yellow]{len(report.missing)} listed files do not exist[/], e.g. {report.missing[:3]}")
    if report.bad:
        err_console.print(f"[yellow]{len(report.bad)} unreadable videos[/] (listed above); training skips them.")


def _short_path(path: str, base: Path) -> str:
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


@data_app.command("split")
def split(
    out: Annotated[Path, typer.Option("--out", help="Folder for labeled.txt, unlabeled.txt and labels.txt.")],
    spec: SpecArg = None,
    data: SpecDataOpt = None,
    label_ratio: Annotated[
        Optional[float], typer.Option("--label-ratio", help="Fraction of each class to label, e.g. 0.05.")
    ] = None,
    labels_per_class: Annotated[
        Optional[int], typer.Option("--labels-per-class", help="Videos labeled per class (instead of a ratio).")
    ] = None,
    labels: LabelsOpt = None,
    root: RootOpt = None,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Pick a stratified, seeded labeled subset (>= 1 video per class); the rest is the unlabeled pool.

    Writes OUT/labeled.txt ('path label' lines), OUT/unlabeled.txt (paths only) and OUT/labels.txt;
    each list is itself a dataset spec.

    Example: levil-edge data split --data ucfTrainTestlist/:1:train --root UCF-101 --label-ratio 0.01 --out splits/
    """
    from levil_edge.data.split_run import split_dataset

    result = split_dataset(require_data(merge_data(data, SPEC=spec)), out, label_ratio=label_ratio,
                           labels_per_class=labels_per_class, labels=labels, root=root, seed=seed)
    if json_out:
        print_json(result.to_dict())
        return
    table = Table(title=f"labeled subset of {result.source} (seed {seed})", title_justify="left")
    table.add_column("class")
    table.add_column("labeled", justify="right")
    table.add_column("unlabeled", justify="right")
    for c, (n_l, n_u) in result.per_class.items():
        table.add_row(c, str(n_l), str(n_u))
    table.add_row("[bold]total", f"[bold]{result.labeled}", f"[bold]{result.unlabeled}")
    console.print(table)
    console.print(f"wrote {result.files['labeled']}, {result.files['unlabeled']}, {result.files['labels']}")


def register(app) -> None:
    app.add_typer(data_app, name="data", help="Check a dataset's videos (data check) and make labeled subsets (data split).")
