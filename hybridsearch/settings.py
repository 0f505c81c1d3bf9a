"""How a configuration field is declared: `setting(...)` attaches a `Setting` (its CLI flag, whether it
changes what is stored, what indexes written before it existed hold…), `declared` reads them back,
and `Choice` is a closed option set that takes its plain string value."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, dataclass, field, fields
from enum import Enum
from typing import Any

from .errors import InputError

__all__ = ["FROM_THE_START", "Choice", "Setting", "before_values", "declared", "setting"]


class _FromTheStart:
    """The `before` of a setting every index has recorded."""


FROM_THE_START: Any = _FromTheStart()


@dataclass(frozen=True)
class Setting:
    """What a configuration field is besides its value. `flag`: its CLI option ("--chunk-size",
    "--sentences/--no-sentences"; None: none); `envvar`: the variable that option also reads;
    `rebuild`: changing it changes what is stored (for the model: the vectors); `encoder`: a loaded
    encoder depends on it; `before`: its value in indexes written before it existed; `read`: how the
    option's text becomes the value (a file named on the command line read into it)."""

    flag: str | None = None
    help: str = ""
    envvar: str | None = None
    rebuild: bool = True
    encoder: bool = False
    before: Any = FROM_THE_START
    read: Callable[[str], Any] | None = None


def setting(default: Any = MISSING, *, factory: Any = MISSING, **declared: Any) -> Any:
    """A dataclass field with its `Setting`."""
    return field(default=default, default_factory=factory, metadata={"setting": Setting(**declared)})


def declared(config: Any) -> Iterator[tuple[Field[Any], Setting]]:
    """Each field of a configuration class (or instance) with its `Setting` (a `KeyError` for a field without one)."""
    for found in fields(config):
        yield found, found.metadata["setting"]


class Choice(str, Enum):
    """A closed option set that accepts its plain string value, converted once."""

    @classmethod
    def parse(cls, value: str | Choice) -> Any:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise InputError(f"Unknown {cls.__name__} {value!r}; choose one of: {allowed}.") from None

    def __str__(self) -> str:
        return str(self.value)


def before_values(part: type) -> dict[str, Any]:
    """The values indexes written before a setting existed were built with (a manifest without it)."""
    return {
        found.name: declared_as.before
        for found, declared_as in declared(part)
        if declared_as.before is not FROM_THE_START
    }
