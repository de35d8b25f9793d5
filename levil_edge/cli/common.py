"""Shared CLI pieces: consoles, option aliases defined once, JSON and table output."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


class Decoder(str, enum.Enum):
    auto = "auto"
    decord = "decord"
    pyav = "pyav"


class Precision(str, enum.Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
    int8 = "int8"


# --- option aliases (defined once, reused by every command) ---
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout instead of a table.")]
DecoderOpt = Annotated[
    Decoder, typer.Option("--decoder", help="Video decoder: auto prefers decord (x86_64) and falls back to PyAV.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="torch device: auto, cpu, cuda, cuda:1 ...")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (sampling, subsets, init).")]
RootOpt = Annotated[
    Optional[str],
    typer.Option(
        "--root",
        help="Rewrite video path prefixes in list files: 'OLD=NEW', or just NEW to join relative paths to it.",
    ),
]
LabelsOpt = Annotated[
    Optional[Path],
    typer.Option("--labels", exists=True, dir_okay=False, help="labels.txt: one class name per line, in index order."),
]
OutDirOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]
TrustRemoteCodeOpt = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Allow the model repo to run its own Python code (off by default; only for models you trust).",
    ),
]


def print_json(obj: Any) -> None:
    """JSON on stdout, nothing else, so scripts can pipe it."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def kv_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in rows.items():
        table.add_row(str(k), "-" if v is None else str(v))
    return table


def fmt_pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}%"
