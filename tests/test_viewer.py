"""``paperlink serve``: the pages, the file route and its guards, run as a real server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_browser import Study, add_built_record, file_digest, png_bytes
from helpers import paperlink_process, run_cli

from paperlink.core.config import find_project
from paperlink.core.files import FileDigest
from paperlink.web.app import exposure_warning, is_loopback
from paperlink.web.links import quote_segment
from paperlink.web.outputs import inside_project
from paperlink.web.pages import commit_url, diff_lines, script_of


# -- pages --------------------------------------------------------------------------------------------
def test_records_page_lists_newest_first(study: Study, serve) -> None:
    viewer = serve(study.root)
    html = viewer.text("/")
    positions = [
        html.index(f">{label}</a>") for label in (study.archived, study.tuned, study.baseline)
    ]
    assert positions == sorted(positions)
    assert "3 records, newest first." in html
    assert 'class="status status-finished"' in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("?tag=sweep", ["tuned"], ["baseline", "archived-in-container"]),
        ("?q=narrower", ["tuned"], ["baseline"]),
        ("?q=FIRST+LOOK", ["baseline"], ["tuned"]),
        ("?status=failed", ["crashed"], ["tuned", "baseline"]),
        ("?status=finished", ["tuned", "baseline"], ["crashed"]),
        ("?script=plot.py&tag=paper", ["tuned", "baseline", "archived-in-container"], []),
        ("?script=fit.R", ["crashed"], ["tuned"]),
        ("?since=2000-01-01&until=2999-12-31", ["tuned", "baseline"], []),
        ("?until=2000-01-01", [], ["tuned", "baseline"]),
    ],
)
def test_records_page_filters_on_the_server(
    study: Study, serve, query: str, shown: list[str], hidden: list[str]
) -> None:
    add_built_record(study.root, "crashed", argv=["Rscript", "fit.R"], exit_status=2)
    html = serve(study.root).text("/" + query)
    for label in shown:
        assert f">{label}</a>" in html, label
    for label in hidden:
        assert f">{label}</a>" not in html, label
    if not shown:
        assert "No record matches." in html


def test_records_page_reports_a_bad_date_instead_of_failing(study: Study, serve) -> None:
    html = serve(study.root).text("/?since=yesterday&page=x")
    assert "&#39;yesterday&#39; is not a date: write it as YYYY-MM-DD" in html
    assert ">baseline</a>" in html


def test_records_page_paginates(project_dir: Path, serve) -> None:
    for number in range(55):
        add_built_record(project_dir, f"bulk-{number:03d}")
    viewer = serve(project_dir)
    first = viewer.text("/")
    assert "Page 1 of 2" in first and ">bulk-054</a>" in first and ">bulk-004</a>" not in first
    second = viewer.text("/?page=2")
    assert ">bulk-004</a>" in second and ">bulk-054</a>" not in second


def test_record_page_shows_run_code_diff_outputs_and_streams(study: Study, serve) -> None:
    viewer = serve(study.root)
    html = viewer.text("/records/tuned")
    curve = file_digest(study.root, "figures/tuned.png")
    assert f"sha256:{curve.sha256}" in html and f"md5:{curve.md5}" in html
    assert 'src="/records/tuned/files/figures/tuned.png"' in html
    assert "same as recorded" in html
    assert "narrower plot" in html and "sweep" in html
    # The dirty tree's diff, coloured line by line.
    assert (
        '<span class="d-add">+pathlib.Path(f&#34;figures/{name}.png&#34;).write_bytes(png(300, 200'
        in html
    )
    assert (
        '<span class="d-del">-pathlib.Path(f&#34;figures/{name}.png&#34;).write_bytes(png(320, 200'
        in html
    )
    assert "uncommitted changes" in html
    assert "drew figures/tuned.png in orange" in html  # stdout
    assert "paperlink rerun tuned" in html
    assert 'href="/compare/baseline/tuned"' in html
    assert "This run did not use a container" in html


def test_record_page_shows_container_and_archive(study: Study, serve) -> None:
    html = serve(study.root).text("/records/archived-in-container")
    assert "sha256:" + "cd" * 32 in html
    assert "ghcr.io/lab/analysis@sha256:" + "ab" * 32 in html
    assert '<code id="rerun">paperlink rerun archived-in-container</code>' in html
    assert 'href="https://doi.org/10.5072/zenodo.123456"' in html
    assert '<span class="state state-ok">archived</span>' in html


def test_record_json_is_the_records_canonical_json(study: Study, serve) -> None:
    viewer = serve(study.root)
    status, headers, body = viewer.get("/records/baseline.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    data = json.loads(body)
    assert data["label"] == "baseline" and data["outputs"][0]["path"] == "figures/curve.png"


def test_file_route_serves_the_output_itself(study: Study, serve) -> None:
    status, headers, body = serve(study.root).get("/records/baseline/files/figures/curve.png")
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    assert body == (study.root / "figures" / "curve.png").read_bytes()
    assert "sandbox" in headers["Content-Security-Policy"]


def test_file_that_changed_since_the_run_is_not_served_as_its(study: Study, serve) -> None:
    (study.root / "figures" / "curve.png").write_bytes(png_bytes(10, 10, (255, 0, 0)))
    viewer = serve(study.root)
    status, _, body = viewer.get("/records/baseline/files/figures/curve.png")
    assert status == 410
    assert b"has changed since record &#39;baseline&#39; made it" in body
    html = viewer.text("/records/baseline")
    assert "changed since the run" in html
    assert 'src="/records/baseline/files/figures/curve.png"' not in html


def test_compare_page_shows_what_differs(study: Study, serve) -> None:
    viewer = serve(study.root)
    html = viewer.text("/compare/baseline/tuned")
    assert '<h3 id="diff-1">Command</h3>' in html
    assert "curve" in html and "orange" in html
    assert "diff_sha256" in html  # the tuned run had uncommitted changes
    same = viewer.text("/compare/baseline/baseline")
    assert "Nothing that matters for reproducing the result differs" in same


def test_record_and_compare_pages_show_the_parameter_used_and_its_source(
    project_dir: Path, serve
) -> None:
    (project_dir / "plot.py").write_text("print('plotting')\n")
    (project_dir / "p2.json").write_text(json.dumps({"slope": 0.5, "seed": 1}))
    run_cli("run", "-q", "--label", "base", "--", "python3", "plot.py", "p2.json")
    run_cli("run", "-q", "--label", "steep", "--", "python3", "plot.py", "p2.json", "slope=0.75")
    viewer = serve(project_dir)
    record = viewer.text("/records/steep")
    assert (
        '<tr><th scope="row">slope</th><td><code>0.75</code></td>'
        '<td class="source">argument (overrides file p2.json: 0.5)</td></tr>'
    ) in record
    assert '<td class="source">file p2.json</td>' in record  # seed
    compare = viewer.text("/compare/base/steep")
    assert '<code>0.5</code><br><small class="source">from file p2.json</small>' in compare
    assert (
        '<code>0.75</code><br><small class="source">from argument (overrides file p2.json: 0.5)'
        in compare
    )


def test_compare_form_redirects_to_the_stable_url(study: Study, serve) -> None:
    viewer = serve(study.root)
    status, headers, _ = viewer.get("/compare?left=baseline&right=tuned")
    assert status == 303 and headers["Location"] == "/compare/baseline/tuned"
    assert viewer.get("/compare?left=baseline")[0] == 400


def test_figure_pages_from_the_manuscript(study: Study, serve) -> None:
    (study.root / "figures" / "tuned.png").write_bytes(png_bytes(10, 10, (255, 0, 0)))
    viewer = serve(study.root, "--tex", "paper/main.tex")
    index = viewer.text("/figures")
    assert "3 figures used by <code>main.tex</code>" in index
    assert "main.tex:7" in index and "appendix.tex:2" in index
    baseline = viewer.text("/figures/baseline/figures/curve.png")
    assert (
        '<dd id="verification"><span class="state state-pending">not archived</span></dd>'
        in baseline
    )
    assert (
        "<code>paper/main.tex</code>, line 7" not in baseline
    )  # paths are relative to the manuscript
    assert "<code>main.tex</code>, line 7" in baseline
    assert "sha256</dt><dd><code>" + file_digest(study.root, "figures/curve.png").sha256 in baseline
    tuned = viewer.text("/figures/tuned/figures/tuned.png")
    assert (
        '<dd id="verification"><span class="state state-changed">changed since the run</span>'
        in tuned
    )
    archived = viewer.text("/figures/archived-in-container/figures/archived.png")
    assert '<dd id="verification"><span class="state state-ok">OK</span></dd>' in archived
    assert 'href="/figures/baseline/figures/curve.png"' in viewer.text("/records/baseline")


def test_figures_page_without_a_manuscript_says_how_to_get_one(study: Study, serve) -> None:
    assert "paperlink serve --tex main.tex" in serve(study.root).text("/figures")


def test_serve_with_a_missing_manuscript_fails_clearly(study: Study) -> None:
    done = paperlink_process(
        "serve", "--port", "0", "--tex", "nope.tex", cwd=study.root, timeout=30
    )
    assert done.returncode != 0
    assert b"Error: manuscript nope.tex not found" in done.stderr
    assert b"Traceback" not in done.stderr


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/records/no-such-run",
        "/records/no-such-run.json",
        "/records/baseline/files/figures/nope.png",
        "/records/baseline/files/plot.py",  # a file of the project, but not an output
        "/figures/baseline/figures/curve.png",  # no manuscript given
        "/compare/baseline/no-such-run",
        "/nothing/here",
        "/static/../paperlink.toml",
    ],
)
def test_unknown_label_or_path_is_a_404_page(study: Study, serve, path: str) -> None:
    status, headers, body = serve(study.root).get(path)
    assert status == 404
    assert headers["Content-Type"].startswith("text/html")
    assert b"<h1>404 Not Found</h1>" in body and b"Traceback" not in body


def test_unknown_label_suggests_a_near_one(study: Study, serve) -> None:
    body = serve(study.root).text("/records/baselin", status=404)
    assert "did you mean baseline?" in body


def test_only_get_and_head_are_answered(study: Study, serve) -> None:
    import http.client
    from urllib.parse import urlsplit

    viewer = serve(study.root)
    parts = urlsplit(viewer.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("POST", "/records/baseline", body=b"x")
    assert connection.getresponse().status == 405
    connection.close()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("HEAD", "/records/baseline/files/figures/curve.png")
    response = connection.getresponse()
    assert response.status == 200 and response.read() == b""
    connection.close()


@pytest.fixture
def outside_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-OUTSIDE-THE-PROJECT\n")
    return secret


@pytest.mark.parametrize(
    "path",
    [
        "/records/baseline/files/../../etc/passwd",
        "/records/baseline/files/../../../../../../etc/passwd",
        "/records/baseline/files/%2e%2e/%2e%2e/etc/passwd",
        "/records/baseline/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/records/baseline/files/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "/records/baseline/files//etc/passwd",
        "/records/baseline/files/%2Fetc%2Fpasswd",
        "/records/baseline/files/figures/..%2f..%2f..%2fsecret.txt",
        "/records/baseline/files/figures%5c..%5c..%5csecret.txt",
        "/records/abs/files//etc/passwd",
        "/records/abs/files/%2Fetc%2Fpasswd",
        "/records/escape/files/../secret.txt",
        "/records/escape/files/..%2Fsecret.txt",
        "/records/link/files/figures/link.png",
        "/records/linkdir/files/figures/outside/secret.txt",
    ],
)
def test_path_traversal_never_serves_a_file_outside_the_records_outputs(
    study: Study, serve, outside_secret: Path, path: str
) -> None:
    root = study.root
    # Records that name files outside the project, as a tampered or imported record could.
    secret = FileDigest(path=str(outside_secret), size=31, sha256="0" * 64)
    add_built_record(root, "abs", outputs=[FileDigest(path="/etc/passwd", size=1), secret])
    add_built_record(root, "escape", outputs=[FileDigest(path="../secret.txt", size=31)])
    # A symlink output (and a symlinked folder) pointing outside the project.
    (root / "figures" / "link.png").symlink_to(outside_secret)
    (root / "figures" / "outside").symlink_to(outside_secret.parent)
    add_built_record(root, "link", outputs=[file_digest(root, "figures/link.png")])
    add_built_record(root, "linkdir", outputs=[file_digest(root, "figures/outside/secret.txt")])
    status, _, body = serve(root).get(path)
    assert status == 404, (status, body[:300])
    assert b"root:" not in body and b"TOP-SECRET" not in body


def test_output_named_by_percent_and_slash_labels_round_trips(project_dir: Path, serve) -> None:
    (project_dir / "figures").mkdir(exist_ok=True)
    (project_dir / "figures" / "a b%.png").write_bytes(png_bytes(4, 4, (0, 0, 0)))
    label = "sweep/a%2F..%1"
    add_built_record(project_dir, label, outputs=[file_digest(project_dir, "figures/a b%.png")])
    viewer = serve(project_dir)
    record_url = "/records/" + quote_segment(label)
    assert f'Record <span class="label">{label}</span>' in viewer.text(record_url)
    status, _, body = viewer.get(record_url + "/files/figures/a%20b%25.png")
    assert status == 200 and body == (project_dir / "figures" / "a b%.png").read_bytes()


HOSTILE_REASON = "<script>document.title='pwned'</script>"
HOSTILE_ARGV = ["python3", "-c", "<img src=x onerror=\"document.title='pwned'\">"]
HOSTILE_LABEL = "<b>bold</b>&amp;"


def test_html_in_labels_reasons_commands_and_stdout_is_escaped(project_dir: Path, serve) -> None:
    run_cli(
        "run", "--label", HOSTILE_LABEL, "--reason", HOSTILE_REASON, "--",
        sys.executable, "-c", "print(\"<script>document.title='pwned'</script>\")",
    )  # fmt: skip
    add_built_record(project_dir, "hostile-command", argv=HOSTILE_ARGV, reason=HOSTILE_REASON)
    viewer = serve(project_dir)
    pages = [
        viewer.text("/"),
        viewer.text("/records/" + quote_segment(HOSTILE_LABEL)),
        viewer.text("/records/hostile-command"),
        viewer.text("/compare/hostile-command/" + quote_segment(HOSTILE_LABEL)),
    ]
    for html in pages:
        assert "<script" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert (
        "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in pages[1]
    )  # reason, stdout
    assert pages[1].count("&lt;script&gt;") >= 2
    assert "&lt;img src=x onerror=&#34;document.title=" in pages[2]
    assert "&lt;b&gt;bold&lt;/b&gt;&amp;amp;" in pages[0]


def test_pages_forbid_scripts_in_their_content_security_policy(study: Study, serve) -> None:
    _, headers, _ = serve(study.root).get("/records/baseline")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


# -- a store being written while pages are served -----------------------------------------------------
@pytest.mark.slow
def test_pages_are_served_while_runs_write_the_store(study: Study, serve) -> None:
    viewer = serve(study.root)
    loop = (
        "for i in 1 2 3 4 5 6; do "
        f"{sys.executable} -m paperlink run --label loop-$i -- {sys.executable} plot.py loop$i || exit 1; "
        "done"
    )
    writer = subprocess.Popen(
        ["bash", "-c", loop], cwd=study.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen: set[str] = set()
    requests = 0
    while writer.poll() is None or requests < 20:
        html = viewer.text("/")
        seen.update(label for label in ("loop-1", "loop-3", "loop-6") if f">{label}</a>" in html)
        viewer.text("/records/baseline")
        requests += 1
    _, errors = writer.communicate(timeout=120)
    assert writer.returncode == 0, errors
    assert viewer.text("/records/loop-6").count("loop6.png") >= 1
    assert seen, "the records page never showed a run written while it was served"
    # No reader is left holding the database: a full checkpoint needs every read transaction gone.
    time.sleep(0.2)
    connection = sqlite3.connect(find_project(study.root).store_path, timeout=1)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()


# -- where it listens ---------------------------------------------------------------------------------
def test_exposure_warning_only_beyond_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.5"):
        assert is_loopback(host) and exposure_warning(host) is None
    for host in ("0.0.0.0", "::", "192.168.1.10", "lab-server"):
        warning = exposure_warning(host)
        assert warning and "no authentication" in warning


def test_host_0000_warns_before_listening(project_dir: Path) -> None:
    # Hold the port on loopback so the viewer cannot actually bind 0.0.0.0: the test exposes nothing.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        done = paperlink_process(
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            cwd=project_dir,
            timeout=30,
        )
    finally:
        holder.close()
    stderr = done.stderr.decode()
    assert "Warning: the viewer has no authentication" in stderr
    assert f"Error: cannot listen on 0.0.0.0:{port}" in stderr
    assert done.returncode == 1 and "Traceback" not in stderr


def test_loopback_default_does_not_warn(study: Study, serve) -> None:
    viewer = serve(study.root)
    assert viewer.url.startswith("http://127.0.0.1:")
    assert "Warning" not in viewer.stderr_path.read_text()


def test_port_in_use_is_a_clear_error(project_dir: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        done = paperlink_process(
            "serve", "--port", str(holder.getsockname()[1]), cwd=project_dir, timeout=30
        )
    finally:
        holder.close()
    assert done.returncode == 1
    assert b"choose another --port" in done.stderr


def test_serve_outside_a_project_says_so(tmp_path: Path) -> None:
    done = paperlink_process(
        "serve", "--port", "0", cwd=tmp_path, timeout=30, env=os.environ | {"HOME": str(tmp_path)}
    )
    assert done.returncode == 4 and b"Error:" in done.stderr


# -- small pure pieces ---------------------------------------------------------------------------------
def test_inside_project_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"x")
    assert inside_project(tmp_path, "figures/a.png") == (tmp_path / "figures" / "a.png").resolve()
    for bad in (
        "/etc/passwd",
        "../x",
        "figures/../../x",
        "figures//a.png",
        "",
        "figures\\..\\x",
        "./figures/a.png",
    ):
        assert inside_project(tmp_path, bad) is None, bad


def test_script_of_finds_the_script_in_a_command() -> None:
    assert script_of("python3 analysis/fit.py -n 3") == "analysis/fit.py"
    assert script_of("Rscript plots.R") == "plots.R"
    assert script_of("/usr/bin/make figures") == "make"
    assert script_of("") == ""


def test_commit_url_for_common_remotes() -> None:
    sha = "a" * 40
    assert (
        commit_url("git@github.com:lab/study.git", sha)
        == f"https://github.com/lab/study/commit/{sha}"
    )
    assert (
        commit_url("https://gitlab.com/lab/study", sha)
        == f"https://gitlab.com/lab/study/commit/{sha}"
    )
    assert commit_url("/srv/git/study", sha) is None
    assert commit_url(None, sha) is None


def test_diff_lines_classify_each_line() -> None:
    text = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same"
    assert [kind for kind, _ in diff_lines(text)] == [
        "meta",
        "meta",
        "meta",
        "hunk",
        "del",
        "add",
        "ctx",
    ]


def test_ctrl_c_stops_the_viewer_cleanly(study: Study, tmp_path: Path) -> None:
    import signal

    from fixtures_browser import start_viewer

    viewer = start_viewer(study.root, log_dir=tmp_path)
    assert viewer.text("/records/baseline")
    viewer.process.send_signal(signal.SIGINT)
    assert viewer.process.wait(timeout=15) == 0
    if viewer.process.stdout:
        viewer.process.stdout.close()
    log = viewer.stderr_path.read_text()
    assert "paperlink: viewer stopped" in log and "Traceback" not in log


def test_loopback_viewer_refuses_foreign_host_names(study: Study, serve) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 must not read the records."""
    import http.client
    from urllib.parse import urlsplit

    viewer = serve(study.root)
    port = urlsplit(viewer.url).port
    for host, expected in [
        (f"evil.example:{port}", 421),
        ("evil.example", 421),
        (f"127.0.0.1:{port}", 200),
        (f"localhost:{port}", 200),
    ]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.putrequest("GET", "/records/baseline", skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status == expected, (host, response.status)
        if expected == 421:
            assert b"baseline" not in body


def test_record_with_many_image_outputs_keeps_the_gallery_short(project_dir: Path, serve) -> None:
    (project_dir / "figures").mkdir(exist_ok=True)
    outputs = []
    for number in range(30):
        (project_dir / "figures" / f"p{number:02d}.png").write_bytes(
            png_bytes(2, 2, (number, 0, 0))
        )
        outputs.append(file_digest(project_dir, f"figures/p{number:02d}.png"))
    add_built_record(project_dir, "many", outputs=outputs)
    html = serve(project_dir).text("/records/many")
    assert html.count('<img src="/records/many/files/') == 24
    assert "… and 6 more images, listed in the table below." in html
    assert html.count('href="/records/many/files/') == 30


def test_figure_list_reports_bad_references_and_pinned_digests(study: Study, serve) -> None:
    md5 = file_digest(study.root, "figures/curve.png").md5
    (study.root / "paper" / "other.tex").write_text(
        "\\plincludegraphics[digest=" + "0" * 64 + "]{baseline:figures/curve.png}\n"
        "\\plincludegraphics[digest=md5:" + str(md5) + "]{baseline:figures/curve.png}\n"
        "\\plincludegraphics{baseline:figures/nope.png}\n"
        "\\plincludegraphics{nobody}\n"
    )
    viewer = serve(study.root, "--tex", "paper/other.tex")
    index = viewer.text("/figures")
    assert "record &#39;baseline&#39; has no output &#39;figures/nope.png&#39;" in index
    assert "(outputs: figures/curve.png)" in index
    assert "no record labelled &#39;nobody&#39;" in index
    page = viewer.text("/figures/baseline/figures/curve.png")
    assert f"other.tex:1 pins {'0' * 64}, not the record&#39;s digest" in page
    assert "other.tex:2 pins" not in page  # the md5 pin matches
