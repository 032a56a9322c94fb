"""Where each page and file lives, as URLs for the server and as relative paths for the static site.

Templates never build URLs themselves: they ask a :class:`Links` object, so the same template renders for
``paperlink serve`` (absolute paths such as ``/records/LABEL``) and for ``paperlink site`` (relative links
between files, so the site opens from disk and from inside an archive).
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlencode

from paperlink.core.files import fit_file_name


def quote_segment(text: str) -> str:
    """``text`` as one URL path segment or file name: ``/`` and ``%`` encoded, and ``.``/``..`` too,
    which browsers and file systems would otherwise treat as "this folder" and "the folder above"."""
    quoted = quote(text, safe="-_.~+=,@")
    if quoted in (".", ".."):
        return quoted.replace(".", "%2E")
    return quoted


def quote_path(path: str) -> str:
    return "/".join(quote_segment(part) for part in path.split("/"))


class Links:
    """URLs for the live server."""

    #: Whether links to other sites (the git remote, doi.org) are rendered as links.
    external = True
    #: Whether the records page can search and filter (the static site has no server to ask).
    searchable = True

    def records(self, page: int = 1, **query: str) -> str:
        params = {k: v for k, v in query.items() if v}
        if page > 1:
            params["page"] = str(page)
        return "/" + ("?" + urlencode(params) if params else "")

    def record(self, label: str) -> str:
        return f"/records/{quote_segment(label)}"

    def record_json(self, label: str) -> str:
        return f"/records/{quote_segment(label)}.json"

    def file(self, label: str, path: str) -> str | None:
        return f"/records/{quote_segment(label)}/files/{quote_path(path)}"

    def open_file(self, label: str, path: str) -> str | None:
        """Where a link to the output leads (the server sandboxes active files with its CSP header)."""
        return self.file(label, path)

    # The policy a page carries itself; the server sends it as a header instead.
    page_policy: str | None = None

    def figures(self) -> str:
        return "/figures"

    def figure(self, label: str, path: str) -> str | None:
        return f"/figures/{quote_segment(label)}/{quote_path(path)}"

    def compare(self, left: str, right: str) -> str | None:
        return f"/compare/{quote_segment(left)}/{quote_segment(right)}"

    def compare_form(self) -> str | None:
        return "/compare"

    def static(self, name: str) -> str:
        return f"/static/{name}"


# Files a browser would run scripts in, opened as documents.
ACTIVE_SUFFIXES = (".html", ".htm", ".xhtml", ".svg", ".svgz", ".xml", ".xsl", ".mht", ".shtml")
# A static site's pages carry the viewer's page policy in a <meta> (frame-ancestors is not allowed there).
SITE_PAGE_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; frame-src 'self'; "
    "form-action 'none'; base-uri 'none'"
)


def is_active(path: str) -> bool:
    return path.lower().endswith(ACTIVE_SUFFIXES)


class SiteLinks(Links):
    """Relative links between the files of a static site, seen from the page at ``here``.

    ``files`` and ``comparisons`` say which output files and comparison pages the site holds: a link
    to anything else would be broken, so it is not made.
    """

    external = False
    searchable = False

    def __init__(
        self,
        here: str,
        files: set[tuple[str, str]],
        comparisons: set[tuple[str, str]],
        figures: set[tuple[str, str]],
    ) -> None:
        self.here = here
        self.files = files
        self.comparisons = comparisons
        self.figure_pages = figures

    page_policy = SITE_PAGE_POLICY

    def at(self, here: str) -> SiteLinks:
        return SiteLinks(here, self.files, self.comparisons, self.figure_pages)

    def _href(self, target: str) -> str:
        relative = posixpath.relpath(target, posixpath.dirname(self.here) or ".")
        # The file names are already URL-quoted; quoting again makes '%' survive the browser's decoding.
        return quote(relative, safe="/")

    # Site paths, relative to the site's top folder; each part a file name a file system takes.
    @staticmethod
    def record_path(label: str) -> str:
        return _fit(f"records/{quote_segment(label)}.html")

    @staticmethod
    def json_path(label: str) -> str:
        return _fit(f"records/{quote_segment(label)}.json")

    @staticmethod
    def file_path(label: str, path: str) -> str:
        return _fit(f"records/{quote_segment(label)}/files/{quote_path(path)}")

    @staticmethod
    def figure_path(label: str, path: str) -> str:
        return _fit(f"figures/{quote_segment(label)}/{quote_path(path)}.html")

    @staticmethod
    def compare_path(left: str, right: str) -> str:
        return _fit(f"compare/{quote_segment(left)}/{quote_segment(right)}.html")

    @staticmethod
    def records_path(page: int = 1) -> str:
        return "index.html" if page <= 1 else f"records/page-{page}.html"

    def records(self, page: int = 1, **query: str) -> str:
        return self._href(self.records_path(page))

    def record(self, label: str) -> str:
        return self._href(self.record_path(label))

    def record_json(self, label: str) -> str:
        return self._href(self.json_path(label))

    def file(self, label: str, path: str) -> str | None:
        if (label, path) not in self.files:
            return None
        return self._href(self.file_path(label, path))

    def open_file(self, label: str, path: str) -> str | None:
        """A link to the output: for HTML and SVG, the page that shows it in a sandboxed frame, since a
        file opened from disk has no server to send the viewer's sandbox header (an <img> never runs
        scripts, so images still point at the file itself)."""
        if (label, path) not in self.files:
            return None
        if is_active(path):
            return self._href(self.sandbox_path(label, path))
        return self.file(label, path)

    @staticmethod
    def sandbox_path(label: str, path: str) -> str:
        return _fit(f"records/{quote_segment(label)}/view/{quote_path(path)}.html")

    def figures(self) -> str:
        return self._href("figures/index.html")

    def figure(self, label: str, path: str) -> str | None:
        if (label, path) not in self.figure_pages:
            return None
        return self._href(self.figure_path(label, path))

    def compare(self, left: str, right: str) -> str | None:
        if (left, right) not in self.comparisons:
            return None
        return self._href(self.compare_path(left, right))

    def compare_form(self) -> str | None:
        return None

    def static(self, name: str) -> str:
        return self._href(f"static/{name}")


def _fit(path: str) -> str:
    # A quoted name grows (a 254-byte name with spaces or accents would pass 255 bytes): shorten it.
    return "/".join(fit_file_name(part) for part in path.split("/"))
