"""Print a JSON Schema for paperlink's record dataclasses: a starting point when the record format changes.

    python scripts/record_schema.py > /tmp/new.json   # then review it against paperlink/core/schema/record-v1.json

The committed schema is the contract: a new field is added there by hand (and a new version when a field
changes meaning); tests/test_records.py checks that every exported record validates against it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paperlink.core import records

DEFS: dict[str, Any] = {}


def schema_for(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return {"anyOf": [schema_for(inner), {"type": "null"}]}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__  # type: ignore[union-attr]
        if name not in DEFS:
            DEFS[name] = {}
            DEFS[name] = object_schema(hint)  # type: ignore[arg-type]
        return {"$ref": f"#/$defs/{name}"}
    if origin is list:
        return {"type": "array", "items": schema_for(typing.get_args(hint)[0])}
    if origin is dict:
        value = typing.get_args(hint)[1]
        return {"type": "object", "additionalProperties": {} if value is Any else schema_for(value)}
    if hint is Any:
        return {}
    return {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}}[hint]  # fmt: skip


def object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: schema_for(hints[f.name]) for f in fields},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def main() -> None:
    top = object_schema(records.Record)
    top["properties"]["$schema"] = {"const": records.RECORD_SCHEMA_ID}
    top["properties"]["schema_version"] = {"const": records.RECORD_SCHEMA_VERSION}
    top["properties"]["label"]["pattern"] = r"^[^\s:?]{1,200}$"
    top["required"] = sorted({*top.get("required", []), "schema_version", "start_time", "outcome", "code",
                              "outputs", "inputs"})  # fmt: skip
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": records.RECORD_SCHEMA_ID,
        "title": f"paperlink run record, version {records.RECORD_SCHEMA_VERSION}",
        "description": "One run recorded by paperlink: what ran, on what, what came out, where, when, why "
        "and how it ended. Digests are lowercase hex; times are UTC ISO 8601 with a Z.",
        **top,
        "$defs": DEFS,
    }
    print(json.dumps(schema, indent=2))


if __name__ == "__main__":
    main()
