"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a cluster made with ``initdb``
in a temporary folder, listening on 127.0.0.1 and a free port, stopped by :meth:`PostgresServer.stop`.

``initdb`` and ``postgres`` refuse to run as root, so under root they run as the ``postgres`` user (the
package makes it) through ``runuser``. TCP logins need the password (scram-sha-256), so the tests see the
password handling a lab's server has; the superuser is ``paperlink``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PASSWORD = "pl-test-Secret-7f3a9"
USER = "paperlink"


class ServerError(Exception):
    """The server did not start; the message holds its log's end."""


def bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are (Debian keeps them out of PATH), or None when not installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One cluster in its own folder. ``settings`` are extra ``-c`` options (e.g. durability off)."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        found = bin_dir()
        if found is None:
            raise ServerError("PostgreSQL is not installed (Debian package postgresql)")
        self.bin = found
        self.folder = Path(tempfile.mkdtemp(prefix="paperlink-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.settings = {"max_connections": "300", **(settings or {})}
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres", "postgres")
        self.folder.chmod(0o700)

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *argv], capture_output=True, text=True, check=False, timeout=120
        )

    def start(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_user:
            shutil.chown(pwfile, "postgres", "postgres")
        done = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        pwfile.unlink()
        if done.returncode != 0:
            raise ServerError(f"initdb failed: {done.stderr[-2000:]}")
        options = [f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        done = self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
            "-o", " ".join(options), "-w", "-t", "60", "start",
        )  # fmt: skip
        if done.returncode != 0:
            raise ServerError(f"pg_ctl start failed: {done.stderr[-1000:]}\n{self.log()}")

    def log(self) -> str:
        try:
            return (self.folder / "log").read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: bool = False) -> str:
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its name."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(password=True), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def sql(self, database: str, statement: str) -> list[tuple[object, ...]]:
        """Run one statement as the superuser, outside paperlink (what a test does behind its back)."""
        import psycopg

        with psycopg.connect(self.url(database, password=True), autocommit=True) as conn:
            cursor = conn.execute(statement)  # type: ignore[call-overload]
            return list(cursor.fetchall()) if cursor.description else []
