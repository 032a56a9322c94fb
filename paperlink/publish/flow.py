"""Publish records as an archive: to Zenodo (or a compatible server), or into a local folder.

``publish_records`` chooses the records, builds the bundle (``bundle.py``), and either writes it to a folder
with a manifest, or runs the deposit flow through an :class:`paperlink.publish.api.ArchiveAPI` (Zenodo's
deposit API or InvenioRDM's records API, the one chosen kept in the state): create (or open a new
version) and store the reserved DOI at once, upload what the server does not already hold with the same checksum, set the metadata, publish, and
store DOI, URL and checksums with the records. Before anything is uploaded or written (and for a dry
run), every byte is scanned for the token and the secret environment variables' values
(:func:`check_no_secrets`); a finding stops the command. A state file under ``.paperlink/publish/`` is saved
atomically after every step, so a run stopped by a crash, ``kill -9`` or Ctrl-C continues the same
deposition when started again. The state file never holds the token.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperlink.core.config import Project, atomic_write_text
from paperlink.core.metadata import ArchiveMetadata, load_metadata
from paperlink.core.records import (
    STATUS_FINISHED,
    Publication,
    PublishedFile,
    Record,
    format_time,
    utc_now,
)
from paperlink.core.store import RecordStore
from paperlink.errors import ConfigError, RecordNotFound, SecretFound, UsageError, ZenodoError
from paperlink.publish.api import PRODUCTION_URL
from paperlink.publish.bundle import Bundle, SiteWriter, build_bundle

if TYPE_CHECKING:
    from paperlink.publish.api import ArchiveAPI
    from paperlink.publish.http import ArchiveClient

UploadProgress = Callable[[str, int, int], None]
PUBLISH_DIR = "publish"
TOKEN_FILE = "zenodo-token"  # noqa: S105 - a file name, not a secret
SANDBOX_TOKEN_FILE = "zenodo-sandbox-token"  # noqa: S105


@dataclass
class PublishOptions:
    labels: list[str] = field(default_factory=list)
    all_records: bool = False
    tex: Path | None = None
    server_url: str = PRODUCTION_URL
    token: str | None = None
    new_version: bool = False
    draft: bool = False
    include_image: bool = True
    # Writes the provenance site the archive carries (None: no site); see bundle.SiteWriter.
    site_writer: SiteWriter | None = None
    image_archive: Path | None = None
    pdf: Path | None = None
    to_dir: Path | None = None
    dry_run: bool = False
    max_retry_seconds: float = 300.0
    api: str = "auto"  # auto | deposit (Zenodo's legacy API) | records (InvenioRDM's)
    # Where the secret values to scan for come from (None: os.environ), and more values (the token when
    # --to or --dry-run does not use it).
    environ: Mapping[str, str] | None = None
    secrets: list[str] = field(default_factory=list)


@dataclass
class FileReport:
    name: str
    size: int
    md5: str
    sha256: str
    role: str
    action: str  # planned | written | uploaded | skipped (already there with the same md5)


@dataclass
class PublishResult:
    target: str  # zenodo | directory | dry-run
    labels: list[str]
    files: list[FileReport]
    metadata: dict[str, Any]
    metadata_source: str
    warnings: list[str] = field(default_factory=list)
    state: str = ""  # draft | published | already published | written | planned
    server: str | None = None
    deposition_id: str | None = None
    doi: str | None = None
    url: str | None = None
    directory: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- choosing records ---------------------------------------------------------------------------------
def choose_records(store: RecordStore, options: PublishOptions) -> list[Record]:
    """The records to archive: ``--record`` labels, those ``--tex`` uses, or all finished ones."""
    labels: list[str] = list(options.labels)
    if options.tex is not None:
        from paperlink.latex.manuscript import scan_manuscript

        uses = scan_manuscript(options.tex)
        missing = [u for u in uses if not store.exists(u.reference.label)]
        if missing:
            where = "; ".join(
                f"'{u.reference.label}' ({u.file.name}:{u.line})" for u in missing[:10]
            )
            raise RecordNotFound(
                f"{options.tex} uses records the store does not have: {where}",
                hint="record them with 'paperlink run --label LABEL -- …' or fix the labels",
            )
        labels += [u.reference.label for u in uses]
        if not uses:
            raise UsageError(
                f"{options.tex} uses no paperlink macros, so there is nothing to archive"
            )
    if options.all_records:
        finished = [s.label for s in reversed(store.summaries()) if s.status == STATUS_FINISHED]
        if not finished:
            raise UsageError(
                "--all: there are no finished records to archive",
                hint="record a run with 'paperlink run -- COMMAND' first",
            )
        labels += finished
    if not labels:
        raise UsageError(
            "choose what to archive: --record LABEL (repeatable), --tex main.tex or --all"
        )
    chosen: list[Record] = []
    for label in dict.fromkeys(labels):
        record = store.get(label)
        if record.outcome.status != STATUS_FINISHED:
            raise UsageError(
                f"record '{label}' is {record.outcome.status}, not finished; only finished runs are "
                "archived",
                hint="re-run it, or leave it out",
            )
        chosen.append(record)
    # In the order they ran, so the same records always make the same bundle, however they were named.
    return sorted(chosen, key=lambda r: (r.start_time, r.label))


# -- the token ----------------------------------------------------------------------------------------
def find_token(environ: Mapping[str, str], *, sandbox: bool, config_dir: Path | None = None) -> str:
    """The token from ``ZENODO_TOKEN`` (``ZENODO_SANDBOX_TOKEN`` first for the sandbox) or a file.

    The file is ``~/.config/paperlink/zenodo-token`` (``zenodo-sandbox-token``); it must be readable by
    its owner only. Raises :class:`ConfigError` when there is none or the file is too open.
    """
    names = ["ZENODO_SANDBOX_TOKEN", "ZENODO_TOKEN"] if sandbox else ["ZENODO_TOKEN"]
    for name in names:
        if environ.get(name, "").strip():
            return environ[name].strip()
    if config_dir is None:
        base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
        config_dir = Path(base).expanduser() / "paperlink"
    path = config_dir / (SANDBOX_TOKEN_FILE if sandbox else TOKEN_FILE)
    if path.is_file():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{path} can be read by other users; a token file must be private",
                hint=f"run: chmod 600 {path}",
            )
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    raise ConfigError(
        "no Zenodo token: set " + " or ".join(names) + f", or write it to {path} (chmod 600)",
        hint="create a token with the deposit:write and deposit:actions scopes at "
        + ("https://sandbox.zenodo.org" if sandbox else "https://zenodo.org")
        + "/account/settings/applications/tokens/new/, or use --to DIR to write a local archive",
    )


# -- the state file -----------------------------------------------------------------------------------
def publication_key(server: str, labels: list[str]) -> str:
    """The same records to the same server are the same publication."""
    text = json.dumps([server.rstrip("/"), sorted(labels)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PublishState:
    """What is done so far, saved atomically (temp file + rename) after every step."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path, **initial: Any) -> PublishState:
        if path.is_file():
            try:
                return cls(path, json.loads(path.read_text(encoding="utf-8")))
            except ValueError as exc:
                raise ConfigError(
                    f"the publish state {path} is unreadable: {exc}",
                    hint="remove it to start over (a draft already on the server stays there)",
                ) from exc
        return cls(path, dict(initial))

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    def update(self, **changes: Any) -> None:
        self.data.update(changes)
        self.data["updated"] = format_time(utc_now())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


# -- the entry point ----------------------------------------------------------------------------------
def publish_records(
    project: Project,
    store: RecordStore,
    options: PublishOptions,
    *,
    on_progress: UploadProgress | None = None,
) -> PublishResult:
    """Archive the chosen records as ``options`` say; see the module docstring."""
    records = choose_records(store, options)
    labels = [r.label for r in records]
    meta = load_metadata(project, labels=labels)
    work = project.state_dir / PUBLISH_DIR
    key = publication_key(
        str(options.to_dir.resolve()) if options.to_dir else options.server_url, labels
    )
    with _exclusive(work / f"{key}.lock"):
        return _publish_locked(project, store, options, records, meta, work, key, on_progress)


def _publish_locked(
    project: Project,
    store: RecordStore,
    options: PublishOptions,
    records: list[Record],
    meta: ArchiveMetadata,
    work: Path,
    key: str,
    on_progress: UploadProgress | None,
) -> PublishResult:
    from paperlink.containers.image_archive import ImageSaver

    # A container run's image goes into the archive even when 'image save' was never run (not for a
    # dry run, which writes nothing).
    saver = None if options.dry_run else ImageSaver(project.root, store, project.settings)
    try:
        bundle = build_bundle(
            project,
            store,
            records,
            staging=work / f"staging-{key}",
            metadata=meta.metadata,
            include_image=options.include_image,
            image_archive=options.image_archive,
            save_image=saver,
            pdf=options.pdf,
            site_writer=options.site_writer,
            tex=options.tex,
            on_progress=(lambda n, d, t: on_progress(f"checking {n}", d, t))
            if on_progress
            else None,
            publisher=None if options.to_dir else options.server_url,
        )
    finally:
        if saver is not None:
            saver.close()
    return _publish_bundle(project, store, options, records, meta, work, key, bundle, on_progress)


def _publish_bundle(
    project: Project,
    store: RecordStore,
    options: PublishOptions,
    records: list[Record],
    meta: ArchiveMetadata,
    work: Path,
    key: str,
    bundle: Bundle,
    on_progress: UploadProgress | None,
) -> PublishResult:
    labels = [r.label for r in records]
    result = PublishResult(
        target="dry-run",
        labels=labels,
        files=[_report(f, "planned") for f in bundle.files],
        metadata=meta.metadata,
        metadata_source=meta.source,
        warnings=list(bundle.warnings),
    )
    # Every byte that would leave: the files, and the metadata or the manifest written beside them.
    extra = {"the archive metadata": _metadata_bytes(result.metadata)}
    if options.to_dir is not None:
        extra = {"manifest.json": _manifest_bytes(result, bundle)}
    check_no_secrets(bundle, options, extra, on_progress)
    if options.dry_run:
        result.state = "planned"
        result.warnings += meta.problems
        result.server = None if options.to_dir else options.server_url
        result.directory = str(options.to_dir) if options.to_dir else None
        return result
    if options.to_dir is not None:
        result.warnings += meta.problems
        return _write_directory(store, bundle, result, options.to_dir, on_progress)
    if meta.problems:
        raise ConfigError("cannot publish: " + "; ".join(meta.problems))
    if not options.token:
        raise ConfigError("no Zenodo token given")
    state = PublishState.load(
        work / f"{key}.json",
        key=key,
        server=options.server_url,
        labels=labels,
        created=format_time(utc_now()),
    )
    return _publish_zenodo(store, bundle, result, state, options, on_progress)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One ``publish`` per publication at a time (the kernel drops the lock if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(
                "another 'paperlink publish' of these records is running",
                hint="wait for it to finish (or stop it), then run this command again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _report(f: Any, action: str) -> FileReport:
    return FileReport(
        name=f.name, size=f.size, md5=f.md5, sha256=f.sha256, role=f.role, action=action
    )


def _write_directory(
    store: RecordStore,
    bundle: Bundle,
    result: PublishResult,
    target: Path,
    on_progress: UploadProgress | None,
) -> PublishResult:
    """Write the bundle + ``manifest.json`` into ``target`` (through a temporary sibling and a rename)."""
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} already exists and is not an empty folder",
            hint="choose a new folder, or remove this one",
        )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for f in bundle.files:
            shutil.copyfile(f.path, tmp / f.name)
            if on_progress is not None:
                on_progress(f.name, f.size, f.size)
        (tmp / "manifest.json").write_bytes(_manifest_bytes(result, bundle))
        if target.exists():
            target.rmdir()
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    for record in bundle.records:
        existing = store.get_annotation(record.label, "publication")
        if existing and existing.get("doi"):
            continue  # a DOI is worth more than a local folder; keep it
        _annotate(store, record.label, bundle, service="directory", server=None,
                  deposition_id=None, doi=None, url=target.as_uri(), published=format_time(utc_now()))  # fmt: skip
    result.target = "directory"
    result.state = "written"
    result.directory = str(target)
    result.files = [_report(f, "written") for f in bundle.files]
    return result


def _manifest_bytes(result: PublishResult, bundle: Bundle) -> bytes:
    manifest = {
        "paperlink_version": _version(),
        "labels": result.labels,
        "metadata": result.metadata,
        "metadata_source": result.metadata_source,
        "files": [f.to_dict() for f in bundle.files],
    }
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _metadata_bytes(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, indent=2, sort_keys=True, ensure_ascii=False).encode()


def check_no_secrets(
    bundle: Bundle,
    options: PublishOptions,
    extra: Mapping[str, bytes] | None = None,
    on_progress: UploadProgress | None = None,
) -> None:
    """Raise :class:`SecretFound` when a file of ``bundle`` (or one of the ``extra`` named bytes) holds
    the token or a secret environment variable's value; the message names file and line, never the value.
    """
    from paperlink.core.secretscan import SecretScanner

    scanner = SecretScanner.for_publish(
        os.environ if options.environ is None else options.environ,
        token=options.token,
        extra=options.secrets,
    )
    if scanner.empty:
        return
    progress = (lambda n, d, t: on_progress(f"scanning {n}", d, t)) if on_progress else None
    findings = []
    for f in bundle.files:
        shown = f"{f.name} ({f.source})" if f.source and f.source != f.name else f.name
        findings += scanner.scan_file(shown, f.path, progress)
    for name, data in (extra or {}).items():
        findings += scanner.scan_bytes(name, data)
    if findings:
        raise SecretFound(
            [finding.as_tuple() for finding in findings],
            hint="take the value out of these files (for an output: change the program so that it "
            "does not write it, then re-run it) and publish again; a record made before the "
            "variable held a secret can be left out (choose the records with --record)",
        )


def _version() -> str:
    from paperlink.version import __version__

    return __version__


def _annotate(store: RecordStore, label: str, bundle: Bundle, **fields: Any) -> None:
    files = [
        PublishedFile(name=f.name, md5=f.md5, size=f.size, source_path=f.source)
        for f in bundle.files
        if label in f.labels or not f.labels
    ]
    publication = Publication(service=fields.pop("service"), files=files, **fields)
    store.set_annotation(label, "publication", asdict(publication))


def _publish_zenodo(
    store: RecordStore,
    bundle: Bundle,
    result: PublishResult,
    state: PublishState,
    options: PublishOptions,
    on_progress: UploadProgress | None,
) -> PublishResult:
    from paperlink.publish.http import ArchiveClient

    result.target = "zenodo"
    result.server = options.server_url
    wanted = {f.name: f for f in bundle.files}
    uploaded: set[str] = set()
    if state["stage"] == "published" and not options.new_version:
        changed = sorted(
            n for n, f in wanted.items() if (state["files"] or {}).get(n) != f.md5
        ) + sorted(set(state["files"] or {}) - set(wanted))
        if changed:
            raise UsageError(
                f"these records were published as {state['doi']}, and the archive has changed since "
                f"({', '.join(changed[:5])}{' …' if len(changed) > 5 else ''})",
                hint="publish the changes as a new version with --new-version",
            )
        return _finish_result(result, state, bundle, "already published")
    if state["stage"] == "published" and options.new_version:
        state.update(previous_id=state["deposition_id"], previous_doi=state["doi"],
                     deposition_id=None, stage="new-version", doi=None, url=None, files={})  # fmt: skip
    elif options.new_version and state["deposition_id"] is None and not state["previous_id"]:
        # A new version of what these records were last published in, even with another selection.
        previous = _last_publication(bundle, options.server_url)
        if previous is None:
            raise UsageError(
                "--new-version: none of these records has been published on "
                f"{options.server_url} yet",
                hint="publish them without --new-version first",
            )
        state.update(previous_id=previous.deposition_id, previous_doi=previous.doi,
                     stage="new-version")  # fmt: skip
    token = options.token or ""
    with ArchiveClient(
        options.server_url,
        token,
        max_retry_seconds=options.max_retry_seconds,
        again="run the same command again later (publish continues where it stopped)",
    ) as client:
        api = _choose_api(client, state, options.api)
        # 1. the deposition, and its reserved DOI stored with the records at once
        if state["deposition_id"] is None:
            if state["previous_id"]:
                deposit = api.new_version(str(state["previous_id"]))
            else:
                found = None
                if state["marker"]:
                    # An earlier run may have died after its create reached the server.
                    found = api.find_draft(state["marker"])
                else:
                    state.update(marker=f"paperlink draft {uuid.uuid4()}", stage="creating")
                deposit = found or api.create(state["marker"])
            state.update(deposition_id=deposit.id, reserved_doi=deposit.doi, stage="created",
                         html=deposit.url)  # fmt: skip
            for record in bundle.records:
                _annotate(store, record.label, bundle, service="zenodo", server=options.server_url,
                          deposition_id=deposit.id, doi=deposit.doi, url=deposit.url,
                          published=None)  # fmt: skip
        else:
            try:
                deposit = api.get(str(state["deposition_id"]))
            except ZenodoError as exc:
                if exc.status in (401, 403):  # the token, not the deposition: it may well be there
                    raise ZenodoError(
                        f"deposition {state['deposition_id']}, which an earlier run of this command "
                        f"started on {options.server_url}, cannot be read: the server refused the "
                        f"token (HTTP {exc.status})",
                        status=exc.status,
                        hint="use the token of the account that started it (ZENODO_TOKEN, or "
                        "ZENODO_SANDBOX_TOKEN with --sandbox; sandbox and production need their own); "
                        f"to start over under another account, remove {state.path}",
                    ) from exc
                if exc.status not in (404, 410):
                    raise
                raise ZenodoError(
                    f"deposition {state['deposition_id']}, which an earlier run of this command "
                    f"started, is gone from {options.server_url} (HTTP {exc.status})",
                    status=exc.status,
                    hint=f"if it was deleted on purpose, remove {state.path} to start a new one",
                ) from exc
        if not deposit.published:
            # 2. files: keep what the server holds with the same checksum, replace the rest
            done: dict[str, str] = {}
            for name, (md5, size) in deposit.files.items():
                f = wanted.get(name)
                if f is None or md5 != f.md5 or (size is not None and size != f.size):
                    api.delete_file(deposit, name)
                else:
                    done[name] = f.md5
            state.update(files=done, stage="uploading")
            for f in bundle.files:
                if f.name in done:
                    continue
                progress = (lambda d, t, n=f.name: on_progress(n, d, t)) if on_progress else None
                api.upload(deposit, f.name, f.path, md5=f.md5, on_progress=progress)
                done[f.name] = f.md5
                uploaded.add(f.name)
                state.update(files=done)
            # 3. metadata (the whole of it, every time: the server replaces, never merges)
            api.set_metadata(deposit, result.metadata)
            state.update(stage="metadata")
            if options.draft:
                state.update(stage="draft")
                result.warnings += api.warnings
                return _finish_result(result, state, bundle, "draft", uploaded)
            # 4. publish
            deposit = api.publish(deposit)
        result.warnings += api.warnings
        doi = str(deposit.doi or state["reserved_doi"] or "")
        url = deposit.url
    published = format_time(utc_now())
    state.update(stage="published", doi=doi, url=url, published=published,
                 files={f.name: f.md5 for f in bundle.files})  # fmt: skip
    for record in bundle.records:
        _annotate(store, record.label, bundle, service="zenodo", server=options.server_url,
                  deposition_id=str(state["deposition_id"]), doi=doi or None, url=url,
                  published=published)  # fmt: skip
    return _finish_result(result, state, bundle, "published", uploaded)


def _choose_api(client: ArchiveClient, state: PublishState, requested: str) -> ArchiveAPI:
    """The API this publication uses: the one it started with (kept in the state), else ``requested``
    or, for ``auto``, the one the server offers."""
    from paperlink.publish.servers import open_api

    started = state["api"]
    if started and requested not in ("auto", started):
        raise UsageError(
            f"this publication was started with the {started} API, not the {requested} API",
            hint=f"run it again with --api {started} (or auto), or remove {state.path} to start over",
        )
    api = open_api(client, started or requested)
    if started != api.name:
        state.update(api=api.name)
    return api


def _last_publication(bundle: Bundle, server: str) -> Publication | None:
    published = [
        r.publication
        for r in bundle.records
        if r.publication is not None
        and r.publication.service == "zenodo"
        and r.publication.published
        and (r.publication.server or "").rstrip("/") == server.rstrip("/")
    ]
    return max(published, key=lambda p: p.published or "", default=None)


def _finish_result(
    result: PublishResult,
    state: PublishState,
    bundle: Bundle,
    status: str,
    uploaded: set[str] | None = None,
) -> PublishResult:
    """Fill in where the archive is; files not uploaded by this run were already on the server."""
    result.state = status
    result.deposition_id = str(state["deposition_id"])
    result.doi = state["doi"] or state["reserved_doi"]
    result.url = state["url"] or state["html"]
    result.files = [
        _report(f, "uploaded" if f.name in (uploaded or set()) else "skipped") for f in bundle.files
    ]
    return result
