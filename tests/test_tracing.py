"""paperlink run --trace (real strace) and runs of one project that overlap in time."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from helpers import REPO_ROOT, paperlink_process, require, run_cli

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.core.records import Outcome, Record, format_time, utc_now
from paperlink.core.store import RecordStore
from paperlink.recorder.overlap import OtherRun, attribute
from paperlink.recorder.run import RunCapture, new_run_id
from paperlink.recorder.tracing import parse_trace, split_args, unescape

SCHEMA = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())
STRACE = shutil.which("strace")


@pytest.fixture(autouse=True)
def _strace() -> None:
    require(STRACE, "strace is not installed (Debian package strace)")


def record_of(label: str) -> Record:
    data = run_cli("show", label, "--json").output
    jsonschema.validate(json.loads(data), SCHEMA)
    return Record.from_json(data)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def paperlink_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "paperlink", *args]


# -- tracing -------------------------------------------------------------------------------------------
WORK = """\
import os, pathlib, subprocess, sys
import helper                                  # a module of the project: an input
data = pathlib.Path("data/in.csv").read_text()
pathlib.Path("figures").mkdir(exist_ok=True)
pathlib.Path("figures/fig.svg").write_text("<svg>" + data + helper.NAME + "</svg>")
pathlib.Path("tables").mkdir(exist_ok=True)     # not an output folder: found because it was written
pathlib.Path("tables/t.csv.tmp").write_text(data)
os.rename("tables/t.csv.tmp", "tables/t.csv")  # rename(2) with a relative path
pathlib.Path("scratch.tmp").write_text("x")
os.unlink("scratch.tmp")                       # its own temporary file: neither output nor deleted
os.unlink("old.txt")                           # a file that was there: deleted
outside = pathlib.Path(sys.argv[1])
outside.write_text("far away")                 # outside the project: an output all the same
# a child that changes folder and writes with relative paths, and reads a project file
subprocess.run(["sh", "-c", "cd sub && echo child > rel.txt && cat ../data/extra.txt > /dev/null"], check=True)
"""


def make_traced_project(root: Path) -> None:
    (root / "work.py").write_text(WORK)
    (root / "helper.py").write_text("NAME = 'h'\n")
    (root / "data").mkdir()
    (root / "data/in.csv").write_text("1,2\n")
    (root / "data/extra.txt").write_text("extra\n")
    (root / "old.txt").write_text("old\n")
    (root / "sub").mkdir()


def test_trace_records_exactly_the_files_read_and_written(
    project_dir: Path, tmp_path: Path
) -> None:
    make_traced_project(project_dir)
    outside = tmp_path / "far.txt"
    result = run_cli("run", "--trace", "--label", "t", "--", "python3", "work.py", str(outside))
    assert "warning" not in result.output, result.output
    record = record_of("t")
    assert sorted(o.path for o in record.outputs) == [
        str(outside),
        "figures/fig.svg",
        "sub/rel.txt",
        "tables/t.csv",
    ]
    assert all(o.sha256 for o in record.outputs) and record.ambiguous == []
    reads = {i.path: i for i in record.inputs if i.role == "read"}
    # Read by the script, by Python's import (the module's source, not its bytecode) and by the child.
    assert set(reads) == {"data/in.csv", "data/extra.txt", "helper.py"}
    assert reads["data/in.csv"].sha256 == sha256(project_dir / "data/in.csv")
    assert record.code.main_script is not None and record.code.main_script.path == "work.py"
    trace = record.trace
    assert trace is not None and trace.error is None and trace.tool.startswith("strace")
    assert trace.deleted == ["old.txt"]
    assert trace.processes >= 2 and any(p.endswith("/sh") for p in trace.executed)
    assert trace.system_files > 0 and (trace.debian_packages or trace.other_folders)
    assert not any("__pycache__" in o.path for o in record.outputs)


def test_trace_is_the_default_when_the_project_says_so(project_dir: Path) -> None:
    config = project_dir / "paperlink.toml"
    config.write_text(config.read_text() + "trace = true\n")
    run_cli("run", "--label", "on", "--", "python3", "make_figure.py", "on")
    run_cli("run", "--no-trace", "--label", "off", "--", "python3", "make_figure.py", "off")
    traced = record_of("on").trace
    assert traced is not None and traced.error is None
    assert record_of("off").trace is None


def test_ptrace_refused_says_so_and_falls_back(project_dir: Path) -> None:
    # Under a tracer already (strace itself here; a debugger or a locked-down container alike), the
    # kernel refuses a second ptrace of the same processes.
    done = subprocess.run(
        [STRACE or "strace", "-f", "-qq", "-o", os.devnull,
         *paperlink_argv("run", "--trace", "--label", "nt", "--", "python3", "make_figure.py", "nt")],
        capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "warning: not traced: ptrace is not permitted here" in err
    record = record_of("nt")
    assert record.trace is not None and "ptrace is not permitted" in (record.trace.error or "")
    assert [o.path for o in record.outputs] == ["figures/nt.svg"]  # found by the folder comparison


def test_strace_missing_says_so_and_falls_back(project_dir: Path) -> None:
    folder = str(Path(sys.executable).parent)
    done = paperlink_process(
        "run", "--trace", "--label", "ns", "--", sys.executable, "make_figure.py", "ns",
        env={**os.environ, "PATH": folder},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert "warning: not traced: strace is not installed" in done.stderr.decode()
    assert [o.path for o in record_of("ns").outputs] == ["figures/ns.svg"]


def test_traced_non_utf8_file_name_is_recorded_losslessly(project_dir: Path) -> None:
    (project_dir / "odd.py").write_text(
        "import os\nos.makedirs('figures', exist_ok=True)\n"
        "open(b'figures/\\xff\\xfe.svg', 'w').close()\nopen('figures/ok.svg', 'w').close()\n"
    )
    result = run_cli("run", "--trace", "--label", "odd", "--", "python3", "odd.py")
    assert "left out" not in result.output
    record = record_of("odd")
    odd, ok = record.outputs
    assert ok.path == "figures/ok.svg" and ok.path_base64 is None
    # The exact bytes come back from the record, as for an untraced run (FileDigest.at).
    assert os.fsencode(odd.fs_path) == b"figures/\xff\xfe.svg"
    assert (project_dir / odd.fs_path).is_file()


def test_sigterm_reaches_a_traced_command(project_dir: Path) -> None:
    # strace leaves fatal signals to the command (-I3): paperlink passes them on to it.
    (project_dir / "wait.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        paperlink_argv("run", "--trace", "--label", "term", "--", sys.executable, "wait.py"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 128 + signal.SIGTERM
    record = record_of("term")
    assert record.outcome.status == "interrupted" and record.outcome.signal == signal.SIGTERM


def test_trace_in_a_container_run_is_refused(project_dir: Path) -> None:
    result = run_cli("run", "--trace", "--image", "debian:12", "--", "true", ok=False)
    assert result.exit_code == 2 and "--trace traces a command on the host" in result.output


# -- the parser on what strace prints ------------------------------------------------------------------
def hexs(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return '"' + "".join(f"\\x{b:02x}" for b in raw) + '"'


def fd(path: str) -> str:
    return "<" + hexs(path)[1:-1] + ">"


def test_parser_joins_unfinished_calls_and_follows_folders_across_forks() -> None:
    odd = hexs(b"../\xff.txt")  # not UTF-8
    lines = [
        f"100 openat(AT_FDCWD{fd('/p')}, {hexs('in.txt')}, O_RDONLY <unfinished ...>",
        f"101 chdir({hexs('sub')}) = 0",  # the child prints before its parent's fork returns
        f"100 <... openat resumed>) = 3{fd('/p/in.txt')}",
        f"101 unlink({hexs('gone.txt')}) = 0",
        "100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 101",
        f"101 rename({hexs('a.tmp')}, {odd}) = 0",
        f"101 creat({hexs('new.txt')}, 0644) = 4{fd('/p/sub/new.txt')}",
        f"100 execve({hexs('/usr/bin/true')}, [{hexs('true')}...], 0x7ff /* 3 vars */) = 0",
        "100 +++ exited with 0 +++",
        f"100 openat(AT_FDCWD{fd('/p')}, {hexs('w.txt')}, O_WRONLY|O_CREAT|O_TRUNC, 0666) = 5{fd('/p/w.txt')}",
        f"100 unlinkat(AT_FDCWD{fd('/p')}, {hexs('d')}, AT_REMOVEDIR) = 0",
    ]
    trace = parse_trace([line.encode() + b"\n" for line in lines], "/p")
    assert list(trace.reads) == ["/p/in.txt", "/usr/bin/true"]
    assert trace.written == {"/p/" + os.fsdecode(b"\xff.txt"), "/p/sub/new.txt", "/p/w.txt"}
    assert trace.deleted == {"/p/sub/gone.txt", "/p/sub/a.tmp"}
    assert trace.processes == 2 and list(trace.executed) == ["/usr/bin/true"]


def test_parser_reads_strings_and_arguments_as_strace_writes_them() -> None:
    assert unescape(r'"\x2f\x74\x6d\x70"') == b"/tmp"
    assert unescape(r'"a\nb\"c\\"...') == b'a\nb"c\\'
    assert unescape("NULL") is None
    assert split_args('AT_FDCWD<\\x2f>, "\\x2c", {flags=O_RDONLY, resolve=0}, [1, 2], 24') == [
        "AT_FDCWD<\\x2f>",
        '"\\x2c"',
        "{flags=O_RDONLY, resolve=0}",
        "[1, 2]",
        "24",
    ]


# -- overlapping runs ----------------------------------------------------------------------------------
WRITE_AND_WAIT = """\
import pathlib, sys, time
pathlib.Path("results").mkdir(exist_ok=True)
pathlib.Path(sys.argv[1]).write_text(sys.argv[1])
print("written", flush=True)
go = pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
"""
WRITE = """\
import pathlib, sys
pathlib.Path("results").mkdir(exist_ok=True)
pathlib.Path(sys.argv[1]).write_text(sys.argv[1])
"""


def overlap(
    root: Path, go: Path, first: list[str], second: list[str], a_path: str, b_path: str
) -> None:
    """Run A (options ``first``) writing ``a_path`` and waiting; while it waits, run B (``second``)
    writing ``b_path``; then let A end (B has finished: A decides seeing B's record)."""
    (root / "wait.py").write_text(WRITE_AND_WAIT)
    (root / "write.py").write_text(WRITE)
    proc = subprocess.Popen(
        paperlink_argv("run", "--label", "A", *first, "--", sys.executable, "wait.py", a_path, str(go)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"written\n"
    run_cli("run", "--label", "B", *second, "--", sys.executable, "write.py", b_path)
    go.write_text("go")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()


def outputs(record: Record) -> dict[str, list[str] | None]:
    """Each output with the other runs that may have written it (None: this record's alone)."""
    return {
        o.path: (shared.runs if (shared := record.ambiguity(o.path)) else None)
        for o in record.outputs
    }


def test_file_written_while_another_run_ran_is_ambiguous_for_both(
    project_dir: Path, tmp_path: Path
) -> None:
    overlap(project_dir, tmp_path / "go", [], [], "results/a.txt", "results/b.txt")
    # B cannot tell its file from what A (still running, untraced) wrote; A, finishing later, sees that
    # B claimed results/b.txt. results/a.txt was written before B started: A's alone.
    assert outputs(record_of("A")) == {"results/a.txt": None, "results/b.txt": ["B"]}
    assert outputs(record_of("B")) == {"results/b.txt": ["A"]}
    shown = run_cli("show", "B").output
    assert "AMBIGUOUS: run(s) A ran at the same time and may have written it" in shown


def test_run_that_began_earlier_but_wrote_its_row_later_is_seen(project_dir: Path) -> None:
    # Found by the 64-run burst: a run whose start-up was slower began before this one but wrote its
    # running row after this one had asked which runs were going on. Its start time is earlier, it was
    # not running then: this run used to claim the file it wrote.
    project = find_project(project_dir)
    with RecordStore(project.store_path) as store:
        me = RunCapture(project, store, ["true"])
        me.begin()
        slow = Record(label="slow", project=project.name, run_id=new_run_id(), argv=["write"],
                      start_time=format_time(utc_now() - timedelta(seconds=30)))  # fmt: skip
        store.start_record(slow, label_is_default=False)
        (project_dir / "results").mkdir(exist_ok=True)
        (project_dir / "results/slow.txt").write_text("slow")
        slow.outputs = [FileDigest.at("results/slow.txt", size=4)]
        slow.end_time = format_time(utc_now())
        slow.outcome = Outcome(status="finished", exit_status=0)
        store.finish_record(slow)
        mine = me.finish(exit_status=0, status="finished")
    assert outputs(mine) == {"results/slow.txt": ["slow"]}
    assert outputs(record_of("slow")) == {"results/slow.txt": [mine.label]}


def test_declared_output_is_its_runs_alone(project_dir: Path, tmp_path: Path) -> None:
    overlap(project_dir, tmp_path / "go", [], ["--output", "results/b.txt"], "results/a.txt",
            "results/b.txt")  # fmt: skip
    assert outputs(record_of("A")) == {"results/a.txt": None}
    assert outputs(record_of("B")) == {"results/b.txt": None}


def test_traced_runs_claim_only_what_they_wrote(project_dir: Path, tmp_path: Path) -> None:
    overlap(project_dir, tmp_path / "go", ["--trace"], ["--trace"], "results/a.txt",
            "results/b.txt")  # fmt: skip
    assert outputs(record_of("A")) == {"results/a.txt": None}
    assert outputs(record_of("B")) == {"results/b.txt": None}


def test_traced_runs_writing_the_same_file_are_both_ambiguous(
    project_dir: Path, tmp_path: Path
) -> None:
    overlap(project_dir, tmp_path / "go", ["--trace"], ["--trace"], "results/same.txt",
            "results/same.txt")  # fmt: skip
    assert outputs(record_of("A")) == {"results/same.txt": ["B"]}
    assert outputs(record_of("B")) == {"results/same.txt": ["A"]}  # learnt when A finished


def test_ambiguous_figure_is_reported_by_latex_verify_and_the_viewer(
    project_dir: Path, tmp_path: Path, serve
) -> None:
    overlap(project_dir, tmp_path / "go", [], [], "results/a.txt", "results/b.txt")
    paper = project_dir / "paper.tex"
    paper.write_text(
        "\\documentclass{article}\n\\usepackage{paperlink}\n\\begin{document}\n"
        "\\plincludegraphics{A:results/b.txt}\n\\plincludegraphics{A:results/a.txt}\n\\end{document}\n"
    )
    made = run_cli("latex", "--tex", str(paper))
    assert (
        "warning: paper.tex:4: results/b.txt of record 'A' is ambiguous: run(s) B ran at the same time"
        in made.output
    )
    assert "results/a.txt of record 'A' is ambiguous" not in made.output
    checked = run_cli("verify", str(paper), "--json", ok=False)
    assert checked.exit_code == 3
    items = {item["reference"]: item for item in json.loads(checked.stdout)["items"]}
    assert items["A:results/b.txt"]["status"] == "AMBIGUOUS"
    assert "run(s) B of the project ran at the same time" in items["A:results/b.txt"]["reason"]
    assert items["A:results/a.txt"]["status"] == "OK"
    viewer = serve(project_dir)
    html = viewer.text("/records/A")
    assert "ran at the same time and may have written it" in html and 'href="/records/B"' in html


def test_attribution_rules() -> None:
    start = 1_000_000_000_000
    running_untraced = OtherRun("U", start_ns=start, running=True, alive=True, traced=False)
    running_traced = OtherRun("T", start_ns=start, running=True, alive=True, traced=True)
    dead = OtherRun("D", start_ns=start, running=True, alive=False, traced=True)
    finished = OtherRun("F", start_ns=start, running=False, alive=False, traced=True,
                        claimed=frozenset({"r/f.txt"}))  # fmt: skip
    declaring = OtherRun("X", start_ns=start, running=True, alive=True, traced=True,
                         declared=("r/mine",))  # fmt: skip
    before = start - 10 * 10**9  # changed long before the others started
    share = attribute(
        {"r/old.txt": before, "r/new.txt": start + 1, "r/f.txt": start + 1, "r/mine/x": start + 1},
        own_declared=[], traced=False, others=[running_untraced, running_traced, dead, finished, declaring],
    )  # fmt: skip
    assert "r/old.txt" in share.keep and "r/old.txt" not in share.ambiguous
    assert share.ambiguous["r/new.txt"] == ["D", "U"]  # a traced run still running decides later
    assert share.ambiguous["r/f.txt"] == ["D", "F", "U"] and share.notify == {"F": ["r/f.txt"]}
    assert share.dropped == {"r/mine/x": "X"}


# -- 64 at once ----------------------------------------------------------------------------------------
RUNS = 64
EACH = """\
import pathlib, sys, time
i = sys.argv[1]
data = pathlib.Path(f"data/in{i}.txt").read_text()
time.sleep(1.0)  # all 64 are running at once
pathlib.Path("results").mkdir(exist_ok=True)
pathlib.Path(f"results/out{i}.txt").write_text(data.upper())
"""


def burst(root: Path, *options: str) -> Iterator[Record]:
    (root / "each.py").write_text(EACH)
    (root / "data").mkdir(exist_ok=True)
    for i in range(RUNS):
        (root / f"data/in{i}.txt").write_text(f"input {i}\n")
    procs = [
        subprocess.Popen(
            paperlink_argv(
                "run", "-q", "--label", f"run{i}", *options, "--", sys.executable, "each.py", str(i)
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for i in range(RUNS)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err.decode()
        assert b"locked" not in err and b"Traceback" not in err, err.decode()
    with RecordStore(root / ".paperlink/records.sqlite") as store:
        assert sum(label.startswith("run") for label in store.labels()) == RUNS
        for i in range(RUNS):
            record = store.get(f"run{i}")
            assert record.outcome.status == "finished"
            yield record


@pytest.mark.slow
def test_64_traced_runs_at_once_each_list_exactly_their_own_files(project_dir: Path) -> None:
    run_cli("run", "--trace", "--label", "warm", "--", "true")  # fills the caches once
    for i, record in enumerate(burst(project_dir, "--trace")):
        assert outputs(record) == {f"results/out{i}.txt": None}
        assert record.outputs[0].sha256 == hashlib.sha256(f"INPUT {i}\n".encode()).hexdigest()
        reads = [(item.path, item.sha256) for item in record.inputs if item.role == "read"]
        assert reads == [(f"data/in{i}.txt", sha256(project_dir / f"data/in{i}.txt"))]


@pytest.mark.slow
def test_64_untraced_runs_at_once_flag_what_they_share_and_claim_nothing_silently(
    project_dir: Path,
) -> None:
    claims: dict[str, list[tuple[str, bool]]] = {}
    for i, record in enumerate(burst(project_dir)):
        mine = f"results/out{i}.txt"
        assert mine in {o.path for o in record.outputs}
        for path, shared in outputs(record).items():
            claims.setdefault(path, []).append((record.label, shared is not None))
            if path != mine:  # another run's file is never this record's alone
                assert shared, f"{record.label} claims {path}"
    for path, holders in claims.items():
        if len(holders) > 1:  # recorded by several: ambiguous in every one of them
            assert all(flagged for _, flagged in holders), (path, holders)
