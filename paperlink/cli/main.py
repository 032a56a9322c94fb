"""The ``paperlink`` command: a thin shell over the library. Each command turns options into arguments, calls
one library function and renders its result; errors are reported in one place (:class:`PaperlinkGroup`)."""

from __future__ import annotations

from typing import Any

import click

from paperlink.cli.settings import Settings, report_error
from paperlink.errors import EXIT_CODE_HELP, PaperlinkError
from paperlink.version import __version__

# Each command's module is imported only when that command runs (or help lists it): `paperlink run` then
# pays for its own code alone, which keeps the capture overhead low.
COMMANDS = {
    "init": "records:init",
    "run": "records:run",
    "list": "records:list_records",
    "show": "records:show",
    "diff": "records:diff",
    "env": "environment:env",
    "tag": "records:tag",
    "reason": "records:reason",
    "verify": "verify:verify",
    "publish": "publish:publish",
    "serve": "web:serve",
    "site": "web:site",
    "image": "containers:image",
    "rerun": "containers:rerun",
    "latex": "latex:latex",
    "value": "latex:value",
    "store": "store:store",
    "ci": "ci:ci",
    "import": "importing:import_group",
}


class PaperlinkGroup(click.Group):
    """Loads commands on demand; reports a :class:`PaperlinkError` as ``Error: …`` on stderr and exits
    with its code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        import importlib

        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(f"paperlink.cli.{module}"), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PaperlinkError, KeyboardInterrupt) as exc:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            ctx.exit(report_error(exc, debug=settings is not None and settings.debug))


@click.group(
    cls=PaperlinkGroup,
    epilog=EXIT_CODE_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="paperlink")
@click.option(
    "--store",
    metavar="PATH|URL",
    envvar="PAPERLINK_STORE",
    help="Record store to use instead of the project's.",
)
@click.option("-C", "--project", "project_dir", metavar="DIR", help="Run as if started in DIR.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, store: str | None, project_dir: str | None, debug: bool) -> None:
    """paperlink ties every figure in a paper to the computation that made it."""
    ctx.obj = Settings(store=store, project_dir=project_dir, debug=debug)
