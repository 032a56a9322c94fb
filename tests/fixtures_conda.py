"""conda environments in conda's documented on-disk format (one ``conda-meta/*.json`` PrefixRecord per
package), for the tests that need a conda prefix without conda."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHANNEL = "https://conda.anaconda.org/conda-forge/linux-64"


def conda_record(name: str, version: str, build: str, md5: str) -> dict[str, object]:
    """One conda-meta/<name>-<version>-<build>.json as conda writes it (the documented PrefixRecord)."""
    fn = f"{name}-{version}-{build}.conda"
    return {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "channel": CHANNEL,
        "subdir": "linux-64",
        "fn": fn,
        "url": f"{CHANNEL}/{fn}",
        "md5": md5,
        "sha256": hashlib.sha256(fn.encode()).hexdigest(),
        "depends": ["libgcc-ng >=12"],
        "files": [f"lib/lib{name}.so"],
        "paths_data": {"paths": [], "paths_version": 1},
        "requested_spec": name,
        "size": 1234,
        "timestamp": 1700000000000,
    }


def make_prefix(root: Path, packages: list[tuple[str, str, str]]) -> Path:
    prefix = root / "miniforge" / "envs" / "analysis"
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "history").write_text("==> 2024-01-01 00:00:00 <==\n# cmd: conda create -n analysis\n")
    for name, version, build in packages:
        md5 = hashlib.md5(f"{name}{version}".encode()).hexdigest()
        record = conda_record(name, version, build, md5)
        (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    return prefix
