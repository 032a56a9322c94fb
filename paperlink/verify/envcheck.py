"""Checks of the environment a figure's record ran in, for :class:`paperlink.verify.manuscript.Verifier`.

:class:`StoredEnvironment` (always): the environment the record names by digest must be in the store, and
the stored bytes must still have that digest (a changed or damaged row is a MISMATCH, a missing one
MISSING). :class:`EnvironmentDrift` (``verify --environment``): this machine's environment, scanned again
as the recorder would scan it for the record's command (:mod:`paperlink.recorder.envrescan`), against the
recorded one: packages added, removed or at another version, by manager, and changed lock files, are
DRIFT, which fails the verification (exit 3) as every status but OK does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from paperlink.core.config import Project
from paperlink.core.envpackages import MANAGER_TITLES, Environment, digest_of
from paperlink.core.envrecipes import PackageChange, environment_of, package_changes
from paperlink.core.files import FileDigest
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import PaperlinkError, RecordNotFound, StoreError
from paperlink.verify.manuscript import DRIFT, ERROR, MISMATCH, MISSING, OK, Check, Item

_SHOWN = 3  # packages named per kind of change in the message (all of them are in the details)


class StoredEnvironment:
    """The record's environment is in the store, with the bytes its digest names (once per digest)."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._found: dict[str, Check] = {}

    def __call__(self, item: Item, record: Record, output: FileDigest) -> Check | None:
        digest = record.environment_digest
        if not digest:
            return None  # recorded before environments were, or with `capture = []`
        if digest not in self._found:
            self._found[digest] = self._check(record, digest)
        return self._found[digest]

    def _check(self, record: Record, digest: str) -> Check:
        short = f"{digest[:19]}…"
        try:
            data = self.store.get_environment_bytes(digest)
        except RecordNotFound:
            return Check(
                "environment",
                MISSING,
                f"environment {short} of record '{record.label}' is not in the store "
                f"{self.store.location}; bring it with the record ('paperlink store copy' or "
                "'paperlink store import' of an export)",
            )
        except StoreError as exc:
            return Check("environment", MISMATCH, f"record '{record.label}': {exc.message}")
        found = digest_of(data.decode("utf-8", "replace"))
        if found != digest:
            return Check(
                "environment",
                MISMATCH,
                f"the store's environment {short} of record '{record.label}' is {found[:19]}… now: "
                "it was changed after the run; restore the store from a backup, or re-run the record",
            )
        try:
            self.store.parse_environment(data, digest)
        except StoreError as exc:
            return Check("environment", MISMATCH, f"record '{record.label}': {exc.message}")
        return Check("environment", OK, short)


class EnvironmentDrift:
    """This machine's environment against each record's (``verify --environment``), once per record;
    ``notes`` says which records it could not compare."""

    def __init__(
        self, project: Project, store: RecordStore, environ: Mapping[str, str] | None = None
    ) -> None:
        self.project = project
        self.store = store
        self.environ = dict(os.environ if environ is None else environ)
        self.notes: list[str] = []
        self._found: dict[str, Check | None] = {}

    def __call__(self, item: Item, record: Record, output: FileDigest) -> Check | None:
        if record.label not in self._found:
            try:
                self._found[record.label] = self._check(record)
            except PaperlinkError as exc:
                self._found[record.label] = Check("environment-drift", ERROR, exc.message)
        return self._found[record.label]

    def _check(self, record: Record) -> Check | None:
        from paperlink.recorder.envrescan import ran_in_image, rescan_environment

        image = ran_in_image(record)
        if image is not None:
            return Check(
                "environment-drift",
                OK,
                f"ran in {image}: its packages are the image's, which its digest pins",
            )
        try:
            recorded = environment_of(self.store, record)
        except (RecordNotFound, StoreError):
            return Check(
                "environment-drift",
                MISSING,
                f"the environment of record '{record.label}' cannot be read from the store, so this "
                "machine's cannot be compared with it (see the environment check)",
            )
        if recorded is None:
            self.notes.append(
                f"record '{record.label}' recorded no environment: this machine's was not compared"
            )
            return None
        now = rescan_environment(self.project, self.store, record, self.environ)
        changes = package_changes(
            _only(recorded, now.managers, now.files),
            _only(now.environment, now.managers, now.files),
        )
        if changes:
            details = drift_details(changes)
            return Check("environment-drift", DRIFT, drift_message(record.label, details), details)
        counts = [
            f"{MANAGER_TITLES.get(m, m)}: {len(recorded.packages[m])} packages"
            for m in recorded.managers()
            if m in now.managers
        ]
        if now.files:
            counts.append(f"{len(recorded.files)} lock files")
        return Check(
            "environment-drift",
            OK,
            f"this machine has the recorded environment ({'; '.join(counts) or 'nothing to compare'})",
        )


def _only(environment: Environment, managers: set[str], files: bool) -> Environment:
    """``environment`` with the managers a scan here covers (and the lock files when it looked)."""
    return Environment(
        packages={m: p for m, p in environment.packages.items() if m in managers},
        files=list(environment.files) if files else [],
    )


def drift_details(changes: list[PackageChange]) -> dict[str, Any]:
    """The changes by manager (``files`` for the lock files): ``added`` and ``removed`` as
    ``{"name", "version"}``, ``changed`` as ``{"name", "recorded", "now"}``."""
    found: dict[str, Any] = {}
    for change in changes:
        group = found.setdefault(change.manager, {"added": [], "removed": [], "changed": []})
        if change.left is None:
            group["added"].append({"name": change.name, "version": change.right})
        elif change.right is None:
            group["removed"].append({"name": change.name, "version": change.left})
        else:
            group["changed"].append(
                {"name": change.name, "recorded": change.left, "now": change.right}
            )
    return found


def drift_message(label: str, details: dict[str, Any]) -> str:
    """One line: what differs by manager, the first few names of each kind, and what to do."""
    parts = []
    for manager, group in details.items():
        title = "lock files" if manager == "files" else MANAGER_TITLES.get(manager, manager)
        kinds = []
        for kind in ("added", "removed", "changed"):
            items = group[kind]
            if not items:
                continue
            shown = [_shown(kind, i) for i in items[:_SHOWN]]
            more = f", and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            kinds.append(f"{len(items)} {kind} ({', '.join(shown)}{more})")
        parts.append(f"{title}: {', '.join(kinds)}")
    return (
        f"this machine's environment is not the one record '{label}' ran in: {'; '.join(parts)}; "
        f"re-create it ('paperlink env {label} --format requirements', or conda, apt) or re-run the "
        "record here and cite the new one"
    )


def _shown(kind: str, item: dict[str, Any]) -> str:
    if kind == "changed":
        return f"{item['name']} {item['recorded']} → {item['now']}"
    return f"{item['name']} {item['version']}"
