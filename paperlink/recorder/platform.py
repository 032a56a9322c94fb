"""Where a run happened: platform, interpreter packages, the recorded environment variables.

The environment is never stored wholesale: only an allow-list of variables, and any whose name looks like a
token, secret, password or key is redacted, as is its value wherever else it appears. The rule itself lives
in :mod:`paperlink.core.redaction`; the ``redact_*`` functions here are its older entry points.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from paperlink.core.records import Platform
from paperlink.core.redaction import REDACTED as REDACTED
from paperlink.core.redaction import Redactor
from paperlink.core.redaction import looks_secret as looks_secret
from paperlink.core.redaction import redact_url as redact_url
from paperlink.core.redaction import secret_values as secret_values

ENV_ALLOW = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "PYTHONNOUSERSITE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "MPLBACKEND",
    "SOURCE_DATE_EPOCH",
    "LD_LIBRARY_PATH",
    "R_LIBS",
    "R_LIBS_USER",
    "JULIA_PROJECT",
    "JULIA_NUM_THREADS",
    "SLURM_JOB_ID",
    "SLURM_CPUS_PER_TASK",
    "PBS_JOBID",
)

# Interpreters whose --version is safe to ask; any other program might do real work when called.
_VERSIONED = {
    "python": "--version",
    "Rscript": "--version",
    "R": "--version",
    "julia": "--version",
    "perl": "--version",
    "ruby": "--version",
    "node": "--version",
    "bash": "--version",
    "octave": "--version",
    "java": "-version",
    "java.exe": "-version",
    "pypy3": "--version",
}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of the ``secrets`` values replaced (no other rule: see :class:`Redactor`)."""
    return Redactor(secrets).literal(text)


def recorded_environment(
    environ: Mapping[str, str],
    extra_allow: Iterable[str] = (),
    redactor: Redactor | None = None,
) -> dict[str, str]:
    """The allow-listed variables of ``environ``, with secret-looking ones redacted."""
    allowed = _name_matcher((*ENV_ALLOW, *extra_allow))
    redactor = redactor or Redactor.from_environ(environ)
    kept: dict[str, str] = {}
    for name, value in environ.items():
        if not allowed(name):
            continue
        kept[name] = REDACTED if looks_secret(name) else redactor.text(value)
    return kept


def _name_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A test of a variable's name against glob ``patterns`` (case-sensitive). This runs on every
    ``paperlink run``: names and ``PREFIX*`` patterns are a set and a tuple, not a regex to compile."""
    names: set[str] = set()
    prefixes: list[str] = []
    globs: list[str] = []
    for pattern in patterns:
        if not any(c in pattern for c in "*?["):
            names.add(pattern)
        elif pattern.endswith("*") and not any(c in pattern[:-1] for c in "*?["):
            prefixes.append(pattern[:-1])
        else:
            globs.append(pattern)
    starts = tuple(prefixes)

    def allowed(name: str) -> bool:
        return (
            name in names
            or name.startswith(starts)
            or any(fnmatch.fnmatchcase(name, glob) for glob in globs)
        )

    return allowed


def redact_argv(argv: list[str], environ: Mapping[str, str]) -> list[str]:
    """``argv`` through the redaction rule (:meth:`Redactor.argv`) with ``environ``'s secret values."""
    return Redactor.from_environ(environ).argv(argv)


def redact_parameter(name: str, value: Any, environ: Mapping[str, str]) -> Any:
    """A parameter's value through the redaction rule (:meth:`Redactor.value`)."""
    return Redactor.from_environ(environ).value(name, value)


def collect_platform() -> Platform:
    # os.uname and sys.version, not the platform module: importing it costs a run more than this.
    uname = os.uname()
    return Platform(
        hostname=uname.nodename,
        user=_user(),
        os=uname.sysname,
        os_release=_os_release(),
        kernel=f"{uname.release} {uname.version}",
        machine=uname.machine,
        cpu_model=_cpu_model(),
        cpu_cores=os.cpu_count() or 0,
        memory_bytes=_memory_bytes(),
        python_version=sys.version.split()[0],  # as platform.python_version() gives it
        python_executable=sys.executable,
    )


def _user() -> str:
    # getpass.getuser()'s answer, without importing getpass (and termios) on every run.
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if user := os.environ.get(name):
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no entry (a container run as an arbitrary uid)
        return str(os.getuid())


def _os_release() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return _platform_name()
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return _platform_name()


def _platform_name() -> str:
    import platform

    return platform.platform()


def _cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open() as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor()


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def is_python(executable: str) -> bool:
    name = Path(executable).name
    return bool(re.fullmatch(r"(python|pypy)(\d+(\.\d+)?)?(\.exe)?", name))


def version_flag(executable: str) -> str | None:
    name = Path(executable).name
    if is_python(executable):
        return "--version"
    return _VERSIONED.get(name)


class ToolProbe:
    """Asks an interpreter for its version and, for Python, its installed distributions.

    The answers are cached by the caller under :meth:`cache_keys`, which change when the interpreter or its
    site-packages change, so a run pays for the subprocesses only the first time.
    """

    def __init__(self, executable: str, environ: Mapping[str, str]) -> None:
        self.executable = executable
        self.environ = dict(environ)

    def cache_keys(self) -> tuple[str, str]:
        """(version key, packages key). The packages key covers the folders Python imports from."""
        real = os.path.realpath(self.executable)
        try:
            st = os.stat(real)
            ident = f"{real}:{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            ident = real
        version_key = "version:" + ident
        folders: list[str] = []
        if is_python(self.executable):
            # A venv's python links to its base: both the venv's and the base's folders count.
            folders = sorted(
                {
                    *_python_folders(self.executable, self.environ),
                    *_python_folders(real, self.environ),
                }
            )
        stamp = hashlib.sha256(ident.encode())
        for folder in folders:
            try:
                stamp.update(f"{folder}:{os.stat(folder).st_mtime_ns}".encode())
            except OSError:
                stamp.update(folder.encode())
        return version_key, "packages:" + stamp.hexdigest()

    def version(self) -> str | None:
        flag = version_flag(self.executable)
        if flag is None:
            return None
        try:
            done = subprocess.run(
                [self.executable, flag],
                capture_output=True,
                timeout=5,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = (done.stdout or done.stderr).decode("utf-8", "replace").strip()
        return text.splitlines()[0] if text else None

    def packages(self) -> dict[str, str]:
        """Installed distributions of this Python (or of paperlink's own Python for other programs)."""
        python = self.executable if is_python(self.executable) else sys.executable
        code = (
            "import importlib.metadata as m, json\n"
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() "
            "if d.metadata['Name']}))"
        )
        try:
            done = subprocess.run(
                [python, "-c", code],
                capture_output=True,
                timeout=60,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            found = json.loads(done.stdout or b"{}")
        except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
            return {}
        return {str(k): str(v) for k, v in sorted(found.items(), key=lambda kv: str(kv[0]).lower())}


def _python_folders(python: str, environ: Mapping[str, str]) -> list[str]:
    """The site-packages folders of an interpreter, found from its prefix without starting it."""
    prefix = Path(python).parent.parent
    folders = [str(path) for path in prefix.glob("lib/python3*/site-packages")]
    folders += [str(path) for path in prefix.glob("lib/python3*/dist-packages")]
    folders += [str(path) for path in Path("/usr/local/lib").glob("python3*/dist-packages")]
    folders += [
        str(path) for path in Path("~/.local/lib").expanduser().glob("python3*/site-packages")
    ]
    if Path("/usr/lib/python3/dist-packages").is_dir():
        folders.append("/usr/lib/python3/dist-packages")
    pythonpath = environ.get("PYTHONPATH")
    if pythonpath:
        folders += pythonpath.split(os.pathsep)
    # venvs: bin/python is a link into the base interpreter, but the venv's own site-packages count
    cfg = Path(python).parent.parent / "pyvenv.cfg"
    if cfg.is_file():
        folders.append(str(cfg))
    return sorted(set(folders))
