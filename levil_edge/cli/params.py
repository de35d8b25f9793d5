"""From parsed CLI parameters to the library's option objects.

- :func:`merge_data`: the dataset is ``--data`` everywhere; old spellings (hidden ``--videos``,
  ``--train``) and positional SPECs fold into it.
- :func:`load_options_file`: a YAML or JSON options file (``--config``), e.g. a run's config.json.
- :func:`command_values`: the command's parameters, with the file's values where the flag was not
  given on the command line (click's parameter source), as plain values (str, not Path or Enum).
- :func:`build_options`: a dataclass from those values, field by field, by name.
- :func:`field_defaults`: a dataclass's defaults, which the flags of its command show and pass.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from levil_edge.errors import UsageError

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click.core import ParameterSource  # type: ignore[import-not-found]
    from typer._click.exceptions import BadParameter  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    from click.core import ParameterSource
    from click.exceptions import BadParameter

# Parameters that steer the command itself, never read from an options file.
LOCAL_PARAMS = frozenset({"config", "json_out"})


def plain(value: Any) -> Any:
    """Path -> str, Enum -> its value, tuple -> list: what a dataclass field or JSON holds."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def on_command_line(ctx: Any, name: str) -> bool:
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def merge_data(data: str | None, **others: str | None) -> str | None:
    """The dataset, given once: ``--data`` or one of its old spellings / a positional SPEC
    (``others`` maps how it is spelled, e.g. ``{"--videos": value}``, to its value)."""
    given = {"--data": data, **others}
    given = {k: v for k, v in given.items() if v is not None}
    if len(given) > 1 and len(set(given.values())) > 1:
        raise UsageError(f"the dataset is given twice ({' and '.join(given)}): pass it once, as --data")
    return next(iter(given.values()), None)


def require_data(data: str | None) -> str:
    if data is None:
        raise UsageError("missing option '--data': the dataset to read")
    return data


def load_options_file(path: str | Path) -> dict[str, Any]:
    """A mapping of options from a YAML (.yaml/.yml) or JSON file; one-line UsageError otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--config {path}: not a text file ({exc.reason})") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        from levil_edge.utils.extras import require

        yaml = require("yaml", what="a YAML --config")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"--config {path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--config {path}: not valid JSON ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of option names to values, got {type(data).__name__}")
    return data


def command_values(
    ctx: Any,
    config: str | Path | None = None,
    *,
    data: str | None = None,
    data_given: bool = False,
    aliases: Mapping[str, str] | None = None,
    extras: Iterable[str] = (),
    ignored: Iterable[str] = (),
    hidden: Iterable[str] = (),
) -> dict[str, Any]:
    """The command's parameter values (``ctx.params``) as plain values, with the options file's
    values for every flag not given on the command line.

    ``data``/``data_given``: the dataset after :func:`merge_data` (the old spellings count as
    given). Keys of the file: the flags without ``--`` (dashes or underscores), ``aliases`` (other
    key -> parameter name, e.g. the options dataclass's field names), ``extras`` (keys with no flag,
    passed through: dataclass fields the CLI does not expose), ``ignored`` (keys a run's config.json
    records but that are not options). Any other key is a one-line UsageError naming it.
    ``hidden``: parameters (the old spellings) left out of the result."""
    skip = LOCAL_PARAMS | set(hidden)
    values = {k: plain(v) for k, v in ctx.params.items() if k not in skip}
    if "data" in values:
        values["data"] = data
    if config is None:
        return values
    aliases = dict(aliases or {})
    extras, ignored = set(extras), set(ignored)
    params = {p.name: p for p in ctx.command.params if p.name not in skip}
    for key, value in load_options_file(config).items():
        name = str(key).replace("-", "_")
        name = aliases.get(name, name)
        if name in ignored:
            continue
        if name not in params and name not in extras:
            known = sorted(set(params) | extras | set(aliases))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
            raise UsageError(f"--config {config}: unknown option '{key}'{hint}")
        if name in params:
            if (data_given if name == "data" else on_command_line(ctx, name)):
                continue  # a flag on the command line wins over the file
            if value is not None:
                try:
                    value = params[name].process_value(ctx, value)
                except BadParameter as exc:
                    raise UsageError(f"--config {config}: '{key}': {' '.join(exc.format_message().split())}") from exc
        values[name] = plain(value)
    return values


def field_defaults(cls: type) -> dict[str, Any]:
    """A dataclass's field defaults by name, plain (what a flag shows and passes): the CLI takes its
    option defaults from the library's options dataclasses, their only home."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def build_options(cls: type, values: Mapping[str, Any], *, renames: Mapping[str, str] | None = None) -> Any:
    """``cls(**kwargs)`` with each value put in the field of the same name (``renames``: parameter
    name -> field name). ``None`` means "the dataclass's default"; a required field left without a
    value is a one-line UsageError naming its flag. A value with no field is a programming error."""
    renames = dict(renames or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        field = renames.get(name, name)
        if field not in fields:
            raise TypeError(f"{cls.__name__} has no field {field!r} for the parameter {name!r}")
        if value is None:
            continue
        default = fields[field].default
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[field] = value
    flag_of = {v: k for k, v in renames.items()}
    for field in fields.values():
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if required and field.name not in kwargs:
            raise UsageError(f"missing option '--{flag_of.get(field.name, field.name).replace('_', '-')}'")
    return cls(**kwargs)
