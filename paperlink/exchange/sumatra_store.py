"""Sumatra's record stores, read without Sumatra: the Django SQLite store ``smt init`` makes (``.smt/records``)
and the JSON that ``smt export`` writes (``.smt/records_export.json``, also ``smt list -f json``).

Both come out in the form of Sumatra's own JSON serialisation (``record2dict``: one plain dict per record,
nested dicts for the executable, repository, parameters, launch mode and data stores, lists for the data
keys, dependencies and platforms), plus ``project``, the Sumatra project each record belongs to. The
SQLite file is opened read-only, and a store whose schema is newer than the one Sumatra 0.8 writes is
refused rather than half understood. Sumatra's timestamps are read in both its forms, and a record to keep
is first cleared of credentials in its URLs.
"""

from __future__ import annotations

import ast
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from paperlink.core.model import model
from paperlink.core.redaction import redact_url
from paperlink.errors import ForeignStoreError, UsageError

SQLITE_MAGIC = b"SQLite format 3\x00"
# The django_store migrations of Sumatra 0.8; stores of 0.7 and earlier have no migrations table.
KNOWN_MIGRATIONS = frozenset({"0001_initial", "0002_tag_taggeditem"})
RECORD_COLUMNS = (
    "db_id",
    "label",
    "reason",
    "duration",
    "main_file",
    "version",
    "outcome",
    "timestamp",
    "tags",
    "diff",
    "user",
    "script_arguments",
    "stdout_stderr",
    "repeats",
    "project_id",
)
_TABLES = (
    "django_store_record",
    "django_store_datakey",
    "django_store_parameterset",
    "django_store_datastore",
    "django_store_launchmode",
    "django_store_executable",
    "django_store_repository",
    "django_store_platforminformation",
    "django_store_dependency",
    "django_store_record_dependencies",
    "django_store_record_platforms",
    "django_store_record_input_data",
)
# What every record of Sumatra's JSON has, from its first JSON format (0.3) on.
JSON_KEYS = ("label", "timestamp", "executable", "repository", "main_file", "version", "parameters")
_EXPORT_HINT = "in the Sumatra project, 'smt export' writes .smt/records_export.json: import that"


@model
class SumatraSource:
    """What was read: where from, its kind (``sqlite`` or ``json``) and the records as dicts."""

    path: Path
    kind: str
    records: list[dict[str, Any]]


def locate(path: Path) -> Path:
    """The store file ``path`` names: a file itself, or ``.smt/records`` in a Sumatra project folder (or
    ``records`` in a ``.smt`` folder)."""
    if not path.exists():
        raise UsageError(
            f"{path} does not exist",
            hint="give a Sumatra project folder, its .smt/records or an 'smt export' JSON file",
        )
    if path.is_dir():
        for candidate in (path / ".smt" / "records", path / "records"):
            if candidate.is_file():
                return candidate
        raise ForeignStoreError(
            f"{path} holds no Sumatra record store (no .smt/records)",
            hint="give the Sumatra project folder, its .smt/records or an 'smt export' JSON file",
        )
    return path


def read_sumatra(path: Path, *, project: str | None = None) -> SumatraSource:
    """Every record of the Sumatra store or export at ``path`` (of project ``project`` only, if given).

    Raises :class:`ForeignStoreError` for a file that is not a Sumatra store or export, or one of a newer
    schema, and :class:`UsageError` when a JSON export's project cannot be known.
    """
    path = locate(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise ForeignStoreError(f"cannot read {path}: {exc.strerror}") from exc
    if head == SQLITE_MAGIC:
        records = _read_sqlite(path)
        kind = "sqlite"
    elif head.lstrip()[:1] in (b"[", b"{"):
        records = _read_json(path, project)
        kind = "json"
    else:
        raise ForeignStoreError(
            f"{path} is neither Sumatra's SQLite record store nor its JSON export",
            hint=f"a shelve or remote store cannot be read here; {_EXPORT_HINT}",
        )
    if project is not None:
        records = [r for r in records if r["project"] == project]
    return SumatraSource(path, kind, records)


# -- the Django SQLite store -------------------------------------------------------------------------------
def _read_sqlite(path: Path) -> list[dict[str, Any]]:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ForeignStoreError(f"cannot open {path} as SQLite: {exc}") from exc
    try:
        _check_schema(db, path)
        return [_sqlite_record(db, row) for row in _rows(db, _RECORDS_SQL)]
    except sqlite3.Error as exc:
        raise ForeignStoreError(f"cannot read the Sumatra record store {path}: {exc}") from exc
    finally:
        db.close()


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in _TABLES if t not in tables]
    if missing:
        raise ForeignStoreError(
            f"{path} is an SQLite database but not a Sumatra record store (no table {missing[0]})",
            hint="give the .smt/records file of a Sumatra project",
        )
    if "django_migrations" in tables:
        applied = {
            row[0]
            for row in db.execute("SELECT name FROM django_migrations WHERE app='django_store'")
        }
        newer = sorted(applied - KNOWN_MIGRATIONS)
        if newer:
            raise ForeignStoreError(
                f"{path} was made by a newer Sumatra (schema migration {newer[0]}); this paperlink "
                "reads the stores of Sumatra 0.7 and 0.8",
                hint=f"update paperlink, or {_EXPORT_HINT}",
            )
    columns = {row[1] for row in db.execute("PRAGMA table_info(django_store_record)")}
    absent = [c for c in RECORD_COLUMNS if c not in columns]
    if absent:
        raise ForeignStoreError(
            f"{path}: Sumatra's record table has no column '{absent[0]}'; a schema this paperlink "
            "does not know",
            hint=_EXPORT_HINT,
        )


_RECORDS_SQL = """
SELECT r.db_id, r.label, r.reason, r.duration, r.main_file, r.version, r.outcome, r.timestamp, r.tags,
       r.diff, r.user, r.script_arguments, r.stdout_stderr, r.repeats, r.project_id,
       e.path AS e_path, e.name AS e_name, e.version AS e_version, e.options AS e_options,
       repo.type AS repo_type, repo.url AS repo_url, repo.upstream AS repo_upstream,
       p.type AS p_type, p.content AS p_content, lm.type AS lm_type, lm.parameters AS lm_parameters,
       ds.type AS ds_type, ds.parameters AS ds_parameters,
       ids.type AS ids_type, ids.parameters AS ids_parameters
FROM django_store_record r
LEFT JOIN django_store_executable e ON e.id = r.executable_id
LEFT JOIN django_store_repository repo ON repo.id = r.repository_id
LEFT JOIN django_store_parameterset p ON p.id = r.parameters_id
LEFT JOIN django_store_launchmode lm ON lm.id = r.launch_mode_id
LEFT JOIN django_store_datastore ds ON ds.id = r.datastore_id
LEFT JOIN django_store_datastore ids ON ids.id = r.input_datastore_id
ORDER BY r.timestamp, r.db_id
"""


def _rows(db: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _sqlite_record(db: sqlite3.Connection, row: dict[str, Any]) -> dict[str, Any]:
    db_id = row["db_id"]
    outputs = _rows(
        db,
        "SELECT k.path, k.digest, k.creation, k.metadata FROM django_store_datakey k "
        "WHERE k.output_from_record_id=? ORDER BY k.path",
        (db_id,),
    )
    inputs = _rows(
        db,
        "SELECT k.path, k.digest, k.creation, k.metadata FROM django_store_datakey k "
        "JOIN django_store_record_input_data i "
        "ON i.datakey_id = k.id WHERE i.record_id=? ORDER BY k.path",
        (db_id,),
    )
    dependencies = _rows(
        db,
        "SELECT d.name, d.path, d.version, d.diff, d.source, d.module FROM django_store_dependency d "
        "JOIN django_store_record_dependencies rd ON rd.dependency_id = d.id "
        "WHERE rd.record_id=? ORDER BY d.name, d.path",
        (db_id,),
    )
    platforms = _rows(
        db,
        "SELECT p.system_name, p.ip_addr, p.architecture_bits, p.machine, p.architecture_linkage, "
        "p.version, p.release, p.network_name, p.processor FROM django_store_platforminformation p "
        "JOIN django_store_record_platforms rp ON rp.platforminformation_id = p.id "
        "WHERE rp.record_id=? ORDER BY p.id",
        (db_id,),
    )
    return {
        "project": row["project_id"] or "",
        "label": row["label"],
        "timestamp": row["timestamp"],
        "reason": row["reason"],
        "duration": row["duration"],
        "executable": {
            "path": row["e_path"],
            "name": row["e_name"],
            "version": row["e_version"],
            "options": row["e_options"] or "",
        },
        "repository": {
            "type": row["repo_type"],
            "url": row["repo_url"],
            "upstream": row["repo_upstream"],
        },
        "main_file": row["main_file"],
        "version": row["version"],
        "parameters": {"type": row["p_type"], "content": row["p_content"]},
        "input_data": [_data_key(k) for k in inputs],
        "script_arguments": row["script_arguments"],
        # Django keeps these as the repr() of a dict of plain values.
        "launch_mode": {"type": row["lm_type"], "parameters": _literal(row["lm_parameters"])},
        "datastore": {"type": row["ds_type"], "parameters": _literal(row["ds_parameters"])},
        "input_datastore": {"type": row["ids_type"], "parameters": _literal(row["ids_parameters"])},
        "outcome": row["outcome"],
        "stdout_stderr": row["stdout_stderr"],
        "output_data": [_data_key(k) for k in outputs],
        "tags": split_tags(row["tags"] or ""),
        "diff": row["diff"],
        "user": row["user"],
        "dependencies": dependencies,
        "platforms": platforms,
        "repeats": row["repeats"],
    }


def _data_key(row: dict[str, Any]) -> dict[str, Any]:
    metadata: Any = {}
    if row["metadata"]:
        try:
            metadata = json.loads(row["metadata"])
        except ValueError:  # Sumatra before 0.7 kept the repr() of a dict
            metadata = _literal(row["metadata"])
    return {
        "path": row["path"],
        "digest": row["digest"],
        "creation": row["creation"],
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def _literal(text: str | None) -> dict[str, Any]:
    """A Python literal dict as Django's Sumatra models store it (never evaluated as code)."""
    if not text:
        return {}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


def split_tags(text: str) -> list[str]:
    """django-tagging's tag string: comma-separated when it holds a comma, else space-separated; a tag
    with spaces is quoted."""
    parts = text.split(",") if "," in text else text.split()
    return sorted({part.strip().strip('"').strip() for part in parts} - {""})


# -- the JSON export --------------------------------------------------------------------------------------
def _read_json(path: Path, project: str | None) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ForeignStoreError(f"{path} is not readable JSON: {exc}") from exc
    records = data if isinstance(data, list) else [data]
    for number, record in enumerate(records, 1):
        missing = (
            [k for k in JSON_KEYS if k not in record] if isinstance(record, dict) else ["label"]
        )
        if missing or not isinstance(record.get("executable"), dict):
            raise ForeignStoreError(
                f"{path} is JSON but not Sumatra's record export: record {number} has no "
                f"'{(missing or ['executable'])[0]}'",
                hint=_EXPORT_HINT,
            )
    name = project or _export_project(path)
    if name is None:
        raise UsageError(
            f"{path} does not say which Sumatra project its records belong to",
            hint="name it with --sumatra-project NAME (as 'smt info' shows), or keep the "
            "project_export.json that 'smt export' writes beside it",
        )
    return [{**record, "project": record.get("project") or name} for record in records]


def _export_project(path: Path) -> str | None:
    """The project name from ``project_export.json`` (or ``project``) beside an export."""
    for name in ("project_export.json", "project"):
        candidate = path.with_name(name)
        try:
            info = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("name"), str) and info["name"]:
            return str(info["name"])
    return None


# -- what Sumatra writes ------------------------------------------------------------------------------
def parse_timestamp(text: str) -> datetime:
    """Sumatra's timestamps: ``2026-12-01 21:00:32.810800`` (its SQLite store, UTC) or
    ``2026-12-01 21:00:32+0000`` (its JSON), with a ``T`` or a space."""
    text = text.strip().replace("T", " ")
    for pattern in ("%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z"):
        for candidate in (text, text + "+0000"):
            try:
                return datetime.strptime(candidate, pattern).astimezone(timezone.utc)
            except ValueError:
                continue
    raise ValueError(f"timestamp {text!r} is not in a form Sumatra writes")


def scrubbed(data: dict[str, Any]) -> dict[str, Any]:
    """The Sumatra record to keep as the annotation, without credentials in its repository and
    dependency URLs."""
    original = json.loads(json.dumps(data, default=str))
    repository = original.get("repository")
    if isinstance(repository, dict):
        for key in ("url", "upstream"):
            if isinstance(repository.get(key), str):
                repository[key] = redact_url(repository[key])
    for dependency in original.get("dependencies") or []:
        if isinstance(dependency, dict) and isinstance(dependency.get("source"), str):
            dependency["source"] = redact_url(dependency["source"])
    return dict(original)
