"""paperlink store copy | sync between any two stores (SQLite <-> PostgreSQL, SQLite <-> SQLite)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from helpers import run_cli

from paperlink.core.envpackages import Environment, Package
from paperlink.core.files import FileDigest
from paperlink.core.records import STATUS_FINISHED, Record
from paperlink.core.store import RecordStore

PAIRS = [("sqlite", "sqlite"), ("sqlite", "postgresql"), ("postgresql", "sqlite")]


@pytest.fixture
def make_location(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``make_location(kind)``: a new store's place, a SQLite file or a fresh PostgreSQL database."""
    made = iter(range(100))

    def make(kind: str) -> str:
        if kind == "sqlite":
            return str(tmp_path / f"store{next(made)}.sqlite")
        server = request.getfixturevalue("pg_server")
        request.getfixturevalue("pg_store_url")  # sets PGPASSWORD
        return str(server.url(server.create_database()))

    return make


def add(
    store: RecordStore,
    label: str,
    *,
    start: str = "2026-11-22T10:00:00.000000Z",
    environment: Environment | None = None,
) -> Record:
    diff = f"diff of {label}\n".encode()
    sha = hashlib.sha256(diff).hexdigest()
    store.put_blob(diff, sha)
    record = Record(label=label, project="p", run_id=f"run-{label}-{time.time_ns()}", start_time=start,
                    argv=["python3", "fig.py", label], tags=["sweep"], reason=f"why {label}",
                    outputs=[FileDigest(path=f"figures/{label}.svg", size=3, sha256="a" * 64,
                                        md5="b" * 32, sha1="c" * 40)])  # fmt: skip
    record.code.diff_sha256 = sha
    record.outcome.status = STATUS_FINISHED
    if environment is not None:
        record.environment_digest = store.put_environment(environment)
    store.add_record(record)
    store.put_stream(label, "stdout", {"head": f"made {label}\n".encode()})
    return record


def copy_json(*args: str, ok: bool = True) -> dict:  # type: ignore[type-arg]
    result = run_cli("store", *args, "--json", ok=ok)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def snapshot(location: str) -> dict[str, object]:
    """Everything a copy must carry, by run_id: the record as shown, its annotations, streams, contents."""
    with RecordStore(location) as store:
        found: dict[str, object] = {}
        for label in store.labels():
            record = store.get(label)
            blob = store.get_blob(record.code.diff_sha256) if record.code.diff_sha256 else None
            found[record.run_id] = (record.to_dict(), store.annotations(label),
                                    store.get_stream(label, "stdout"), blob)  # fmt: skip
        return found


@pytest.mark.parametrize(("source_kind", "target_kind"), PAIRS)
def test_copy_carries_everything_and_twice_changes_nothing(
    make_location,
    source_kind: str,
    target_kind: str,  # type: ignore[no-untyped-def]
) -> None:
    source, target = make_location(source_kind), make_location(target_kind)
    with RecordStore.create(source) as store:
        add(store, "fig1", start="2026-11-20T10:00:00.000000Z")
        add(store, "fig2")
        store.add_tags("fig2", ["final"])
        store.set_annotation(
            "fig2", "publication", {"doi": "10.5281/zenodo.42", "service": "zenodo"}
        )
        store.set_annotation("fig2", "note", {"text": "the one in the paper"})
    first = copy_json("copy", source, target)["copies"][0]
    assert first["added"] == 2 and first["present"] == 0 and first["clashes"] == []
    assert snapshot(target) == snapshot(source)
    with RecordStore(target) as copied, RecordStore(source) as original:
        assert copied.get("fig1").digest() == original.get("fig1").digest()
        assert copied.get("fig2").publication is not None
        assert copied.get("fig2").publication.doi == "10.5281/zenodo.42"  # type: ignore[union-attr]
        assert [s.label for s in copied.summaries(tag="final")] == ["fig2"]
    again = copy_json("copy", source, target)["copies"][0]
    assert again["added"] == 0 and again["present"] == 2 and again["updated"] == []
    assert snapshot(target) == snapshot(source)


@pytest.mark.parametrize(("source_kind", "target_kind"), PAIRS)
def test_copy_carries_the_environments_the_records_name(
    make_location,
    source_kind: str,
    target_kind: str,  # type: ignore[no-untyped-def]
) -> None:
    source, target = make_location(source_kind), make_location(target_kind)
    environment = Environment(
        packages={"pip": [Package("numpy", "1.26.4")], "dpkg": [Package("tar", "1.35")]},
        sources={"pip": "interpreter", "dpkg": "host"},
    )
    with RecordStore.create(source) as store:
        digest = add(store, "fig1", environment=environment).environment_digest
        add(store, "fig2", environment=environment)
    copy_json("copy", source, target)
    with RecordStore(target) as store:
        assert {store.get(label).environment_digest for label in ("fig1", "fig2")} == {digest}
        assert digest is not None
        assert store.get_environment(digest).to_json() == environment.to_json()
    # Back the other way: the one environment is kept once, as it was.
    copy_json("copy", target, source)
    with RecordStore(source) as store:
        assert store.get_environment(digest).to_json() == environment.to_json()


@pytest.mark.parametrize(("a_kind", "b_kind"), PAIRS)
def test_sync_goes_both_ways_and_brings_later_tags_and_annotations(
    make_location,
    a_kind: str,
    b_kind: str,  # type: ignore[no-untyped-def]
) -> None:
    a, b = make_location(a_kind), make_location(b_kind)
    with RecordStore.create(a) as store:
        add(store, "laptop")
    with RecordStore.create(b) as store:
        add(store, "cluster")
    there, back = copy_json("sync", a, b)["copies"]
    assert (there["added"], back["added"]) == (1, 1)
    assert set(snapshot(a)) == set(snapshot(b)) and len(snapshot(a)) == 2
    # Published on the cluster's store, tagged on the laptop's: the next sync brings each across.
    with RecordStore(b) as store:
        store.set_annotation("laptop", "publication", {"doi": "10.5281/zenodo.7"})
    with RecordStore(a) as store:
        store.add_tags("cluster", ["checked"])
    there, back = copy_json("sync", a, b)["copies"]
    assert there["updated"] == ["cluster"] and back["updated"] == ["laptop"]
    assert snapshot(a) == snapshot(b)
    with RecordStore(a) as store:
        assert store.get("laptop").publication.doi == "10.5281/zenodo.7"  # type: ignore[union-attr]
    quiet = copy_json("sync", a, b)["copies"]
    assert [c["added"] for c in quiet] == [0, 0] and [c["updated"] for c in quiet] == [[], []]


def test_a_label_clash_and_a_differing_annotation_are_reported_not_overwritten(
    make_location,  # type: ignore[no-untyped-def]
) -> None:
    source, target = make_location("sqlite"), make_location("postgresql")
    with RecordStore.create(source) as store:
        add(store, "fig1")
        ours = add(store, "shared")
    with RecordStore.create(target) as store:
        theirs = add(store, "fig1")  # the same label, another run
    result = run_cli("store", "copy", source, target, ok=False)
    assert result.exit_code == 1
    assert "label 'fig1' is taken by another run" in result.stderr
    with RecordStore(target) as store:
        assert store.get("fig1").run_id == theirs.run_id
        assert store.get("shared").run_id == ours.run_id
        store.set_annotation("shared", "publication", {"doi": "10.5281/zenodo.1"})
    with RecordStore(source) as store:
        store.set_annotation("shared", "publication", {"doi": "10.5281/zenodo.2"})
    result = run_cli("store", "copy", source, target, ok=False)
    assert result.exit_code == 1 and "another 'publication' annotation" in result.stderr
    with RecordStore(target) as store:
        assert store.get("shared").publication.doi == "10.5281/zenodo.1"  # type: ignore[union-attr]


def test_copy_from_a_missing_store_says_so(tmp_path: Path) -> None:
    result = run_cli(
        "store", "copy", str(tmp_path / "none.sqlite"), str(tmp_path / "b.sqlite"), ok=False
    )
    assert result.exit_code != 0 and "no record store at" in result.stderr
    assert not (tmp_path / "b.sqlite").exists()


def test_a_record_under_another_label_there_is_matched_by_its_run(
    make_location,  # type: ignore[no-untyped-def]
) -> None:
    source, target = make_location("sqlite"), make_location("postgresql")
    with RecordStore.create(source) as store:
        record = add(store, "fig1")
        store.add_tags("fig1", ["final"])
        store.set_annotation("fig1", "note", {"text": "kept"})
    with RecordStore.create(target) as store:
        record.label = "fig1-laptop"  # the same run, kept under another label there
        record.tags = []
        store.add_record(record)
    done = copy_json("copy", source, target)["copies"][0]
    assert done["added"] == 0 and done["present"] == 1 and done["updated"] == ["fig1-laptop"]
    with RecordStore(target) as store:
        assert store.get("fig1-laptop").tags == ["final", "sweep"]
        assert store.get_annotation("fig1-laptop", "note") == {"text": "kept"}
        assert not store.exists("fig1")
