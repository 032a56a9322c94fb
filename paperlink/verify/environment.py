"""Checks of a figure's environment for :class:`paperlink.verify.manuscript.Verifier`: is the container image it
was made in still there (in the engine, or as an archive), and does a re-execution give the same bytes?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paperlink.core.config import Project
from paperlink.core.files import FileDigest
from paperlink.core.hashing import digest_file
from paperlink.core.records import Record
from paperlink.core.store import RecordStore
from paperlink.errors import EngineUnavailable, PaperlinkError
from paperlink.verify.manuscript import ERROR, FAILED, MISMATCH, MISSING, OK, Check, Item

VERIFY_TAG = "verify-rerun"  # the tag of every record 'paperlink verify --rerun' makes


def _ran_in_image(record: Record) -> bool:
    c = record.container
    return c is not None and bool(c.image_id) and not c.inside_container


class ImageChecker:
    """The recorded image must be in the engine (by its ID) or in an archive whose digest matches."""

    def __init__(self, project: Project, *, image_archive: Path | None = None) -> None:
        self.project = project
        self.image_archive = image_archive
        self._engine: Any = None
        self._engine_error: str | None = None
        self._found: dict[str, Check] = {}

    def _connect(self) -> Any:
        if self._engine is None and self._engine_error is None:
            from paperlink.containers import engine as containers

            try:
                self._engine = containers.connect_engine(
                    containers.engine_url(self.project.settings)
                )
            except EngineUnavailable as exc:
                self._engine_error = exc.message
        return self._engine

    def __call__(self, item: Item, record: Record, output: FileDigest) -> Check | None:
        if record.container is not None and record.container.sif is not None:
            key = f"sif:{record.container.sif.sha256}:{record.container.sif.path}"
            if key not in self._found:
                self._found[key] = self._check_sif(record)
            return self._found[key]
        if not _ran_in_image(record):
            return None
        assert record.container is not None and record.container.image_id is not None
        image_id = record.container.image_id
        if image_id not in self._found:
            self._found[image_id] = self._check(record, image_id)
        return self._found[image_id]

    def _check_sif(self, record: Record) -> Check:
        """The SIF file (``--image-archive FILE``, else the recorded archive or path) must have the bytes
        the run used."""
        from paperlink.recorder.sif_environment import sif_path

        assert record.container is not None and record.container.sif is not None
        sif = record.container.sif
        path = self.image_archive or sif_path(record, self.project.root)
        if path is None:
            return Check(
                "image",
                MISSING,
                f"SIF image {sif.path} of record '{record.label}' is not on this machine; copy it "
                "back, or give the archived copy with --image-archive FILE",
            )
        try:
            found = digest_file(path).sha256
        except PaperlinkError as exc:
            return Check("image", ERROR, exc.message)
        if found != sif.sha256:
            return Check(
                "image",
                MISMATCH,
                f"SIF image {path} of record '{record.label}' is sha256:{found[:12]}… but the run "
                f"used sha256:{sif.sha256[:12]}…; restore the image the run used (its archive holds "
                "it) or re-run in this one",
            )
        return Check("image", OK, f"SIF image {path} is sha256:{sif.sha256[:12]}…, as recorded")

    def _check(self, record: Record, image_id: str) -> Check:
        engine = self._connect()
        if engine is not None:
            from paperlink.containers import transfer

            try:
                if transfer.has_image(engine, image_id):
                    return Check("image", OK, f"{image_id[:19]}… is in the container engine")
                if self.image_archive is not None:
                    transfer.load_image(engine, self.image_archive, expected_id=image_id)
                    return Check("image", OK, f"loaded {image_id[:19]}… from {self.image_archive}")
            except PaperlinkError as exc:
                return Check("image", MISMATCH if "holds" in exc.message else ERROR, exc.message)
        archive = record.container.archive if record.container else None
        if archive is not None and archive.path and archive.sha256:
            path = Path(archive.path)
            path = path if path.is_absolute() else self.project.root / path
            if path.is_file():
                if digest_file(path).sha256 == archive.sha256:
                    return Check(
                        "image", OK, f"not in the engine, but its archive {archive.path} is intact"
                    )
                return Check(
                    "image",
                    MISMATCH,
                    f"the image archive {archive.path} changed since it was saved",
                )
        where = (
            "not in the container engine"
            if engine is not None
            else f"not checked ({self._engine_error})"
        )
        return Check(
            "image",
            MISSING,
            f"image {image_id[:19]}… of record '{record.label}' is {where}, and no archive of it is at hand; "
            "give --image-archive FILE (written by 'paperlink image save')",
        )


class RerunChecker:
    """Re-executes each record once (``paperlink rerun``) and compares each figure byte for byte and each
    value as text. Every re-execution it makes is tagged ``verify-rerun`` (:data:`VERIFY_TAG`), so the
    records a verification leaves, failed ones included, are told apart from the paper's runs."""

    def __init__(
        self, project: Project, store: RecordStore, *, image_archive: Path | None = None
    ) -> None:
        self.project = project
        self.store = store
        self.image_archive = image_archive
        self._results: dict[str, Any] = {}

    def _rerun(self, record: Record) -> Any:
        from paperlink.recorder.rerun import rerun_record

        if record.label not in self._results:
            try:
                self._results[record.label] = rerun_record(
                    self.project,
                    self.store,
                    record.label,
                    image_archive=self.image_archive,
                    tags=[VERIFY_TAG],
                    reason=f"verification rerun of {record.label} (paperlink verify --rerun)",
                )
            except PaperlinkError as exc:
                self._results[record.label] = exc
        return self._results[record.label]

    def __call__(self, item: Item, record: Record, output: FileDigest) -> Check:
        result = self._rerun(record)
        if isinstance(result, PaperlinkError):
            return _error(result)
        if result.failed:
            return Check("rerun", FAILED, result.failure())
        for compared in result.outputs:
            if compared.path == output.path:
                if compared.status == "identical":
                    return Check("rerun", OK, f"identical in re-execution {result.record.label}")
                if compared.status == "missing":
                    return Check(
                        "rerun",
                        MISSING,
                        f"re-execution {result.record.label} did not write {output.path}",
                    )
                return Check(
                    "rerun",
                    MISMATCH,
                    f"re-execution {result.record.label} wrote sha256:{(compared.rerun_sha256 or '')[:12]}…, "
                    f"not the recorded sha256:{(compared.recorded_sha256 or '')[:12]}…",
                )
        return Check(
            "rerun", MISSING, f"re-execution {result.record.label} did not report {output.path}"
        )

    def check_value(self, item: Item, record: Record, name: str, value: str) -> Check:
        """The value ``name`` must come out of the re-execution as the record has it."""
        result = self._rerun(record)
        if isinstance(result, PaperlinkError):
            return _error(result)
        if result.failed:
            return Check("rerun", FAILED, result.failure())
        again = next((v for v in result.values if v.name == name), None)
        if again is None or again.rerun is None:
            return Check(
                "rerun", MISSING, f"re-execution {result.record.label} did not make value '{name}'"
            )
        if again.rerun != value:
            return Check(
                "rerun",
                MISMATCH,
                f"re-execution {result.record.label} made {name} = {again.rerun}, "
                f"but record '{record.label}' says {value}",
            )
        return Check("rerun", OK, f"same in re-execution {result.record.label}")


def _error(exc: PaperlinkError) -> Check:
    return Check("rerun", ERROR, exc.message + (f" ({exc.hint})" if exc.hint else ""))
