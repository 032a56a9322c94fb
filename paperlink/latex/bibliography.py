"""A manuscript's bibliography made into the ``.bbl`` that arXiv needs.

arXiv (and any reader who compiles with plain ``pdflatex``) does not run BibTeX or biber: a submission with
citations must carry ``MAIN.bbl``. :func:`make_bbl` produces it from the bundle's own sources, in a scratch
copy, with the TeX installed here (one draft-mode compile, then ``bibtex``, or ``biber`` when the manuscript
uses biblatex), so the ``.bbl`` matches exactly the files shipped. Without TeX it falls back to the ``.bbl``
that the author's last compile left next to the manuscript, and says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from paperlink.errors import LatexError

_BIBLIOGRAPHY = re.compile(r"\\(?:bibliography|addbibresource|printbibliography|nocite)\b")
_COMMENT = re.compile(r"(?<!\\)%.*")
_NEEDS_UNICODE_ENGINE = re.compile(
    r"\\usepackage\s*(?:\[[^\]]*\])?\s*\{[^}]*\b(?:fontspec|unicode-math)\b"
)
_TIMEOUT = 300


def _sources_text(folder: Path, names: list[str]) -> str:
    texts = []
    for name in names:
        if name.endswith(".tex"):
            raw = (folder / name).read_text(encoding="utf-8", errors="replace")
            texts.append("\n".join(_COMMENT.sub("", line) for line in raw.splitlines()))
    return "\n".join(texts)


def has_bibliography(folder: Path, names: list[str]) -> bool:
    """True when the manuscript's sources (``names`` inside ``folder``) cite from a bibliography."""
    return _BIBLIOGRAPHY.search(_sources_text(folder, names)) is not None


def make_bbl(folder: Path, manuscript: str, names: list[str], fallback: Path) -> tuple[str, str]:
    """Write ``STEM.bbl`` into ``folder`` for the manuscript ``folder/manuscript``.

    Returns the .bbl's name and a note for the author on how it was made. ``fallback`` is the .bbl of the
    author's own last compile, used only when no TeX is installed here. Raises :class:`LatexError` when the
    bibliography cannot be processed (with the tool's own message) or there is neither TeX nor a fallback.
    """
    stem = Path(manuscript).stem
    bbl = f"{stem}.bbl"
    engine = (
        "lualatex" if _NEEDS_UNICODE_ENGINE.search(_sources_text(folder, names)) else "pdflatex"
    )
    if shutil.which(engine) is None or (
        shutil.which("bibtex") is None and shutil.which("biber") is None
    ):
        if fallback.is_file():
            shutil.copyfile(fallback, folder / bbl)
            return bbl, (
                f"no TeX here to make {bbl}: the bundle carries {fallback} from your last compile; "
                "compile again first if the bibliography changed"
            )
        raise LatexError(
            f"{manuscript} has a bibliography, and arXiv does not run BibTeX or biber: the bundle needs "
            f"{bbl}, which needs {engine} and bibtex (or biber) here",
            hint="install TeX Live, or compile the manuscript once (latexmk) so that "
            f"{fallback.name} exists next to it, then bundle again",
        )
    with tempfile.TemporaryDirectory(prefix="paperlink-bbl-") as scratch:
        work = Path(scratch) / "bundle"
        shutil.copytree(folder, work)
        _tex(work, engine, manuscript)
        tool = "biber" if (work / f"{stem}.bcf").is_file() else "bibtex"
        _bib_tool(work, tool, stem)
        made = work / bbl
        if not made.is_file():
            raise LatexError(
                f"{tool} wrote no {bbl} for {manuscript}", hint=f"run {tool} {stem} yourself"
            )
        shutil.copyfile(made, folder / bbl)
    return bbl, f"made {bbl} with {engine} and {tool}"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_TIMEOUT,
            check=False,
            env={**os.environ, "max_print_line": "10000"},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise LatexError(
            f"{command[0]} did not finish within {_TIMEOUT} s while making the bibliography",
            hint="compile the manuscript yourself to see where it stops",
        ) from exc


def _tex(work: Path, engine: str, manuscript: str) -> None:
    done = _run(
        [
            engine,
            "-draftmode",
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-no-shell-escape",
            manuscript,
        ],
        work,
    )
    if done.returncode != 0:
        log = work / f"{Path(manuscript).stem}.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else done.stdout
        errors = [line for line in text.splitlines() if line.startswith("!")]
        raise LatexError(
            f"{engine} stopped on the bundled {manuscript} while making its bibliography: "
            + (errors[0] if errors else f"exit {done.returncode}"),
            hint=f"compile the bundle folder with {engine} to see the whole log",
        )


def _bib_tool(work: Path, tool: str, stem: str) -> None:
    done = _run([tool, stem], work)
    # bibtex exits 1 on warnings (a missing field), 2 and more on errors; biber exits non-zero on errors.
    if done.returncode > (1 if tool == "bibtex" else 0):
        lines = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if "error" in line.lower() or line.startswith("I ")
        ]
        raise LatexError(
            f"{tool} failed on the bundled bibliography: "
            + (lines[0] if lines else f"exit {done.returncode}"),
            hint=f"run {tool} {stem} in the bundle folder to see its whole message",
        )
