"""`levil-edge caption`: describe every video of a dataset with a VLM -> captions.jsonl."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from levil_edge.cli.common import console, err_console, kv_table, print_json
from levil_edge.cli.options import (
    CaptionBatchOpt,
    CaptionFramesOpt,
    CaptionsOutOpt,
    DecoderOpt,
    DeviceOpt,
    JsonOpt,
    RootOpt,
    SpecDataOpt,
    TrustRemoteCodeOpt,
)
from levil_edge.cli.params import merge_data, require_data

# kept in sync with levil_edge.captioning.base (not imported here: --help must not load torch)
_DEFAULT_PROMPT = (
    "Describe the scene, the objects, and the activity taking place in the video "
    "briefly in one or two complete sentences."
)


class DType(str, enum.Enum):
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


SpecArg = Annotated[
    Optional[str],
    typer.Argument(help="Dataset spec: a folder of videos, a class-folder tree, a list or CSV file (or --data).",
                   show_default=False),
]
CaptionerOpt = Annotated[
    str,
    typer.Option("--captioner", "-m", help="VLM id or local folder: HuggingFaceTB/SmolVLM2-256M-Video-Instruct "
                 "(-500M-, -2.2B-), Qwen/Qwen2.5-VL-3B-Instruct (needs torchvision) ..."),
]
PromptOpt = Annotated[str, typer.Option("--prompt", help="Instruction given after the frames (LEViL's by default).")]
FrameSizeOpt = Annotated[
    Optional[int],
    typer.Option("--frame-size", help="Decode frames at this short side (default: the captioner's input size)."),
]
MaxTokensOpt = Annotated[int, typer.Option("--max-new-tokens", help="Longest caption, in tokens (greedy decoding).")]
ShardOpt = Annotated[
    Optional[str],
    typer.Option("--shard", help="i/n: caption shard i of n (0-based; a hash of the path picks the shard), e.g. 0/4."),
]
LimitOpt = Annotated[
    Optional[int], typer.Option("--limit", help="Caption at most this many new videos (a quick look).")
]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="Weights dtype: auto = bf16/fp16 on GPU, fp32 on CPU.")]


def caption(
    captioner: CaptionerOpt,
    spec: SpecArg = None,
    data: SpecDataOpt = None,
    out: CaptionsOutOpt = Path("captions.jsonl"),
    prompt: PromptOpt = _DEFAULT_PROMPT,
    frames: CaptionFramesOpt = 8,
    frame_size: FrameSizeOpt = None,
    max_new_tokens: MaxTokensOpt = 64,
    batch_size: CaptionBatchOpt = 1,
    shard: ShardOpt = None,
    limit: LimitOpt = None,
    decoder: DecoderOpt = "auto",
    device: DeviceOpt = "auto",
    dtype: DTypeOpt = DType.auto,
    root: RootOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Caption videos with a VLM (SmolVLM2, Qwen-VL) into captions.jsonl.

    One JSON line per video, {"path", "caption", "model", "prompt", "frames"}, from uniformly
    sampled frames with greedy decoding. Re-running skips videos already in --out; bad videos are
    reported and skipped.

    Example: levil-edge caption --data videos/ --captioner HuggingFaceTB/SmolVLM2-256M-Video-Instruct --out captions.jsonl
    """
    from levil_edge.captioning import caption_dataset, parse_shard

    report = caption_dataset(
        require_data(merge_data(data, SPEC=spec)), captioner, out, root=root, device=device, dtype=getattr(dtype, "value", dtype),
        trust_remote_code=trust_remote_code, prompt=prompt, frames=frames, frame_size=frame_size,
        max_new_tokens=max_new_tokens, batch_size=batch_size, shard=parse_shard(shard),
        decoder=getattr(decoder, "value", decoder), limit=limit,
    )
    if json_out:
        print_json(report.to_dict())
        return
    _print_report(report, shard)


def _print_report(report, shard: str | None) -> None:
    from rich.markup import escape

    for path, error in report.failures[:10]:
        msg = error if path in error else f"{path}: {error}"
        err_console.print(f"[yellow]skipped[/] {escape(msg)}", highlight=False)
    if report.failed > 10:
        err_console.print(f"... and {report.failed - 10} more in {report.errors_file}")
    rows = {
        "model": report.model,
        "videos in dataset": report.videos,
        "listed but missing": report.missing,
        f"in shard {shard}" if shard else "to caption": report.in_shard,
        "already captioned (skipped)": report.already_done,
        "captioned now": report.captioned,
        "empty captions": report.empty,
        "failed (bad videos)": f"{report.failed} -> {report.errors_file}" if report.failed else 0,
        "throughput": f"{report.videos_per_s:.2f} videos/s" if report.captioned else "-",
        "output": report.out,
    }
    console.print(kv_table("captioning", rows))
    if report.samples:
        console.print(_samples_table(report.samples))


def _samples_table(samples):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="first captions", title_justify="left")
    table.add_column("video")
    table.add_column("caption")
    for path, text in samples:
        table.add_row(escape(Path(path).name), escape(text))  # captions are data, not rich markup
    return table


def register(app) -> None:
    app.command("caption")(caption)
