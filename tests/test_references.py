"""The one resolver of references and digest= pins (paperlink/latex/references.py), and the proof that
``paperlink latex``, ``paperlink verify``, the viewer and paperlink.sty at compile time all follow it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from fixtures_latex import compile_tex, png_bytes, write_manuscript
from helpers import paperlink_process, run_cli

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import Outcome, Record
from paperlink.core.store import RecordStore
from paperlink.errors import UnresolvedReference
from paperlink.latex.manuscript import Reference
from paperlink.latex.references import (
    AMBIGUOUS,
    BAD_DIGEST,
    DIGEST_MISMATCH,
    NO_IMAGE,
    UNKNOWN_FRAGMENT,
    UNKNOWN_LABEL,
    UNKNOWN_PATH,
    check_digest,
    normalise_path,
    parse_digest,
    resolve,
    resolve_output,
)
from paperlink.web.figures import manuscript_figures


def record(*paths: str) -> Record:
    return Record(
        label="run",
        project="p",
        run_id="x",
        outputs=[FileDigest(path=p, sha256="a" * 64, md5="b" * 32, sha1="c" * 40) for p in paths],
    )


def test_exact_path() -> None:
    assert (
        resolve_output(
            record("figures/a.pdf", "figures/b.pdf"), Reference.parse("run:figures/b.pdf")
        ).path
        == "figures/b.pdf"
    )


def test_only_image_output() -> None:
    assert (
        resolve_output(record("figures/a.pdf", "results/v.json"), Reference.parse("run")).path
        == "figures/a.pdf"
    )


def test_fragment() -> None:
    assert (
        resolve_output(record("figures/a.pdf", "figures/b.png"), Reference.parse("run?b.p")).path
        == "figures/b.png"
    )


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("figures/a.pdf", "figures/a.pdf"),
        ("./figures/a.pdf", "figures/a.pdf"),
        ("././figures//a.pdf/", "figures/a.pdf"),
        ("figures/./sub/../a.pdf", "figures/a.pdf"),
        ("../figures/a.pdf", "../figures/a.pdf"),
        ("./../../x/../figures/a.pdf", "../../figures/a.pdf"),
        ("/abs//figures/./a.pdf", "/abs/figures/a.pdf"),
        ("", ""),
        (".", ""),
    ],
)
def test_paths_are_normalised_lexically(written: str, normal: str) -> None:
    assert normalise_path(written) == normal


# Every message is paperlink.sty's, without its leading "Figure" and final period.
@pytest.mark.parametrize(
    ("paths", "ref", "code", "message"),
    [
        (
            ("figures/a.pdf", "results/b.csv"),
            "run:figures/zz.pdf",
            UNKNOWN_PATH,
            "'run:figures/zz.pdf': record 'run' has no output 'figures/zz.pdf' "
            "(outputs: figures/a.pdf, results/b.csv)",
        ),
        (
            ("figures/b.pdf", "figures/a.pdf"),
            "run?figures",
            AMBIGUOUS,
            "'run?figures' is ambiguous: record 'run' has several matching outputs: "
            "figures/a.pdf, figures/b.pdf",
        ),
        (
            ("figures/a.pdf",),
            "run?zz",
            UNKNOWN_FRAGMENT,
            "'run?zz': no output of record 'run' contains 'zz' (outputs: figures/a.pdf)",
        ),
        (
            ("results/v.json",),
            "run",
            NO_IMAGE,
            "'run': record 'run' has no image output (outputs: results/v.json)",
        ),
        (
            ("figures/a.pdf", "figures/b.png"),
            "run",
            AMBIGUOUS,
            "'run' is ambiguous: record 'run' has several matching outputs: "
            "figures/a.pdf, figures/b.png",
        ),
        ((), "run", NO_IMAGE, "'run': record 'run' has no image output (outputs: none)"),
    ],
)
def test_failures_say_what_to_write(
    paths: tuple[str, ...], ref: str, code: str, message: str
) -> None:
    with pytest.raises(UnresolvedReference) as info:
        resolve_output(record(*paths), Reference.parse(ref))
    assert (info.value.code, info.value.message) == (code, message)
    assert info.value.hint


@pytest.mark.parametrize(
    ("written", "parsed"),
    [
        ("A" * 64, ("sha256", "a" * 64)),
        ("sha256:" + "a" * 64, ("sha256", "a" * 64)),
        ("SHA1:" + "B" * 40, ("sha1", "b" * 40)),
        ("md5:" + "c" * 32, ("md5", "c" * 32)),
        (" " + "c" * 32 + " ", ("md5", "c" * 32)),
        ("", None),
        ("xyz", None),
        ("z" * 40, None),
        ("sha1:" + "a" * 64, None),
        ("sha512:" + "a" * 64, None),
        (":" + "a" * 40, None),
        ("sha1:sha1:" + "a" * 40, None),
        ("a" * 20 + " " + "a" * 19, None),
    ],
)
def test_digest_pins_are_bare_or_prefixed_hex(written: str, parsed: tuple[str, str] | None) -> None:
    ref = Reference.parse("run")
    if parsed is not None:
        assert parse_digest(ref, written) == parsed
        return
    with pytest.raises(UnresolvedReference) as info:
        parse_digest(ref, written)
    assert info.value.code == BAD_DIGEST
    assert info.value.message == (
        f"'run': digest='{written}' is not a sha1, sha256 or md5 hex digest"
    )


def test_a_digest_pin_names_both_digests_when_it_differs() -> None:
    output = record("figures/a.pdf").outputs[0]
    check_digest(Reference.parse("run"), "SHA256:" + "A" * 64, "run", output)
    with pytest.raises(UnresolvedReference) as info:
        check_digest(Reference.parse("run"), "1" * 40, "run", output)
    assert (info.value.code, info.value.message) == (
        DIGEST_MISMATCH,
        f"'run' (figures/a.pdf): the manuscript expects sha1:{'1' * 40} but record 'run' says "
        f"sha1:{'c' * 40}",
    )


# -- one table, through every consumer ----------------------------------------------------------------
FIG = "figures/fig_1-a.b.png"
# (digest= option or None, reference, the output it names or the code of the error). {sha256}, {SHA1} ...
# stand for the digests of FIG, in that case.
CASES: list[tuple[str | None, str, str]] = [
    (None, "fig_1-a.b", FIG),
    (None, "fig_1-a.b:figures/fig_1-a.b.png", FIG),
    (None, "fig_1-a.b:./figures/fig_1-a.b.png", FIG),
    (None, "fig_1-a.b:../figures/fig_1-a.b.png", FIG),
    (None, "fig_1-a.b:.//figures/./fig_1-a.b.png", FIG),
    (None, "fig_1-a.b:figures/../figures/fig_1-a.b.png", FIG),
    (None, "fig_1-a.b:./../figures/fig_1-a.b.png", FIG),
    (None, " fig_1-a.b : figures/fig_1-a.b.png ", FIG),
    (None, "fig_1-a.b?a.b.png", FIG),
    (None, "sweep.2?low", "figures/sweep.2-low.png"),
    (None, "sweep.2:figures/sweep.2-high.png", "figures/sweep.2-high.png"),
    (None, "inset", "paper/inset.png"),
    (None, "inset:inset.png", "paper/inset.png"),
    (None, "inset:./inset.png", "paper/inset.png"),
    (None, "inset:paper/inset.png", "paper/inset.png"),
    (None, "fig_1-a.b:Figures/fig_1-a.b.png", UNKNOWN_PATH),
    (None, "fig_1-a.b:fig_1-a.b.png", UNKNOWN_PATH),
    (None, "fig_1-a.b:figures/other.png", UNKNOWN_PATH),
    (None, "fig_1-a.b:", UNKNOWN_PATH),
    (None, "fig_1-a.b?nothing", UNKNOWN_FRAGMENT),
    (None, "fig_1-a.b?", AMBIGUOUS),  # every path holds the empty fragment
    (None, "sweep.2", AMBIGUOUS),
    (None, "sweep.2?png", AMBIGUOUS),
    (None, "table-3", NO_IMAGE),
    (None, "nosuch", UNKNOWN_LABEL),
    (None, "nosuch:figures/a.png", UNKNOWN_LABEL),
    ("{SHA256}", "fig_1-a.b", FIG),
    ("sha256:{sha256}", "fig_1-a.b", FIG),
    ("SHA1:{sha1}", "fig_1-a.b", FIG),
    ("md5:{MD5}", "fig_1-a.b", FIG),
    ("{md5}", "fig_1-a.b:../figures/fig_1-a.b.png", FIG),
    ("", "fig_1-a.b", BAD_DIGEST),
    ("xyz", "fig_1-a.b", BAD_DIGEST),
    ("z" * 40, "fig_1-a.b", BAD_DIGEST),
    ("sha1:{sha256}", "fig_1-a.b", BAD_DIGEST),
    ("sha512:{sha256}", "fig_1-a.b", BAD_DIGEST),
    (":{sha1}", "fig_1-a.b", BAD_DIGEST),
    ("0" * 40, "fig_1-a.b", DIGEST_MISMATCH),
    ("sha256:" + "0" * 64, "fig_1-a.b", DIGEST_MISMATCH),
]
FIRST_LINE = 4  # of the body in write_manuscript's document


def _add(root: Path, label: str, files: dict[str, bytes]) -> None:
    store = RecordStore(find_project(root).store_path)
    outputs = []
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
        digests = digest_file(root / name)
        outputs.append(FileDigest(name, digests.size, digests.sha256, digests.md5, digests.sha1))
    try:
        store.add_record(
            Record(
                label=label,
                project="study",
                run_id=str(uuid.uuid4()),
                outputs=outputs,
                outcome=Outcome(status="finished", exit_status=0),
            )
        )
    finally:
        store.close()


@pytest.fixture
def references_project(project_dir: Path) -> Path:
    """Records ``fig_1-a.b`` (a PNG and a CSV), ``sweep.2`` (two PNGs), ``table-3`` (a CSV) and ``inset``
    (a PNG in the manuscript's folder, paper/)."""
    _add(project_dir, "fig_1-a.b", {FIG: png_bytes((1, 2, 3)), "results/fig_1-a.b.csv": b"x\n"})
    _add(
        project_dir,
        "sweep.2",
        {
            "figures/sweep.2-low.png": png_bytes((4, 5, 6)),
            "figures/sweep.2-high.png": png_bytes((7, 8, 9)),
        },
    )
    _add(project_dir, "table-3", {"results/table.csv": b"a,b\n"})
    _add(project_dir, "inset", {"paper/inset.png": png_bytes((10, 11, 12))})
    return project_dir


def _digest_option(option: str | None, root: Path) -> str | None:
    if option is None:
        return None
    digests = digest_file(root / FIG)
    names = {name: getattr(digests, name) for name in ("sha256", "sha1", "md5")}
    return option.format(**names, **{k.upper(): v.upper() for k, v in names.items()})


def _python_outcomes(root: Path, folder: Path) -> list[tuple[str, str]]:
    """(path or code, message) of each case, by the resolver itself."""
    store = RecordStore(find_project(root).store_path)
    outcomes = []
    try:
        for option, text, _ in CASES:
            reference = Reference.parse(text)
            try:
                found, output = resolve(store, reference, root=root, folder=folder)
                digest = _digest_option(option, root)
                if digest is not None:
                    check_digest(reference, digest, found.label, output)
            except UnresolvedReference as exc:
                outcomes.append((exc.code, exc.message))
                continue
            outcomes.append((output.path, ""))
    finally:
        store.close()
    return outcomes


def _manuscript(root: Path) -> Path:
    lines = []
    for number, (option, text, _) in enumerate(CASES):
        digest = _digest_option(option, root)
        options = "" if digest is None else f"[width=1cm, digest={digest}]"
        lines.append(f"\\typeout{{paperlink-case-{number}}}\\plincludegraphics{options}{{{text}}}")
    return write_manuscript(root / "paper", "\n".join(lines) + "\n\\typeout{paperlink-case-end}")


def _tex_outcomes(log: str) -> list[str]:
    """What the compile logged for each case, in order."""
    parts = re.split(r"^paperlink-case-(?:\d+|end)$", log, flags=re.MULTILINE)
    assert len(parts) == len(CASES) + 2, "a case marker is missing from the log"
    return parts[1:-1]


@pytest.mark.tex
def test_latex_verify_the_viewer_and_the_compile_resolve_every_reference_alike(
    references_project: Path,
) -> None:
    root = references_project
    tex = _manuscript(root)
    folder = tex.parent
    python = _python_outcomes(root, folder)
    assert [outcome for outcome, _ in python] == [expected for _, _, expected in CASES]

    # paperlink latex: a problem at the case's line, with the same message, or the same output.
    done = paperlink_process("latex", "--tex", str(tex), "--json", cwd=root)
    assert done.returncode == 1, done.stderr
    latex = json.loads(done.stdout)
    problems = {int(p.split(":")[1]): p.split(": ", 1)[1] for p in latex["problems"]}
    figures = {row["line"]: row["path"] for row in latex["figures"]}
    for number, (outcome, message) in enumerate(python):
        line = FIRST_LINE + number
        assert (figures.get(line), problems.get(line)) == (
            (outcome, None) if not message else (None, message)
        ), CASES[number]

    # paperlink verify: the same output, or the same message among its reasons.
    done = paperlink_process("verify", str(tex), "--json", cwd=root)
    items = json.loads(done.stdout)["items"]
    assert len(items) == len(CASES)
    for item, (outcome, message), case in zip(items, python, CASES, strict=True):
        if message:
            assert item["status"] != "OK" and message in item["reason"], case
        else:
            assert (item["status"], item["path"]) == ("OK", outcome), case

    # The viewer's figure list.
    store = RecordStore(find_project(root).store_path)
    try:
        views = manuscript_figures(store, root, tex)
    finally:
        store.close()
    for number, (outcome, message) in enumerate(python):
        line, case = FIRST_LINE + number, CASES[number]
        view = next(v for v in views if any(u.line == line for u in v.uses))
        pins = [p for p in view.digest_problems if re.match(rf"main\.tex:{line}[ :]", p)]
        if not message:
            assert (view.path, view.problem, pins) == (outcome, None, []), case
        elif outcome == DIGEST_MISMATCH:
            digest = _digest_option(case[0], root)
            assert (view.path, view.problem) == (FIG, None), case
            assert pins == [f"main.tex:{line} pins {digest}, not the record's digest"], case
        elif outcome == BAD_DIGEST:
            assert (view.path, view.problem) == (FIG, None), case
            assert pins == [f"main.tex:{line}: {message}"], case
        else:
            assert view.problem is not None and view.problem.startswith(message), case

    # paperlink.sty, once with the generator's reference table and once resolving every reference
    # itself (data for all records, no table): the same outcome, in the same words.
    for generated in ("--tex", "--out"):
        if generated == "--out":
            run_cli("latex", "--out", str(folder))
            assert "\n\\paperlinkfigure{" not in (folder / "paperlink-data.tex").read_text()
        compiled = compile_tex(folder, halt_on_error=False)
        assert compiled.pdf is not None, compiled.log[-3000:]
        for logged, (outcome, message), case in zip(
            _tex_outcomes(compiled.flat_log), python, CASES, strict=True
        ):
            errors = re.findall(r"Package paperlink Error: (.*)", logged)
            if message:
                start = "Figure or value " if outcome == UNKNOWN_LABEL else "Figure "
                assert errors == [start + message + "."], (generated, case)
            else:
                assert errors == [], (generated, case)
                label = Reference.parse(case[1]).label
                file = "inset.png" if outcome.startswith("paper/") else f"../{outcome}"
                assert f": {file} matches record '{label}' (md5:" in logged, (generated, case)
