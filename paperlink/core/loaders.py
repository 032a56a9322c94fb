"""Bounded readers for the files people write by hand: ``paperlink.toml``, ``CITATION.cff``, ``.zenodo.json``.

A configuration file is a few kilobytes of text. These readers refuse what is not (a binary file, one of
many megabytes, nesting thousands of levels deep, a YAML "billion laughs" whose aliases expand a small file
into gigabytes) with a :class:`ConfigError` that names the file and what to do, instead of a traceback or an
exhausted memory. YAML anchors and aliases themselves stay allowed: ``CITATION.cff`` files use them to
repeat an author list in ``preferred-citation``; only their expanded size is limited.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperlink.errors import ConfigError

if TYPE_CHECKING:
    import yaml

# A hand-written configuration file is far smaller; anything bigger is not one.
MAX_CONFIG_BYTES = 1 << 20
# The most nodes a YAML document may expand to once aliases are followed (a long CITATION.cff has a few
# thousand), and the deepest nesting any of these files may have.
MAX_YAML_NODES = 100_000
MAX_DEPTH = 100


def read_config_text(path: Path, *, what: str, fix: str) -> str:
    """The text of ``path``, a hand-written file of kind ``what``; raises :class:`ConfigError` (with
    ``fix`` as its hint) when it cannot be read, is larger than :data:`MAX_CONFIG_BYTES` or is not text."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="check the file's permissions"
        ) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB, too large for a {what}",
            hint=fix,
        )
    if b"\x00" in data:
        raise ConfigError(
            f"{path} is a binary file, not a {what}",
            hint=fix,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (line {line} holds the byte 0x{data[exc.start]:02x}), "
            f"so not a {what}",
            hint=f"save it as UTF-8 text; {fix}",
        ) from exc


def load_json_file(path: Path, *, what: str, fix: str) -> Any:
    """Parse ``path`` as JSON with the limits above; raises :class:`ConfigError`."""
    text = read_config_text(path, what=what, fix=fix)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not valid JSON: {exc}", hint="check it with 'python3 -m json.tool'"
        ) from exc
    except RecursionError as exc:  # json's decoder recurses once per bracket
        raise ConfigError(
            f"{path} nests deeper than {MAX_DEPTH} levels",
            hint="Zenodo metadata is a shallow object; remove the extra brackets",
        ) from exc
    _check_depth(path, data)
    return data


def load_yaml_file(path: Path, *, what: str, fix: str) -> Any:
    """Parse ``path`` as YAML (safe types only) with the limits above; raises :class:`ConfigError`."""
    import yaml  # here: every command reads paperlink.toml through this module, few need YAML

    text = read_config_text(path, what=what, fix=fix)
    loader = _bounded_loader()(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(path, node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", hint="check it with 'cffconvert --validate'"
        ) from exc
    except RecursionError as exc:  # a deeply nested flow collection the depth check did not see
        raise ConfigError(
            f"{path} nests deeper than {MAX_DEPTH} levels", hint=f"a {what} is a shallow mapping"
        ) from exc
    finally:
        loader.dispose()


@functools.cache
def _bounded_loader() -> Any:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """PyYAML's safe loader that refuses nesting deeper than :data:`MAX_DEPTH` while composing,
        before Python's recursion limit is reached."""

        def __init__(self, stream: str, path: Path) -> None:
            super().__init__(stream)
            self._path = path
            self._depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    raise ConfigError(
                        f"{self._path}: nesting deeper than {MAX_DEPTH} levels at line {mark.line + 1}",
                        hint="a configuration file is a shallow mapping; remove the extra brackets",
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return BoundedLoader


def _check_expanded_size(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it past :data:`MAX_YAML_NODES` nodes, or make it recursive.

    The composed graph shares aliased nodes, so it is small even for a bomb; the size a tree walk (or
    ``str()``) of the constructed objects would see is counted here, each shared node once, bottom up.
    """
    import yaml

    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node, yaml)
        if done:
            visiting.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_YAML_NODES:
                raise ConfigError(
                    f"{path}: its aliases (*name) expand it to more than {MAX_YAML_NODES:,} values "
                    f"(line {node.start_mark.line + 1})",
                    hint="write the values out instead of nesting aliases of aliases",
                )
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise ConfigError(
                f"{path}: an alias refers to the collection that contains it "
                f"(line {node.start_mark.line + 1})",
                hint="remove the recursive alias",
            )
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node, yaml: Any) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _check_depth(path: Path, data: Any) -> None:
    """Refuse parsed data nesting deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"{path} nests deeper than {MAX_DEPTH} levels",
                hint="Zenodo metadata is a shallow object; remove the extra brackets",
            )
        if isinstance(item, dict):
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)
