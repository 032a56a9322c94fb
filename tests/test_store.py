import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from helpers import paperlink_process, run_cli

from paperlink.core.records import STATUS_FINISHED, Record
from paperlink.core.store import MIGRATIONS, SCHEMA_VERSION, RecordStore
from paperlink.errors import RecordImmutable, RecordNotFound, StoreError, UsageError


def new_record(label: str, start: str = "2026-11-22T10:00:00.000000Z") -> Record:
    return Record(
        label=label,
        project="p",
        run_id=f"id-{label}-{time.time_ns()}",
        start_time=start,
        argv=["x"],
    )


def finished(store: RecordStore, label: str, start: str = "2026-11-22T10:00:00.000000Z") -> Record:
    record = new_record(label, start)
    record.outcome.status = STATUS_FINISHED
    store.add_record(record)
    return record


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


BACK_ENDS = ["sqlite", "postgresql"]
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)


@pytest.fixture(params=BACK_ENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new store goes: a SQLite file, or a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "s.sqlite")
    return str(request.getfixturevalue("pg_store_url"))


def raw_sql(location: str, statement: str) -> list[tuple[object, ...]]:
    """One statement straight through the database's own driver, behind paperlink's back."""
    if location.startswith("postgresql://"):
        with psycopg.connect(location, autocommit=True) as conn:
            cursor = conn.execute(statement)  # type: ignore[call-overload]
            return list(cursor.fetchall()) if cursor.description else []
    db = sqlite3.connect(location, isolation_level=None)
    try:
        return db.execute(statement).fetchall()
    finally:
        db.close()


def fingerprint(location: str) -> object:
    """What must not change when paperlink refuses a store: the file, or the database's rows."""
    if location.startswith("postgresql://"):
        return raw_sql(location, "SELECT name FROM migrations ORDER BY rowid") + raw_sql(
            location, "SELECT label, data FROM records ORDER BY label"
        )
    return file_digest(Path(location))


@pytest.fixture(params=BACK_ENDS)
def project_store(
    request: pytest.FixtureRequest, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The scratch project's store: its SQLite file, or (through PAPERLINK_STORE) a PostgreSQL database."""
    if request.param == "sqlite":
        return str(project_dir / ".paperlink/records.sqlite")
    url = str(request.getfixturevalue("pg_store_url"))
    RecordStore.create(url).close()
    monkeypatch.setenv("PAPERLINK_STORE", url)
    return url


def test_new_store_records_its_migrations(location: str) -> None:
    with RecordStore.create(location) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    with RecordStore(location) as again:
        assert again.schema_version == SCHEMA_VERSION


def test_missing_store_says_how_to_start(location: str) -> None:
    with pytest.raises(StoreError, match="paperlink init"):
        RecordStore(location)


def test_newer_schema_is_refused_without_writing(location: str) -> None:
    RecordStore.create(location).close()
    raw_sql(location, "INSERT INTO migrations (name) VALUES ('0999_from_the_future')")
    before = fingerprint(location)
    with pytest.raises(StoreError, match="newer paperlink") as info:
        RecordStore(location)
    assert "upgrade" in str(info.value)
    assert fingerprint(location) == before


def test_corrupted_store_is_refused_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database at all" * 200)
    before = file_digest(path)
    with pytest.raises(StoreError, match="corrupted") as info:
        RecordStore(path)
    assert ".recover" in str(info.value)
    assert file_digest(path) == before


def test_truncated_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with RecordStore.create(path) as store:
        for i in range(50):
            finished(store, f"r{i}")
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\x00" * 50 + data[150 : len(data) // 2])
    with pytest.raises(StoreError, match=r"corrupted|cannot read"), RecordStore(path) as store:
        store.summaries()


def test_foreign_database_is_not_taken_for_a_store(location: str) -> None:
    raw_sql(location, "CREATE TABLE t (x INTEGER)")
    with pytest.raises(StoreError, match="not a paperlink record store"):
        RecordStore(location)
    with pytest.raises(StoreError, match="not a paperlink record store"):
        RecordStore.create(location)


def test_default_labels_are_made_unique_and_explicit_ones_refused(location: str) -> None:
    with RecordStore.create(location) as store:
        assert (
            store.start_record(new_record("20261122-100000"), label_is_default=True)
            == "20261122-100000"
        )
        assert (
            store.start_record(new_record("20261122-100000"), label_is_default=True)
            == "20261122-100000-2"
        )
        with pytest.raises(UsageError, match="already exists"):
            store.start_record(new_record("20261122-100000"), label_is_default=False)


def test_finished_records_are_immutable_even_through_sql(location: str) -> None:
    with RecordStore.create(location) as store:
        record = finished(store, "done")
        with pytest.raises(RecordImmutable):
            store.finish_record(record)
    with pytest.raises(INTEGRITY_ERRORS, match="immutable"):
        raw_sql(location, "UPDATE records SET data='{}' WHERE label='done'")
    with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        raw_sql(location, "DELETE FROM records WHERE label='done'")
    # What may change still can, through SQL too.
    raw_sql(location, "UPDATE records SET reason='noted' WHERE label='done'")


def test_tags_reason_and_annotations_may_change(location: str) -> None:
    with RecordStore.create(location) as store:
        finished(store, "done")
        store.add_tags("done", ["a", "b"])
        store.remove_tags("done", ["a"])
        store.set_reason("done", "why not")
        store.set_annotation("done", "publication", {"doi": "10.5281/zenodo.42"})
        record = store.get("done")
        assert record.tags == ["b"]
        assert record.reason == "why not"
        assert record.publication is not None and record.publication.doi == "10.5281/zenodo.42"


def test_unknown_label_suggests_near_ones(location: str) -> None:
    with RecordStore.create(location) as store:
        finished(store, "baseline")
        with pytest.raises(RecordNotFound, match="did you mean baseline"):
            store.get("baselin")
        with pytest.raises(RecordNotFound):
            store.add_tags("nothing-like-it", ["x"])


def test_summaries_are_newest_first_and_filter_by_tag(location: str) -> None:
    with RecordStore.create(location) as store:
        finished(store, "old", "2026-11-20T10:00:00.000000Z")
        finished(store, "new", "2026-11-22T10:00:00.000000Z")
        finished(store, "mid", "2026-11-21T10:00:00.000000Z")
        store.add_tags("mid", ["keep"])
        assert [s.label for s in store.summaries()] == ["new", "mid", "old"]
        assert [s.label for s in store.summaries(tag="keep")] == ["mid"]
        assert [s.label for s in store.summaries(limit=1)] == ["new"]


def test_blobs_and_streams_round_trip(location: str) -> None:
    with RecordStore.create(location) as store:
        finished(store, "r")
        data = bytes(range(256)) * 100
        sha = hashlib.sha256(data).hexdigest()
        store.put_blob(data, sha)
        store.put_blob(data, sha)
        assert store.get_blob(sha) == data
        store.put_stream("r", "stdout", {"head": b"\xff\xfe", "tail": b"end"})
        assert store.get_stream("r", "stdout") == {"head": b"\xff\xfe", "tail": b"end"}
        with pytest.raises(RecordNotFound):
            store.get_blob("0" * 64)


def test_eight_concurrent_runs_lose_no_record(project_dir: Path, project_store: str) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "paperlink",
                "run",
                "-q",
                "--tag",
                "burst",
                "--",
                sys.executable,
                "make_figure.py",
                f"fig{i}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert b"locked" not in err
    with RecordStore(project_store) as store:
        summaries = store.summaries(tag="burst")
        assert len(summaries) == 8
        assert len({s.label for s in summaries}) == 8
        assert {s.status for s in summaries} == {STATUS_FINISHED}
        made = {o.path for s in summaries for o in store.get(s.label).outputs}
        assert {f"figures/fig{i}.svg" for i in range(8)} <= made


def test_kill_9_during_a_run_leaves_an_incomplete_record(
    project_dir: Path, project_store: str
) -> None:
    (project_dir / "slow.py").write_text(
        "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paperlink",
            "run",
            "--label",
            "victim",
            "--",
            sys.executable,
            "slow.py",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"started"
    shown = run_cli("list", "--json").output
    assert '"status": "running"' in shown
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    listed = paperlink_process("list")
    assert listed.returncode == 0, listed.stderr
    assert b"victim" in listed.stdout and b"incomplete" in listed.stdout
    shown_json = json.loads(run_cli("show", "victim", "--json").output)
    assert shown_json["outcome"]["status"] == "incomplete"
    # The store is still writable after the crash.
    run_cli("run", "-q", "--label", "after", "--", sys.executable, "make_figure.py")


def test_older_store_is_migrated_in_place(location: str) -> None:
    with RecordStore.create(location) as store:
        finished(store, "kept")
    # Make it a store of the first release: only migration 0001 applied (0003 remade digest_cache).
    raw_sql(location, "DROP INDEX records_for_list")
    raw_sql(location, "DROP INDEX records_running")
    raw_sql(location, "DROP INDEX records_by_end")
    raw_sql(location, "DELETE FROM migrations WHERE name != '0001_initial'")
    with RecordStore(location) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get("kept").label == "kept"
        assert [s.label for s in store.summaries()] == ["kept"]
        store.remember_digests([("/x", 1, 2, 3, 4, 5, "a" * 64, "b" * 32, "c" * 40)])
        assert store.cached_digests(["/x"])["/x"][:5] == (1, 2, 3, 4, 5)
    names = [row[0] for row in raw_sql(location, "SELECT name FROM migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]


def test_runs_that_ended_since_are_found_by_index(tmp_path: Path) -> None:
    # Every run's finish asks which runs ended since it began (recorder.overlap), on stores of any size.
    path = tmp_path / "s.sqlite"
    with RecordStore.create(path) as store:
        record = new_record("kept")
        record.outcome.status = STATUS_FINISHED
        record.end_time = "2026-11-22T10:05:00.000000Z"
        store.add_record(record)
        # Began before the run that asks, ended after it began: found by its end time alone.
        since = "2026-11-22T10:02:00.000000Z"
        assert [row.label for row in store.overlapping(since, (), "x")] == ["kept"]
        assert store.overlapping("2026-11-22T10:06:00.000000Z", (), "x") == []
    db = sqlite3.connect(path)
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT label FROM records WHERE label != ? AND (start_time >= ? "
        "OR status = 'running' OR end_time >= ?)",
        ("x", "a", "b"),
    ).fetchall()
    db.close()
    assert "USING INDEX records_by_end" in str(plan) and "SCAN records" not in str(plan)


def test_running_runs_are_found_through_their_own_index(tmp_path: Path) -> None:
    # Every run asks which runs are going on: the answer must not scan every record of a large store.
    path = tmp_path / "s.sqlite"
    with RecordStore.create(path) as store:
        assert store.running_now() == (set(), set())
    db = sqlite3.connect(path)
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT label, host, pid, boot_id, proc_start FROM records "
        "WHERE status='running'"
    ).fetchall()
    db.close()
    assert "USING INDEX records_running" in str(plan)


def test_job_filter_and_output_lookup_read_the_json_on_both_back_ends(location: str) -> None:
    from paperlink.core.files import FileDigest
    from paperlink.core.runcontext import SlurmJob

    with RecordStore.create(location) as store:
        for label, job in (("plain", None), ("task3", SlurmJob("901", "900", 3)),
                           ("task4", SlurmJob("902", "900", 4)), ("other", SlurmJob("950"))):  # fmt: skip
            record = new_record(label)
            record.job = job
            record.outputs = [FileDigest(path=f"figures/{label}.svg", size=1, sha256=label * 4)]
            record.outcome.status = STATUS_FINISHED
            store.add_record(record)
        assert sorted(s.label for s in store.summaries(job="900")) == ["task3", "task4"]
        assert [s.label for s in store.summaries(job="900_4")] == ["task4"]
        assert [s.label for s in store.summaries(job="950")] == ["other"]
        assert store.label_of_output("figures/task3.svg", "task3" * 4) == "task3"
        assert store.label_of_output("figures/task3.svg", "x" * 20) is None


def test_reserve_space_writes_nothing_where_there_is_plenty_of_room(tmp_path: Path) -> None:
    # The small-file-system tests (test_store_faults) show the reservation working where room is short.
    from paperlink.core.store import RESERVE_BYTES
    from paperlink.core.store.sqlite import ROOMY_FACTOR

    fs = os.statvfs(tmp_path)
    assert fs.f_bavail * fs.f_frsize >= ROOMY_FACTOR * RESERVE_BYTES, "tmp_path has too little room"
    store = RecordStore.create(tmp_path / "records.sqlite")
    wal = tmp_path / "records.sqlite-wal"
    before = wal.stat().st_size if wal.exists() else 0
    store.reserve_space()
    after = wal.stat().st_size if wal.exists() else 0
    assert after - before < RESERVE_BYTES // 4
    store.close()
