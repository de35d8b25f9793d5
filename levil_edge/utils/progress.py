"""Progress bars for long library loops (rich; no Typer). Library code calls ``track`` or
``progress_bar``; they print nothing when ``LEVIL_NO_PROGRESS=1`` or output is not a terminal
and ``force`` is false (CI logs stay readable)."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

console = Console(stderr=True)


def progress_enabled() -> bool:
    return os.environ.get("LEVIL_NO_PROGRESS", "") not in ("1", "true") and sys.stderr.isatty()


def progress_bar(*extra_columns, transient: bool = False) -> Progress:
    """A rich Progress with description, bar, n/total, elapsed, ETA and any extra columns
    (e.g. ``TextColumn("{task.fields[loss]}")``)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not progress_enabled(),
    )


def track(iterable: Iterable[T], total: int | None = None, description: str = "working") -> Iterator[T]:
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar() as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task)
