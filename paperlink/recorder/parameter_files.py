"""Parameter files named on a command line (JSON, TOML, YAML, INI …), read into flat values, and the suffixes
that make an argument a script or a parameter file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from paperlink.core.config import parse_toml

PARAMETER_SUFFIXES = (
    ".json",
    ".toml",
    ".yaml",
    ".yml",
    ".ini",
    ".cfg",
    ".conf",
    ".param",
    ".params",
)
SCRIPT_SUFFIXES = (".py", ".r", ".jl", ".sh", ".pl", ".rb", ".js", ".m", ".ipynb", ".do", ".sas")
MAX_PARAMETER_FILE_BYTES = 1 << 20


def expand_arguments(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_symlink() or not p.is_dir())
    return [path]


def typed_value(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_parameter_file(path: Path, content: bytes) -> dict[str, Any]:
    """Flattened ``dotted.key: value`` pairs of a JSON or TOML parameter file (other formats: none)."""
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(content)
        elif path.suffix.lower() == ".toml":
            data = parse_toml(content.decode("utf-8"))
        else:
            return {}
    except (ValueError, UnicodeDecodeError):
        return {}
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix or path.name] = value

    walk("", data)
    return flat
