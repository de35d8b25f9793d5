"""The ``levil-edge`` entry point. Errors are mapped to one line here, and only here."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Optional, Sequence

import typer

from levil_edge import __version__
from levil_edge.errors import LevilError, UsageError

HELP = """Distil a small video action classifier from a vision-language model, with almost no
labels, and ship it to an NVIDIA Jetson.

Pipeline: caption -> vocab -> distill -> finetune --labels -> export --int8 -> bench / predict.
Start with `levil-edge demo --quick` (built-in data, no downloads) or `levil-edge doctor`.
"""

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _click_exc  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc

_EXIT = (typer.Exit,) + ((_click_exc.Exit,) if hasattr(_click_exc, "Exit") else ())


app = typer.Typer(
    name="levil-edge",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

# Every command group lives in its own module with ``register(app)``; the modules import only
# typer/rich/stdlib at import time so that ``--help`` is fast and works without torch.
_COMMAND_MODULES = (
    "doctor",
    "models",
    "data",
    "caption",
    "vocab",
    "zeroshot",
    "cache",
    "adapt",
    "train",
    "evaluate",
    "export",
    "bench",
    "predict",
    "demo",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"levil-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """levil-edge."""


for _name in _COMMAND_MODULES:
    importlib.import_module(f"levil_edge.cli.{_name}").register(app)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code: 0 ok, 1 a domain error, 2 a usage error.

    Domain errors (``LevilError``) and ``OSError`` (the path, the reason, what to do) become one
    line on stderr; ``LEVIL_DEBUG=1`` re-raises them so the traceback shows."""
    debug = os.environ.get("LEVIL_DEBUG", "") not in ("", "0")
    try:
        rv = app(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="levil-edge")
        return int(rv) if isinstance(rv, int) else 0
    except _EXIT as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except _click_exc.ClickException as exc:
        exc.show()
        return exc.exit_code
    except UsageError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        return 2
    except LevilError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        return 1
    except OSError as exc:  # disk full, read-only, no permission, a file where a folder goes ...
        if debug:
            raise
        from levil_edge.utils.io import os_error_message

        typer.echo(f"error: {os_error_message(exc)}", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
