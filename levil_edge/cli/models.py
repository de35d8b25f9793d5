"""`levil-edge models`: the registered students, their size and cost at the default clip."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from levil_edge.cli.options import JsonOpt
from levil_edge.cli.common import console, print_json


def models(
    num_classes: Annotated[
        int, typer.Option("--num-classes", min=1, help="Head size used for the parameter count (400 = Kinetics).")
    ] = 400,
    json_out: JsonOpt = False,
) -> None:
    """List the student models: parameters, GFLOPs (2 x MACs of conv/linear layers) at the default
    clip, the default clip shape (frames x size x size) and frame stride, and what each one is.

    Example: levil-edge models --json
    """
    from levil_edge.students.flops import describe_students

    rows = describe_students(num_classes)
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"levil-edge students ({num_classes}-class head)", title_justify="left")
    for col, justify in (("name", "left"), ("params", "right"), ("GFLOPs", "right"), ("clip, stride", "right"),
                         ("description", "left")):
        table.add_column(col, justify=justify, no_wrap=col != "description")  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["name"], f"{r['params_m']:.2f} M", f"{r['gflops']:.2f}", f"{r['clip']} /{r['stride']}",
                      r["description"])
    console.print(table)
    console.print("GFLOPs = 2 x multiply-accumulates of Conv/Linear layers at batch 1 (BN and activations excluded).",
                  style="dim")


def register(app) -> None:
    app.command("models", short_help="List the student models with params, GFLOPs and default clip shape.")(models)
