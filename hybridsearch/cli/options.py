"""The options that set an index's configuration, built from its declarations (`config.setting`):
one click option per declared flag, each defaulting to None (the index's own setting, else the
declared default), and `configured` to apply what a user gave."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from enum import Enum
from typing import Any, get_args, get_type_hints

import click

from ..config import IndexConfig, declared
from ..errors import InputError

__all__ = ["config_option", "config_options", "configured"]

Decorator = Callable[[Any], Any]


def config_options(*parts: str) -> Decorator:
    """Add the option of every declared flag of these parts of `IndexConfig` ("loader", "dense", …), in order."""
    options = [_option(IndexConfig.parts()[part], found) for part in parts for found, _ in _flagged(part)]

    def add(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return add


def config_option(part: str, name: str) -> Decorator:
    """The click option of field `name` of `IndexConfig`'s `part`, as its declaration says."""
    found = next((found for found, _ in _flagged(part) if found.name == name), None)
    if found is None:
        raise ValueError(f"{part}.{name} declares no CLI flag")
    return _option(IndexConfig.parts()[part], found)


def _option(part: type, found: Any) -> Decorator:
    """The click option a declared field of `part` (one with a flag) says it is."""
    setting = found.metadata["setting"]
    kind = _kind(part, found.name)
    extra: dict[str, Any] = {"envvar": setting.envvar} if setting.envvar else {}
    if kind is bool and "/" not in setting.flag:
        extra["is_flag"] = True
    elif isinstance(kind, type) and issubclass(kind, Enum):
        extra["type"] = click.Choice([member.value for member in kind])
    elif kind in (int, float):
        extra["type"] = kind
    shown = setting.help if "[default" in setting.help else f"{setting.help.rstrip('.')} [default: {_plain(found)}]."
    return click.option(setting.flag, default=None, help=shown, **extra)


def configured(base: IndexConfig | None, options: dict[str, Any]) -> IndexConfig | None:
    """`base` (or the defaults) with the options the user gave (`config_options`' parameters; any
    other key is an `InputError`); None when none was given."""
    params = {
        _param(setting.flag): (part, found.name, setting.read)
        for part in IndexConfig.parts()
        for found, setting in _flagged(part)
    }
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise InputError(f"Unknown index option(s) {', '.join(unknown)}; the options are {', '.join(sorted(params))}.")
    given = {key: value for key, value in options.items() if value is not None}
    if not given and base is not None:
        return None
    config = base or IndexConfig()
    changes: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        part, name, read = params[key]
        changes.setdefault(part, {})[name] = read(value) if read else value
    return replace(config, **{part: replace(getattr(config, part), **values) for part, values in changes.items()})


def _flagged(part: str) -> list[tuple[Any, Any]]:
    return [(found, setting) for found, setting in declared(IndexConfig.parts()[part]) if setting.flag]


def _plain(found: Any) -> str:
    """A field's default as the help shows it (an enum by its value, 30.0 as 30)."""
    default = found.default.value if isinstance(found.default, Enum) else found.default
    return f"{default:g}" if isinstance(default, float) else str(default)


def _param(flag: str | None) -> str:
    """The parameter name click gives a flag: "--chunk-size" → chunk_size, "--sentences/--no-sentences" → sentences."""
    return (flag or "").split("/")[0].lstrip("-").replace("-", "_")


def _kind(part: type, name: str) -> Any:
    """A field's type, without None (`int | None` → int)."""
    hint = get_type_hints(part)[name]
    return next((kind for kind in get_args(hint) if kind is not type(None)), hint)
