"""Shared CLI pieces: consoles, JSON and table output. The option aliases live in ``cli/options.py``."""

from __future__ import annotations

import enum
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from levil_edge.cli.options import Decoder  # noqa: F401  (re-exported: the commands' enum)

console = Console()
err_console = Console(stderr=True)


class Precision(str, enum.Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
    int8 = "int8"


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
