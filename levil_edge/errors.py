"""Domain exceptions. The CLI maps every one of them, in one place (``levil_edge.cli.app``),
to a single line on stderr and exit code 1. The message says what went wrong *and* what to do."""

from __future__ import annotations


class LevilError(Exception):
    """Base class. ``str(err)`` is the one-line message a user sees."""


class UsageError(LevilError):
    """Options that contradict each other or a file of the wrong kind (exit code 2)."""


class MissingExtraError(LevilError):
    """A command needs an optional dependency that is not installed."""


class DecodeError(LevilError):
    """A video could not be opened or decoded."""


class DatasetError(LevilError):
    """A dataset spec, label file or split file is malformed or inconsistent."""


class ConfigError(LevilError):
    """A model/run config is missing or does not match what is being loaded."""


class CheckpointError(LevilError):
    """A checkpoint is missing, unreadable, or does not fit the model."""


class TeacherError(LevilError):
    """A teacher/captioner model cannot be loaded or used."""


class CacheError(LevilError):
    """The teacher target cache is inconsistent with the current teacher/vocabulary."""


class VocabError(LevilError):
    """The pseudo-label vocabulary could not be built."""


class TrainingError(LevilError):
    """Training cannot continue (NaN loss, empty dataset...)."""


class ExportError(LevilError):
    """ONNX export or the ONNX-vs-PyTorch check failed."""


class CalibrationError(LevilError):
    """INT8 calibration could not be done."""


class EngineError(LevilError):
    """A TensorRT engine cannot be built or does not match this device."""


class RuntimeModelError(LevilError):
    """An edge model file or its metadata cannot be used."""


class OutputError(LevilError):
    """An output cannot be written: disk full, read-only, no permission, a file where a folder goes."""
