"""``verify --doi`` against a hostile archive server (a real process on 127.0.0.1): file keys that point
outside, records that are not records, odd links, code archives that try to unpack outside. Each gets a
clear message and exit 10, no traceback, and nothing is written outside paperlink's temporary folder."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_hostile import HostileArchive
from helpers import paperlink_process

from paperlink.core.files import FileDigest
from paperlink.core.records import CodeVersion, Record

SVG = b'<svg id="a"/>'
COMMIT = "a1" * 20


def record_json(*, label: str = "fig", commit: str | None = None, **changes: object) -> bytes:
    output = FileDigest(
        path="figures/a.svg",
        size=len(SVG),
        sha256=hashlib.sha256(SVG).hexdigest(),
        md5=hashlib.md5(SVG).hexdigest(),
    )
    record = Record(
        label=label,
        project="study",
        run_id="0" * 32,
        argv=["python3", "make_figure.py", "a"],
        outputs=[output],
        code=CodeVersion(vcs="git", commit=commit) if commit else CodeVersion(),
        start_time="2026-01-01T00:00:00.000000Z",
    )
    data = record.to_dict()
    data.update(changes)
    return json.dumps(data).encode()


def verify_doi(hostile: HostileArchive, cwd: Path, *extra: str) -> tuple[int, str, str]:
    done = paperlink_process(
        "verify", "--doi", hostile.record_url, "--max-retry-time", "2", *extra, cwd=cwd
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.fixture
def reviewer(tmp_path: Path) -> Path:
    """An empty folder to run the reviewer's command in; tests check it stays empty."""
    folder = tmp_path / "reviewer"
    folder.mkdir()
    return folder


ESCAPES: dict[str, Callable[[Path], str]] = {
    "absolute": lambda tmp: str(tmp / "landed.record.json"),
    "climbing": lambda tmp: "../" * 40 + str(tmp / "climbed.record.json").lstrip("/"),
    "backslash": lambda tmp: "..\\..\\evil.record.json",
    "hidden": lambda tmp: ".hidden.record.json",
    "nul": lambda tmp: "x\x00y.record.json",
    "dotdot": lambda tmp: "..",
    "newline": lambda tmp: "fig\nOK  fig:figures/a.svg.record.json",
}


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_a_hostile_file_key_is_refused_before_anything_is_downloaded(
    hostile: HostileArchive, reviewer: Path, tmp_path: Path, kind: str
) -> None:
    key = ESCAPES[kind](tmp_path)
    hostile.serve({key: record_json(), "fig__figures__a.svg": SVG})
    code, out, err = verify_doi(hostile, reviewer)
    assert code == 10, out + err
    assert "not a plain file name" in err and repr(key) in err, err
    assert "Traceback" not in err
    assert hostile.downloads() == []  # refused on the listing: nothing fetched, nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviewer"]
    assert list(reviewer.iterdir()) == []


def test_a_hostile_key_among_the_outputs_refuses_the_whole_archive(
    hostile: HostileArchive, reviewer: Path, tmp_path: Path
) -> None:
    hostile.serve({"fig.record.json": record_json(), str(tmp_path / "fig__figures__a.svg"): SVG})
    code, _, err = verify_doi(hostile, reviewer)
    assert code == 10 and "not a plain file name" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviewer"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{", "Expecting property name"),
        (b"[]", "it is a JSON list, not an object"),
        (record_json(label="two words"), "invalid label"),
        (record_json(outputs="zz"), "outputs is not a list"),
        (record_json(outputs=["figures/a.svg"]), "an output is not an object"),
        (record_json(outputs=[{"path": "figures/a.svg", "sha256": "../../x"}]), "malformed digest"),
        (record_json(argv="rm -rf /"), "argv is not a list of strings"),
        (record_json(code={"vcs": "git", "commit": "--upload-pack=evil"}), "not a commit id"),
    ],
)
def test_a_record_that_is_not_one_is_a_clear_error(
    hostile: HostileArchive, reviewer: Path, content: bytes, why: str
) -> None:
    hostile.serve({"fig.record.json": content, "fig__figures__a.svg": SVG})
    code, out, err = verify_doi(hostile, reviewer)
    assert code == 10, out + err
    assert "fig.record.json of record 777" in err and "is not a paperlink run record" in err
    assert why in err and "Traceback" not in err


@pytest.mark.parametrize("invenio", [False, True])
def test_odd_links_are_never_followed_and_a_tampered_output_is_a_mismatch(
    hostile: HostileArchive, reviewer: Path, invenio: bool
) -> None:
    hostile.serve({"fig.record.json": record_json(), "fig__figures__a.svg": SVG}, invenio=invenio)
    code, out, err = verify_doi(hostile, reviewer, "--json")
    assert code == 0, out + err
    assert [i["status"] for i in json.loads(out)["items"]] == ["OK"]
    # Files come from the API's own content URLs, whatever the entries' links say.
    assert all(p.startswith("/api/records/777/files/") for p in hostile.downloads())
    hostile.serve({"fig.record.json": record_json(), "fig__figures__a.svg": b"<svg>other</svg>"})
    code, out, err = verify_doi(hostile, reviewer)
    assert code == 3 and "MISMATCH" in out and "Traceback" not in err
    assert list(reviewer.iterdir()) == []


def tarball(members: list[tuple[str, str, str | bytes]]) -> bytes:
    """A tar.gz of (name, kind, data): kind file (data: content), symlink/hardlink (data: target),
    fifo or dir."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                content = data if isinstance(data, bytes) else data.encode()
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            info.type = {
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "dir": tarfile.DIRTYPE,
            }[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = str(data)
            tar.addfile(info)
    return raw.getvalue()


SCRIPT = (
    "import pathlib; pathlib.Path('figures').mkdir(exist_ok=True); "
    "pathlib.Path('figures/a.svg').write_text('<svg id=\"a\"/>')\n"
)
TARBALLS: dict[str, Callable[[Path], list[tuple[str, str, str | bytes]]]] = {
    "climbing member": lambda tmp: [("study/make_figure.py", "file", SCRIPT),
                                    ("study/../../../../../../" + str(tmp)[1:] + "/escaped.txt", "file", "x")],
    "absolute member": lambda tmp: [(str(tmp / "escaped.txt"), "file", "x")],
    "link out": lambda tmp: [("study/figures", "symlink", str(tmp / "victim"))],
    "link up": lambda tmp: [("study/figures", "symlink", "../../../../../../../..")],
    "file beneath a link": lambda tmp: [("study/here", "symlink", "."), ("study/here/f", "file", "x")],
    "hard link out": lambda tmp: [("study/passwd", "hardlink", "/etc/passwd")],
    "fifo": lambda tmp: [("study/pipe", "fifo", "")],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(TARBALLS))
def test_a_hostile_code_archive_is_not_unpacked_by_rerun(
    hostile: HostileArchive, reviewer: Path, tmp_path: Path, kind: str
) -> None:
    (tmp_path / "victim").mkdir()
    hostile.serve(
        {
            "fig.record.json": record_json(commit=COMMIT),
            "fig__figures__a.svg": SVG,
            f"code-{COMMIT[:12]}.tar.gz": tarball(TARBALLS[kind](tmp_path)),
        }
    )
    code, out, err = verify_doi(hostile, reviewer, "--rerun")
    assert code == 10, out + err
    assert f"code-{COMMIT[:12]}.tar.gz of record 777" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviewer", "victim"]
    assert list((tmp_path / "victim").iterdir()) == [] and list(reviewer.iterdir()) == []


def test_a_record_whose_output_climbs_out_is_not_rerun(
    hostile: HostileArchive, reviewer: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    climbing = "../" * 40 + str(victim).lstrip("/")
    outputs = [{"path": climbing, "kind": "file", "sha256": "0" * 64, "size": 1}]
    hostile.serve(
        {
            "fig.record.json": record_json(commit=COMMIT, outputs=outputs),
            f"code-{COMMIT[:12]}.tar.gz": tarball([("study/make_figure.py", "file", SCRIPT)]),
        }
    )
    code, out, err = verify_doi(hostile, reviewer, "--rerun")
    assert code == 10, out + err
    assert "could point outside its folder" in err and "Traceback" not in err
    assert victim.read_text() == "keep me"
