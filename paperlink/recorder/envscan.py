"""Capture a run's environment (:class:`paperlink.envpackages.Environment`) while the run goes on.

The scans that cost (``dpkg-query``, a conda prefix's ``conda-meta``, R's ``installed.packages()``, a Julia
manifest) run once and are cached in the store's tool cache with a stamp of what they read: the dpkg status
file's size and mtime, the ``conda-meta`` folder's mtime, R's library folders' mtimes, the manifest's size
and mtime. A warm capture only stats those.
The store is used from the calling thread only (SQLite connections stay in theirs); the scans run in one
background thread, started by :meth:`EnvironmentCapture.start` and joined by :meth:`~.finish`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, Protocol

from paperlink.core.envpackages import (
    DPKG_QUERY_FORMAT,
    Environment,
    EnvironmentFile,
    Package,
    conda_environment_name,
    is_environment_file,
    parse_dpkg_query,
    parse_dpkg_status,
    read_conda_meta,
    sort_packages,
)
from paperlink.core.model import model
from paperlink.core.programs import which
from paperlink.core.runcontext import ContainerRef
from paperlink.errors import ConfigError, StoreFull
from paperlink.recorder.probe import ToolCache

# What `[environment] capture` may name; all of them by default.
CAPTURE_PARTS = ("conda", "dpkg", "files", "r", "julia")
DPKG_STATUS = Path("/var/lib/dpkg/status")
_SCAN_TIMEOUT = 120
_FILES_DEPTH = 3  # lock files deeper than this in the project are not looked for
_R_SCRIPT = (
    "for (p in .libPaths()) cat('#', p, '\\n', sep='');"
    "ip <- installed.packages(fields=character());"
    "write.table(ip[, c('Package', 'Version', 'LibPath'), drop=FALSE], sep='\\t', quote=FALSE, "
    "row.names=FALSE, col.names=FALSE)"
)


class EnvironmentStore(Protocol):
    def put_environment(self, environment: Environment) -> str: ...


def capture_parts(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The parts a project's ``[environment] capture = [...]`` asks for (all when not set)."""
    table = settings.get("environment")
    chosen = table.get("capture") if isinstance(table, Mapping) else None
    if chosen is None:
        return CAPTURE_PARTS
    unknown = [str(part) for part in chosen if part not in CAPTURE_PARTS]
    if unknown:
        raise ConfigError(
            f"[environment] capture names {', '.join(map(repr, unknown))}, which paperlink does not know",
            hint=f"choose among {', '.join(CAPTURE_PARTS)} (or [] to capture none)",
        )
    return tuple(str(part) for part in chosen)


@model
class _Found:
    packages: list[Package]
    stamp: Any
    extra: dict[str, str] = field(default_factory=dict)


@model
class _Part:
    manager: str
    source: str
    key: str  # the tool cache key
    fresh: Callable[[Any], bool]  # is a cached stamp still true of the disk?
    scan: Callable[[], _Found | None]
    found: _Found | None = None
    from_cache: bool = False
    stamp_text: str | None = None  # the cached stamp, as stored


class EnvironmentCapture:
    """Scans the environment of one run: :meth:`start` before the command, :meth:`finish` after it."""

    def __init__(
        self,
        cache: ToolCache,
        root: Path,
        argv: list[str],
        environ: Mapping[str, str],
        *,
        parts: Collection[str] = CAPTURE_PARTS,
        host: bool = True,
        skip_dirs: Collection[str] = (),
        image: str | None = None,
        image_packages: list[Package] | None = None,
        image_source: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.cache = cache
        self.root = root
        # Where the command runs: Julia looks for its project from there.
        self.cwd = cwd or Path.cwd()
        self.environ = dict(environ)
        self.parts = set(parts)
        self.skip_dirs = {d.strip("/") for d in skip_dirs}
        self.image = image
        self._image_packages = image_packages
        self._image_source = image_source
        self._jobs: list[_Part] = []
        self._files: list[EnvironmentFile] = []
        self._thread: threading.Thread | None = None
        if host:
            self._jobs = [job for job in self._host_jobs(argv) if job is not None]

    def _host_jobs(self, argv: list[str]) -> list[_Part | None]:
        program = Path(argv[0]).name if argv else ""
        return [
            self._conda() if "conda" in self.parts else None,
            self._dpkg() if "dpkg" in self.parts else None,
            self._r() if "r" in self.parts and program in ("Rscript", "R") else None,
            self._julia(argv) if "julia" in self.parts and program == "julia" else None,
        ]

    # -- the managers -------------------------------------------------------------------------------
    def _conda(self) -> _Part | None:
        prefix_text = self.environ.get("CONDA_PREFIX")
        if not prefix_text or not (Path(prefix_text) / "conda-meta").is_dir():
            return None
        prefix = Path(prefix_text)
        meta = prefix / "conda-meta"
        now = _stamp(meta)
        name = conda_environment_name(prefix, self.environ.get("CONDA_DEFAULT_ENV"))

        def scan() -> _Found:
            packages, platform = read_conda_meta(prefix)
            return _Found(packages, now, {"name": name, "platform": platform or ""})

        return _Part("conda", str(prefix), f"env:conda:{prefix}", lambda s: s == now, scan)

    def _dpkg(self) -> _Part | None:
        query = which("dpkg-query", path=os.environ.get("PATH"))
        if query is None or not DPKG_STATUS.is_file():
            return None
        now = _stamp(DPKG_STATUS)

        def scan() -> _Found | None:
            text = _output([query, "-W", "-f", DPKG_QUERY_FORMAT], os.environ)
            return None if text is None else _Found(parse_dpkg_query(text), now)

        return _Part("dpkg", "host", "env:dpkg:host", lambda s: s == now, scan)

    def _r(self) -> _Part | None:
        rscript = which("Rscript", path=self.environ.get("PATH"))
        if rscript is None:
            return None
        ident = _identity(rscript, self.environ, ("R_LIBS", "R_LIBS_USER", "R_LIBS_SITE"))

        def scan() -> _Found | None:
            text = _output([rscript, "--vanilla", "-e", _R_SCRIPT], self.environ)
            if text is None:
                return None
            libs = [line[1:] for line in text.splitlines() if line.startswith("#")]
            packages = []
            for line in text.splitlines():
                parts = line.split("\t")
                if not line.startswith("#") and len(parts) == 3:
                    packages.append(Package(name=parts[0], version=parts[1]))
            return _Found(sort_packages(packages), {lib: _stamp(Path(lib)) for lib in libs})

        return _Part("r", rscript, f"env:r:{ident}", _folders_unchanged, scan)

    def _julia(self, argv: list[str]) -> _Part | None:
        """Julia's packages from the active project's manifest (:mod:`paperlink.recorder.julia_env`):
        Julia is not started, only asked its version (once per binary) when the project needs it."""
        julia = which("julia", path=self.environ.get("PATH"))
        if julia is None:
            return None
        from paperlink.recorder.julia_env import active_project, find_manifest, read_manifest

        version = functools.cache(lambda: self._julia_version(julia))
        project = active_project(argv, self.environ, self.cwd, version)
        manifest = None if project is None else find_manifest(project, version)
        if manifest is None:
            return None
        now = _stamp(manifest)

        def scan() -> _Found | None:
            try:
                return _Found(read_manifest(manifest), now)
            except (OSError, ValueError):
                return None

        source = self._where(manifest)
        return _Part("julia", source, f"env:julia:{manifest}", lambda s: s == now, scan)

    def _julia_version(self, julia: str) -> str | None:
        key = f"env:julia:version:{_identity(julia, self.environ, ())}"
        cached = self.cache.cache_get(key)
        if cached is not None:
            return cached or None
        from paperlink.recorder.julia_env import julia_minor_version

        minor = julia_minor_version(_output([julia, "--version"], self.environ) or "")
        self.cache.cache_put(key, minor or "")
        return minor

    def _where(self, path: Path) -> str:
        """A file the environment was read from: relative to the project when it is in it."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    # -- running ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Check each scan's cached stamp and start the ones the cache cannot answer in a thread.
        Only the small stamps are read here; the cached packages are read only when needed."""
        for job in self._jobs:
            stamp = self.cache.cache_get(job.key + "#stamp")
            with contextlib.suppress(ValueError, TypeError):
                if stamp is not None and job.fresh(json.loads(stamp)):
                    job.from_cache = True
                    job.stamp_text = stamp
        self._thread = threading.Thread(
            target=self._work, name="paperlink-environment", daemon=True
        )
        self._thread.start()

    def _work(self) -> None:
        if "files" in self.parts:
            self._files = find_environment_files(self.root, self.skip_dirs)
        for job in self._jobs:
            if not job.from_cache:
                job.found = job.scan()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def finish(self, pip: Mapping[str, str] | None = None) -> Environment:
        """The environment (with ``pip``, the interpreter's distributions); caches what was scanned."""
        self._join()
        environment = Environment(files=self._files, image=self.image)
        for job in self._jobs:
            found = self._cached(job) if job.from_cache else job.found
            if found is None and job.from_cache:
                found = job.found = job.scan()  # the cached packages were damaged: scan now
                job.from_cache = False
            if found is None:
                continue
            if not job.from_cache:
                blob = {"packages": [p.to_dict() for p in found.packages], "extra": found.extra}
                self.cache.cache_put(job.key, json.dumps(blob))
                self.cache.cache_put(job.key + "#stamp", json.dumps(found.stamp))
            environment.packages[job.manager] = found.packages
            environment.sources[job.manager] = job.source
            if job.manager == "conda":
                environment.conda_name = found.extra.get("name") or None
                environment.conda_platform = found.extra.get("platform") or None
        if self._image_packages is not None and "dpkg" in self.parts:
            environment.packages["dpkg"] = self._image_packages
            environment.sources["dpkg"] = self._image_source or "image"
        if pip:
            environment.packages["pip"] = sort_packages(
                [Package(name=name, version=version) for name, version in pip.items()]
            )
            environment.sources["pip"] = "interpreter"
        return environment

    def store_environment(self, store: EnvironmentStore, pip: Mapping[str, str]) -> str | None:
        """Keep the environment in ``store`` once; returns its digest (None when nothing was found).

        When every scan was answered by the cache, the same stamps, lock files, interpreter packages and
        image give the same environment: its digest is remembered under them, so a warm run neither
        decodes nor digests thousands of packages again."""
        self._join()
        key = None
        if all(job.from_cache for job in self._jobs):
            parts = [(job.key, job.stamp_text) for job in self._jobs]
            files = [(f.path, f.sha256) for f in self._files]
            image = [self.image, self._image_source, self._image_packages is None]
            text = json.dumps([parts, files, sorted(pip.items()), image, sorted(self.parts)])
            key = "env:digest:" + hashlib.sha256(text.encode()).hexdigest()
            known = self.cache.cache_get(key)
            if known is not None:
                return known or None
        environment = self.finish(pip)
        if not (environment.count() or environment.files or environment.image):
            digest = None
        else:
            try:
                digest = store.put_environment(environment)
            except StoreFull:
                # On a full disk the record itself matters more: it is kept without its environment.
                return None
        if key is not None:
            self.cache.cache_put(key, digest or "")
        return digest

    def _cached(self, job: _Part) -> _Found | None:
        text = self.cache.cache_get(job.key)
        if text is None:
            return None
        try:
            data = json.loads(text)
            packages = [Package.from_dict(p) for p in data["packages"]]
            return _Found(packages, json.loads(job.stamp_text or "null"), data.get("extra", {}))
        except (ValueError, KeyError, TypeError):
            return None


def pinned_image(ref: ContainerRef) -> str | None:
    """How a Dockerfile names the image a run used: ``repo@sha256:…`` when a registry knows it, else
    the pinned reference or the image ID."""
    return ref.repo_digests[0] if ref.repo_digests else ref.pinned_reference or ref.image_id


def image_dpkg_packages(
    cache: ToolCache, image_id: str, read: Callable[[str], bytes | None]
) -> list[Package] | None:
    """The Debian packages of image ``image_id`` from its ``/var/lib/dpkg/status``, which ``read`` gets
    from the engine (None: the image has no dpkg). Cached by image ID, which names the image's content."""
    key = f"env:dpkg:image:{image_id}"
    cached = cache.cache_get(key)
    if cached is not None:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            data = json.loads(cached)
            return None if data is None else [Package.from_dict(p) for p in data]
    raw = read(str(DPKG_STATUS))
    packages = None if raw is None else parse_dpkg_status(raw.decode("utf-8", "replace"))
    cache.cache_put(key, json.dumps(None if packages is None else [p.to_dict() for p in packages]))
    return packages


def find_environment_files(root: Path, skip_dirs: Collection[str] = ()) -> list[EnvironmentFile]:
    """The lock and environment files in the project (hidden folders, virtualenvs, ``node_modules`` and
    ``skip_dirs`` left out, at most :data:`_FILES_DEPTH` folders deep), with their sha256."""
    found: list[EnvironmentFile] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            rel = Path(entry.path).relative_to(root).as_posix()
            if entry.is_dir(follow_symlinks=False):
                skip = entry.name.startswith(".") or entry.name in ("node_modules", "__pycache__")
                if skip or rel in skip_dirs or depth >= _FILES_DEPTH:
                    continue
                if (Path(entry.path) / "pyvenv.cfg").exists():
                    continue
                walk(Path(entry.path), depth + 1)
            elif entry.is_file(follow_symlinks=False) and is_environment_file(entry.name):
                try:
                    data = Path(entry.path).read_bytes()
                except OSError:
                    continue
                found.append(EnvironmentFile(rel, hashlib.sha256(data).hexdigest(), len(data)))

    walk(root, 0)
    return found


def _stamp(path: Path) -> list[int]:
    """What changes when a file or folder's content changes: size and mtime (``[]`` when missing)."""
    try:
        st = path.stat()
    except OSError:
        return []
    return [st.st_size, st.st_mtime_ns]


def _folders_unchanged(stamps: Any) -> bool:
    return isinstance(stamps, dict) and all(_stamp(Path(p)) == s for p, s in stamps.items())


def _identity(program: str, environ: Mapping[str, str], variables: tuple[str, ...]) -> str:
    """A cache key part for ``program`` as ``environ`` would run it."""
    real = os.path.realpath(program)
    text = json.dumps([real, _stamp(Path(real)), [environ.get(v) for v in variables]])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _output(argv: list[str], environ: Mapping[str, str]) -> str | None:
    """A tool's stdout, or None when it cannot run or fails: a missing scan leaves its manager out."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=_SCAN_TIMEOUT,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None
