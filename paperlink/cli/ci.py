"""paperlink ci: what a paper's repository needs for a CI runner to verify it from a fresh clone."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import store as _store


@click.command()
@click.option(
    "--tex",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The manuscript the workflow verifies and compiles.",
)
@click.pass_context
def ci(ctx: click.Context, tex: Path) -> None:
    """Write a GitHub Actions workflow, the manuscript's records and a paperlink wheel, to commit.

    \b
    Example: paperlink ci --tex paper/main.tex && git add .github paperlink-records .paperlink-ci
    """
    from paperlink.verify.ciworkflow import write_ci

    project, opened = _store(ctx)
    made = write_ci(project, opened, tex)
    for path in made.written:
        click.echo(f"wrote {path}")
    if made.untracked_figures:
        click.echo(
            "the compile in CI needs these outputs, which git does not track yet: "
            + ", ".join(made.untracked_figures),
            err=True,
        )
    click.echo(f"commit them: git add {' '.join(sorted({p.split('/')[0] for p in made.written}))}")
