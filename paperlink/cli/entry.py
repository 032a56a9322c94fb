"""The ``paperlink`` program's entry point. A plain ``paperlink run`` starts without click (its start-up is
capture overhead, see :mod:`paperlink.cli.run_command`); every other command goes to the click group."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from paperlink.cli.run_command import quick_run

        status = quick_run(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C while paperlink itself loads: nothing has run yet
        from paperlink.errors import ExitCode

        print("Interrupted.", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)
    if status is not None:
        sys.exit(status)
    from paperlink.cli.main import cli

    cli(prog_name="paperlink")
