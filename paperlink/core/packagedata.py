"""Package data: the LaTeX sources (``paperlink/texfiles/``) and the jinja2 templates
(``paperlink/templates/``), read through importlib.resources so that a checkout, an editable install and a
wheel find them the same way."""

from __future__ import annotations

from importlib import resources

from paperlink.errors import LatexError


def read_resource(package: str, name: str) -> bytes:
    """The bytes of ``name`` in ``package`` (``paperlink.texfiles`` or ``paperlink.templates``).

    Raises :class:`LatexError` when the file is missing from the installed package.
    """
    try:
        return resources.files(package).joinpath(name).read_bytes()
    except (ModuleNotFoundError, OSError, TypeError) as exc:
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
