"""Start a project: write its settings and create its store."""

from __future__ import annotations

from pathlib import Path

from paperlink.config import STATE_DIR, Project, find_project, write_config
from paperlink.store import RecordStore


def init_project(
    root: Path,
    *,
    name: str | None = None,
    store: str | None = None,
    outputs: list[str] | None = None,
) -> Project:
    """Write ``paperlink.toml`` in ``root``, create the store and the output folders; return the project.

    The store's folder gets a ``.gitignore`` so the database never makes the code look modified.
    """
    from paperlink.config import DEFAULT_STORE

    write_config(root, name=name or root.name, store=store or DEFAULT_STORE, outputs=outputs)
    project = find_project(root)
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# paperlink's record store and caches: not code\n*\n")
    RecordStore.create(project.store_path).close()
    for folder in project.output_dirs:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return project
