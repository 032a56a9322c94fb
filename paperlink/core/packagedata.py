"""Package data: the LaTeX sources (``latex/``) and the jinja2 templates (``templates/``).

An installed paperlink carries them as the packages ``paperlink.texfiles`` and ``paperlink.templates`` (the
build maps the folders there); run from a checkout, they are read from the source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from paperlink.errors import LatexError

_SOURCE_ROOT = (
    Path(__file__).resolve().parents[2]
)  # the checkout: paperlink/core/ is two levels down
_FOLDERS = {"paperlink.texfiles": "latex", "paperlink.templates": "templates"}


def read_resource(package: str, name: str) -> bytes:
    """The bytes of ``name`` in ``package`` (``paperlink.texfiles`` or ``paperlink.templates``).

    Raises :class:`LatexError` when the file is in neither the installed package nor the source tree.
    """
    try:
        return resources.files(package).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        pass
    source = _SOURCE_ROOT / _FOLDERS[package] / name
    try:
        return source.read_bytes()
    except OSError as exc:
        raise LatexError(
            f"paperlink's own file {name} is missing from {package}",
            hint="reinstall paperlink (pip install --force-reinstall paperlink)",
        ) from exc


def latex_source(name: str) -> bytes:
    """A file of the LaTeX package, e.g. ``paperlink.sty``."""
    return read_resource("paperlink.texfiles", name)


def template_source(name: str) -> str:
    """A jinja2 template, e.g. ``paperlink-data.tex.j2``."""
    return read_resource("paperlink.templates", name).decode("utf-8")
