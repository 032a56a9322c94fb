"""Archive metadata read from junk CITATION.cff and .zenodo.json files, by a real `paperlink publish`
process: a message naming the file, the field and the fix, no traceback, and bounded memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import run_cli

# The whole `paperlink publish --dry-run` process may use this much address space: a YAML alias bomb
# that expands to gigabytes fails here (MemoryError) rather than taking the machine's memory.
ADDRESS_SPACE = 2 << 30
MAX_RSS_KB = 300 << 10


def _bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join([*lines, "title: laughs", "keywords: *i", ""])


def _deep_json() -> str:
    return '{"title": "deep", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}"


CASES = {
    "binary CITATION.cff": (
        "CITATION.cff",
        Path(sys.executable).resolve().read_bytes()[:4096],
        ["CITATION.cff is a binary file", "citation-file-format.github.io"],
    ),
    "creators not a list": (
        ".zenodo.json",
        b'{"title": "t", "creators": "x"}',
        [".zenodo.json: 'creators' must be a list of entries such as", '"name": "Curie, Marie"'],
    ),
    "a creator's name a number": (
        ".zenodo.json",
        b'{"title": "t", "creators": [{"name": 5}]}',
        [".zenodo.json: 'creators[0].name' must be a string, not a number (5)"],
    ),
    "deeply nested JSON": (
        ".zenodo.json",
        _deep_json().encode(),
        [".zenodo.json nests deeper than 100 levels", "remove the extra brackets"],
    ),
    "YAML alias bomb": (
        "CITATION.cff",
        _bomb().encode(),
        [
            "CITATION.cff: its aliases (*name) expand it to more than 100,000 values",
            "write the values",
        ],
    ),
    "recursive YAML alias": (
        "CITATION.cff",
        b"title: loop\nkeywords: &k [a, *k]\n",
        ["CITATION.cff: an alias refers to the collection that contains it (line 2)"],
    ),
    "deeply nested YAML": (
        "CITATION.cff",
        b"title: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
        ["CITATION.cff: nesting deeper than 100 levels"],
    ),
    "authors not a list": (
        "CITATION.cff",
        b'cff-version: 1.2.0\ntitle: t\nauthors: "not a list"\n',
        ["CITATION.cff: 'authors' must be a list of entries such as [{family-names: Curie"],
    ),
    "an author a number": (
        "CITATION.cff",
        b"title: t\nauthors:\n  - family-names: Curie\n  - 5\n",
        ["CITATION.cff: 'authors[1]' must be an entry such as {family-names: Curie"],
    ),
    "keywords a string": (
        "CITATION.cff",
        b"title: t\nkeywords: physics\n",
        ["CITATION.cff: 'keywords' must be a list of words or phrases"],
    ),
    "a malformed ORCID": (
        "CITATION.cff",
        b"title: t\nauthors:\n  - family-names: Curie\n    orcid: 12\n",
        ["CITATION.cff: authors[0].orcid: '12' is not an ORCID iD", "0000-0002-1825-0097"],
    ),
    "a huge file": (
        "CITATION.cff",
        b"title: t\n" + b"# padding\n" * 200_000,
        ["CITATION.cff is larger than 1 MiB"],
    ),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _publish_dry_run(root: Path) -> tuple[int, str, int]:
    """Exit status, stderr and peak RSS (KiB) of `paperlink publish --record r1 --dry-run` in ``root``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "paperlink", "publish", "--record", "r1", "--dry-run"],
            cwd=root,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            preexec_fn=_limit_memory,
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            process.returncode = 0  # reaped above: keep Popen from waiting again
        err.seek(0)
        return (
            os.waitstatus_to_exitcode(status),
            err.read().decode(errors="replace"),
            usage.ru_maxrss,
        )


@pytest.mark.parametrize("case", list(CASES))
def test_junk_metadata_is_reported_with_file_field_and_fix(project_dir: Path, case: str) -> None:
    name, content, needles = CASES[case]
    run_cli("run", "--label", "r1", "--", "python3", "make_figure.py")
    (project_dir / name).write_bytes(content)
    code, err, peak = _publish_dry_run(project_dir)
    assert code == 1, err
    assert err.startswith("Error: ") and "Traceback" not in err and "\n  hint: " in err, err
    for needle in needles:
        assert needle in err, err
    assert peak < MAX_RSS_KB, f"peak RSS {peak} KiB"


def test_yaml_anchors_for_a_repeated_author_list_still_work(project_dir: Path) -> None:
    """CITATION.cff files repeat their authors in preferred-citation with an anchor: that stays valid."""
    run_cli("run", "--label", "r1", "--", "python3", "make_figure.py")
    (project_dir / "CITATION.cff").write_text(
        "cff-version: 1.2.0\ntitle: Anchored\nmessage: cite\n"
        "authors: &authors\n  - family-names: Curie\n    given-names: Marie\n"
        "    orcid: https://orcid.org/0000-0002-1825-0097\n"
        "preferred-citation:\n  type: article\n  title: The paper\n  authors: *authors\n"
        "  doi: 10.1234/paper\n"
    )
    done = run_cli("publish", "--record", "r1", "--dry-run", "--json")
    summary = json.loads(done.stdout)
    assert summary["metadata"]["creators"] == [
        {"name": "Curie, Marie", "orcid": "0000-0002-1825-0097"}
    ]
    assert summary["metadata"]["related_identifiers"] == [
        {"identifier": "10.1234/paper", "relation": "isSupplementTo"}
    ]


def test_a_publish_table_creator_without_a_name_is_reported(project_dir: Path) -> None:
    run_cli("run", "--label", "r1", "--", "python3", "make_figure.py")
    with (project_dir / "paperlink.toml").open("a") as config:
        config.write('\n[publish]\ncreators = [{orcid = "0000-0002-1825-0097"}]\n')
    code, err, _ = _publish_dry_run(project_dir)
    assert code == 1 and "Traceback" not in err, err
    assert "paperlink.toml: 'publish.creators[0].name' must be a non-empty string" in err


def test_zenodo_json_license_may_be_an_id_object(project_dir: Path) -> None:
    run_cli("run", "--label", "r1", "--", "python3", "make_figure.py")
    (project_dir / ".zenodo.json").write_text(
        '{"title": "t", "license": {"id": "CC-BY-4.0"}, "creators": [{"name": "Curie, Marie"}]}'
    )
    summary = json.loads(run_cli("publish", "--record", "r1", "--dry-run", "--json").stdout)
    assert summary["metadata"]["license"] == "CC-BY-4.0"
