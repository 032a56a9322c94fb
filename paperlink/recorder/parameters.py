"""The parameters a run used: parameter files on its command line and ``key=value`` arguments, merged by
Sumatra's rule.

A parameter file's entries are flattened to dotted keys (``model.alpha``); a later file overrides an earlier
one, and an argument overrides every file, whether it names one entry (``model.alpha=2``) or a whole table
(``model={"alpha": 2}``, which replaces every ``model.*`` entry). The record keeps the effective values in
``parameters`` and, per key, every place it was set in ``parameter_sources``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from paperlink.core.records import ParameterSource

Merged = tuple[dict[str, Any], dict[str, list[ParameterSource]]]


def merge_parameters(
    files: Iterable[tuple[str, Mapping[str, Any]]], arguments: Mapping[str, Any]
) -> Merged:
    """Effective values and their sources from ``files`` (path and flattened entries, in command-line
    order) and ``arguments`` (``key=value`` arguments, typed)."""
    effective: dict[str, Any] = {}
    sources: dict[str, list[ParameterSource]] = {}
    paths: list[str] = []
    for path, entries in files:
        paths.append(path)
        for key, value in entries.items():
            effective[key] = value
            sources.setdefault(key, []).append(ParameterSource("file", value, path))
    for key, value in arguments.items():
        prefix = key + "."
        covered = [k for k in effective if k.startswith(prefix)]
        if covered:
            # The argument replaces the whole table: what the files said is kept as one nested value
            # per file, so the record still shows what was overridden.
            tables: dict[str, dict[str, Any]] = {path: {} for path in paths}
            for name in covered:
                for source in sources.pop(name):
                    _nest(
                        tables.setdefault(source.path or "", {}), name[len(prefix) :], source.value
                    )
                del effective[name]
            replaced = sources.setdefault(key, [])
            replaced.extend(ParameterSource("file", t, p) for p, t in tables.items() if t)
        effective[key] = value
        sources.setdefault(key, []).append(ParameterSource("argument", value))
    return effective, sources


def _nest(into: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        child = into.setdefault(part, {})
        if not isinstance(child, dict):
            into[dotted] = value  # a scalar and a table under one name: keep the flat key
            return
        into = child
    into[last] = value
