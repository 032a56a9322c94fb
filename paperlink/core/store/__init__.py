"""The record store (SQLite file or PostgreSQL database): see :mod:`paperlink.core.store.recordstore`."""

from paperlink.core.store.bulk import record_data
from paperlink.core.store.migrations import MIGRATIONS, SCHEMA_VERSION
from paperlink.core.store.processes import RunningProcess, current_process_identity
from paperlink.core.store.recordstore import (
    RESERVE_BYTES,
    RecordStore,
    RecordSummary,
    StoreLocation,
    display_location,
)
from paperlink.core.store.running import OverlapRow

# The name benchmarks/bench_list.py and older callers use.
_record_data = record_data

__all__ = [
    "MIGRATIONS",
    "RESERVE_BYTES",
    "SCHEMA_VERSION",
    "OverlapRow",
    "RecordStore",
    "RecordSummary",
    "RunningProcess",
    "StoreLocation",
    "current_process_identity",
    "display_location",
    "record_data",
]
