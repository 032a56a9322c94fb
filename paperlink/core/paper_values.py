"""Named values a run produces (a fitted slope, a p-value) for ``\\plvalue{LABEL:NAME}`` in the paper.

A run's values live in JSON outputs named ``values.json`` or ``*.values.json`` (a flat object; nested
objects give dotted names). ``paperlink value NAME VALUE`` called inside ``paperlink run`` merges one value
into ``<outputs>/<LABEL>.values.json`` of the running record, found through the process tree, and keeps every
version of that file in the store, so a later run that overwrites it does not lose the values. Inside a
rerun the file is the original's (named after the original's label, not the rerun's), so the re-execution
writes the output the record names and the two can be compared.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from paperlink.core.config import Project, atomic_write_bytes
from paperlink.core.hashing import digest_bytes
from paperlink.core.records import Record
from paperlink.core.store import RecordStore, current_process_identity
from paperlink.errors import LatexError, RecordNotFound, UsageError

_NAME = re.compile(r"^[^\s]{1,200}$")


def is_values_file(path: str) -> bool:
    name = Path(path).name
    return name == "values.json" or name.endswith(".values.json")


def values_path(project: Project, label: str) -> Path:
    """Where ``paperlink value`` writes the values of run ``label``."""
    folder = "results" if "results" in project.output_dirs else project.output_dirs[0]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", label)
    return project.root / folder / f"{safe}.values.json"


def _parent_pids() -> list[tuple[int, int | None]]:
    """(pid, start time) of this process's ancestors, nearest first (Linux /proc)."""
    found = []
    pid = current_process_identity()[1]
    for _ in range(64):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(fields[1])
        if pid <= 1:
            break
        try:
            start = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            start = None
        found.append((pid, start))
    return found


def running_label(store: RecordStore) -> str:
    """The label of the ``paperlink run`` this process runs under.

    Raises :class:`UsageError` when there is none.
    """
    host, _, boot, _ = current_process_identity()
    running = {
        (row.pid, row.proc_start): row.label
        for row in store.running_processes()
        if row.host == host and row.boot_id == boot
    }
    for ancestor in _parent_pids():
        if ancestor in running:
            return running[ancestor]
    raise UsageError(
        "'paperlink value' must run inside 'paperlink run' (no running record is a parent of it)",
        hint="call it from the script that 'paperlink run -- …' started, or write a values.json output",
    )


def first_run(store: RecordStore, label: str) -> str:
    """The label of the run that ``label`` re-executes (following ``rerun_of`` links), or ``label``."""
    seen = {label}
    while True:
        try:
            earlier = store.get(label).links.get("rerun_of")
        except RecordNotFound:
            return label
        if not earlier or earlier in seen:
            return label
        seen.add(earlier)
        label = earlier


def set_value(project: Project, store: RecordStore, name: str, value: str) -> tuple[str, Path]:
    """Record ``name = value`` for the running record; returns its label and the values file."""
    if not _NAME.match(name):
        raise UsageError(f"invalid value name {name!r}: 1-200 characters without spaces")
    label = running_label(store)
    path = values_path(project, first_run(store, label))
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path} is not a JSON object: {exc}", hint="remove it") from exc
    values[name] = value
    data = (json.dumps(values, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Every version goes to the store: the final one is the record's output, readable even after a
    # later run overwrites the file.
    store.put_blob(data, digest_bytes(data).sha256)
    atomic_write_bytes(path, data)
    return label, path


def record_values(project: Project, store: RecordStore, record: Record) -> dict[str, str]:
    """The values ``record`` produced, by name. Raises :class:`LatexError` when a values file changed
    after the run and the store has no copy of it."""
    values: dict[str, str] = {}
    for output in sorted(record.outputs, key=lambda o: o.path):
        if not is_values_file(output.path) or not output.sha256:
            continue
        content = _content(project, store, output.fs_path, output.sha256)
        if content is None:
            raise LatexError(
                f"record '{record.label}': {output.path} changed after the run and no copy is stored",
                hint=f"re-run it ('paperlink rerun {record.label}') or restore the file",
            )
        try:
            loaded = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LatexError(f"record '{record.label}': {output.path} is not JSON: {exc}") from exc
        if isinstance(loaded, dict):
            _flatten(loaded, "", values)
    return values


def _content(project: Project, store: RecordStore, path: str, sha256: str) -> bytes | None:
    on_disk = project.root / path
    if on_disk.is_file():
        data = on_disk.read_bytes()
        if digest_bytes(data).sha256 == sha256:
            return data
    try:
        return store.get_blob(sha256)
    except RecordNotFound:
        return None


def _flatten(data: dict[str, Any], prefix: str, into: dict[str, str]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{name}.", into)
        elif isinstance(value, str):
            into[name] = value
        elif value is None or isinstance(value, bool | int | float):
            into[name] = json.dumps(value)
