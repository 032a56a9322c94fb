"""Find the paperlink project above a folder and load its settings.

A project is the folder holding ``paperlink.toml`` (or a ``pyproject.toml`` with a ``[tool.paperlink]``
table); commands run anywhere below it find it by walking up, as git does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperlink.errors import ConfigError, NotInProjectError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE = "paperlink.toml"
STATE_DIR = ".paperlink"
DEFAULT_STORE = f"{STATE_DIR}/records.sqlite"
DEFAULT_OUTPUT_DIRS = ("figures", "results")
# Keep the head and the tail of each stream up to this many bytes in all.
DEFAULT_MAX_STREAM_BYTES = 8 << 20


@dataclass
class Project:
    """A project's root folder and its settings."""

    root: Path
    name: str
    output_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_OUTPUT_DIRS))
    store: str = DEFAULT_STORE
    env_allow: list[str] = field(default_factory=list)
    max_stream_bytes: int = DEFAULT_MAX_STREAM_BYTES
    default_image: str | None = None
    source_date_epoch: int | None = None
    trace: bool = False  # paperlink run traces the command (strace) unless told --no-trace
    settings: dict[str, Any] = field(default_factory=dict)  # the whole table, for later features
    config_path: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def store_path(self) -> Path:
        return store_path_from_url(self.store, self.root)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` as the records show it: relative to the root when inside, else absolute."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()


def store_path_from_url(url: str, root: Path) -> Path:
    """A store given as a path or ``sqlite:///path`` URL; relative paths are relative to ``root``."""
    if "://" in url:
        scheme, _, rest = url.partition("://")
        if scheme != "sqlite":
            raise ConfigError(
                f"unsupported store URL {url!r}: only SQLite stores are supported",
                hint="use a path such as '.paperlink/records.sqlite' or 'sqlite:///abs/path.sqlite'",
            )
        url = rest  # sqlite:///abs/path is absolute, sqlite://rel/path relative to the root
    path = Path(url).expanduser()
    return path if path.is_absolute() else root / path


def find_project(start: str | os.PathLike[str] | None = None) -> Project:
    """The project whose root is ``start`` or the nearest folder above it that holds a configuration.

    Raises :class:`NotInProjectError` when there is none.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        config = folder / CONFIG_FILE
        if config.is_file():
            return _load(folder, config, _read_toml(config))
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("paperlink")
            if isinstance(table, dict):
                return _load(folder, pyproject, table)
    raise NotInProjectError(
        f"{here} is not inside a paperlink project (no {CONFIG_FILE} here or above)",
        hint="run 'paperlink init' in your project's top folder to start one",
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            data: dict[str, Any] = tomllib.load(stream)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the file by hand") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib``, or ``tomli`` on Python 3.10)."""
    data: dict[str, Any] = tomllib.loads(text)
    return data


def _load(root: Path, config_path: Path, data: dict[str, Any]) -> Project:
    table = data.get("project", data) if config_path.name == CONFIG_FILE else data

    def get(key: str, kind: type, default: Any) -> Any:
        value = table.get(key, default)
        if value is not default and not isinstance(value, kind):
            raise ConfigError(
                f"{config_path}: '{key}' must be a {kind.__name__}, not {type(value).__name__}"
            )
        return value

    outputs = get("outputs", list, list(DEFAULT_OUTPUT_DIRS))
    allow = get("env_allow", list, [])
    return Project(
        root=root,
        name=get("name", str, root.name),
        output_dirs=[str(item).strip("/") for item in outputs],
        store=get("store", str, DEFAULT_STORE),
        env_allow=[str(item) for item in allow],
        max_stream_bytes=get("max_stream_bytes", int, DEFAULT_MAX_STREAM_BYTES),
        default_image=get("image", str, None),
        source_date_epoch=get("source_date_epoch", int, None),
        trace=get("trace", bool, False),
        settings=data,
        config_path=config_path,
    )


def write_config(
    root: Path, *, name: str, store: str = DEFAULT_STORE, outputs: list[str] | None = None
) -> Path:
    """Write a fresh ``paperlink.toml`` (atomically); refuse to overwrite an existing one."""
    config = root / CONFIG_FILE
    if config.exists():
        raise UsageError(
            f"{config} already exists", hint="edit it by hand, or remove it to start afresh"
        )
    outputs = list(outputs or DEFAULT_OUTPUT_DIRS)
    text = (
        "# paperlink project settings: https://paperlink.dev/docs/config\n"
        "[project]\n"
        f"name = {_toml_string(name)}\n"
        "# Folders whose new or changed files count as a run's outputs.\n"
        f"outputs = [{', '.join(_toml_string(o) for o in outputs)}]\n"
        "# The record store: a path (relative to this folder) or sqlite:///absolute/path.\n"
        f"store = {_toml_string(store)}\n"
        "# Environment variables recorded besides the built-in allow-list (secrets are redacted).\n"
        "env_allow = []\n"
    )
    atomic_write_text(config, text)
    return config


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so no half-written file is left."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
