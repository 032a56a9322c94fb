"""Regular expressions compiled when first used.

Compiling a pattern costs far more than importing the module that holds it, and most runs never use most
of paperlink's patterns (a Slurm job's, a conda lock file's, a secret's forms in text that names none):
compiled at import they were a tenth of a run's start-up. A :class:`LazyPattern` is declared where the
compiled pattern was, and compiled once, on first use.
"""

from __future__ import annotations

import re


class LazyPattern:
    """A regular expression (on ``str``) compiled on first use of :attr:`re`."""

    __slots__ = ("_compiled", "flags", "source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source = source
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def re(self) -> re.Pattern[str]:
        """The compiled pattern."""
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.source, self.flags)
        return compiled

    def __repr__(self) -> str:
        return f"LazyPattern({self.source!r})"
