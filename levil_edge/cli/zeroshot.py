"""`levil-edge zeroshot`: a teacher's zero-shot top-1/top-5 on a labelled video set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from levil_edge.cli.common import console, fmt_pct, print_json
from levil_edge.cli.options import (
    CacheOpt,
    DataOpt,
    Decoder,
    DecoderOpt,
    DeviceOpt,
    DtypeOpt,
    JsonOpt,
    LabelsOpt,
    RootOpt,
    TauOpt,
    TeacherBatchOpt,
    TeacherFramesOpt,
    TeacherOpt,
    TemplateOpt,
    TrustRemoteCodeOpt,
)
from levil_edge.config import DEFAULT_TAU


def zeroshot(
    teacher: TeacherOpt,
    data: DataOpt,
    labels: LabelsOpt = None,
    template: TemplateOpt = None,
    clips: Annotated[int, typer.Option("--clips", min=1, help="Views per video, scores averaged (LEViL: 10).")] = 1,
    tau: TauOpt = DEFAULT_TAU,
    cache: CacheOpt = None,
    humanize: Annotated[
        bool, typer.Option("--humanize/--raw-labels", help="Write class names as words (ApplyEyeMakeup -> apply eye makeup).")
    ] = True,
    frames: TeacherFramesOpt = None,
    batch_size: TeacherBatchOpt = 8,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = None,
    decoder: DecoderOpt = Decoder.auto,
    root: RootOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", dir_okay=False, help="Also write the results JSON here.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Zero-shot accuracy of a teacher: top-1, top-5 and per-class, with the prompt 'a video of a person {}.'.

    Example: levil-edge zeroshot --teacher openai/clip-vit-base-patch32 --data ucfTrainTestlist/:1:test --root UCF-101 --clips 10
    """
    from levil_edge.teachers.runs import TeacherRun, run_zeroshot

    run = TeacherRun(teacher, frames=frames, batch_size=batch_size, device=device, dtype=dtype, decoder=decoder.value,
                     trust_remote_code=trust_remote_code)
    result = run_zeroshot(run, data, labels=labels, template=template, clips=clips, tau=tau, cache=cache,
                          humanize=humanize, root=root, out=out, progress=not json_out)  # fmt: skip
    if json_out:
        print_json(result)
        return
    print_results(result)


def print_results(result: dict) -> None:
    table = Table(title=f"zero-shot {result['teacher']} ({result['clips']} clip(s), tau {result['tau']:g})",
                  title_justify="left")  # fmt: skip
    table.add_column("class")
    table.add_column("prompt label")
    table.add_column("videos", justify="right")
    table.add_column("top-1", justify="right")
    for row, text in zip(result["per_class"], result["label_texts"]):
        table.add_row(row["class"], text, str(row["support"]), fmt_pct(row["accuracy"]))
    table.add_section()
    table.add_row("[bold]all", f"template: {' | '.join(result['template'])}", f"[bold]{result['num_videos']}",
                  f"[bold]{fmt_pct(result['top1'])}")  # fmt: skip
    console.print(table)
    console.print(
        f"top-1 {fmt_pct(result['top1'])}  top-5 {fmt_pct(result['top5'])}  "
        f"mean class accuracy {fmt_pct(result['mean_class_accuracy'])}  bad videos {len(result['bad_videos'])}"
    )


def register(app) -> None:
    app.command("zeroshot", help="A teacher's zero-shot top-1/top-5 on labelled videos (before training anything).")(
        zeroshot
    )
