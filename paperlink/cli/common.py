"""What every command shares: the group's settings, finding the project and opening its store."""

from __future__ import annotations

import json
from typing import Any

import click

from paperlink.cli.settings import Settings, find_settings_project, key_values, open_project_store

__all__ = ["Settings", "echo_json", "key_values", "project", "store"]


def project(ctx: click.Context) -> Any:
    return find_settings_project(ctx.obj)


def store(ctx: click.Context) -> Any:
    found, opened = open_project_store(ctx.obj)
    ctx.call_on_close(opened.close)
    return found, opened


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
