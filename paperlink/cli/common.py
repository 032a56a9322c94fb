"""What every command shares: the group's settings, finding the project and opening its store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from paperlink.errors import UsageError


@dataclass
class Settings:
    store: str | None
    project_dir: str | None
    debug: bool


def project(ctx: click.Context) -> Any:
    from paperlink.core.config import find_project, store_path_from_url

    settings: Settings = ctx.obj
    project = find_project(settings.project_dir)
    if settings.store:
        project.store = str(store_path_from_url(settings.store, Path.cwd()))
    return project


def store(ctx: click.Context) -> Any:
    from paperlink.core.store import RecordStore

    found = project(ctx)
    opened = RecordStore(found.store_path)
    ctx.call_on_close(opened.close)
    return found, opened


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def key_values(items: tuple[str, ...], option: str) -> dict[str, str]:
    """``("K=V", …)`` from a repeatable option → a dict; anything else is a usage error."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"{option} {item!r} is not KEY=VALUE", hint=f"e.g. {option} VERSION=1.2"
            )
        pairs[key] = value
    return pairs
