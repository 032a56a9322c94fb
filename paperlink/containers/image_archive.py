"""Keep a record's environment retrievable: push its image to a registry, save it to an archive file,
load it back and check it is the image the record ran.

What these steps learn after a run (repo digests, archive digests) is kept in the record's ``image``
annotation, since finished records are immutable; the store merges it back in when it reads the record.
"""

from __future__ import annotations

from dataclasses import asdict, field
from pathlib import Path
from typing import Any

from paperlink.core.files import FileDigest
from paperlink.core.model import model
from paperlink.core.records import Record
from paperlink.core.runcontext import ContainerRef
from paperlink.core.store import RecordStore
from paperlink.errors import EngineUnavailable, UsageError

ANNOTATION = "image"


@model
class ImageResult:
    """What an image command did."""

    image_id: str
    label: str | None = None
    repo_digest: str | None = None
    archive: FileDigest | None = None
    loaded: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recorded_container(store: RecordStore, label: str) -> ContainerRef:
    """The container section of ``label`` with the repo digests and the archive learnt after the run.

    Raises :class:`UsageError` when the record did not run in a container image.
    """
    record = store.get(label)
    ref = record.container
    if ref is None or not ref.image_id or ref.inside_container:
        raise UsageError(
            f"record '{label}' did not run in a container image",
            hint="record the run with 'paperlink run --image REF -- …'",
        )
    return ref  # the store has merged the repo digests and the archive (the `image` annotation) in


def _annotate(store: RecordStore, label: str, **changes: Any) -> None:
    data = store.get_annotation(label, ANNOTATION) or {}
    if "repo_digest" in changes:
        data["repo_digests"] = sorted({*data.get("repo_digests", []), changes["repo_digest"]})
    if "archive" in changes:
        data["archive"] = asdict(changes["archive"])
    store.set_annotation(label, ANNOTATION, data)


def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in text.lower()).strip("._-")
    return slug or "image"


def push_record_image(
    engine: Any, store: RecordStore, label: str, registry: str, *, repository: str | None = None
) -> ImageResult:
    """Push the image ``label`` ran to ``registry`` (``host[:port]``) as ``REPOSITORY:LABEL`` (default
    repository: ``paperlink/<project>``) and record its repo digest."""
    from paperlink.containers import transfer

    ref = recorded_container(store, label)
    project = store.get(label).project
    repo = f"{registry.rstrip('/')}/{repository or 'paperlink/' + _slug(project)}"
    digest = transfer.push_image(engine, str(ref.image_id), repo, _slug(label)[:128])
    _annotate(store, label, repo_digest=digest)
    return ImageResult(image_id=str(ref.image_id), label=label, repo_digest=digest)


def save_record_image(engine: Any, store: RecordStore, target: str, path: Path) -> ImageResult:
    """Save the image of record ``target`` (or the image named ``target`` when no record has that label)
    to ``path`` as a gzip-compressed archive; for a record, keep the archive's digest with it."""
    from paperlink.containers import engine as containers
    from paperlink.containers import transfer

    label: str | None = None
    if store.exists(target):
        label = target
        image_id = str(recorded_container(store, target).image_id)
    else:
        image_id = str(containers.resolve_image(engine, target).image_id)
    archive = transfer.save_image(engine, image_id, path)
    if label is not None:
        _annotate(store, label, archive=archive)
    return ImageResult(image_id=image_id, label=label, archive=archive)


def load_record_image(
    engine: Any, store: RecordStore | None, path: Path, *, label: str | None = None
) -> ImageResult:
    """Load an image archive; with ``label``, check that it holds the image that record ran
    (:class:`ImageMismatch` otherwise)."""
    from paperlink.containers import transfer

    expected: str | None = None
    if label is not None:
        if store is None:
            raise UsageError("checking against a record needs a record store")
        expected = str(recorded_container(store, label).image_id)
    loaded = transfer.load_image(engine, path, expected_id=expected)
    return ImageResult(image_id=expected or loaded[0], label=label, loaded=loaded)


class ImageSaver:
    """Saves the image of a container run that has no archive yet, for ``publish`` (which archives a
    container run's image unless told not to): into ``.paperlink/images/`` of the project, each image
    once however many records ran in it, the archive recorded with each record (project-relative, so the
    record names no path of this machine). Returns None, and saves nothing, when no engine answers or
    the engine no longer has the image: ``publish`` then warns as before."""

    def __init__(self, root: Path, store: RecordStore, settings: Any) -> None:
        self.root = root
        self.store = store
        self.settings = settings
        self._engine: Any = None
        self._saved: dict[str, FileDigest] = {}

    def __call__(self, record: Record) -> FileDigest | None:
        from paperlink.containers import engine as containers
        from paperlink.containers import transfer

        container = record.container
        if container is None or not container.image_id or container.inside_container:
            return None
        image_id = container.image_id
        if image_id not in self._saved:
            try:
                if self._engine is None:
                    self._engine = containers.connect_engine(containers.engine_url(self.settings))
                if not transfer.has_image(self._engine, image_id):
                    return None
            except EngineUnavailable:
                return None
            folder = self.root / ".paperlink" / "images"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{_slug(image_id.removeprefix('sha256:'))[:24]}.tar.gz"
            saved = transfer.save_image(self._engine, image_id, target)
            self._saved[image_id] = FileDigest(
                path=target.relative_to(self.root).as_posix(), size=saved.size, sha256=saved.sha256
            )
        archive = self._saved[image_id]
        _annotate(self.store, record.label, archive=archive)
        return archive

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
