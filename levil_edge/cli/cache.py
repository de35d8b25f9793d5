"""`levil-edge cache fill|info`: fill the teacher target cache explicitly (sharded), inspect it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from levil_edge.cli.common import console, kv_table, print_json
from levil_edge.cli.options import (
    CacheFolderOpt,
    DataOpt,
    Decoder,
    DecoderOpt,
    DeviceOpt,
    DtypeOpt,
    JsonOpt,
    RootOpt,
    TeacherBatchOpt,
    TeacherFramesOpt,
    TeacherOpt,
    TemplateOpt,
    TrustRemoteCodeOpt,
)

cache_app = typer.Typer(help="Fill and inspect the teacher target cache.", no_args_is_help=True)



@cache_app.command("fill")
def fill(
    teacher: TeacherOpt,
    data: DataOpt,
    cache: CacheFolderOpt,
    views: Annotated[int, typer.Option("--views", min=1, help="Views per video (1 = LEViL; more gives variety).")] = 1,
    shard: Annotated[str, typer.Option("--shard", help="'i/n': fill only shard i of n (one per GPU or machine).")] = "0/1",
    labels: Annotated[
        Optional[Path],
        typer.Option("--labels", exists=True, dir_okay=False, help="Label texts (vocab.txt or labels.txt) to cache too; "
                     "X-CLIP needs them (its targets depend on the label set)."),
    ] = None,
    template: TemplateOpt = None,
    frames: TeacherFramesOpt = None,
    batch_size: TeacherBatchOpt = 8,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = None,
    decoder: DecoderOpt = Decoder.auto,
    root: RootOpt = None,
    adapter: Annotated[
        Optional[Path],
        typer.Option("--adapter", exists=True, file_okay=False, help="Co-Settle adapter folder (levil-edge adapt): "
                     "its features are stored as 'features' beside the embeddings."),
    ] = None,
    retry_bad: Annotated[bool, typer.Option("--retry-bad", help="Try again the videos that failed to decode last time.")] = False,
    trust_remote_code: TrustRemoteCodeOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the frozen teacher once over a dataset and store per-view embeddings (resumable, shardable).

    Example: levil-edge cache fill --teacher openai/clip-vit-base-patch32 --data videos/ --cache runs/cache --shard 0/4
    """
    from levil_edge.adapt import adapter_hook
    from levil_edge.teachers.runs import TeacherRun, fill_teacher_cache

    run = TeacherRun(teacher, frames=frames, batch_size=batch_size, device=device, dtype=dtype, decoder=decoder.value,
                     trust_remote_code=trust_remote_code, feature_hook=adapter_hook(adapter))
    report = fill_teacher_cache(run, data, cache, views=views, shard=shard, labels=labels, template=template,
                                root=root, retry_bad=retry_bad, progress=not json_out)  # fmt: skip
    if json_out:
        print_json(report)
        return
    rows = {k: v for k, v in report.items() if k != "bad_videos"}
    rows["teacher_forwards"] = ", ".join(f"{k} {v}" for k, v in report["teacher_forwards"].items())
    console.print(kv_table("teacher cache fill", rows))
    for p in report["bad_videos"][:20]:
        console.print(f"[yellow]bad video[/]: {p}")


@cache_app.command("info")
def info(
    cache: Annotated[Path, typer.Argument(help="Cache folder.", exists=True, file_okay=False)],
    json_out: JsonOpt = False,
) -> None:
    """Show what a teacher cache holds: teacher, videos, views, label sets, shards, bad videos, size.

    Example: levil-edge cache info runs/cache --json
    """
    from levil_edge.teachers.cache import TeacherCache

    c = TeacherCache.open(cache)
    facts = c.info()
    if json_out:
        facts["bad_video_list"] = sorted({b.get("path") for m in c.manifests() for b in m.get("bad", [])})
        print_json(facts)
        return
    rows = dict(facts)
    rows["samplings"] = ", ".join(f"{s['views']} view(s) x {s['num_frames']} frames" for s in facts["samplings"]) or "-"
    rows["label_sets"] = ", ".join(f"{h} ({n} labels)" for h, n in facts["label_sets"].items()) or "-"
    rows["shards"] = ", ".join(f"{s[0]}/{s[1]}" for s in facts["shards"] if s) or "-"
    rows["arrays"] = ", ".join(facts["arrays"]) or "-"
    console.print(kv_table(f"teacher cache {cache}", rows))
    _print_shards(c)


def _print_shards(c) -> None:
    table = Table(title="shards", title_justify="left")
    for col in ("shard", "videos", "bad", "parts", "complete", "updated"):
        table.add_column(col)
    for m in c.manifests():
        s = m.get("shard") or ["?", "?"]
        table.add_row(f"{s[0]}/{s[1]}", str(m.get("videos", 0)), str(len(m.get("bad", []))), str(len(m.get("parts", []))),
                      "yes" if m.get("complete") else "no", str(m.get("updated", "-")))  # fmt: skip
    console.print(table)


def register(app) -> None:
    app.add_typer(cache_app, name="cache", help="Fill (sharded, resumable) and inspect the teacher target cache.")
