"""paperlink: tie every figure in a scientific paper to the exact computation that made it.

The library API for work that is not one command::

    import paperlink

    with paperlink.record(reason="baseline") as rec:
        make_figure("figures/fig1.pdf")
        rec.add_output("figures/fig1.pdf")

    @paperlink.capture(reason="sweep")
    def analyse(alpha: float) -> None: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paperlink.version import __version__

if TYPE_CHECKING:
    from paperlink.recorder.python_api import capture, record

__all__ = ["__version__", "capture", "record"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `paperlink run` starts without loading the whole library.
    if name in ("record", "capture"):
        from paperlink.recorder import python_api as api

        return getattr(api, name)
    raise AttributeError(f"module 'paperlink' has no attribute {name!r}")
