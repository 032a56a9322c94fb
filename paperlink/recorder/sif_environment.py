"""The Apptainer/Singularity image (SIF) a run used, as its environment: named by ``paperlink run --sif
FILE``, by the wrapped command (``apptainer exec [options] IMAGE.sif …``), or by the container paperlink
itself runs in (``APPTAINER_CONTAINER`` / ``SINGULARITY_CONTAINER``).

The image is recorded by its identity (:mod:`paperlink.containers.sif`: the file's sha256, header and objects),
remembered in the store by the file's path, size, times, inode and device, so a 1 GiB image is read once,
not on every run. Nothing here needs Apptainer: it reads the file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from paperlink.core.hashing import ProgressCallback
from paperlink.core.records import Platform, Record
from paperlink.core.runcontext import ContainerRef, SifImageRef, SifObjectRef
from paperlink.core.serialize import from_dict
from paperlink.errors import CaptureError, UsageError

if TYPE_CHECKING:
    from paperlink.core.store import RecordStore

ENGINES = ("apptainer", "singularity")
# The subcommands that take an image and run something in it.
_ACTIONS = ("exec", "run", "shell", "test")
# Options of apptainer/singularity exec|run|shell|test that take a value (Apptainer 1.x, SingularityCE
# 3/4: cmd/internal/cli/action_flags.go); every other option is a switch (--nv, --cleanenv, -C …).
_VALUED_LONG = frozenset(
    [
        "add-caps",
        "app",
        "apply-cgroups",
        "authfile",
        "bind",
        "blkio-weight",
        "blkio-weight-device",
        "cdi",
        "cdi-dirs",
        "config",
        "cpu-shares",
        "cpus",
        "cpuset-cpus",
        "cpuset-mems",
        "dns",
        "drop-caps",
        "env",
        "env-file",
        "fusemount",
        "home",
        "hostname",
        "memory",
        "memory-reservation",
        "memory-swap",
        "mount",
        "network",
        "network-args",
        "no-mount",
        "overlay",
        "passphrase-file",
        "pem-path",
        "pids-limit",
        "pwd",
        "scratch",
        "security",
        "shell",
        "vm-cpu",
        "vm-ip",
        "vm-ram",
        "containlibs",
        "workdir",
        "docker-host",
        "docker-username",
        "docker-password",
        "keyfile",
    ]
)
_VALUED_SHORT = frozenset("BHoSWs")
# Options of the apptainer command itself (before the subcommand) that take a value.
_GLOBAL_VALUED = frozenset(("-c", "--config"))
_DOUBT_NS = (
    2_000_000_000  # as filestate.DOUBT_WINDOW_NS: a file changed this recently is not cached
)

ProgressFactory = Callable[[str], ProgressCallback | None]


def sif_in_command(argv: list[str]) -> tuple[str, str] | None:
    """``(engine, image)`` when ``argv`` is ``apptainer|singularity [global options] exec|run|shell|test
    [options] IMAGE …`` (also through a path such as ``/usr/bin/apptainer``), else None."""
    found = _image_index(argv)
    return None if found is None else (Path(argv[0]).name, argv[found])


def _image_index(argv: list[str]) -> int | None:
    if not argv or Path(argv[0]).name not in ENGINES:
        return None
    index = 1
    while index < len(argv) and argv[index].startswith("-"):  # the engine's own options
        index += 2 if argv[index] in _GLOBAL_VALUED else 1
    if index >= len(argv) or argv[index] not in _ACTIONS:
        return None
    index += 1
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        index += 1 + _takes_next(arg)
    return index if index < len(argv) else None


def _takes_next(option: str) -> bool:
    """Whether ``option`` (as given) consumes the next argument as its value."""
    if option.startswith("--"):
        return "=" not in option and option[2:] in _VALUED_LONG
    # A cluster of short switches may end in one that takes a value (-eB SRC), unless it is attached.
    for position, letter in enumerate(option[1:], start=1):
        if letter in _VALUED_SHORT:
            return position == len(option) - 1
    return False


def sif_identity(
    path: Path,
    store: RecordStore | None = None,
    *,
    on_progress: ProgressFactory | None = None,
    shown: str | None = None,
) -> SifImageRef:
    """The identity of the SIF file at ``path`` (named ``shown`` in the record, default ``path``).

    With ``store``, a file unchanged since it was last read (path, size, times, inode, device) is not read
    again. Raises :class:`paperlink.errors.SifError` when it is not a SIF file.
    """
    absolute = os.path.abspath(path)
    try:
        st = os.stat(absolute)
    except OSError as exc:
        raise CaptureError(
            f"SIF image {shown or path}: {exc.strerror or exc}",
            hint="check the image path (relative to the current folder)",
        ) from exc
    key = f"sif:{absolute}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"
    cached = store.cache_get(key) if store is not None else None
    if cached is not None:
        ref = from_dict(SifImageRef, json.loads(cached))
        ref.path = shown or str(path)
        return ref
    from paperlink.containers.sif import (
        read_sif,
    )  # uuid, threads: only when an image is really read

    image = read_sif(absolute, on_progress=on_progress(shown or str(path)) if on_progress else None)
    ref = sif_ref(image.to_dict(), shown or str(path))
    if store is not None and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= _DOUBT_NS:
        store.cache_put(key, json.dumps(asdict(ref), sort_keys=True))
    return ref


def sif_ref(image: Mapping[str, object], path: str) -> SifImageRef:
    """A record's :class:`SifImageRef` from :meth:`paperlink.containers.sif.SifImage.to_dict` (pure)."""
    import hashlib

    deffile = image.get("deffile")
    labels = image.get("labels")
    objects = image.get("objects")
    return SifImageRef(
        path=path,
        size=int(str(image["size"])),
        sha256=str(image["sha256"]),
        id=str(image["id"]),
        version=str(image["version"]),
        arch=str(image["arch"]),
        created=_optional(image.get("created")),
        modified=_optional(image.get("modified")),
        signed=bool(image.get("signed")),
        deffile_sha256=hashlib.sha256(deffile.encode()).hexdigest()
        if isinstance(deffile, str)
        else None,
        labels=dict(labels) if isinstance(labels, dict) else {},
        objects=[
            from_dict(SifObjectRef, dict(item))
            for item in (objects if isinstance(objects, list) else [])
        ],
    )


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _shown(path: Path, root: Path) -> str:
    """A project-relative path for an image inside the project (the record then names no path of this
    machine), else the absolute path."""
    absolute = Path(os.path.abspath(path))
    if absolute.is_relative_to(root):
        return absolute.relative_to(root).as_posix()
    return str(absolute)


def sif_container(
    argv: list[str],
    *,
    sif: str | os.PathLike[str] | None,
    root: Path,
    store: RecordStore | None,
    on_progress: ProgressFactory | None = None,
    environ: Mapping[str, str] | None = None,
) -> ContainerRef | None:
    """The SIF environment of a run, first found of: ``sif`` (``--sif FILE``; a file that is not a SIF is
    a :class:`UsageError`), the wrapped ``apptainer exec … IMAGE`` command, the Apptainer container
    paperlink runs in. None when there is none (the caller then looks for other containers).

    An image named by the command or the environment that is not a readable SIF file (a sandbox folder, a
    ``docker://`` reference, a path not visible here) is recorded by name only."""
    from paperlink.recorder.containerenv import detect_host_container

    root = root.resolve()
    if sif is not None:
        path = Path(sif)
        if not path.is_file():
            raise UsageError(f"--sif {path}: no such file", hint="give the image's .sif file")
        ref = ContainerRef(engine="apptainer", reference=str(sif))
        _attach(ref, path, root, store, on_progress, strict=True)
        return ref
    wrapped = sif_in_command(argv)
    if wrapped is not None:
        engine, image = wrapped
        ref = ContainerRef(engine=engine, reference=image)
        if Path(image).is_file():
            _attach(ref, Path(image), root, store, on_progress, strict=False)
        return ref
    env = os.environ if environ is None else environ
    if not any(env.get(f"{e.upper()}_CONTAINER") for e in ENGINES):
        return None
    host = detect_host_container(environ=env)
    if host is not None and host.reference and Path(host.reference).is_file():
        _attach(host, Path(host.reference), root, store, on_progress, strict=False)
    return host


def _attach(
    ref: ContainerRef,
    path: Path,
    root: Path,
    store: RecordStore | None,
    on_progress: ProgressFactory | None,
    *,
    strict: bool,
) -> None:
    try:
        ref.sif = sif_identity(path, store, on_progress=on_progress, shown=_shown(path, root))
    except CaptureError as exc:  # not a SIF (SifError), or not readable
        if strict:
            raise UsageError(exc.message, hint=exc.hint) from exc
        return
    ref.pinned_reference = ref.sif.sha256_ref
    ref.os = "linux"
    ref.architecture = ref.sif.arch
    ref.created = ref.sif.created


def sif_platform(sif: SifImageRef, root: Path, store: RecordStore | None = None) -> Platform:
    """The platform of a command run inside the image ``sif``: Linux, the image's architecture and the
    ``PRETTY_NAME`` of its ``/etc/os-release``, read from its root file system (a squashfs partition) with
    ``unsquashfs`` when that is installed (else left empty: never the host's). Remembered by digest."""
    key = f"sif-platform:{sif.sha256}"
    cached = store.cache_get(key) if store is not None else None
    if cached is None:
        path = Path(sif.path) if Path(sif.path).is_absolute() else root / sif.path
        cached = _os_release(path, sif)
        if store is not None and cached is not None:
            store.cache_put(key, cached)
    return Platform(os="Linux", os_release=cached or "", machine=sif.arch)


def sif_file_reader(sif: SifImageRef, root: Path) -> Callable[[str], bytes | None] | None:
    """A reader of one file of the image's root file system (its squashfs partition), by path inside the
    image: its bytes, or None when the image has no such file. None when it cannot be read here (no
    ``unsquashfs``, no squashfs root). Nothing in the image runs."""
    unsquashfs = shutil.which("unsquashfs")
    roots = [
        o
        for o in sif.objects
        if o.type == "partition"
        and o.partition_fs == "squashfs"
        and o.partition_type in ("primary-system", "system")
    ]
    if unsquashfs is None or not roots:
        return None
    path = Path(sif.path) if Path(sif.path).is_absolute() else root / sif.path
    offset = str(roots[0].offset)

    def read(name: str) -> bytes | None:
        try:
            done = subprocess.run(
                [unsquashfs, "-o", offset, "-cat", str(path), name.lstrip("/")],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    return read


def _os_release(path: Path, sif: SifImageRef) -> str | None:
    """None when it could not be asked (no unsquashfs), "" when the image has no os-release."""
    from paperlink.recorder.image_platform import os_release_name

    if shutil.which("unsquashfs") is None:
        return None
    read = sif_file_reader(replace(sif, path=str(path)), path.parent)
    if read is None:
        return ""
    # unsquashfs does not follow links (Debian's /etc/os-release is one): the usual target next.
    for name in ("etc/os-release", "usr/lib/os-release"):
        found = read(name)
        if found:
            return os_release_name(found.decode("utf-8", "replace"))
    return ""


def sif_path(record: Record, root: Path) -> Path | None:
    """Where the record's SIF image is on this machine: the archived copy when it is there, else the
    recorded path (a project-relative one under ``root``); None when neither exists."""
    container = record.container
    if container is None or container.sif is None:
        return None
    for candidate in (container.archive.path if container.archive else None, container.sif.path):
        if candidate:
            path = Path(candidate)
            path = path if path.is_absolute() else root / path
            if path.is_file():
                return path
    return None


def command_in_image(argv: list[str]) -> tuple[str, list[str]]:
    """``(action, CMD)`` of a run in a SIF image: for ``apptainer exec|run … IMAGE CMD`` its action and
    CMD ('run' starts the image's runscript with the arguments), else ``exec`` and the command itself."""
    index = _image_index(argv)
    if index is None:
        return "exec", list(argv)
    return next(a for a in argv[1:index] if a in _ACTIONS), argv[index + 1 :]


def rerun_command(record: Record, root: Path) -> list[str]:
    """The ``apptainer exec`` command that re-executes ``record`` in its SIF image, from the project root
    (bound into the container) with the recorded ``SOURCE_DATE_EPOCH``, wrapped in ``paperlink run`` so
    that the re-execution is recorded too. Raises :class:`UsageError` for a record with no SIF image."""
    container = record.container
    if container is None or container.sif is None:
        raise UsageError(f"record '{record.label}' did not run in a SIF image")
    found = sif_path(record, root)
    image = str(found) if found is not None else container.sif.path
    action, inner = command_in_image(record.argv)
    engine = container.engine if container.engine in ENGINES else "apptainer"
    env = (
        [f"--env=SOURCE_DATE_EPOCH={record.source_date_epoch}"] if record.source_date_epoch else []
    )
    return [
        "paperlink", "run", f"--reason=rerun of {record.label}", "--",
        engine, action, "--cleanenv", f"--bind={root}", f"--pwd={root / record.working_directory}",
        *env, image, *inner,
    ]  # fmt: skip


def rerun_text(record: Record, root: Path) -> str:
    """What ``paperlink rerun`` prints for a record made in a SIF image: the command, and the digest the
    image must have."""
    import shlex

    assert record.container is not None and record.container.sif is not None
    sif = record.container.sif
    found = sif_path(record, root)
    where = (
        f"the image is at {found}"
        if found is not None
        else f"the image {sif.path} is not on this machine; fetch the archived copy first"
    )
    return (
        f"# record '{record.label}' ran in SIF image {sif.path} ({sif.sha256_ref}); {where}.\n"
        f"# paperlink does not start Apptainer itself; re-execute it with:\n"
        f"{shlex.join(rerun_command(record, root))}\n"
        f"# then 'paperlink verify' checks the image is still {sif.sha256_ref}\n"
    )
