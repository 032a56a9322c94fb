"""paperlink.sty under expl3's own checks: every command and every message, on all three engines, with
``\\debug_on:n{check-declarations, deprecation}`` (a deprecated function is an error there, an undeclared
variable too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_latex import compile_tex, write_manuscript
from helpers import run_cli

pytestmark = pytest.mark.tex

DEBUG = (
    "\\RequirePackage[enable-debug]{expl3}\n"
    "\\ExplSyntaxOn\\debug_on:n{check-declarations, deprecation}\\ExplSyntaxOff\n"
)
GOOD = (
    "\\plincludegraphics[width=1cm]{fig_1-a.b}\n\\smtincludegraphics[width=1cm]{sweep.2?low}\n"
    "\\plvalue{fig_1-a.b:slope} \\pldigest{fig_1-a.b} \\plrecordurl{fig_1-a.b}\n"
    "\\plenvironment{fig_1-a.b} \\plrerun{fig_1-a.b}\n"
)
BAD = (
    "\\plincludegraphics{nosuch}\n\\plincludegraphics{fig_1-a.b:figures/none.png}\n"
    "\\plincludegraphics{sweep.2?zzz}\n\\plincludegraphics{sweep.2}\n"
    "\\plincludegraphics[digest=xyz]{fig_1-a.b}\n"
    "\\plincludegraphics[digest=sha256:" + "0" * 64 + "]{fig_1-a.b}\n"
    "\\plvalue{fig_1-a.b:nosuch} \\plvalue{nocolon}\n"
)
COMPLAINTS = (
    "deprecated",
    "Forbidden control sequence",
    "has not been declared",
    "Undefined control",
)


def _debug_compile(tex: Path, engine: str) -> str:
    source = tex.read_text()
    tex.write_text(DEBUG + source)
    compiled = compile_tex(tex.parent, engine=engine, halt_on_error=False)
    return compiled.flat_log


@pytest.mark.parametrize("engine", ["pdflatex", "lualatex", "xelatex"])
def test_every_command_and_message_passes_expl3s_checks(figure_project: Path, engine: str) -> None:
    good = write_manuscript(figure_project / "good", GOOD, preamble="\\usepackage{graphicx}\n")
    run_cli("latex", "--out", str(good.parent))
    log = _debug_compile(good, engine)
    assert "matches record" in log
    assert " Error" not in log and "\n!" not in log, log[-3000:]
    assert not any(word in log for word in COMPLAINTS), log[-3000:]

    bad = write_manuscript(figure_project / "bad", BAD, preamble="\\usepackage{graphicx}\n")
    run_cli("latex", "--out", str(bad.parent))
    log = _debug_compile(bad, engine)
    # -file-line-error: each error is FILE:LINE: TEXT; every one is one of ours.
    errors = [line for line in log.splitlines() if " Error" in line or line.startswith("!")]
    assert len(errors) >= 7 and all("Package paperlink Error" in line for line in errors), errors
    for expected in ("no record labelled 'nosuch'", "none.png", "zzz", "is ambiguous", "xyz"):
        assert expected in log, expected
    assert not any(word in log for word in COMPLAINTS), log[-3000:]
