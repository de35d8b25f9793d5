"""NVIDIA Model Optimizer (``nvidia-modelopt``) as an optional export backend: whether it is here,
importing it with one clear line when it is not, and keeping its logging off stdout.

ModelOpt's ONNX loggers write to ``sys.stdout`` (a StreamHandler made at import and again in every
``quantize`` call) and it logs an NVML error on a machine without a GPU; ``export --json`` must
print nothing but JSON, so every call into it runs under :func:`quiet`."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
import sys
from typing import Iterator

from levil_edge.errors import ExportError, MissingExtraError

EXTRA = "modelopt"
INSTALL_HINT = f"pip install 'levil-edge[{EXTRA}]'"


def available() -> bool:
    """Whether ModelOpt's ONNX tools are installed (found, not imported: importing costs seconds)."""
    try:
        return importlib.util.find_spec("modelopt.onnx") is not None
    except (ImportError, ValueError):  # a parent package that is not a package, a broken install
        return False


def import_error() -> str | None:
    """Why ``modelopt.onnx`` cannot be used here (None when it can). Imports it."""
    if not available():
        return f"nvidia-modelopt is not installed ({INSTALL_HINT})"
    try:
        with quiet():
            importlib.import_module("modelopt.onnx.autocast")
            importlib.import_module("modelopt.onnx.quantization")
    except Exception as exc:  # noqa: BLE001 - a missing helper package raises ImportError, a CUDA-only one OSError
        return f"nvidia-modelopt does not import ({type(exc).__name__}: {exc}); reinstall with {INSTALL_HINT}"
    return None


def require(what: str) -> None:
    """Raise MissingExtraError (one line naming the extra) unless ModelOpt imports."""
    reason = import_error()
    if reason:
        raise MissingExtraError(f"{what} needs NVIDIA Model Optimizer: {reason}")


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Send ModelOpt's logging and prints to a buffer (yielded) for the duration."""
    buf = io.StringIO()
    moved = [(h, h.stream) for h in _modelopt_stream_handlers()]
    for handler, _ in moved:
        handler.setStream(buf)
    try:
        with contextlib.redirect_stdout(buf):  # handlers ModelOpt makes during the call bind to buf
            yield buf
    finally:
        for handler, stream in moved:
            handler.setStream(stream)
        for handler in _modelopt_stream_handlers():
            if handler.stream is buf:  # made during the call: later messages go to stderr, never stdout
                handler.setStream(sys.stderr)


def _modelopt_stream_handlers() -> list[logging.StreamHandler]:
    names = [n for n in list(logging.root.manager.loggerDict) if n == "modelopt" or n.startswith("modelopt.")]
    out = []
    for name in names:
        logger = logging.getLogger(name)
        out += [h for h in logger.handlers if type(h) is logging.StreamHandler]
    return out


def failure(what: str, log: str, exc: BaseException | None = None) -> ExportError:
    """One line for a ModelOpt call that failed: the exception (if any) and the last error ModelOpt logged."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and "NVML" not in ln]  # no GPU here: not the cause
    errors = [ln.split(" - ERROR - ", 1)[1] for ln in lines if " - ERROR - " in ln]
    logged = errors[-1] if errors else (lines[-1] if lines and exc is None else "")
    parts = [f"{type(exc).__name__}: {exc}" if exc is not None else "", f"ModelOpt logged: {logged[:300]}" if logged else ""]
    return ExportError(f"{what} failed: " + ("; ".join(p for p in parts if p) or "no output"))
