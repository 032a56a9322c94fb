"""What differs between two records: code version, parameters, inputs, outputs, packages, platform."""

from __future__ import annotations

from dataclasses import asdict, field
from typing import Any

from paperlink.core.envpackages import MANAGER_TITLES, Environment
from paperlink.core.envrecipes import package_changes
from paperlink.core.files import FileDigest
from paperlink.core.model import model
from paperlink.core.records import Record


@model
class Difference:
    section: str
    key: str
    left: Any
    right: Any
    # For a parameter: where each side's value came from ("argument (overrides file p.json: 1)").
    left_source: str | None = None
    right_source: str | None = None


@model
class RecordDiff:
    left: str
    right: str
    differences: list[Difference] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "left": self.left,
            "right": self.right,
            "differences": [asdict(d) for d in self.differences],
        }


def diff_records(
    left: Record,
    right: Record,
    left_environment: Environment | None = None,
    right_environment: Environment | None = None,
) -> RecordDiff:
    """The differences that matter for reproducing a result (not labels, times or durations).

    With the records' environments (:func:`paperlink.envrecipes.environment_of`), packages are compared
    manager by manager (sections ``packages (conda)``, ``packages (Debian packages (dpkg))``…, and
    ``environment files``); without, the interpreter's distributions only."""
    result = RecordDiff(left.label, right.label)
    add = result.differences.append

    def compare(section: str, a: dict[str, Any], b: dict[str, Any]) -> None:
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                add(Difference(section, key, a.get(key), b.get(key)))

    compare(
        "command",
        {"argv": left.argv, "working_directory": left.working_directory},
        {"argv": right.argv, "working_directory": right.working_directory},
    )
    code_keys = ("commit", "branch", "dirty", "diff_sha256", "remote")
    compare(
        "code",
        {k: getattr(left.code, k) for k in code_keys}
        | {"main_script": _sha(left.code.main_script)},
        {k: getattr(right.code, k) for k in code_keys}
        | {"main_script": _sha(right.code.main_script)},
    )
    compare(
        "executable",
        {"version": left.executable.version, "path": left.executable.path},
        {"version": right.executable.version, "path": right.executable.path},
    )
    compare("parameters", left.parameters, right.parameters)
    for d in result.differences:
        if d.section == "parameters":
            d.left_source, d.right_source = (
                left.parameter_source(d.key),
                right.parameter_source(d.key),
            )
    compare("inputs", _files(left.inputs), _files(right.inputs))
    compare("outputs", _files(left.outputs), _files(right.outputs))
    if left_environment is None and right_environment is None:
        compare("packages", left.packages, right.packages)
    for change in package_changes(left_environment, right_environment):
        title = MANAGER_TITLES.get(change.manager, change.manager)
        section = "environment files" if change.manager == "files" else f"packages ({title})"
        add(Difference(section, change.name, change.left, change.right))
    platform_keys = (
        "hostname",
        "os",
        "os_release",
        "kernel",
        "machine",
        "cpu_model",
        "cpu_cores",
        "python_version",
    )
    compare(
        "platform",
        {k: getattr(left.platform, k) for k in platform_keys},
        {k: getattr(right.platform, k) for k in platform_keys},
    )
    compare("environment", left.environment, right.environment)
    container_keys = ("image_id", "pinned_reference")
    compare(
        "container",
        {k: getattr(left.container, k) for k in container_keys} if left.container else {},
        {k: getattr(right.container, k) for k in container_keys} if right.container else {},
    )
    compare(
        "outcome",
        {"status": left.outcome.status, "exit_status": left.outcome.exit_status},
        {"status": right.outcome.status, "exit_status": right.outcome.exit_status},
    )
    return result


def _sha(item: FileDigest | None) -> str | None:
    return item.sha256_ref if item else None


def _files(items: list[FileDigest]) -> dict[str, Any]:
    return {item.path: item.sha256_ref or item.kind for item in items}
