"""TOML configuration → the frozen dataclasses that live beside each component.

The file describes the pipeline; CLI flags describe the run. Unknown keys are errors,
named with their full dotted path, at every level (a file's top-level tables are keys
too). A dataclass may name shorthand keys in ``CONFIG_ALIASES`` (``{"db": "store.path"}``):
the short key is moved to its dotted place before the keys are checked, so one setting
has one shape in the model however the file spells it; and keys it no longer takes in
``CONFIG_REMOVED`` (key → what replaced it), an error that says so. Secrets never sit in config
values: a config names a file or an environment variable (``*_file`` / ``*_env``) and
the component reads it when it opens, so printing a config never prints a secret.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``; unknown keys raise ConfigError.

    Nested dataclass fields are built recursively; tuples accept TOML arrays.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    data = _expand_aliases(data, getattr(cls, "CONFIG_ALIASES", {}), hints, where)
    removed: Mapping[str, str] = getattr(cls, "CONFIG_REMOVED", {})
    for key in sorted(set(data) & set(removed)):
        raise ConfigError(f"{where}{key} was removed: {removed[key]}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        keys = ", ".join(f"{where}{k}" for k in unknown)
        allowed = ", ".join(sorted(fields))
        raise ConfigError(f"unknown key(s) {keys}; allowed here: {allowed}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}{name}")
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing required key(s): {', '.join(where + m for m in missing)}")
    return cls(**kwargs)


def _expand_aliases(
    data: Mapping[str, Any], aliases: Mapping[str, str], hints: Mapping[str, Any], where: str
) -> Mapping[str, Any]:
    """``data`` with each shorthand key moved to its dotted place (``db`` → ``store.path``).

    The value is checked first under the name the file used, so an error names that key.
    """
    out = dict(data)
    for short, dotted in aliases.items():
        if short not in out:
            continue
        table, key = dotted.split(".")
        _coerce(typing.get_type_hints(hints[table])[key], out[short], f"{where}{short}")
        inner = out.get(table, {})
        if not isinstance(inner, Mapping):
            continue  # the table's own check says it must be a table
        if key in inner:
            raise ConfigError(
                f"{where}{short} and {where}{dotted} both set; {short} is short for {dotted}"
            )
        out[table] = {**inner, key: out.pop(short)}
    return out


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(non_none[0], value, where)
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table")
        return from_mapping(hint, value, where + ".")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be an array")
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v, where) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a path (a string), got {_toml_type(value)}")
        return Path(value)
    # bool is an int to Python, not to a config reader: `port = true` is a mistake
    wrong_bool = isinstance(value, bool) and hint in (int, float)
    if hint in (int, float, str, bool) and (wrong_bool or not isinstance(value, hint)):
        raise ConfigError(f"{where} must be {_NAMES[hint]}, got {_toml_type(value)}")
    return value


_NAMES: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
}


def _toml_type(value: Any) -> str:
    """The TOML name of a parsed value's type, with the value when short."""
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} ({shown})" if len(shown) <= 40 else kind


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, with the file name in any error."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:  # TOML must be UTF-8
        raise ConfigError(f"{path}: {e}") from e
