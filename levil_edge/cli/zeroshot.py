"""`levil-edge zeroshot`: a teacher's zero-shot top-1/top-5 on a labelled video set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from levil_edge.cli.common import (
    Decoder,
    DecoderOpt,
    DeviceOpt,
    JsonOpt,
    LabelsOpt,
    RootOpt,
    TrustRemoteCodeOpt,
    console,
    fmt_pct,
    print_json,
)

# Teacher options shared with `levil-edge cache` (defined once here).
TeacherOpt = Annotated[
    str, typer.Option("--teacher", help="Hugging Face id or local folder of a CLIP, MetaCLIP-2, SigLIP(2) or X-CLIP model.")
]
DataOpt = Annotated[str, typer.Option("--data", help="Dataset spec (class folders, list file, CSV, split file).")]
TemplateOpt = Annotated[
    Optional[list[str]],
    typer.Option("--template", help="Prompt template with {} for the label; repeat it to ensemble prompts."),
]
DtypeOpt = Annotated[Optional[str], typer.Option("--dtype", help="float32, float16 or bfloat16 (default: fp16 on CUDA, fp32 on CPU).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Videos per teacher forward.")]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", min=1, help="Frames per view (default 8; X-CLIP: its own).")]
TauOpt = Annotated[float, typer.Option("--tau", min=1e-6, help="Softmax temperature on cosine similarity (LEViL: 1/50).")]
CacheDirOpt = Annotated[Optional[Path], typer.Option("--cache", help="Teacher target cache folder (reused across runs).")]


def zeroshot(
    teacher: TeacherOpt,
    data: DataOpt,
    labels: LabelsOpt = None,
    template: TemplateOpt = None,
    clips: Annotated[int, typer.Option("--clips", min=1, help="Views per video, scores averaged (LEViL: 10).")] = 1,
    tau: TauOpt = 0.02,
    cache: CacheDirOpt = None,
    humanize: Annotated[
        bool, typer.Option("--humanize/--raw-labels", help="Write class names as words (ApplyEyeMakeup -> apply eye makeup).")
    ] = True,
    frames: FramesOpt = None,
    batch_size: BatchOpt = 8,
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
    from levil_edge.data.specs import load_spec
    from levil_edge.teachers import load_teacher
    from levil_edge.teachers.prompts import TARGET_CLASS_TEMPLATE
    from levil_edge.teachers.zeroshot import zeroshot_eval
    from levil_edge.utils.io import atomic_write_json, ensure_writable

    if out is not None:
        ensure_writable(out, "file")  # before the teacher runs over every video
    if cache is not None:
        ensure_writable(cache, "folder")
    spec = load_spec(data, labels=labels, root=root)
    model = load_teacher(teacher, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         batch_size=batch_size, num_frames=frames)  # fmt: skip
    result = zeroshot_eval(model, spec.items, spec.classes, template=template or TARGET_CLASS_TEMPLATE, clips=clips,
                           tau=tau, cache_dir=cache, decoder=decoder.value, humanize=humanize,
                           progress=not json_out)  # fmt: skip
    result["data"] = data
    if out is not None:
        atomic_write_json(out, result)
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
