"""`levil-edge vocab`: captions.jsonl -> pseudo-label vocabulary (vocab.txt, vocab.json, vocab.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from levil_edge.cli.common import console, kv_table, print_json
from levil_edge.cli.options import JsonOpt, VocabOutOpt

CaptionsArg = Annotated[
    list[Path],
    typer.Argument(exists=True, dir_okay=False,
                   help="captions.jsonl file(s), e.g. one per shard: one {\"path\", \"caption\"} object per line."),
]
MinDfOpt = Annotated[int, typer.Option("--min-df", help="Keep labels found in at least this many captions.")]
MaxDfOpt = Annotated[float, typer.Option("--max-df", help="Drop labels found in more than this fraction of captions.")]
StoplistOpt = Annotated[
    Optional[Path],
    typer.Option("--stoplist", exists=True, dir_okay=False,
                 help="Stop list (one term per line) replacing the shipped one."),
]
MergeOpt = Annotated[
    Optional[float],
    typer.Option("--merge-similar", help="Merge labels of the same kind whose MiniLM cosine is >= this (e.g. 0.85)."),
]
SpacyOpt = Annotated[
    str, typer.Option("--spacy-model", help="spaCy pipeline: auto (en_core_web_sm 3.8 wheel), en_core_web_trf ...")
]
TopOpt = Annotated[int, typer.Option("--top", help="Labels shown in the table and the chart.")]


def vocab(
    captions: CaptionsArg,
    out: VocabOutOpt = Path("vocab.txt"),
    min_df: MinDfOpt = 5,
    max_df: MaxDfOpt = 0.25,
    stoplist: StoplistOpt = None,
    merge_similar: MergeOpt = None,
    spacy_model: SpacyOpt = "auto",
    top: TopOpt = 20,
    json_out: JsonOpt = False,
) -> None:
    """Build the pseudo-label vocabulary (vocab.txt/json/png) from captions.jsonl.

    LEViL: verbs, their direct objects and verb-object pairs ("play", "guitar", "play guitar"),
    filtered by document frequency and a stop list of generic terms.

    Example: levil-edge vocab captions.jsonl --out vocab.txt --min-df 5 --max-df 0.25
    (several files, e.g. shards: levil-edge vocab shard*.jsonl --out vocab.txt)
    """
    from levil_edge.vocab import vocab_from_file
    from levil_edge.vocab.build import check_out_path

    check_out_path(out)  # before parsing, not after
    result = vocab_from_file(captions, min_df=min_df, max_df=max_df, stoplist=stoplist,
                             merge_similar=merge_similar, spacy_model=spacy_model)
    paths = result.save(out, top=top)
    if json_out:
        print_json({"files": {k: str(v) for k, v in paths.items()}, "stats": result.stats,
                    "labels": result.labels[:top]})
        return
    _print_summary(result, paths, top)


def _print_summary(result, paths: dict, top: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    s = result.stats
    rows = {
        "files": s["files"],
        "captions read": s["captions"],
        "broken lines skipped": s["lines_broken"],
        "records without caption": s["records_without_caption"],
        "duplicate paths dropped": s["duplicate_paths"],
        "candidates": s["candidates"],
        f"removed by --min-df {s['options']['min_df']}": s["removed_min_df"],
        f"removed by --max-df {s['options']['max_df']}": s["removed_max_df"],
        "removed by stop list": s["removed_stoplist"],
        "merged (--merge-similar)": s["merged"],
        "final size": s["final"],
        "verbs / objects / pairs": "{verb} / {object} / {pair}".format(**s["kinds"]),
        "parser": s["spacy_model"],
        "written": ", ".join(str(p) for p in paths.values()),
    }
    console.print(kv_table("pseudo-label vocabulary", rows))
    table = Table(title=f"top {min(top, len(result))} labels", title_justify="left")
    for col in ("#", "label", "kind", "df", "tf-idf"):
        table.add_column(col, justify="right" if col in ("#", "df", "tf-idf") else "left")
    for i, label in enumerate(result.labels[:top]):
        info = result.info[label]
        table.add_row(str(i), escape(label), info.kind, str(info.df), f"{info.tfidf:.4f}")
    console.print(table)


def register(app) -> None:
    app.command("vocab")(vocab)
