"""Sumatra's parameter sets as paperlink's flat parameters: the types Sumatra stores (``JSONParameterSet``,
``YAMLParameterSet``, ``SimpleParameterSet``, ``ConfigParserParameterSet``, ``NTParameterSet`` and a plain
``dict``) with the text it stores for each, and the name of the file Sumatra wrote for a run.

Nothing is evaluated as code: Python-literal forms go through :func:`ast.literal_eval`.
"""

from __future__ import annotations

import ast
import configparser
import json
from typing import Any

import yaml

# The extension Sumatra's ParameterSet.save(add_extension=True) gives the file a run reads.
PARAMETER_SUFFIX = {
    "JSONParameterSet": ".json",
    "YAMLParameterSet": ".yaml",
    "SimpleParameterSet": ".param",
    "NTParameterSet": ".params",
    "ConfigParserParameterSet": ".cfg",
}


def parameter_file_name(label: str, kind: str) -> str:
    """The parameter file Sumatra wrote for run ``label`` (in its working directory)."""
    return label.replace("/", "_") + PARAMETER_SUFFIX.get(kind, ".param")


def flat_parameters(kind: str, text: str) -> dict[str, Any] | None:
    """The parameter set ``text`` of Sumatra type ``kind``, flattened to dotted keys (``model.alpha``);
    None when it cannot be read."""
    values = _parse_parameters(kind, text)
    if values is None:
        return None
    flat: dict[str, Any] = {}
    _flatten("", values, flat)
    return flat


def _parse_parameters(kind: str, text: str) -> dict[str, Any] | None:
    try:
        value: Any
        if kind == "JSONParameterSet":
            value = json.loads(text)
        elif kind == "YAMLParameterSet":
            value = yaml.safe_load(text)
        elif kind == "ConfigParserParameterSet":
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_string(text)
            value = {s: dict(parser.items(s)) for s in parser.sections()}
        elif kind == "SimpleParameterSet":
            value = {}
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if "=" in line:
                    name, _, raw = line.partition("=")
                    value[name.strip()] = _literal_or_text(raw.strip())
        else:  # NTParameterSet and "dict": a Python literal, never evaluated as code
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, yaml.YAMLError, configparser.Error):
        return None
    return value if isinstance(value, dict) else None


def _literal_or_text(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, into)
    elif prefix:
        into[prefix] = value
