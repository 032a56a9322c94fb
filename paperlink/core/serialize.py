"""Records as canonical JSON (sorted keys, fixed separators, text that any UTF-8 file holds) and back:
``from_dict`` builds a dataclass from JSON data, ignoring keys a newer minor version added."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from typing import Any, TypeVar

from paperlink.core.patterns import LazyPattern


@functools.cache
def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def plain(value: Any) -> Any:
    """``dataclasses.asdict`` for records: the same plain copy, without ``deepcopy`` of every leaf (a
    record with a thousand outputs is converted in a few milliseconds, not a hundred)."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: plain(getattr(value, name)) for name in field_names(type(value))}
    return value


def canonical_json(data: Any, *, indent: int | None = None) -> str:
    """Sorted keys, fixed separators, UTF-8 text: the same data always gives the same string."""
    if indent is None:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False)
    if not text.isascii() and _SURROGATE.re.search(text):
        # Text from the OS (an argument, a symlink's target, an error naming a file) may carry bytes that
        # are not UTF-8 as lone surrogates, which no UTF-8 file or SQLite column can hold: each becomes
        # the text \xNN, as in FileDigest.path (file names keep their bytes in path_base64). Done before
        # sorting, so a record read back gives the same string.
        return canonical_json(_escape_text(data), indent=indent)
    return text


_SURROGATE = LazyPattern("[\ud800-\udfff]")


def _escape_text(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.re.sub(_escape_surrogate, value)
    if isinstance(value, dict):
        return {_escape_text(k): _escape_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_text(v) for v in value]
    return value


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # A byte that was not UTF-8 (Python's surrogateescape) as \xNN, any other lone surrogate as \uNNNN.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


T = TypeVar("T")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(
        cls
    )  # slow, and the same for every record: computed once per class


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from plain JSON data, ignoring keys a newer minor version added."""
    hints = _type_hints(cls)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value)  # type: ignore[arg-type]
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_convert(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _convert(item, v) for k, v in value.items()}
    return value
