"""Where the archive token comes from: the environment, or a private file under ``~/.config/paperlink/``."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from paperlink.errors import ConfigError

TOKEN_FILE = "zenodo-token"  # noqa: S105 - a file name, not a secret
SANDBOX_TOKEN_FILE = "zenodo-sandbox-token"  # noqa: S105


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
