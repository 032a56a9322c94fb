"""paperlink latex + paperlink.sty: generated data, real compiles on three engines, real PDFs."""

from __future__ import annotations

import itertools
import json
import string
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fixtures_latex import Compiled, compile_tex, generate, png_bytes, write_manuscript
from helpers import run_cli
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import Outcome, Record
from paperlink.core.runcontext import ContainerRef
from paperlink.core.store import RecordStore
from paperlink.errors import LatexError
from paperlink.latex.escape import tex_string
from paperlink.latex.pdf_manifest import read_pdf_manifest

pytestmark = pytest.mark.tex


def _record(root: Path, label: str):  # type: ignore[no-untyped-def]
    store = RecordStore(find_project(root).store_path)
    try:
        return store.get(label)
    finally:
        store.close()


def _output(root: Path, label: str, suffix: str):  # type: ignore[no-untyped-def]
    return next(o for o in _record(root, label).outputs if o.path.endswith(suffix))


def _links(pdf: Path) -> list[tuple[str, str]]:
    """(URI, tooltip) of every link annotation in the PDF."""
    found = []
    for page in PdfReader(pdf).pages:
        for ref in page.get("/Annots", []) or []:
            annot = ref.get_object()
            if annot.get("/Subtype") == "/Link" and "/A" in annot:
                found.append((str(annot["/A"]["/URI"]), str(annot.get("/Contents", ""))))
    return found


def _text(pdf: Path) -> str:
    return " ".join(page.extract_text() for page in PdfReader(pdf).pages)


def test_tex_string_escapes_only_what_the_data_catcodes_cannot_read() -> None:
    assert tex_string("fig_1-a.b/x.png") == "fig_1-a.b/x.png"
    # TeX specials are plain characters in the data file; backslash and braces are not.
    assert tex_string("a b#%{}\\~^é$&_") == "a b#%\\plU{123}\\plU{125}\\plU{92}~^é$&_"
    # Spaces TeX would drop or merge, control characters and other spaces are escaped.
    assert tex_string(" a  b ") == "\\plU{32}a \\plU{32}b\\plU{32}"
    assert tex_string("a\tb\u00a0c\u2028") == "a\\plU{9}b\\plU{160}c\\plU{8232}"


def test_data_file_declares_every_output_with_paths_from_the_manuscript_folder(
    figure_project: Path,
) -> None:
    tex = write_manuscript(figure_project / "src" / "tex", "\\plincludegraphics{fig_1-a.b}")
    generate(tex)
    data = (tex.parent / "paperlink-data.tex").read_text()
    output = _output(figure_project, "fig_1-a.b", ".png")
    assert "\\paperlinkdeclare{fig_1-a.b}{\\plkey{path}{figures/fig_1-a.b.png}" in data
    assert "\\plkey{file}{../../figures/fig_1-a.b.png}" in data
    assert (
        f"\\plkey{{sha256}}{{{output.sha256}}}\\plkey{{md5}}{{{output.md5}}}"
        f"\\plkey{{mdfive}}{{{output.md5.upper()}}}" in data
    )
    assert f"\\plkey{{sha1}}{{{output.sha1}}}" in data
    # The reference as the manuscript writes it, resolved once here (the package then looks it up).
    assert "\\paperlinkfigure{fig_1-a.b}{fig_1-a.b}{1}" in data
    assert "sweep.2" not in data  # with --tex only the records the manuscript uses
    for name in ("paperlink.sty", "sumatra.sty", "paperlink.bib"):
        assert (tex.parent / name).is_file()
    generate_all = run_cli("latex", "--out", str(figure_project / "all"))
    assert "declared" in generate_all.output
    assert "sweep.2" in (figure_project / "all" / "paperlink-data.tex").read_text()


def test_figures_are_checked_linked_and_listed_on_every_engine(
    figure_project: Path, engine: str
) -> None:
    body = (
        "\\plincludegraphics[width=2cm]{fig_1-a.b}\n"
        "\\smtincludegraphics*[width=2cm, trim={0 0 1 1}]{sweep.2?high}\n"
        "\\plincludegraphics [width=2cm] {sweep.2:figures/sweep.2-low.png}\n\n"
        "Slope \\plvalue{fig_1-a.b:slope}.\n\n"
        "\\pldigest{fig_1-a.b}\n\n\\plenvironment{fig_1-a.b}\n\n\\plrerun{sweep.2?low}\n"
    )
    tex = write_manuscript(figure_project / "paper", body)
    generate(tex, "--public-url", "https://records.example.org")
    compiled = compile_tex(tex.parent, engine=engine)
    assert compiled.returncode == 0, compiled.log[-3000:]
    assert compiled.pdf is not None
    figure = _output(figure_project, "fig_1-a.b", ".png")
    high = _output(figure_project, "sweep.2", "high.png")
    log = compiled.flat_log
    assert (
        f"Figure 'fig_1-a.b': ../figures/fig_1-a.b.png matches record 'fig_1-a.b' (md5:{figure.md5})"
        in log
    )
    text = _text(compiled.pdf)
    assert "Slope 0.40." in text
    assert "paperlink rerun sweep.2" in text
    links = _links(compiled.pdf)
    uri, tip = links[0]
    assert uri == "https://records.example.org/records/fig_1-a.b/files/figures/fig_1-a.b.png"
    assert f"sha256:{figure.sha256}" in tip and "fig_1-a.b" in tip
    assert any(u.endswith("figures/sweep.2-high.png") and high.sha256 in t for u, t in links)
    assert any(
        u == "https://records.example.org/records/fig_1-a.b" and "slope" in t for u, t in links
    )
    manifest = read_pdf_manifest(compiled.pdf)
    assert manifest["format"] == "paperlink-manifest" and manifest["version"] == 1
    assert "embedfile.sty" not in compiled.log  # attached by the engine's own primitives
    figures = {(f["label"], f["path"]): f for f in manifest["figures"]}
    assert set(figures) == {
        ("fig_1-a.b", "figures/fig_1-a.b.png"),
        ("sweep.2", "figures/sweep.2-high.png"),
        ("sweep.2", "figures/sweep.2-low.png"),
    }
    entry = figures["fig_1-a.b", "figures/fig_1-a.b.png"]
    assert (entry["sha256"], entry["md5"], entry["sha1"]) == (
        figure.sha256,
        figure.md5,
        figure.sha1,
    )
    assert manifest["values"] == [
        {
            "doi": "",
            "label": "fig_1-a.b",
            "name": "slope",
            "record_url": "https://records.example.org/records/fig_1-a.b",
            "value": "0.40",
        }
    ]


def test_a_reference_the_generator_did_not_see_is_resolved_while_compiling(
    figure_project: Path,
) -> None:
    tex = write_manuscript(figure_project / "paper", "\\plincludegraphics{fig_1-a.b}")
    generate(tex)
    # Edited after `paperlink latex`: no \paperlinkfigure line names these two references.
    tex.write_text(
        tex.read_text().replace(
            "\\plincludegraphics{fig_1-a.b}",
            "\\plincludegraphics{fig_1-a.b}\\plincludegraphics{ fig_1-a.b }"
            "\\plincludegraphics[width=1cm]{fig_1-a.b?a.b.png}",
        )
    )
    data = (tex.parent / "paperlink-data.tex").read_text()
    assert "\\paperlinkfigure{fig_1-a.b}{fig_1-a.b}{1}" in data
    assert "a.b.png}{fig_1-a.b}" not in data and "{ fig_1-a.b }" not in data
    compiled = compile_tex(tex.parent)
    assert compiled.returncode == 0, compiled.log[-3000:]
    for reference in ("fig_1-a.b", "fig_1-a.b?a.b.png"):
        assert f"Figure '{reference}': ../figures/fig_1-a.b.png matches record" in compiled.flat_log
    assert compiled.flat_log.count("matches record 'fig_1-a.b'") == 3
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert [f["path"] for f in manifest["figures"]] == ["figures/fig_1-a.b.png"]


@pytest.mark.parametrize("engine", ["pdflatex", "lualatex"])
def test_the_manifest_shares_the_pdf_with_the_authors_own_attachments(
    figure_project: Path, engine: str
) -> None:
    tex = write_manuscript(
        figure_project / "paper",
        "\\plincludegraphics{fig_1-a.b}",
        preamble="\\usepackage{embedfile}\n\\embedfile{notes.txt}\n",
    )
    (tex.parent / "notes.txt").write_text("the author's own attachment\n")
    generate(tex)
    compiled = compile_tex(tex.parent, engine=engine)
    assert compiled.returncode == 0, compiled.log[-3000:]
    attachments = PdfReader(compiled.pdf).attachments  # type: ignore[arg-type]
    assert sorted(attachments) == ["notes.txt", "paperlink-manifest.json"]
    assert attachments["notes.txt"] == [b"the author's own attachment\n"]
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert [f["label"] for f in manifest["figures"]] == ["fig_1-a.b"]


def test_the_manifest_goes_through_the_pdf_management_of_documentmetadata(
    figure_project: Path,
) -> None:
    tex = write_manuscript(figure_project / "paper", "\\plincludegraphics{fig_1-a.b}")
    tex.write_text("\\DocumentMetadata{}\n" + tex.read_text())
    generate(tex)
    compiled = compile_tex(tex.parent)
    assert compiled.returncode == 0, compiled.log[-3000:]
    assert "embedfile.sty" in compiled.log  # the managed route, not the primitives
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert [f["label"] for f in manifest["figures"]] == ["fig_1-a.b"]


def test_a_data_file_from_another_paperlink_version_stops_with_what_to_run(
    figure_project: Path,
) -> None:
    tex = write_manuscript(figure_project / "paper", "\\plincludegraphics{fig_1-a.b}")
    generate(tex)
    data = tex.parent / "paperlink-data.tex"
    data.write_text(
        "\\paperlinkdataversion{1}\n"
        "\\paperlinkdeclare{fig_1-a.b}{path={figures/fig_1-a.b.png},file={../figures/x.png}}\n"
    )
    compiled = compile_tex(tex.parent)
    assert compiled.returncode != 0
    assert (
        "'paperlink-data.tex' (data version 1) and this paperlink.sty (data version 2) come from "
        "different paperlink versions; figures are not checked."
    ) in compiled.flat_log


def _compile_error(root: Path, body: str, *, options: str = "") -> Compiled:
    tex = write_manuscript(root / "paper", body, options=options)
    run_cli(
        "latex", "--out", str(tex.parent)
    )  # all records: the compile, not the scan, must catch it
    return compile_tex(tex.parent)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "\\plincludegraphics{nosuch}",
            "Figure or value 'nosuch': no record labelled 'nosuch'.",
        ),
        (
            "\\plincludegraphics{sweep.2}",
            "Figure 'sweep.2' is ambiguous: record 'sweep.2' has several matching outputs: "
            "figures/sweep.2-high.png, figures/sweep.2-low.png.",
        ),
        (
            "\\plincludegraphics{sweep.2?png}",
            "Figure 'sweep.2?png' is ambiguous: record 'sweep.2' has several matching outputs",
        ),
        (
            "\\plincludegraphics{table-3}",
            "Figure 'table-3': record 'table-3' has no image output (outputs: results/table.csv).",
        ),
        (
            "\\plincludegraphics{fig_1-a.b:figures/other.png}",
            "Figure 'fig_1-a.b:figures/other.png': record 'fig_1-a.b' has no output 'figures/other.png'",
        ),
        (
            "\\plincludegraphics{fig_1-a.b?nothing}",
            "Figure 'fig_1-a.b?nothing': no output of record 'fig_1-a.b' contains 'nothing'",
        ),
        (
            "\\plvalue{fig_1-a.b:intercept}",
            "Value 'fig_1-a.b:intercept': record 'fig_1-a.b' has no value named 'intercept' (values: slope",
        ),
        (
            "\\plincludegraphics[digest=xyz]{fig_1-a.b}",
            "Figure 'fig_1-a.b': digest='xyz' is not a sha1, sha256 or md5 hex digest.",
        ),
    ],
)
def test_reference_errors_stop_the_compilation_with_a_clear_message(
    figure_project: Path, body: str, message: str
) -> None:
    compiled = _compile_error(figure_project, body)
    assert compiled.returncode != 0
    assert "Package paperlink Error: " + message in compiled.flat_log


def test_digest_mismatch_names_both_digests_and_what_to_do(figure_project: Path) -> None:
    figure = _output(figure_project, "fig_1-a.b", ".png")
    wrong = "0" * 40
    compiled = _compile_error(
        figure_project, f"\\plincludegraphics[digest={wrong.upper()}]{{fig_1-a.b}}"
    )
    assert compiled.returncode != 0
    log = compiled.flat_log
    assert (
        f"Figure 'fig_1-a.b' (figures/fig_1-a.b.png): the manuscript expects sha1:{wrong} but record "
        f"'fig_1-a.b' says sha1:{figure.sha1}."
    ) in log
    # The right digest in any case passes.
    ok = _compile_error(
        figure_project, f"\\plincludegraphics[digest={figure.sha256.upper()}]{{fig_1-a.b}}"
    )
    assert ok.returncode == 0, ok.log[-2000:]


@pytest.mark.parametrize("engine_name", ["pdflatex", "lualatex", "xelatex"])
def test_a_figure_changed_after_its_run_fails_the_compilation(
    figure_project: Path, engine_name: str
) -> None:
    figure = _output(figure_project, "fig_1-a.b", ".png")
    tex = write_manuscript(figure_project / "paper", "\\plincludegraphics{fig_1-a.b}")
    generate(tex)
    changed = png_bytes((1, 2, 3))
    (figure_project / figure.path).write_bytes(changed)
    import hashlib

    compiled = compile_tex(tex.parent, engine=engine_name)
    assert compiled.returncode != 0
    assert (
        f"Package paperlink Error: Figure 'fig_1-a.b': ../figures/fig_1-a.b.png has "
        f"md5:{hashlib.md5(changed).hexdigest()} but record 'fig_1-a.b' says md5:{figure.md5}; "
        "the file changed after its run."
    ) in compiled.flat_log


def test_mismatch_warn_compiles_with_a_warning(figure_project: Path) -> None:
    figure = _output(figure_project, "fig_1-a.b", ".png")
    (figure_project / figure.path).write_bytes(png_bytes((9, 9, 9)))
    compiled = _compile_error(
        figure_project, "\\plincludegraphics{fig_1-a.b}", options="mismatch=warn"
    )
    assert compiled.returncode == 0
    assert (
        "Package paperlink Warning: Figure 'fig_1-a.b': ../figures/fig_1-a.b.png has md5:"
        in compiled.flat_log
    )


def test_missing_figure_file_is_an_error(figure_project: Path) -> None:
    figure = _output(figure_project, "fig_1-a.b", ".png")
    (figure_project / figure.path).unlink()
    compiled = _compile_error(figure_project, "\\plincludegraphics{fig_1-a.b}")
    assert compiled.returncode != 0
    assert (
        "Figure 'fig_1-a.b': file ../figures/fig_1-a.b.png not found or not readable (record 'fig_1-a.b')."
        in compiled.flat_log
    )


def test_without_data_the_package_warns_with_the_command_to_run(tmp_path: Path) -> None:
    write_manuscript(tmp_path, "Draft.")
    source = Path(__file__).resolve().parent.parent / "paperlink" / "texfiles" / "paperlink.sty"
    (tmp_path / "paperlink.sty").write_bytes(source.read_bytes())
    compiled = compile_tex(tmp_path)
    assert compiled.returncode == 0
    assert (
        "Package paperlink Warning: No paperlink data file 'paperlink-data.tex' found; figures are "
        "not checked."
    ) in compiled.flat_log
    assert "paperlink latex --tex main.tex" in compiled.flat_log


def test_scan_reports_problems_before_compiling(figure_project: Path) -> None:
    figure = _output(figure_project, "fig_1-a.b", ".png")
    tex = write_manuscript(
        figure_project / "paper",
        "\\plincludegraphics{sweep.2}\n\\plincludegraphics{nosuch}\n"
        f"\\plincludegraphics[digest={'1' * 32}]{{fig_1-a.b}}\n\\plvalue{{fig_1-a.b:slope}}",
    )
    result = run_cli("latex", "--tex", str(tex), ok=False)
    assert result.exit_code == 1
    assert "main.tex:4: 'sweep.2' is ambiguous" in result.output
    assert "main.tex:5: 'nosuch': no record labelled 'nosuch'" in result.output
    assert f"expects md5:{'1' * 32} but record 'fig_1-a.b' says md5:{figure.md5}" in result.output
    # The files are still written, so the author can compile and read TeX's own messages.
    assert (tex.parent / "paperlink-data.tex").is_file()


def test_json_lists_the_figures_and_values_used(figure_project: Path) -> None:
    tex = write_manuscript(
        figure_project / "paper",
        "\\input{sections/results}",
    )
    (tex.parent / "sections").mkdir()
    (tex.parent / "sections" / "results.tex").write_text(
        "\\plincludegraphics{sweep.2?low}\nSlope \\plvalue{fig_1-a.b:slope}.\n"
    )
    result = run_cli("latex", "--tex", str(tex), "--json")
    data = json.loads(result.output)
    assert data["problems"] == []
    figure, value = data["figures"]
    low = _output(figure_project, "sweep.2", "low.png")
    assert figure["label"] == "sweep.2" and figure["path"] == low.path
    assert figure["sha256"] == low.sha256 and figure["tex_path"] == "../figures/sweep.2-low.png"
    assert figure["line"] == 1 and figure["file"].endswith("sections/results.tex")
    assert value["kind"] == "value" and value["value"] == "0.40"
    compiled = compile_tex(tex.parent)
    assert compiled.returncode == 0, compiled.log[-2000:]
    assert "Slope 0.40." in _text(compiled.pdf)  # type: ignore[arg-type]


def test_sumatra_manuscript_compiles_unchanged(figure_project: Path) -> None:
    figure = _output(figure_project, "fig_1-a.b", ".png")
    folder = figure_project / "paper"
    folder.mkdir()
    tex = folder / "main.tex"
    # Sumatra's own pattern: package options naming its record store, digest= with a sha1.
    tex.write_text(
        "\\documentclass{article}\n"
        "\\usepackage[recordstore=/home/me/.smt/records, project=MyProject]{sumatra}\n"
        "\\begin{document}\n"
        f"\\smtincludegraphics[width=0.5\\textwidth, digest={figure.sha1}]{{fig_1-a.b}}\n"
        "\\end{document}\n"
    )
    generate(tex)
    for engine_name in ("pdflatex", "xelatex"):
        compiled = compile_tex(folder, engine=engine_name)
        assert compiled.returncode == 0, compiled.log[-2000:]
        assert "matches record 'fig_1-a.b'" in compiled.flat_log
        assert read_pdf_manifest(compiled.pdf)["figures"][0]["sha1"] == figure.sha1  # type: ignore[arg-type]


def test_sumatra_per_figure_options_are_accepted(figure_project: Path, engine: str) -> None:
    """Sumatra's \\smtincludegraphics takes project= and recordstore= per figure; graphicx does not."""
    low = _output(figure_project, "sweep.2", "-low.png")
    folder = figure_project / "paper"
    folder.mkdir()
    tex = folder / "main.tex"
    tex.write_text(
        "\\documentclass{article}\n\\usepackage{sumatra}\n\\begin{document}\n"
        "\\smtincludegraphics[width=2cm, project=MyProject, recordstore=/home/me/.smt/records]"
        "{fig_1-a.b}\n"
        f"\\smtincludegraphics[project=MyProject,digest={low.sha1},height=1cm]{{sweep.2?low}}\n"
        "\\end{document}\n"
    )
    generate(tex)
    compiled = compile_tex(folder, engine=engine)
    assert compiled.returncode == 0, compiled.log[-2000:]
    assert "matches record 'fig_1-a.b'" in compiled.flat_log
    assert "matches record 'sweep.2'" in compiled.flat_log


def test_value_reaches_the_pdf_end_to_end(figure_project: Path) -> None:
    values = figure_project / "results" / "fig_1-a.b.values.json"
    assert json.loads(values.read_text()) == {"slope": "0.40"}
    # A later change to the file does not lose the run's value: the store kept the version it recorded.
    values.write_text('{"slope": "tampered"}')
    tex = write_manuscript(figure_project / "paper", "Slope \\plvalue{fig_1-a.b:slope}.")
    generate(tex)
    compiled = compile_tex(tex.parent)
    assert compiled.returncode == 0, compiled.log[-2000:]
    assert "Slope 0.40." in _text(compiled.pdf)  # type: ignore[arg-type]


def test_value_outside_a_run_is_a_usage_error(project_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "paperlink", "value", "slope", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "'paperlink value' must run inside 'paperlink run'" in done.stderr


def test_read_pdf_manifest_rejects_a_pdf_without_one(tmp_path: Path) -> None:
    tex = tmp_path / "plain.tex"
    tex.write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    compiled = compile_tex(tmp_path, "plain.tex")
    with pytest.raises(LatexError, match=r"carries no paperlink-manifest\.json"):
        read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    (tmp_path / "junk.pdf").write_bytes(b"not a pdf")
    with pytest.raises(LatexError, match="cannot read"):
        read_pdf_manifest(tmp_path / "junk.pdf")


_TEX_WRITABLE = string.ascii_letters + string.digits + "_-.+=@!*()[]/<>|;&$~é"
_ANY_LABEL = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp", "Co", "Cn"),
        blacklist_characters=":?",
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Each example compiles a document: report a failure as found rather than shrink it for minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    label=st.text(_TEX_WRITABLE, min_size=1, max_size=12),
    wild=_ANY_LABEL,
    name=st.text(string.ascii_letters + string.digits + "_-+=@", min_size=1, max_size=10),
    value=st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_categories=("Cc",))),
)
@example(label="fig_3-a.b", wild="{%#\\}~^^41é😀", name="x", value="50 % of {x} & $y$ \\ ~ ^ é")
def test_any_label_path_and_value_survives_escaping_and_compiles(
    project_dir: Path, label: str, wild: str, name: str, value: str
) -> None:
    counter = next(_examples)
    label, wild = f"{label}-{counter}", f"{wild}-w{counter}"
    for index, text in enumerate((label, wild)):
        figure = project_dir / "figures" / str(counter) / f"{name}{index}.png"
        figure.parent.mkdir(parents=True, exist_ok=True)
        figure.write_bytes(png_bytes((index, counter % 256, 7)))
        values = project_dir / "results" / f"{counter}-{index}.values.json"
        values.parent.mkdir(exist_ok=True)
        values.write_text(json.dumps({"v": value}))
        _add_finished(project_dir, text, [figure, values])
    for folder in _figure_and_value_in_two_folders(project_dir, label):
        compiled = compile_tex(folder)
        assert compiled.returncode == 0, compiled.log[-3000:]
        manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
        assert [f["label"] for f in manifest["figures"]] == [label]
        assert manifest["values"][0]["value"] == value


_examples = itertools.count(1)


def _add_finished(root: Path, label: str, outputs: list[Path]) -> None:
    store = RecordStore(find_project(root).store_path)
    try:
        store.add_record(
            Record(
                label=label,
                project="p",
                run_id=str(uuid.uuid4()),
                outputs=[_file_digest(root, path) for path in outputs],
                outcome=Outcome(status="finished", exit_status=0),
            )
        )
    finally:
        store.close()


def _figure_and_value_in_two_folders(root: Path, label: str) -> tuple[Path, Path]:
    """A manuscript using ``label``'s figure and value ``v``, in paper/ (generated with --tex: with the
    reference table) and in all/ (every record declared, no table: resolved while compiling)."""
    tex = write_manuscript(
        root / "paper",
        f"\\plincludegraphics[width=1cm]{{{label}}}\n\nV\\plvalue{{{label}:v}}V\n",
        # Values are typeset through pylatexenc, whose macros for Latin-1 letters (\\TH, \\dh) need T1.
        preamble="\\usepackage[T1]{fontenc}\n",
    )
    generate(tex)
    run_cli("latex", "--out", str(root / "all"))
    (root / "all" / "main.tex").write_text(tex.read_text())
    return tex.parent, root / "all"


def test_tricky_labels_and_paths_round_trip_on_every_engine(project_dir: Path, engine: str) -> None:
    """TeX specials, double spaces and non-ASCII in labels, paths and values, through the data catcodes."""
    label, wild = "fig_3-é~$&^", "{%#\\}~^^41é😀"
    figure = project_dir / "figures" / "wild dir" / "a  b%c#d~é.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(png_bytes((9, 8, 7)))
    values = project_dir / "results" / "wild.values.json"
    values.parent.mkdir(exist_ok=True)
    values.write_text(json.dumps({"v": "50 % of {x} & $y$ ~ é"}))
    for text in (label, wild):
        _add_finished(project_dir, text, [figure, values])
    folders = _figure_and_value_in_two_folders(project_dir, label)
    assert "😀" in (folders[1] / "paperlink-data.tex").read_text()  # read, not used
    for folder in folders:
        compiled = compile_tex(folder, engine=engine)
        assert compiled.returncode == 0, compiled.log[-3000:]
        assert f"matches record '{label}'" in compiled.flat_log
        manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
        assert [(f["label"], f["path"]) for f in manifest["figures"]] == [
            (label, "figures/wild dir/a  b%c#d~é.png")
        ]
        assert manifest["values"][0]["value"] == "50 % of {x} & $y$ ~ é"
        assert "V50 % of {x} & $y$ ~ éV" in _text(compiled.pdf).replace("\n", "")  # type: ignore[arg-type]


def _file_digest(root: Path, path: Path) -> FileDigest:
    digests = digest_file(path)
    return FileDigest(
        path=path.relative_to(root).as_posix(),
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        sha1=digests.sha1,
    )


def test_published_record_links_to_its_doi_and_is_cited(project_dir: Path) -> None:
    project = find_project(project_dir)
    figure = project_dir / "figures" / "pub.png"
    figure.parent.mkdir(exist_ok=True)
    figure.write_bytes(png_bytes((5, 6, 7)))
    image = "registry.example/lab/analysis@sha256:" + "ab" * 32
    store = RecordStore(project.store_path)
    try:
        store.add_record(
            Record(
                label="pub-1",
                project="study",
                run_id=str(uuid.uuid4()),
                argv=["python3", "plot.py"],
                start_time="2026-03-04T05:06:07.000000Z",
                outputs=[_file_digest(project_dir, figure)],
                outcome=Outcome(status="finished", exit_status=0),
                container=ContainerRef(image_id="sha256:" + "cd" * 32, repo_digests=[image]),
            )
        )
        store.set_annotation(
            "pub-1",
            "publication",
            {"service": "zenodo", "doi": "10.5281/zenodo.4242", "published": "2026-05-06"},
        )
    finally:
        store.close()
    tex = write_manuscript(
        project_dir / "paper",
        "\\plincludegraphics[width=1cm]{pub-1}\n\n\\plenvironment{pub-1}\n\n\\plrecordurl{pub-1}\n",
    )
    generate(tex)
    bib = (tex.parent / "paperlink.bib").read_text()
    assert "@misc{paperlink:pub-1," in bib
    assert "10.5281/zenodo.4242" in bib and "2026" in bib
    assert "howpublished = {Zenodo}" in bib
    compiled = compile_tex(tex.parent)
    assert compiled.returncode == 0, compiled.log[-2000:]
    uri, tip = _links(compiled.pdf)[0]  # type: ignore[arg-type]
    assert uri == "https://doi.org/10.5281/zenodo.4242"
    assert f"image {image}" in tip and "record pub-1" in tip
    text = _text(compiled.pdf)  # type: ignore[arg-type]
    assert "https://doi.org/10.5281/zenodo.4242" in text.replace("\n", "")
    manifest = read_pdf_manifest(compiled.pdf)  # type: ignore[arg-type]
    assert manifest["figures"][0]["doi"] == "10.5281/zenodo.4242"
    assert manifest["figures"][0]["image"] == image
