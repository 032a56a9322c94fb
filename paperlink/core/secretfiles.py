"""Files whose content paperlink never stores: keys, credentials and dotenv files, known by their name or the
name of a folder above them. ``run`` lists such an untracked file in the record by name and digest only.
"""

from __future__ import annotations

import fnmatch
import os

# Untracked files whose content is never stored, by the name of the file or of a folder above it.
SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.gpg",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials*",
    "*secret*",
    "*password*",
    "*passwd*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".htpasswd",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".ssh",
    ".aws",
    ".gnupg",
)


def secret_file_pattern(path: str) -> str | None:
    """The pattern of :data:`SECRET_FILE_PATTERNS` that ``path`` (or a folder in it) matches, or None."""
    for part in path.replace(os.sep, "/").split("/"):
        lowered = part.lower()
        for pattern in SECRET_FILE_PATTERNS:
            if fnmatch.fnmatchcase(lowered, pattern):
                return pattern
    return None
