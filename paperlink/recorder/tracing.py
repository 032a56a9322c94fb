"""Which files a command's process tree read and wrote, as the kernel saw it: ``paperlink run --trace``.

The command runs under Debian's ``strace`` (ptrace, the approach ReproZip takes) following every child
(``-f``); ``--seccomp-bpf`` makes only the traced system calls (opening, creating, renaming, deleting,
linking files, changing folder, executing, forking) stop the process, so a program that mostly computes
runs at almost full speed. Paths are printed hex-escaped (``-xx``, so any byte sequence survives) and file
descriptors with the path they name (``-y``); relative paths of the old calls without a folder argument
(``open``, ``rename``, ``unlink``) are resolved against each process's working folder, followed through
``chdir`` and inherited at ``fork``. Only successful calls are printed (``-z``).

:class:`Tracer` checks first that tracing is permitted (inside a debugger, a tracer or a container
without ``CAP_SYS_PTRACE`` it is not) so that the run can fall back to comparing the output folders.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import field
from pathlib import Path

from paperlink.core.model import model

TRACED_SYSCALLS = (
    "open",
    "openat",
    "openat2",
    "creat",
    "truncate",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chdir",
    "fchdir",
    "execve",
    "execveat",
    "clone",
    "clone3",
    "fork",
    "vfork",
)
# Files here are the kernel's or devices, never a run's inputs or outputs.
PSEUDO_PREFIXES = ("/dev/", "/proc/", "/sys/")
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
_FORKS = ("clone", "clone3", "fork", "vfork")

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>\s?(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(.*)$", re.S)
_FD = re.compile(r"^(?:AT_FDCWD|-?\d+)<(.*)>$")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_FLAT = re.compile(r'(?:[^"\\{}\[\]()]|\\x[0-9a-fA-F]{2}|"(?:\\x[0-9a-fA-F]{2})*"(?:\.\.\.)?)*')
_ALL_HEX = re.compile(r"(?:\\x[0-9a-fA-F]{2})*")  # what -xx prints: every byte escaped
_SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "\\": 92, '"': 34}


@model
class FileTrace:
    """What one traced command did to files; all paths absolute and normalised, as ``os.fsdecode`` gives."""

    reads: dict[str, None] = field(
        default_factory=dict
    )  # opened for reading before any write by it
    written: set[str] = field(
        default_factory=set
    )  # created, truncated, opened for writing, renamed to
    deleted: set[str] = field(
        default_factory=set
    )  # unlinked or renamed away, and not written by it first
    read_then_written: set[str] = field(
        default_factory=set
    )  # inputs the run itself changed afterwards
    executed: dict[str, None] = field(default_factory=dict)
    processes: int = 0
    started: bool = False  # the command was executed at all (strace could trace it)


def find_strace(environ: Mapping[str, str]) -> str | None:
    return shutil.which("strace", path=environ.get("PATH"))


def strace_command(strace: str, output: str, argv: list[str], *, seccomp: bool = True) -> list[str]:
    """The command line that runs ``argv`` under strace, writing the trace to ``output``."""
    return [
        strace,
        "-f",
        *(["--seccomp-bpf"] if seccomp else []),
        "-qq",  # no attach/exit messages
        "-z",  # only calls that succeeded: a failed open read nothing
        "-y",  # file descriptors with their paths, AT_FDCWD with the working folder
        "-xx",  # every string byte hex-escaped: any file name survives, quoting is trivial
        "-I3",  # fatal signals go to the command (paperlink forwards them), not to strace
        "-e",
        "signal=none",
        "-e",
        "trace=" + ",".join(TRACED_SYSCALLS),
        "-o",
        output,
        "--",
        *argv,
    ]


class Tracer:
    """One traced run: :meth:`problem` says whether tracing works here, :meth:`command` wraps the command
    line, :meth:`collect` reads what it did. The permission check starts at once, in a thread."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)
        self.strace = find_strace(environ)
        self.version = "strace"
        self.seccomp = True
        self._problem: str | None = None
        self._folder: str | None = None
        self._check = threading.Thread(
            target=self._probe, name="paperlink-trace-check", daemon=True
        )
        self._check.start()

    def _probe(self) -> None:
        if self.strace is None:
            self._problem = "strace is not installed (Debian: apt-get install strace)"
            return
        true = shutil.which("true") or "/bin/true"
        try:
            version = subprocess.run(
                [self.strace, "-V"], capture_output=True, timeout=10, check=False
            )
            first = version.stdout.decode("utf-8", "replace").splitlines()[:1]
            if first and "version" in first[0]:
                self.version = "strace " + first[0].rsplit(" ", 1)[-1]
            done = subprocess.run(
                strace_command(self.strace, os.devnull, [true]),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._problem = f"strace could not be started: {exc}"
            return
        said = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            lines = [line.removeprefix("strace: ") for line in said.splitlines() if line.strip()]
            self._problem = "ptrace is not permitted here" + (f" ({lines[-1]})" if lines else "")
        elif "seccomp" in said:
            self.seccomp = False  # an old kernel: trace every call, slower but complete

    def problem(self) -> str | None:
        """None when tracing works here, else why not (strace missing, ptrace refused)."""
        self._check.join()
        return self._problem

    def command(self, argv: list[str]) -> list[str]:
        import tempfile

        assert self.strace is not None
        self._folder = tempfile.mkdtemp(prefix="paperlink-trace-")
        return strace_command(self.strace, self._output(), argv, seccomp=self.seccomp)

    def _output(self) -> str:
        assert self._folder is not None
        return os.path.join(self._folder, "trace")

    def collect(self, cwd: str) -> FileTrace:
        """Parse the trace (the command has ended) and remove it; empty when the command never ran."""
        if self._folder is None:
            return FileTrace()
        try:
            with open(self._output(), "rb") as stream:
                return parse_trace(stream, cwd)
        except OSError:
            return FileTrace()
        finally:
            self.close()

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def traced_children(pid: int) -> list[int]:
    """The processes strace ``pid`` started (the command), for passing a signal on to them."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(item) for item in text.split()]


# -- parsing ---------------------------------------------------------------------------------------------
def unescape(token: str) -> bytes | None:
    """The bytes of a strace string argument (``"\\x2f\\x74"``, maybe followed by ``...`` when cut)."""
    token = token.strip()
    if token.endswith("..."):
        token = token[:-3]
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        return None
    return _unescape_body(token[1:-1])


def _unescape_body(body: str) -> bytes:
    if _ALL_HEX.fullmatch(body):
        return bytes.fromhex(body.replace("\\x", ""))
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(body):
        out += body[pos : match.start()].encode("latin-1", "replace")
        code = match.group(1)
        if code[0] == "x" and len(code) == 3:
            out.append(int(code[1:], 16))
        elif code[0] in "01234567":
            out.append(int(code, 8) & 0xFF)
        else:
            out.append(_SIMPLE_ESCAPES.get(code, ord(code[0]) & 0xFF))
        pos = match.end()
    out += body[pos:].encode("latin-1", "replace")
    return bytes(out)


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments; strings, structs ``{}``, arrays ``[]`` and ``<path>`` stay whole."""
    if _FLAT.fullmatch(text):
        # No struct or array, every string escaped byte by byte (-xx): no comma can hide in one.
        return [part.strip() for part in text.split(",")]
    args: list[str] = []
    depth = 0
    quoted = False
    start = 0
    index = 0
    while index < len(text):
        ch = text[index]
        if quoted:
            if ch == "\\":
                index += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "{[(<":
            depth += 1
        elif ch in "}])>":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:index].strip())
            start = index + 1
        index += 1
    tail = text[start:].strip()
    if tail or args:
        args.append(tail)
    return args


def _fd_path(token: str) -> str | None:
    """The path in ``AT_FDCWD</cwd>`` or ``3</file>`` (``-y``), or None."""
    match = _FD.match(token.strip())
    if not match:
        return None
    path = os.fsdecode(_unescape_body(match.group(1)))
    return path if path.startswith("/") else None


def _string(token: str) -> str | None:
    raw = unescape(token)
    return None if raw is None else os.fsdecode(raw)


class _Parser:
    def __init__(self, cwd: str, parents: dict[int, int]) -> None:
        self.trace = FileTrace()
        self.root_cwd = cwd
        self.cwd: dict[int, str] = {}
        self.parents = parents
        self.pending: dict[int, str] = {}
        self.threads: set[int] = set()

    def cwd_of(self, pid: int) -> str:
        found = self.cwd.get(pid)
        if found is None:
            parent = self.parents.get(pid)
            found = self.cwd_of(parent) if parent is not None and parent != pid else self.root_cwd
            self.cwd[pid] = found
        return found

    def base(self, pid: int, token: str | None) -> str:
        """The folder a path argument is relative to: the ``dirfd`` argument's path, else the cwd."""
        if token is not None:
            path = _fd_path(token)
            if path is not None:
                if token.startswith("AT_FDCWD"):
                    self.cwd[pid] = path  # what the kernel says the working folder is now
                return path
        return self.cwd_of(pid)

    def path(self, pid: int, dirfd: str | None, token: str) -> str | None:
        name = _string(token)
        if name is None or name == "":
            return None
        return os.path.normpath(os.path.join(self.base(pid, dirfd), name))

    def feed(self, line: str) -> None:
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            return
        pid, rest = int(match.group(1)), match.group(2)
        resumed = _RESUMED.match(rest)
        if resumed:
            rest = self.pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
        elif rest.endswith("<unfinished ...>"):
            self.pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            return
        call = _CALL.match(rest)
        if not call:
            return  # +++ exited +++, --- SIGCHLD ---, a call killed before it returned
        name, result = call.group(1), call.group(3).strip()
        if result.startswith(("-", "?")):
            return
        self.handle(pid, name, split_args(call.group(2)), result)

    def handle(self, pid: int, name: str, args: list[str], result: str) -> None:
        trace = self.trace
        if name in _FORKS:
            if not args or "CLONE_THREAD" not in args[0]:
                trace.processes += 1  # a thread shares its process's files and folder
            return
        if name in ("open", "openat", "openat2", "creat"):
            dirfd, rest = (args[0], args[1:]) if name in ("openat", "openat2") else (None, args)
            if not rest:
                return
            flags = "O_WRONLY|O_CREAT|O_TRUNC" if name == "creat" else " ".join(rest[1:2])
            if "O_DIRECTORY" in flags or "O_PATH" in flags:
                return
            # The descriptor it returned names the file with every link resolved.
            path = _fd_path(result) or self.path(pid, dirfd, rest[0])
            if path is None:
                return
            if any(flag in flags for flag in _WRITE_FLAGS):
                self.write(path)
            elif path not in trace.written:
                trace.reads.setdefault(path)
        elif name == "truncate" and args:
            self.write_token(pid, None, args[0])
        elif name in ("rename", "renameat", "renameat2"):
            if name == "rename" and len(args) >= 2:
                old, new = self.path(pid, None, args[0]), self.path(pid, None, args[1])
            elif len(args) >= 4:
                old, new = self.path(pid, args[0], args[1]), self.path(pid, args[2], args[3])
            else:
                return
            if old and new:
                self.rename(old, new)
        elif name in ("unlink", "unlinkat"):
            if name == "unlinkat":
                if len(args) < 2 or (len(args) > 2 and "AT_REMOVEDIR" in args[2]):
                    return  # a folder: its files were unlinked one by one
                path = self.path(pid, args[0], args[1])
            else:
                path = self.path(pid, None, args[0]) if args else None
            if path:
                self.delete(path)
        elif name in ("link", "symlink") and len(args) >= 2:
            self.write_token(pid, None, args[1])
        elif name == "linkat" and len(args) >= 4:
            self.write_token(pid, args[2], args[3])
        elif name == "symlinkat" and len(args) >= 3:
            self.write_token(pid, args[1], args[2])
        elif name == "chdir" and args:
            path = self.path(pid, None, args[0])
            if path:
                self.cwd[pid] = path
        elif name == "fchdir" and args:
            path = _fd_path(args[0])
            if path:
                self.cwd[pid] = path
        elif name in ("execve", "execveat") and args:
            path = self.path(pid, None, args[0]) if name == "execve" else None
            if name == "execveat" and len(args) >= 2:
                path = self.path(pid, args[0], args[1])
            trace.started = True
            if path:
                trace.executed.setdefault(path)
                if path not in trace.written:
                    trace.reads.setdefault(path)

    def write_token(self, pid: int, dirfd: str | None, token: str) -> None:
        path = self.path(pid, dirfd, token)
        if path:
            self.write(path)

    def write(self, path: str) -> None:
        trace = self.trace
        if path in trace.reads and path not in trace.written:
            trace.read_then_written.add(path)
        trace.written.add(path)
        trace.deleted.discard(path)

    def delete(self, path: str) -> None:
        trace = self.trace
        if path in trace.written:
            trace.written.discard(path)  # a temporary file of its own
        else:
            trace.deleted.add(path)

    def rename(self, old: str, new: str) -> None:
        trace = self.trace
        inside = old + "/"
        moved = [p for p in trace.written if p == old or p.startswith(inside)]
        for path in moved:  # a folder of new files moved into place moves them all
            trace.written.discard(path)
            self.write(new + path[len(old) :])
        if not moved:
            self.write(new)
        if old not in moved:
            trace.deleted.add(old)
        trace.deleted.discard(new)


def _fork_parents(lines: list[str]) -> dict[int, int]:
    """child pid -> parent pid, from the results of clone/fork calls (a child may print before them)."""
    parents: dict[int, int] = {}
    for line in lines:
        if "fork" not in line and "clone" not in line:
            continue
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            continue
        tail = match.group(2).rsplit("=", 1)
        if len(tail) == 2 and tail[1].strip().isdigit():
            parents[int(tail[1].strip())] = int(match.group(1))
    return parents


def parse_trace(stream: Iterable[bytes], cwd: str) -> FileTrace:
    """Read strace output (the options of :func:`strace_command`); ``cwd`` is where the command started."""
    lines = [raw.decode("ascii", "replace") for raw in stream]
    parser = _Parser(os.path.normpath(cwd), _fork_parents(lines))
    for line in lines:
        parser.feed(line)
    trace = parser.trace
    if trace.started:
        trace.processes += 1  # the command itself
    return trace


def is_pseudo(path: str) -> bool:
    return path.startswith(PSEUDO_PREFIXES)
