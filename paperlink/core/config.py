"""Find the paperlink project above a folder and load its settings.

A project is the folder holding ``paperlink.toml`` (or a ``pyproject.toml`` with a ``[tool.paperlink]``
table); commands run anywhere below it find it by walking up, as git does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

from paperlink.core.model import model
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


@model
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
    def store_path(self) -> Path | str:
        """The store's file, or a PostgreSQL URL (as written, with any password: show it through
        ``paperlink.core.store.display_location``)."""
        return store_path_from_url(self.store, self.root)

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` as the records show it: relative to the root when inside, else absolute."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()


def store_path_from_url(url: str, root: Path) -> Path | str:
    """A store given as a path or ``sqlite:///path`` URL (relative paths are relative to ``root``), or a
    ``postgresql://`` URL, returned as it is."""
    if "://" in url:
        scheme, _, rest = url.partition("://")
        if scheme.lower() in ("postgresql", "postgres"):
            return url
        if scheme != "sqlite":
            from paperlink.core.store import display_location

            raise ConfigError(
                f"unsupported store URL {display_location(url)!r}: a store is a SQLite file or a "
                "PostgreSQL database",
                hint="use a path such as '.paperlink/records.sqlite', 'sqlite:///abs/path.sqlite' "
                "or 'postgresql://user@host/db'",
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
    from paperlink.core.loaders import read_config_text

    text = read_config_text(
        path,
        what="TOML settings file",
        fix=f"restore it (git checkout -- {path.name}), or remove it and run 'paperlink init'",
    )
    try:
        return parse_toml(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the file by hand") from exc


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib``, or ``tomli`` on Python 3.10)."""
    data: dict[str, Any] = tomllib.loads(text)
    return data


# Every key paperlink reads from its settings, table by table, with the types it accepts (README.md,
# "Configuration", lists them). Anything else is refused with the nearest known key: a misspelt `outputs`
# silently recording no outputs is worse than a run that does not start.
PROJECT_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "outputs": (list,),
    "store": (str,),
    "env_allow": (list,),
    "max_stream_bytes": (int,),
    "image": (str,),
    "source_date_epoch": (int,),
    "trace": (bool,),
}
TABLES: dict[str, dict[str, tuple[type, ...]]] = {
    "publish": {
        "title": (str,),
        "description": (str,),
        "license": (str,),
        "version": (str, int, float),
        "upload_type": (str,),
        "keywords": (list,),
        "creators": (list,),
        "paper": (str,),
        "paper_doi": (str,),
        "arxiv": (str,),
        "related": (list,),
        "communities": (list,),
        "organizations": (dict,),
    },
    "latex": {"public_url": (str,), "base_url": (str,)},
    "containers": {"engine": (str,)},
    "environment": {"capture": (list,)},
}
_TYPE_NAMES = {
    bool: "boolean",
    str: "string",
    list: "list",
    int: "integer",
    float: "number",
    dict: "table",
}


def check_settings(config_path: Path, data: dict[str, Any]) -> None:
    """Refuse unknown keys and values of the wrong type in a project's settings (``data``, the whole
    ``paperlink.toml`` or the ``[tool.paperlink]`` table of ``config_path``); raises :class:`ConfigError`
    naming every problem, each with the key it most likely meant."""
    in_pyproject = config_path.name != CONFIG_FILE
    problems: list[str] = []
    project_table = data.get("project")
    nested = not in_pyproject and "project" in data
    if nested and not isinstance(project_table, dict):
        problems.append("'project' must be a table ([project])")
    top_keys = {*TABLES, "project"} if nested else {*TABLES, *PROJECT_KEYS}
    if in_pyproject:
        top_keys.discard("project")
    where_top = "[tool.paperlink]" if in_pyproject else "the top level"
    if nested and isinstance(project_table, dict):
        problems += _check_table(project_table, PROJECT_KEYS, "[project]")
    for key, value in data.items():
        if key in TABLES:
            if not isinstance(value, dict):
                problems.append(f"'{key}' must be a table ([{_section(in_pyproject, key)}])")
                continue
            problems += _check_table(value, TABLES[key], f"[{_section(in_pyproject, key)}]")
        elif key in top_keys:
            if key in PROJECT_KEYS:
                problems += _check_table({key: value}, PROJECT_KEYS, where_top)
        elif nested and key in PROJECT_KEYS:
            problems.append(
                f"'{key}' at the top level belongs in [project]: move it under [project]"
            )
        else:
            problems.append(f"unknown key '{key}' at {where_top}{_suggest(key, top_keys)}")
    if problems:
        raise ConfigError(
            f"{config_path}: " + "; ".join(problems),
            hint="correct or remove each; README.md (Configuration) lists every key paperlink reads",
        )


def _section(in_pyproject: bool, table: str) -> str:
    if in_pyproject:
        return "tool.paperlink" if table == "project" else f"tool.paperlink.{table}"
    return table


def _check_table(
    table: dict[str, Any], schema: dict[str, tuple[type, ...]], where: str
) -> list[str]:
    problems = []
    for key, value in table.items():
        kinds = schema.get(key)
        if kinds is None:
            problems.append(f"unknown key '{key}' in {where}{_suggest(key, schema)}")
        elif (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            got = _TYPE_NAMES.get(type(value), type(value).__name__)
            problems.append(f"'{key}' must be a {wanted}, not a {got} (in {where})")
        elif key in ("outputs", "env_allow") and isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, str) or not item.strip("/ "):
                    problems.append(
                        f"'{key}' in {where}: item {index + 1} must be a non-empty string"
                    )
        elif key == "name" and isinstance(value, str) and not _one_line(value):
            problems.append(f"'name' in {where} must be one line of printable text")
    return problems


def _suggest(key: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _one_line(text: str) -> bool:
    return bool(text.strip()) and text.isprintable()


def check_project_name(name: str) -> str:
    """``name`` if it is one line of printable text; raises :class:`UsageError` otherwise."""
    if not _one_line(name):
        raise UsageError(
            f"project name {name!r} is not one line of printable text",
            hint="give a short one-line name: paperlink init --name NAME",
        )
    return name


def _load(root: Path, config_path: Path, data: dict[str, Any]) -> Project:
    check_settings(config_path, data)
    table = data.get("project", data) if config_path.name == CONFIG_FILE else data

    def get(key: str, default: Any) -> Any:
        return table.get(key, default)

    outputs = get("outputs", list(DEFAULT_OUTPUT_DIRS))
    allow = get("env_allow", [])
    return Project(
        root=root,
        name=get("name", root.name),
        output_dirs=[str(item).strip("/") for item in outputs],
        store=get("store", DEFAULT_STORE),
        env_allow=[str(item) for item in allow],
        max_stream_bytes=get("max_stream_bytes", DEFAULT_MAX_STREAM_BYTES),
        default_image=get("image", None),
        source_date_epoch=get("source_date_epoch", None),
        trace=get("trace", False),
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
    check_project_name(name)
    outputs = list(outputs or DEFAULT_OUTPUT_DIRS)
    text = (
        "# paperlink project settings; every key is described in docs/config.md of paperlink's source.\n"
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
    """``value`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_TOML_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so no half-written file is left."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename (see :mod:`paperlink.core.tempfiles`,
    which also removes what a killed earlier write left in the folder)."""
    from paperlink.core.tempfiles import create_temp

    fd, tmp = create_temp(path)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
