"""The ``env`` command: write what re-creates a record's environment."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import store as _store
from paperlink.core.envrecipes import FORMATS


@click.command(name="env")
@click.argument("label")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="requirements: pinned pip requirements; conda: an @EXPLICIT spec with md5s; apt: an "
    "apt-get install line with versions; dockerfile: FROM the recorded image by digest.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@click.pass_context
def env(ctx: click.Context, label: str, fmt: str, output: Path | None) -> None:
    """Write what re-creates the environment record LABEL ran in.

    \b
    Example: paperlink env fig3 --format conda -o fig3-conda.txt
    """
    from paperlink.core.config import atomic_write_text
    from paperlink.core.envpackages import Environment
    from paperlink.core.envrecipes import environment_of, render_environment

    _, store = _store(ctx)
    record = store.get(label)
    environment = environment_of(store, record) or Environment()
    text = render_environment(environment, fmt, label=record.label)
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)
