from pathlib import Path

import pytest

from paperlink.errors import LatexError
from paperlink.latex.manuscript import Reference, scan_manuscript, strip_comments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fig3", Reference("fig3")),
        ("fig3:figures/a.pdf", Reference("fig3", path="figures/a.pdf")),
        ("fig3?a.pdf", Reference("fig3", fragment="a.pdf")),
    ],
)
def test_reference_parses_sumatra_forms(text: str, expected: Reference) -> None:
    assert Reference.parse(text) == expected
    assert str(expected) == text


def test_comments_are_skipped_but_escaped_percent_kept() -> None:
    assert strip_comments("50\\% done % note\n% all\nx") == "50\\% done \n\nx"


def test_scan_follows_inputs_and_reports_lines(tmp_path: Path) -> None:
    (tmp_path / "sections").mkdir()
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n"
        "\\begin{document}\n"
        "\\plincludegraphics[width=.5\\linewidth]{base:figures/a.pdf}\n"
        "% \\plincludegraphics{commented}\n"
        "\\input{sections/results}\n"
        "\\end{document}\n"
    )
    (tmp_path / "sections" / "results.tex").write_text(
        "Slope \\plvalue{base:slope}.\n\\smtincludegraphics[digest=ABCD]{sweep?b.png}\n"
    )
    uses = scan_manuscript(tmp_path / "main.tex")
    assert [(u.macro, str(u.reference), u.line) for u in uses] == [
        ("plincludegraphics", "base:figures/a.pdf", 3),
        ("plvalue", "base:slope", 1),
        ("smtincludegraphics", "sweep?b.png", 2),
    ]
    assert uses[0].options == {"width": ".5\\linewidth"}
    assert uses[2].digest == "ABCD"
    assert uses[1].file == (tmp_path / "sections" / "results.tex").resolve()
    assert [u.kind for u in uses] == ["figure", "value", "figure"]


def test_missing_manuscript_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LatexError, match="not found"):
        scan_manuscript(tmp_path / "nope.tex")


def test_pylatexenc_reads_nested_options_and_skips_verbatim(tmp_path: Path) -> None:
    (tmp_path / "main.tex").write_text(
        "\\begin{document}\n"
        "\\plincludegraphics*[trim={1 2 3 4}, clip, width=0.5\\linewidth, digest=abc]{run:figures/a.pdf}\n"
        "\\begin{verbatim}\n\\plincludegraphics{shown-not-used}\n\\end{verbatim}\n"
        "Inline \\verb|\\plvalue{not:used}| and {\\bfseries \\plvalue{run:slope}}\n"
        "\\begin{figure}\\centering\\smtincludegraphics{run?b.png}\\end{figure}\n"
        "$R^2 = \\plvalue{run:r2}$ and \\[ x = \\plvalue{run:x} \\] in \\texttt{\\plrerun{run}}\n"
        "\\end{document}\n"
    )
    uses = scan_manuscript(tmp_path / "main.tex")
    assert [(u.macro, str(u.reference), u.line) for u in uses] == [
        ("plincludegraphics", "run:figures/a.pdf", 2),
        ("plvalue", "run:slope", 6),
        ("smtincludegraphics", "run?b.png", 7),
        ("plvalue", "run:r2", 8),
        ("plvalue", "run:x", 8),
        ("plrerun", "run", 8),
    ]
    assert uses[0].options == {
        "trim": "{1 2 3 4}",
        "clip": "",
        "width": "0.5\\linewidth",
        "digest": "abc",
    }
