"""paperlink latex and paperlink value."""

from __future__ import annotations

from pathlib import Path

import click

from paperlink.cli.common import echo_json as _echo_json
from paperlink.cli.common import store as _store
from paperlink.errors import UsageError


# -- latex --
@click.command()
@click.option(
    "--tex",
    "tex",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manuscript: declare only what it uses and check every use.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the generated files (default: the manuscript's folder).",
)
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also gather everything the manuscript needs into DIR and DIR.tar.gz (needs --tex).",
)
@click.option(
    "--public-url",
    "--base-url",
    "public_url",
    metavar="URL",
    help="Public address of the records, for figures without a DOI ([latex] public_url).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures and values used as JSON.")
@click.pass_context
def latex(
    ctx: click.Context,
    tex: Path | None,
    out: Path | None,
    bundle: Path | None,
    public_url: str | None,
    as_json: bool,
) -> None:
    """Write paperlink.sty, paperlink-data.tex, paperlink.bib and sumatra.sty next to the manuscript.

    \b
    Example: paperlink latex --tex paper/main.tex --bundle arxiv
    """
    from paperlink.errors import LatexError
    from paperlink.latex.generate import write_latex

    if bundle is not None and tex is None:
        raise UsageError("--bundle needs --tex MANUSCRIPT.tex", hint="name the main .tex file")
    project, store = _store(ctx)
    result = write_latex(project, store, tex=tex, out=out, base=public_url)
    for warning in result.warnings:
        click.echo(f"paperlink: warning: {warning}", err=True)
    if as_json:
        _echo_json(
            {
                "figures": result.figures_used(),
                "problems": [str(p) for p in result.problems],
                "unlinked": result.unlinked,
                "warnings": result.warnings,
            }
        )
    else:
        for path in result.written:
            click.echo(f"wrote {path}")
        click.echo(
            f"{len(result.data.figures)} output(s) and {len(result.data.values)} value(s) declared"
            + (f"; the manuscript uses {len(result.resolved)}" if tex else "")
        )
    if result.unlinked and not as_json:
        click.echo(
            f"note: the figures and values of {', '.join(result.unlinked)} carry no link in the PDF: "
            "they have no DOI and there is no public URL; reserve a DOI with 'paperlink publish "
            "--draft' (then run 'paperlink latex' again) or set [latex] public_url in paperlink.toml",
            err=True,
        )
    if result.problems:
        raise LatexError(
            f"{len(result.problems)} problem(s) in {tex}:\n  "
            + "\n  ".join(map(str, result.problems)),
            hint="fix the references (or re-run the figures), then run 'paperlink latex' again",
        )
    if bundle is not None and tex is not None:
        from paperlink.latex.texbundle import bundle_manuscript

        made = bundle_manuscript(tex, bundle, result)
        for note in made.notes:
            click.echo(f"bundle: {note}", err=True)
        if not as_json:
            click.echo(f"bundled {len(made.files)} file(s) into {made.folder} and {made.archive}")


@click.command()
@click.argument("name")
@click.argument("value")
@click.pass_context
def value(ctx: click.Context, name: str, value: str) -> None:
    """Record a named value of the running run, for \\plvalue{LABEL:NAME} (use inside 'paperlink run').

    \b
    Example: paperlink value slope 0.73
    """
    from paperlink.core.paper_values import set_value

    project, store = _store(ctx)
    label, path = set_value(project, store, name, value)
    click.echo(f"{label}: {name} = {value} ({project.relative(path)})", err=True)
