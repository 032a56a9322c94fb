"""Run a command on the host and record it: ``paperlink run -- CMD``. The command's output streams live to the
terminal while it is kept; signals reach the command as they would without paperlink, and its last lines are
read before the record is made."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from paperlink.core.config import Project
from paperlink.core.records import (
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_INTERRUPTED,
    STATUS_KILLED,
    Record,
)
from paperlink.core.signals import SignalTrap
from paperlink.core.store import RecordStore
from paperlink.errors import (
    ExitCode,
    UsageError,
)
from paperlink.recorder.options import RunOptions
from paperlink.recorder.run import RunCapture
from paperlink.recorder.streams import StreamKeeper, drain, tee

# How long the output of a finished command is read for its end (see capture_run).
DRAIN_SECONDS = 5.0


def capture_run(
    project: Project,
    store: RecordStore,
    argv: list[str],
    options: RunOptions | None = None,
) -> Record:
    """Run ``argv`` on the host and record it. Output streams to the sinks live and into the store.

    ``options.sif`` names the Apptainer/Singularity image the command uses
    (:mod:`paperlink.recorder.sif_environment` also finds one on the command line or around paperlink).
    With ``options.trace`` the command runs under strace: its outputs are the files it wrote, wherever
    they are, and the project files it read are inputs (``record.trace.error`` says why not, if it could
    not be traced: the outputs are then found as without it).

    A command that cannot be found (127) or executed (126) still leaves a failed record. Raises
    :class:`CaptureError` or :class:`UsageError` for bad arguments before anything runs.
    """
    if not argv:
        raise UsageError(
            "no command given", hint="put the command after '--': paperlink run -- python3 fig.py"
        )
    options = options or RunOptions()
    tracer = None
    if options.trace:
        from paperlink.recorder.tracing import Tracer

        # Made first: whether ptrace is permitted is checked while begin() reads the code and platform.
        tracer = Tracer(os.environ)
    run = RunCapture(project, store, argv, options, tracer=tracer)
    record = run.begin()
    if options.on_start is not None:
        options.on_start(record)
    executable = run._probe.executable if run._probe else None
    if executable is None:
        return run.finish(
            exit_status=ExitCode.COMMAND_NOT_FOUND,
            status=STATUS_FAILED,
            error=f"command not found: {argv[0]}",
        )
    limit = project.max_stream_bytes
    out_keeper, err_keeper = StreamKeeper(limit), StreamKeeper(limit)
    command = [executable, *argv[1:]]
    # A program that cannot be executed is left to Popen, which says why (126/127), as untraced.
    if run.tracer is not None and Path(executable).is_file() and os.access(executable, os.X_OK):
        command = run.tracer.command(command)
    received: list[int] = []
    # Set before the child starts: a SIGTERM sent as soon as the command shows a sign of life must not
    # find paperlink still without its handler (it would die unrecorded, the command left running).
    trap = _forward_signals(received, traced=command[0] != executable)
    failure: OSError | None = None
    with trap:
        try:
            child = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=run.environ,
            )
        except OSError as exc:
            failure = exc
        else:
            trap.attach(child)
            assert child.stdout is not None and child.stderr is not None
            pumps = [
                tee(child.stdout, options.stdout_sink, out_keeper),
                tee(child.stderr, options.stderr_sink, err_keeper),
            ]
            returncode = child.wait()
            # What the command wrote last (its clean-up after Ctrl-C, say) is read to the end before
            # the record is made, still inside the trap so that a second Ctrl-C cannot cut it short, and
            # for a bounded time, since a background process the command started may hold the pipes.
            complete = drain(pumps, DRAIN_SECONDS)
    if failure is not None:
        code = (
            ExitCode.NOT_EXECUTABLE
            if isinstance(failure, PermissionError)
            else ExitCode.COMMAND_NOT_FOUND
        )
        return run.finish(
            exit_status=code,
            status=STATUS_FAILED,
            error=f"cannot execute {argv[0]}: {failure.strerror}",
        )
    status, exit_status, signal_number = _outcome(returncode, received)
    open_pipes = (
        f"stdout/stderr were still open {DRAIN_SECONDS:g} s after the command ended (a process it "
        "started in the background holds them); the record keeps what came until then"
    )
    return run.finish(
        exit_status=exit_status,
        status=status,
        signal_number=signal_number,
        error=None if complete else open_pipes,
        stdout=out_keeper,
        stderr=err_keeper,
    )


def _outcome(returncode: int, received: list[int]) -> tuple[str, int, int | None]:
    if returncode < 0:
        number = -returncode
        status = STATUS_INTERRUPTED if number == signal.SIGINT or received else STATUS_KILLED
        return status, 128 + number, number
    if received and returncode != 0:
        return STATUS_INTERRUPTED, returncode, received[0]
    return (STATUS_FINISHED if returncode == 0 else STATUS_FAILED), returncode, None


class _forward_signals(SignalTrap):
    """While the child runs (and its output is drained), SIGTERM and SIGHUP sent to paperlink go to the
    child too, and Ctrl-C (which the terminal already sends to the child, in the same process group) does
    not kill paperlink before it has recorded how the child ended."""

    def __init__(self, received: list[int], *, traced: bool = False) -> None:
        super().__init__(received)
        self.child: subprocess.Popen[bytes] | None = None  # until attach()
        self.traced = traced  # the child is strace, which leaves fatal signals to the command (-I3)

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        """The child has started: a SIGTERM or SIGHUP that came while it was starting is passed on now."""
        self.child = child
        for number in self.received:
            if number != signal.SIGINT:
                self.handle(number)

    def handle(self, number: int) -> None:
        if self.child is None:
            return  # in received; attach() passes it on
        # A first SIGINT is not passed on: Ctrl-C, or a kill of the process group, has reached the child
        # already, and a second copy would interrupt its own clean-up and lose its last lines. Without a
        # terminal, a repeated SIGINT (`kill -INT` twice) is passed on, for a child that ignored the first.
        if number == signal.SIGINT and (sys.stdin.isatty() or self.received.count(number) < 2):
            return
        if not self.traced:
            with contextlib.suppress(OSError):
                self.child.send_signal(number)
            return
        from paperlink.recorder.tracing import traced_children

        for pid in traced_children(self.child.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, number)
