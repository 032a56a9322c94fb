"""The session's PostgreSQL server (``tests/pgserver.py``), started on first use and stopped at the end.

A missing PostgreSQL fails the tests that need it (``helpers.require``: ``.ci/run`` installs it), never skips.
Each test that asks for ``pg_store_url`` gets a fresh empty database; the password comes from
``PGPASSWORD``, as a lab's machines would have it, so the URLs the tests use hold none.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import require
from pgserver import PASSWORD, PostgresServer, ServerError, bin_dir


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    require(bin_dir(), "PostgreSQL is not installed (Debian package postgresql)")
    # The tests' durability is not what they test: commits need not reach the disk.
    server = PostgresServer(
        {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    )
    try:
        server.start()
    except ServerError as exc:
        server.stop()
        pytest.fail(f"the test PostgreSQL server did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_store_url(pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a fresh, empty database (without the password, which is in PGPASSWORD)."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    return pg_server.url(pg_server.create_database())
