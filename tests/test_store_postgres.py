"""Every command on a PostgreSQL store, the password kept out of everything paperlink shows or writes, a
read-only role, and 64 simultaneous runs into one database (against the session's real server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_browser import start_viewer, stop_viewer
from fixtures_publish import CITATION
from fixtures_zenodo import FakeZenodo
from helpers import git, paperlink_process, run_cli
from pgserver import PASSWORD, PostgresServer
from slurmcluster import SlurmCluster

from paperlink.core.hashing import digest_file
from paperlink.core.store import RecordStore
from paperlink.errors import StoreReadOnly


def use_store_in_settings(project_dir: Path, url: str) -> None:
    """Point the project's paperlink.toml at ``url`` and commit it (runs would be dirty otherwise)."""
    settings = project_dir / "paperlink.toml"
    lines = [line for line in settings.read_text().splitlines() if not line.startswith("store")]
    name_at = next(i for i, line in enumerate(lines) if line.startswith("name"))
    lines.insert(name_at + 1, f'store = "{url}"')
    settings.write_text("\n".join(lines) + "\n")
    git(project_dir, "commit", "-q", "-am", "shared store")


def test_every_command_works_on_a_postgresql_store(
    project_dir: Path, pg_store_url: str, zenodo_env: FakeZenodo, tmp_path: Path
) -> None:
    (project_dir / "CITATION.cff").write_text(CITATION)
    git(project_dir, "add", "CITATION.cff")
    use_store_in_settings(project_dir, pg_store_url)
    RecordStore.create(pg_store_url).close()
    run_cli(
        "run", "-q", "--label", "a", "--tag", "draft", "--", sys.executable, "make_figure.py", "a"
    )
    run_cli("run", "-q", "--label", "b", "--", sys.executable, "make_figure.py", "b")
    assert [r["label"] for r in json.loads(run_cli("list", "--json").output)] == ["b", "a"]
    assert [r["label"] for r in json.loads(run_cli("list", "--tag", "draft", "--json").output)] == [
        "a"
    ]
    assert "figures/a.svg" in run_cli("show", "a").output
    assert "figures/b.svg" in run_cli("diff", "a", "b").output
    run_cli("tag", "b", "final")
    run_cli("reason", "b", "the good one")
    shown = json.loads(run_cli("show", "b", "--json").output)
    assert shown["tags"] == ["final"] and shown["reason"] == "the good one"
    # The records are in the database, not in the file 'paperlink init' made beside the project.
    with RecordStore(project_dir / ".paperlink/records.sqlite") as local:
        assert local.labels() == []

    paper = project_dir / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{paperlink}\n\\begin{document}\n"
        "\\plincludegraphics{a:figures/a.svg}\n\\plincludegraphics{b}\n\\end{document}\n"
    )
    run_cli("latex", "--tex", str(paper / "main.tex"))
    data = (paper / "paperlink-data.tex").read_text()
    assert digest_file(project_dir / "figures/a.svg").md5.upper() in data.upper()
    assert "2 checked, all OK." in run_cli("verify", "paper/main.tex").output

    published = json.loads(run_cli("publish", "--record", "a", "--json").stdout)
    assert published["state"] == "published"
    with RecordStore(pg_store_url) as store:
        publication = store.get("a").publication
    assert publication is not None and publication.doi == published["doi"]
    assert f"doi         {published['doi']}" in run_cli("show", "a").stdout

    viewer = start_viewer(project_dir, log_dir=tmp_path)
    try:
        assert published["doi"] in viewer.text("/records/a")
        assert "final" in viewer.text("/")
    finally:
        stop_viewer(viewer)


def test_the_password_is_never_shown_recorded_or_handed_on(
    project_dir: Path, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = pg_server.url(pg_server.create_database(), password=True)
    assert PASSWORD in url
    with RecordStore.create(url) as store:
        assert PASSWORD not in store.location and PASSWORD not in store.url
        assert store.location == url.replace(f":{PASSWORD}", "")
    (project_dir / "env.py").write_text(
        "import os\nprint('STORE=' + os.environ['PAPERLINK_STORE'])\n"
    )
    git(project_dir, "add", "env.py")
    git(project_dir, "commit", "-q", "-m", "env")
    done = paperlink_process(
        "--store", url, "run", "--label", "env", "--", sys.executable, "env.py", cwd=project_dir
    )
    assert done.returncode == 0, done.stderr
    # The command itself is handed the store without the password.
    assert f"STORE={url.replace(f':{PASSWORD}', '')}".encode() in done.stdout
    assert PASSWORD.encode() not in done.stdout + done.stderr
    for args in (["show", "env", "--json"], ["list", "--json"], ["show", "env"], ["list"]):
        shown = paperlink_process("--store", url, *args, cwd=project_dir)
        assert shown.returncode == 0, shown.stderr
        assert PASSWORD.encode() not in shown.stdout + shown.stderr
    # Nothing paperlink stored holds it: neither the record's JSON nor its streams.
    database = url.rsplit("/", 1)[1]
    stored = pg_server.sql(database, "SELECT string_agg(data, '') FROM records")[0][0]
    assert isinstance(stored, str) and "env.py" in stored and PASSWORD not in stored
    # A wrong password: the message names the store, without any password.
    wrong = url.replace(PASSWORD, "not-the-password-42")
    failed = paperlink_process("--store", wrong, "list", cwd=project_dir)
    assert failed.returncode != 0
    assert b"cannot connect to the record store" in failed.stderr
    assert b"not-the-password-42" not in failed.stderr and b"Traceback" not in failed.stderr
    assert b"PGPASSWORD" in failed.stderr


def test_a_read_only_role_reads_and_is_refused_writes_clearly(
    pg_server: PostgresServer, pg_store_url: str
) -> None:
    database = pg_store_url.rsplit("/", 1)[1]
    with RecordStore.create(pg_store_url) as store:
        from test_store import finished

        finished(store, "kept")
    pg_server.sql(database, "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    pg_server.sql(database, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    reader = pg_store_url.replace("paperlink@", "reader:reader-pw@")
    with RecordStore(reader) as store:
        assert store.read_only is not None and "may not write" in store.read_only
        assert [s.label for s in store.summaries()] == ["kept"]
        with pytest.raises(StoreReadOnly, match="cannot write to the record store") as info:
            store.add_tags("kept", ["x"])
        assert "reader-pw" not in str(info.value)
        # The caches are skipped quietly: verify and serve go on without them.
        store.cache_put("k", "v")


@pytest.mark.slow
def test_64_simultaneous_runs_into_one_database_lose_nothing(
    project_dir: Path, pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    RecordStore.create(pg_store_url).close()
    monkeypatch.setenv("PAPERLINK_STORE", pg_store_url)
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
            cwd=project_dir,
        )
        for i in range(64)
    ]
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or b"lock" in err.lower():
            errors.append(err.decode())
    assert errors == []
    with RecordStore(pg_store_url) as store:
        summaries = store.summaries(tag="burst")
        assert len(summaries) == 64 and len({s.label for s in summaries}) == 64
        assert {s.status for s in summaries} == {"finished"}


def test_init_makes_the_schema_in_an_empty_database_and_refuses_a_password(
    tmp_path: Path, pg_server: PostgresServer, pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    monkeypatch.chdir(root)
    with_password = pg_store_url.replace("paperlink@", f"paperlink:{PASSWORD}@")
    refused = run_cli("init", "--store", with_password, ok=False)
    assert refused.exit_code == 2 and "PGPASSWORD or ~/.pgpass" in refused.output
    assert PASSWORD not in refused.output and not (root / "paperlink.toml").exists()
    made = run_cli("init", "--store", pg_store_url).output
    assert f"records: {pg_store_url}" in made
    assert f'store = "{pg_store_url}"' in (root / "paperlink.toml").read_text()
    with RecordStore(pg_store_url) as store:
        assert store.labels() == [] and store.schema_version > 0


@pytest.mark.slow
def test_a_32_task_slurm_array_into_one_database_loses_nothing(
    slurm_cluster: SlurmCluster, project_dir: Path, pg_store_url: str
) -> None:
    from test_slurm import BATCH_SCRIPT, _job_outputs, listed

    use_store_in_settings(project_dir, pg_store_url)
    RecordStore.create(pg_store_url).close()
    script = project_dir / "job.sh"
    script.write_text(BATCH_SCRIPT.format(python=sys.executable))
    # The tasks get the password as a lab's would: in their environment, not in paperlink.toml.
    array = slurm_cluster.submit(
        "--array=1-32", f"--export=ALL,PGPASSWORD={PASSWORD}", "--output=slurm-%A_%a.out",
        str(script), cwd=project_dir,
    )  # fmt: skip
    items = listed("--job", array)
    logs = _job_outputs(project_dir)
    assert len(items) == 32, logs
    assert {item["status"] for item in items} == {"finished"}
    assert len({item["label"] for item in items}) == 32
    assert "lock" not in logs and "Error" not in logs
    with RecordStore(project_dir / ".paperlink/records.sqlite") as local:
        assert local.labels() == []
