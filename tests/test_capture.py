import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import git, paperlink_process, run_cli

from paperlink.core.config import find_project
from paperlink.core.records import Record
from paperlink.core.store import RecordStore


def record_of(label: str) -> Record:
    return Record.from_json(run_cli("show", label, "--json").output)


def test_record_answers_what_ran_and_where(project_dir: Path) -> None:
    result = run_cli("run", "--label", "r1", "--reason", "first look", "--tag", "a", "--tag", "b", "--",
                     "python3", "make_figure.py", "fig1")  # fmt: skip
    assert "made fig1" in result.output
    record = record_of("r1")
    assert record.argv == ["python3", "make_figure.py", "fig1"]
    assert record.reason == "first look" and record.tags == ["a", "b"]
    assert record.executable.path == shutil.which("python3")
    assert record.executable.version and record.executable.version.startswith("Python 3")
    assert record.code.main_script is not None and record.code.main_script.path == "make_figure.py"
    script = (project_dir / "make_figure.py").read_bytes()
    assert record.code.main_script.sha256 == hashlib.sha256(script).hexdigest()
    assert record.code.commit == git(project_dir, "rev-parse", "HEAD").strip()
    assert record.code.branch == "main"
    assert [o.path for o in record.outputs] == ["figures/fig1.svg"]
    out = record.outputs[0]
    content = (project_dir / "figures/fig1.svg").read_bytes()
    assert (out.size, out.sha256, out.md5, out.sha1) == (
        len(content), hashlib.sha256(content).hexdigest(), hashlib.md5(content).hexdigest(),
        hashlib.sha1(content).hexdigest(),
    )  # fmt: skip
    assert record.outcome.status == "finished" and record.outcome.exit_status == 0
    assert record.outcome.stdout.size == len(b"made fig1\n")
    p = record.platform
    assert (
        p.hostname
        and p.os == "Linux"
        and p.cpu_cores >= 1
        and p.memory_bytes > 0
        and p.python_version
    )
    assert "click" in {name.lower() for name in record.packages}
    assert record.start_time.endswith("Z") and record.duration_seconds is not None
    assert record.environment["PATH"]


def test_stdout_and_stderr_are_stored_and_streamed(project_dir: Path) -> None:
    (project_dir / "noisy.py").write_text(
        "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n"
    )
    done = paperlink_process("run", "--label", "noisy", "--", sys.executable, "noisy.py")
    assert done.stdout == b"to out\n"
    assert b"to err\n" in done.stderr
    assert run_cli("show", "noisy", "--stdout").stdout_bytes == b"to out\n"
    assert run_cli("show", "noisy", "--stderr").stdout_bytes == b"to err\n"


def test_dirty_tree_diff_is_stored_and_applies(project_dir: Path, tmp_path: Path) -> None:
    (project_dir / "make_figure.py").write_text(
        (project_dir / "make_figure.py").read_text() + "print('changed')\n"
    )
    (project_dir / "helper.py").write_text("X = 1\n")
    run_cli("run", "--label", "dirty", "--", "python3", "make_figure.py")
    record = record_of("dirty")
    assert record.code.dirty and record.code.untracked == ["helper.py"]
    diff = run_cli("show", "dirty", "--code-diff").stdout_bytes
    assert b"+print('changed')" in diff and b"helper.py" in diff
    assert hashlib.sha256(diff).hexdigest() == record.code.diff_sha256
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project_dir), str(clone)], check=True)
    subprocess.run(
        ["git", "-C", str(clone), "checkout", "-q", record.code.commit or ""], check=True
    )
    subprocess.run(["git", "-C", str(clone), "apply"], input=diff, check=True)
    assert (clone / "make_figure.py").read_bytes() == (project_dir / "make_figure.py").read_bytes()
    assert (clone / "helper.py").read_text() == "X = 1\n"


def _outputs_not_ignored(project_dir: Path, outputs: str) -> None:
    """Output folders that git does not ignore, as many projects have them."""
    (project_dir / ".gitignore").write_text("")
    toml = project_dir / "paperlink.toml"
    toml.write_text(
        toml.read_text().replace('outputs = ["figures", "results"]', f"outputs = {outputs}")
    )
    git(project_dir, "commit", "-qam", "outputs")


def test_new_files_in_the_output_folders_are_not_code(project_dir: Path) -> None:
    # 'res[1]' is a literal name: git must not read it as a pattern that also matches 'res1'.
    _outputs_not_ignored(project_dir, '["figures", "res[1]"]')
    for name in ("figures/old.svg", "res[1]/a/b.txt", "res1/new.py"):
        (project_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (project_dir / name).write_text("x\n")
    run_cli("run", "--label", "outs", "--", "python3", "make_figure.py")
    record = record_of("outs")
    assert record.code.untracked == ["res1/new.py"]
    assert [o.path for o in record.outputs] == ["figures/fig1.svg"]


def test_a_changed_tracked_file_in_an_output_folder_makes_the_run_dirty(project_dir: Path) -> None:
    _outputs_not_ignored(project_dir, '["figures"]')
    (project_dir / "figures").mkdir(exist_ok=True)
    (project_dir / "figures" / "kept.svg").write_text("<svg/>")
    git(project_dir, "add", "figures/kept.svg")
    git(project_dir, "commit", "-qm", "a figure kept in git")
    (project_dir / "figures" / "kept.svg").write_text("<svg id='changed'/>")
    run_cli("run", "--label", "kept", "--", "python3", "make_figure.py")
    record = record_of("kept")
    assert record.code.dirty and record.code.untracked == []
    assert b"figures/kept.svg" in run_cli("show", "kept", "--code-diff").stdout_bytes


def test_a_git_without_exclude_pathspecs_still_gives_the_new_files(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git before 1.9 (still on some clusters) refuses ':(exclude)': paperlink asks again without it.
    _outputs_not_ignored(project_dir, '["figures"]')
    real = shutil.which("git")
    old_git = tmp_path / "bin" / "git"
    old_git.parent.mkdir()
    old_git.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in ":("*) echo "fatal: Invalid pathspec magic" >&2; exit 128;; '
        "esac; done\n"
        f'exec {real} "$@"\n'
    )
    old_git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{old_git.parent}{os.pathsep}{os.environ['PATH']}")
    (project_dir / "figures").mkdir(exist_ok=True)
    (project_dir / "figures" / "old.svg").write_text("<svg/>")
    (project_dir / "helper.py").write_text("X = 1\n")
    run_cli("run", "--label", "old-git", "--", "python3", "make_figure.py")
    record = record_of("old-git")
    assert record.code.dirty and record.code.untracked == ["helper.py"]


def test_outputs_of_runs_milliseconds_apart_are_not_confused(project_dir: Path) -> None:
    for i in range(5):
        run_cli("run", "-q", "--label", f"quick{i}", "--", "python3", "make_figure.py", f"q{i}")
    for i in range(5):
        assert [o.path for o in record_of(f"quick{i}").outputs] == [f"figures/q{i}.svg"]


def test_same_size_rewrite_in_the_same_clock_tick_is_caught_by_digest(project_dir: Path) -> None:
    target = project_dir / "figures" / "same.txt"
    target.write_bytes(b"AAAA")
    st = target.stat()
    # Rewrite in place with bytes of the same size, then put the old mtime back: only a digest can tell.
    (project_dir / "rewrite.py").write_text(
        "import os\n"
        f"with open({str(target)!r}, 'r+b') as f:\n    f.write(b'BBBB')\n"
        f"os.utime({str(target)!r}, ns=({st.st_atime_ns}, {st.st_mtime_ns}))\n"
    )
    untouched = project_dir / "figures" / "untouched.txt"
    untouched.write_bytes(b"CCCC")
    run_cli("run", "-q", "--label", "rewrite", "--", sys.executable, "rewrite.py")
    assert target.stat().st_mtime_ns == st.st_mtime_ns and target.stat().st_ino == st.st_ino
    assert [o.path for o in record_of("rewrite").outputs] == ["figures/same.txt"]


def test_declared_inputs_outputs_and_parameters(project_dir: Path) -> None:
    (project_dir / "data.csv").write_text("x,y\n1,2\n")
    (project_dir / "params.json").write_text(json.dumps({"alpha": 0.5, "model": {"depth": 3}}))
    (project_dir / "elsewhere").mkdir()
    (project_dir / "job.py").write_text("import sys\nopen('elsewhere/table.csv', 'w').write('t')\n")
    run_cli("run", "--label", "params", "--input", "data.csv", "--output", "elsewhere", "--output",
            "never-written.txt", "--", "python3", "job.py", "params.json", "seed=7", "name=run")  # fmt: skip
    record = record_of("params")
    assert record.parameters == {"alpha": 0.5, "model.depth": 3, "seed": 7, "name": "run"}
    inputs = {i.path: i for i in record.inputs}
    assert inputs["data.csv"].sha256 == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert inputs["params.json"].role == "parameters"
    outputs = {o.path: o for o in record.outputs}
    assert outputs["elsewhere/table.csv"].sha256 == hashlib.sha256(b"t").hexdigest()
    assert outputs["never-written.txt"].kind == "missing"


def test_missing_declared_input_is_refused_before_running(project_dir: Path) -> None:
    result = run_cli("run", "--input", "nope.csv", "--", "python3", "make_figure.py", ok=False)
    assert result.exit_code == 1
    assert "declared input not found: nope.csv" in result.output
    assert not (project_dir / "figures" / "fig1.svg").exists()
    assert run_cli("list", "--json").output.strip() == "[]"


def test_exit_status_passes_through_and_failure_is_recorded(project_dir: Path) -> None:
    (project_dir / "fail.py").write_text("import sys\nsys.exit(3)\n")
    result = run_cli("run", "--label", "f", "--", sys.executable, "fail.py", ok=False)
    assert result.exit_code == 3
    assert record_of("f").outcome.status == "failed"
    assert record_of("f").outcome.exit_status == 3


def test_command_not_found_leaves_a_record_with_127(project_dir: Path) -> None:
    done = paperlink_process("run", "--label", "ghost", "--", "no-such-program-xyz", "--flag")
    assert done.returncode == 127
    assert b"command not found: no-such-program-xyz" in done.stderr
    record = record_of("ghost")
    assert record.outcome.status == "failed" and record.outcome.exit_status == 127


def test_not_executable_file_gives_126(project_dir: Path) -> None:
    (project_dir / "script.sh").write_text("#!/bin/sh\necho hi\n")
    done = paperlink_process("run", "--label", "noexec", "--", "./script.sh")
    assert done.returncode == 126
    assert record_of("noexec").outcome.exit_status == 126


def test_non_utf8_and_large_output_streams_through_in_bounded_memory(project_dir: Path) -> None:
    # 300 MB of output, mostly not UTF-8; paperlink keeps only the head and tail (8 MiB by default).
    (project_dir / "flood.py").write_text(
        "import sys\nchunk = bytes(range(256)) * 4096\n"
        "for _ in range(300):\n    sys.stdout.buffer.write(chunk)\n"
        "sys.stdout.buffer.write(b'\\xffEND')\n"
    )
    code = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-m', 'paperlink', 'run', '-q', '--label', 'flood', '--',"
        " sys.executable, 'flood.py'], stdout=subprocess.PIPE)\n"
        "import hashlib\n"
        "print(p.returncode, len(p.stdout), hashlib.sha256(p.stdout).hexdigest(),"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    returncode, size, sha, max_rss_kib = done.stdout.split()
    expected = bytes(range(256)) * 4096 * 300 + b"\xffEND"
    assert int(returncode) == 0
    assert int(size) == len(expected) and sha == hashlib.sha256(expected).hexdigest()
    assert int(max_rss_kib) < 120 * 1024, f"paperlink used {int(max_rss_kib) // 1024} MiB"
    info = record_of("flood").outcome.stdout
    assert info.size == len(expected) and info.sha256 == sha and info.truncated
    assert info.stored_bytes <= 8 * 1024 * 1024
    with RecordStore(project_dir / ".paperlink/records.sqlite") as store:
        parts = store.get_stream("flood", "stdout")
    assert expected.startswith(parts["head"]) and expected.endswith(parts["tail"])
    assert parts["tail"].endswith(b"\xffEND")


def test_unreadable_output_is_recorded_not_fatal(project_dir: Path) -> None:
    (project_dir / "secret_out.py").write_text(
        "import os\nopen('figures/locked.dat', 'w').write('x')\nos.chmod('figures/locked.dat', 0)\n"
        "open('figures/fine.dat', 'w').write('y')\n"
    )
    prefix: list[str] = []
    if os.geteuid() == 0:
        # root reads anything: drop the capabilities that bypass permission bits, so they are real.
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "paperlink", "run", "--label", "locked", "--", sys.executable,
         "secret_out.py"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    outputs = {o.path: o for o in record_of("locked").outputs}
    assert outputs["figures/locked.dat"].kind == "unreadable"
    assert "Permission denied" in (outputs["figures/locked.dat"].error or "")
    assert outputs["figures/fine.dat"].sha256 == hashlib.sha256(b"y").hexdigest()


def test_secrets_never_reach_the_record(project_dir: Path) -> None:
    secret = "zen-0d5f8a7e9c1b2a3f"
    env = {**os.environ, "ZENODO_TOKEN": secret, "MY_API_KEY": "k3y-value-123", "LANG": "C.UTF-8"}
    env["PATH"] = env["PATH"]
    done = paperlink_process(
        "run", "--label", "sec", "--", sys.executable, "make_figure.py", "--token", secret,
        f"--password={secret}", f"url=https://user:{secret}@example.org/x", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    git(
        project_dir,
        "remote",
        "add",
        "origin",
        f"https://someone:{secret}@git.example.org/study.git",
    )
    done = paperlink_process(
        "run", "--label", "sec2", "--", sys.executable, "make_figure.py", env=env
    )
    assert done.returncode == 0, done.stderr
    for label in ("sec", "sec2"):
        text = run_cli("show", label, "--json").output
        assert secret not in text and "k3y-value-123" not in text
    record = record_of("sec")
    assert "<redacted>" in record.argv
    assert "ZENODO_TOKEN" not in record.environment and record.environment["LANG"] == "C.UTF-8"
    assert record_of("sec2").code.remote == "https://git.example.org/study.git"
    raw = (project_dir / ".paperlink/records.sqlite").read_bytes()
    wal = project_dir / ".paperlink/records.sqlite-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert secret.encode() not in raw


def test_source_date_epoch_is_the_commit_time_unless_overridden(project_dir: Path) -> None:
    (project_dir / "epoch.py").write_text("import os\nprint(os.environ['SOURCE_DATE_EPOCH'])\n")
    commit_time = int(git(project_dir, "log", "-1", "--format=%ct").strip())
    done = paperlink_process("run", "-q", "--label", "e1", "--", sys.executable, "epoch.py")
    assert done.stdout.strip() == str(commit_time).encode()
    assert record_of("e1").source_date_epoch == commit_time
    done = paperlink_process(
        "run", "-q", "--label", "e2", "--source-date-epoch", "42", "--", sys.executable, "epoch.py"
    )
    assert done.stdout.strip() == b"42" and record_of("e2").source_date_epoch == 42


def test_sigterm_stops_the_command_and_is_recorded(project_dir: Path) -> None:
    (project_dir / "wait.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperlink", "run", "--label", "term", "--", sys.executable, "wait.py"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert time.monotonic() - started < 20
    assert proc.returncode == 128 + signal.SIGTERM
    record = record_of("term")
    assert record.outcome.status == "interrupted" and record.outcome.signal == signal.SIGTERM


def test_outside_a_project_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("run", "--", "true", ok=False)
    assert result.exit_code == 4
    assert "not inside a paperlink project" in result.output and "paperlink init" in result.output


def test_project_is_found_from_a_subfolder(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = project_dir / "analysis" / "deep"
    sub.mkdir(parents=True)
    (sub / "fig.py").write_text("open('../../figures/deep.svg', 'w').write('<svg/>')\n")
    monkeypatch.chdir(sub)
    run_cli("run", "--label", "deep", "--", sys.executable, "fig.py")
    record = record_of("deep")
    assert record.working_directory == "analysis/deep"
    assert [o.path for o in record.outputs] == ["figures/deep.svg"]
    assert find_project().root == project_dir


def test_second_run_reuses_cached_tool_answers(project_dir: Path) -> None:
    run_cli("run", "-q", "--label", "c1", "--", "python3", "make_figure.py")
    with RecordStore(project_dir / ".paperlink/records.sqlite") as store:
        keys = [row for row in store._read("SELECT key FROM tool_cache")]
    assert any(k[0].startswith("packages:") for k in keys) and any(
        k[0].startswith("version:") for k in keys
    )
    run_cli("run", "-q", "--label", "c2", "--", "python3", "make_figure.py")
    assert record_of("c2").packages == record_of("c1").packages


# The program merges its parameters as Sumatra does: the file first, then key=value arguments over it.
PLOT = """import json, pathlib, sys
params = json.loads(pathlib.Path(sys.argv[1]).read_text())
def flat(prefix, value, into):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            flat(f"{prefix}.{key}" if prefix else key, item, into)
    else:
        into[prefix] = value
    return into
used = flat("", params, {})
for arg in sys.argv[2:]:
    key, _, value = arg.partition("=")
    try:
        value = json.loads(value)
    except ValueError:
        pass
    used = {k: v for k, v in used.items() if not k.startswith(key + ".")}
    used[key] = value
pathlib.Path("results").mkdir(exist_ok=True)
pathlib.Path("results/used.json").write_text(json.dumps(used, sort_keys=True))
"""


def test_arguments_override_the_parameter_file_and_the_record_says_so(project_dir: Path) -> None:
    (project_dir / "plot.py").write_text(PLOT)
    (project_dir / "p2.json").write_text(
        json.dumps({"slope": 0.5, "model": {"alpha": 1, "beta": 2}, "name": "base"})
    )
    run_cli("run", "-q", "--label", "file-only", "--", "python3", "plot.py", "p2.json")
    run_cli("run", "-q", "--label", "override", "--",
            "python3", "plot.py", "p2.json", "slope=0.75", "model.alpha=2")  # fmt: skip
    used = json.loads((project_dir / "results" / "used.json").read_text())
    record = record_of("override")
    assert used == {"slope": 0.75, "model.alpha": 2, "model.beta": 2, "name": "base"}
    assert record.parameters == used
    sources = {
        key: [(s.source, s.path, s.value) for s in found]
        for key, found in record.parameter_sources.items()
    }
    assert sources == {
        "slope": [("file", "p2.json", 0.5), ("argument", None, 0.75)],
        "model.alpha": [("file", "p2.json", 1), ("argument", None, 2)],
        "model.beta": [("file", "p2.json", 2)],
        "name": [("file", "p2.json", "base")],
    }
    shown = run_cli("show", "override").output
    assert "slope = 0.75  from argument (overrides file p2.json: 0.5)" in shown
    assert "model.beta = 2  from file p2.json" in shown
    diff = run_cli("diff", "file-only", "override").output
    assert (
        "slope: 0.5 (from file p2.json)  ->  0.75 (from argument (overrides file p2.json: 0.5))"
        in diff
    )
    differences = json.loads(run_cli("diff", "file-only", "override", "--json").output)
    slope = next(d for d in differences["differences"] if d["key"] == "slope")
    assert (slope["left"], slope["right"]) == (0.5, 0.75)
    assert slope["right_source"] == "argument (overrides file p2.json: 0.5)"


def test_an_argument_naming_a_table_replaces_all_of_it(project_dir: Path) -> None:
    (project_dir / "plot.py").write_text(PLOT)
    (project_dir / "p2.json").write_text(json.dumps({"model": {"alpha": 1, "beta": 2}}))
    run_cli("run", "-q", "--label", "table", "--",
            "python3", "plot.py", "p2.json", 'model={"alpha": 3}')  # fmt: skip
    used = json.loads((project_dir / "results" / "used.json").read_text())
    record = record_of("table")
    assert record.parameters == used == {"model": {"alpha": 3}}
    assert [(s.source, s.value) for s in record.parameter_sources["model"]] == [
        ("file", {"alpha": 1, "beta": 2}),
        ("argument", {"alpha": 3}),
    ]


# -- options and interruptions (issue 12, items 7 and 10) ---------------------------------------------------
def test_a_misspelt_run_option_is_a_usage_error_and_records_nothing(project_dir: Path) -> None:
    done = paperlink_process("run", "--lable", "x", "--", "python3", "make_figure.py")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "No such option '--lable'" in err and "--label" in err and "Traceback" not in err
    assert json.loads(paperlink_process("list", "--json").stdout) == []
    assert not (project_dir / "figures" / "fig1.svg").exists()
    # The command starts at the first argument that is not an option; what follows is its own.
    done = paperlink_process("run", "-q", "--label", "own", "python3", "make_figure.py", "--lable")
    assert done.returncode == 0, done.stderr
    assert record_of("own").argv == ["python3", "make_figure.py", "--lable"]


CLEAN_UP = """\
import os, pathlib, sys, time
try:
    print("working", os.getpid(), file=sys.stderr, flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    pathlib.Path("cleaning").write_text("")
    time.sleep(0.5)
    for step in range(3):
        print(f"clean-up {step}", file=sys.stderr, flush=True)
        time.sleep(0.2)
    print("last line", file=sys.stderr, flush=True)
    sys.exit(1)
"""


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.005)


def _start_in_own_group(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "paperlink", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def test_ctrl_c_keeps_the_commands_last_stderr_lines(project_dir: Path) -> None:
    (project_dir / "cleanup.py").write_text(CLEAN_UP)
    proc = _start_in_own_group("--label", "cc", "--", sys.executable, "cleanup.py")
    assert proc.stderr is not None
    child = int(proc.stderr.readline().split()[1])
    assert os.getpgid(child) == proc.pid  # the command is in paperlink's process group
    # Ctrl-C sends SIGINT to every process of the group. Here each gets it in the order a busy machine
    # may deliver it: the command first, paperlink once the command has begun its clean-up (with killpg
    # the scheduler picks the order: the next test).
    os.kill(child, signal.SIGINT)
    _wait_for(project_dir / "cleaning")
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stored = run_cli("show", "cc", "--stderr").stdout_bytes
    assert b"clean-up 2\nlast line\n" in stored and b"KeyboardInterrupt" not in stored, stored
    assert b"last line" in err
    record = record_of("cc")
    assert proc.returncode == 1 and record.outcome.exit_status == 1
    assert record.outcome.status == "interrupted" and record.outcome.signal == signal.SIGINT


def test_ctrl_c_to_the_process_group_is_recorded_with_the_whole_clean_up(project_dir: Path) -> None:
    (project_dir / "cleanup.py").write_text(CLEAN_UP)
    for attempt in range(3):
        label = f"group{attempt}"
        proc = _start_in_own_group("--label", label, "--", sys.executable, "cleanup.py")
        assert proc.stderr is not None and proc.stderr.readline().startswith(b"working")
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
        stored = run_cli("show", label, "--stderr").stdout_bytes
        assert stored.endswith(b"clean-up 2\nlast line\n"), stored
        assert proc.returncode == 1 and record_of(label).outcome.status == "interrupted"
        (project_dir / "cleaning").unlink()


def test_a_repeated_sigint_to_paperlink_alone_reaches_the_command(project_dir: Path) -> None:
    (project_dir / "cleanup.py").write_text(CLEAN_UP)
    proc = _start_in_own_group("--label", "twice", "--", sys.executable, "cleanup.py")
    assert proc.stderr is not None and proc.stderr.readline().startswith(b"working")
    # `kill -INT PID`, to paperlink only, not its group: the first is not passed on (it could be the
    # terminal's, which the command got too), a repeated one is.
    deadline = time.monotonic() + 30
    while not (project_dir / "cleaning").exists():
        assert time.monotonic() < deadline, "the command never got a SIGINT"
        proc.send_signal(signal.SIGINT)
        for _ in range(100):
            if (project_dir / "cleaning").exists():
                break
            time.sleep(0.01)
    proc.communicate(timeout=60)
    assert b"last line" in run_cli("show", "twice", "--stderr").stdout_bytes
    assert record_of("twice").outcome.status == "interrupted"


def test_a_background_process_holding_the_output_does_not_hold_up_the_record(
    project_dir: Path,
) -> None:
    proc = _start_in_own_group(
        "--label", "bg", "--", "sh", "-c", "sleep 100 & echo 'last line' >&2"
    )
    try:
        _, err = proc.communicate(timeout=50)  # today's code waits for the sleep, 100 s
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the sleep
    assert proc.returncode == 0, err
    assert b"still open" in err and b"in the background" in err
    record = record_of("bg")
    assert record.outcome.status == "finished" and "still open 5 s after" in str(
        record.outcome.error
    )
    assert run_cli("show", "bg", "--stderr").stdout_bytes == b"last line\n"
