"""Secrets never leave the machine: not in the store, `show`, an archive (`publish --to`), the static site
or `paperlink.bib`, and `publish` refuses to upload a file that holds one.

One run uses every form a secret takes (an environment token printed to stdout, `key=value`, `--pass X`,
`-p X`, `--opt=X`, an `Authorization:` header, a URL's user-info, nested parameter keys, a `--reason`)
from a real git project with an untracked `.env.local` and a `params.json` holding passwords; then every
place paperlink writes is searched, compressed members included, for every secret value.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import jsonschema
import pytest
from fixtures_publish import CITATION
from fixtures_zenodo import FakeZenodo
from helpers import REPO_ROOT, git, paperlink_process

from paperlink.core.records import Record

ENV_TOKEN = "ghp_EnvTok3nValue0123456789abcdefABCDEF"
ENV_API_KEY = "env-api-key-value-77"
ARGS = {
    "key=value": "arg-token-value-01",
    "api_key=value": "arg-apikey-value-02",
    "--pass X": "arg-pass-value-03",
    "-p X": "arg-p-value-04",
    "Authorization header": "arg-bearer-value-05",
    "URL user-info": "arg-url-pass-06",
    "--password=X": "arg-password-value-07",
    "--token X": "arg-token-value-08",
    "--api-key in a shell line": "arg-shell-key-value-09",
}
PARAMS = {
    "auth.pw": "auth-pw-value-11",
    "conn.passphrase": "conn-phrase-value-12",
    "servers[0].password": "server-pw-value-13",
    "db.password": "db-pw-value-14",
}
DOTENV = "dotenv-pass-value-15"
PEM_BODY = "MIIEowIBAAKCAQEAsecretkeymaterialvalue16"
ALL_SECRETS = [ENV_TOKEN, ENV_API_KEY, *ARGS.values(), *PARAMS.values(), DOTENV, PEM_BODY]

LEAK = """\
import json, os, pathlib, sys
params = json.load(open(sys.argv[1]))
pathlib.Path('figures').mkdir(exist_ok=True)
pathlib.Path('figures/plot.svg').write_text('<svg id="plot"/>')
print('token from the environment:', os.environ['GITHUB_TOKEN'])
print('argv:', sys.argv)
print('params:', json.dumps(params))
print('Authorization: Bearer ' + os.environ['MY_SERVICE_API_KEY'], file=sys.stderr)
"""
NOTES = "Ordinary notes, no secret here.\n"


def secret_env() -> dict[str, str]:
    return {**os.environ, "GITHUB_TOKEN": ENV_TOKEN, "MY_SERVICE_API_KEY": ENV_API_KEY}


@pytest.fixture
def leaky(project_dir: Path) -> Path:
    """The project with untracked secrets beside ordinary new files, and the run 'leaky' recorded."""
    root = project_dir
    (root / "leak.py").write_text(LEAK)
    (root / "CITATION.cff").write_text(CITATION)
    git(root, "add", "leak.py", "CITATION.cff")
    git(root, "commit", "-q", "-m", "leak")
    (root / ".env.local").write_text(f"GITHUB_TOKEN={ENV_TOKEN}\nDB_PASSWORD={DOTENV}\n")
    (root / "deploy.pem").write_text(
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n"
    )
    params = {
        "alpha": 0.5,
        "auth": {"pw": PARAMS["auth.pw"]},
        "conn": {"passphrase": PARAMS["conn.passphrase"]},
        "servers": [{"host": "db1", "password": PARAMS["servers[0].password"]}],
        "db": {"host": "db2", "password": PARAMS["db.password"]},
    }
    (root / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    (root / "notes.txt").write_text(NOTES)
    (root / "big.dat").write_bytes(b"x" * ((1 << 20) + 1))
    (root / "blob.bin").write_bytes(b"\x00\x01binary\xff")
    done = paperlink_process(
        "run", "--label", "leaky", "--reason", f"debugging with {ENV_TOKEN}", "--tag", "draft",
        "--", sys.executable, "leak.py", "params.json",
        f"token={ARGS['key=value']}", f"api_key={ARGS['api_key=value']}",
        "--pass", ARGS["--pass X"], "-p", ARGS["-p X"],
        "-H", f"Authorization: Bearer {ARGS['Authorization header']}",
        f"https://user:{ARGS['URL user-info']}@example.org/x",
        f"--password={ARGS['--password=X']}", "--token", ARGS["--token X"],
        f"sh -c 'curl --api-key {ARGS['--api-key in a shell line']} https://example.org/'",
        cwd=root, env=secret_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    # What the run printed reached the terminal untouched: only the record is redacted.
    assert ENV_TOKEN.encode() in done.stdout
    return root


def store_contents(root: Path) -> bytes:
    """The store file as bytes, plus every value in it, decompressed where it is compressed."""
    folder = root / ".paperlink"
    raw = b"".join(p.read_bytes() for p in sorted(folder.glob("records.sqlite*")))
    with sqlite3.connect(folder / "records.sqlite") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                for cell in row:
                    if isinstance(cell, bytes):
                        raw += cell
                        with contextlib.suppress(zlib.error):
                            raw += zlib.decompress(cell)
                    elif isinstance(cell, str):
                        raw += cell.encode()
    return raw


def folder_contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, and every member of its zip and tar.gz files, uncompressed."""
    found: dict[str, bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found[str(path)] = data
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    found[f"{path}!{name}"] = archive.read(name)
        elif path.name.endswith(".tar.gz"):
            found[f"{path}!"] = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                for member in archive.getmembers():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        found[f"{path}!{member.name}"] = extracted.read()
    return found


def leaks(haystacks: dict[str, bytes]) -> list[str]:
    return [
        f"{secret} in {name}"
        for name, data in haystacks.items()
        for secret in ALL_SECRETS
        if secret.encode() in data
    ]


def test_no_secret_reaches_store_show_archive_site_or_bib(leaky: Path, tmp_path: Path) -> None:
    env = secret_env()
    reasoned = paperlink_process("reason", "leaky", f"now with {ENV_TOKEN}", cwd=leaky, env=env)
    assert reasoned.returncode == 0, reasoned.stderr.decode()
    haystacks: dict[str, bytes] = {}
    for args in (["--json"], [], ["--stdout"], ["--stderr"], ["--code-diff"]):
        shown = paperlink_process("show", "leaky", *args, cwd=leaky, env=env)
        assert shown.returncode == 0, shown.stderr.decode()
        haystacks[f"show {' '.join(args)}"] = shown.stdout
    archive = tmp_path / "archive"
    published = paperlink_process(
        "publish", "--record", "leaky", "--to", str(archive), cwd=leaky, env=env
    )
    assert published.returncode == 0, published.stderr.decode()
    site = tmp_path / "site"
    made = paperlink_process("site", str(site), cwd=leaky, env=env)
    assert made.returncode == 0, made.stderr.decode()
    tex = tmp_path / "tex"
    latex = paperlink_process("latex", "--out", str(tex), cwd=leaky, env=env)
    assert latex.returncode == 0, latex.stderr.decode()
    haystacks["store"] = store_contents(leaky)
    haystacks.update(folder_contents(archive))
    haystacks.update(folder_contents(site))
    haystacks.update(folder_contents(tex))
    for done in (reasoned, published, made, latex):
        haystacks[f"output of {done.args[3:5]}"] = done.stdout + done.stderr
    assert leaks(haystacks) == []
    # The search looked where the values would be: the record is there, redacted, in each place.
    assert any(name.endswith("leaky.record.json") for name in haystacks)
    # paperlink.bib is in the haystack too; it cites archived records only, and a --to folder is none.
    assert (tex / "paperlink.bib").is_file() and b"paperlink:leaky" not in (
        tex / "paperlink.bib"
    ).read_bytes()
    assert any(b"<redacted>" in data for name, data in haystacks.items() if "site" in name)
    record = Record.from_json(haystacks["show --json"].decode())
    assert record.reason == "now with <redacted>"
    assert "token=<redacted>" in record.argv and "--password=<redacted>" in record.argv
    assert record.argv[record.argv.index("-p") + 1] == "<redacted>"
    assert "Authorization: Bearer <redacted>" in record.argv
    assert "https://example.org/x" in record.argv
    assert record.parameters["alpha"] == 0.5 and record.parameters["db.host"] == "db2"
    assert record.parameters["auth.pw"] == record.parameters["conn.passphrase"] == "<redacted>"
    assert record.parameters["servers"] == [{"host": "db1", "password": "<redacted>"}]
    assert b"token from the environment: <redacted>" in haystacks["show --stdout"]
    assert b"Authorization: Bearer <redacted>" in haystacks["show --stderr"]


def test_untracked_files_are_listed_and_only_safe_text_goes_into_the_diff(
    leaky: Path, tmp_path: Path
) -> None:
    shown = paperlink_process("show", "leaky", "--json", cwd=leaky)
    data = json.loads(shown.stdout)
    schema = json.loads((REPO_ROOT / "paperlink/core/schema/record-v1.json").read_text())
    jsonschema.validate(data, schema)
    listed = {u["path"]: u for u in data["code"]["untracked_files"]}
    assert set(listed) == {".env.local", "deploy.pem", "params.json", "notes.txt", "big.dat",
                           "blob.bin"}  # fmt: skip
    for name, item in listed.items():
        assert item["size"] == (leaky / name).stat().st_size
    digest = {n: hashlib.sha256((leaky / n).read_bytes()).hexdigest() for n in listed}
    assert listed["notes.txt"] == {"path": "notes.txt", "size": len(NOTES),
                                   "sha256": digest["notes.txt"], "in_diff": True, "left_out": None}  # fmt: skip
    assert "name looks like a secret" in listed[".env.local"]["left_out"]
    assert "name looks like a secret" in listed["deploy.pem"]["left_out"]
    assert listed["params.json"]["left_out"] == "line 4 looks like a secret"
    assert listed["big.dat"]["left_out"] == "larger than 1 MiB"
    assert listed["blob.bin"]["left_out"] == "not a UTF-8 text file"
    assert listed["big.dat"]["sha256"] == digest["big.dat"]
    assert listed["blob.bin"]["sha256"] == digest["blob.bin"]
    for name in (".env.local", "deploy.pem", "params.json"):
        assert not listed[name]["in_diff"] and listed[name]["sha256"] is None
    text = paperlink_process("show", "leaky", cwd=leaky).stdout.decode()
    assert "not in diff .env.local (its name looks like a secret (.env.*))" in text
    # The diff holds the safe new file and applies with git to the recorded commit.
    diff = paperlink_process("show", "leaky", "--code-diff", cwd=leaky).stdout
    assert b"notes.txt" in diff and b".env.local" not in diff and b"params.json" not in diff
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(leaky), str(clone)], check=True)
    git(clone, "checkout", "-q", data["code"]["commit"])
    subprocess.run(["git", "-C", str(clone), "apply"], input=diff, check=True)
    assert (clone / "notes.txt").read_text() == NOTES
    assert not (clone / ".env.local").exists()


def test_python_api_redacts_reason_parameters_and_arguments(project_dir: Path) -> None:
    script = project_dir / "api_run.py"
    script.write_text(
        "import os, paperlink\n"
        "@paperlink.capture\n"
        "def fetch(url, password, n=3):\n"
        "    print('using', password)\n"
        f"with paperlink.record(reason='token ' + os.environ['GITHUB_TOKEN'], label='api') as rec:\n"
        f"    rec.set_parameter('service', {{'api_key': {ARGS['key=value']!r}, 'host': 'h'}})\n"
        f"fetch('https://u:{ARGS['URL user-info']}@h.org/', {ARGS['--pass X']!r})\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=project_dir, env=secret_env(), capture_output=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert leaks({"store": store_contents(project_dir)}) == []
    record = Record.from_json(paperlink_process("show", "api", "--json").stdout.decode())
    assert record.reason == "token <redacted>"
    assert record.parameters["service"] == {"api_key": "<redacted>", "host": "h"}


@pytest.fixture
def secret_output(project_dir: Path) -> Path:
    """A recorded run whose output file holds the environment token on line 3."""
    (project_dir / "write_log.py").write_text(
        "import os, pathlib\npathlib.Path('results').mkdir(exist_ok=True)\n"
        "pathlib.Path('results/log.txt').write_text('start\\nworking\\nused ' + "
        "os.environ['SERVICE_TOKEN'] + '\\nend\\n')\n"
    )
    (project_dir / "CITATION.cff").write_text(CITATION)
    git(project_dir, "add", ".")
    git(project_dir, "commit", "-q", "-m", "log writer")
    return project_dir


@pytest.mark.parametrize("how", ["--to", "--dry-run", "zenodo", "site"])
def test_publish_refuses_a_file_holding_a_secret_with_file_and_line(
    secret_output: Path, zenodo: FakeZenodo, tmp_path: Path, how: str
) -> None:
    # The value in the output file is the Zenodo token itself for an upload, another secret otherwise.
    value = zenodo.token if how == "zenodo" else ENV_TOKEN
    env = {**os.environ, "SERVICE_TOKEN": value}
    ran = paperlink_process(
        "run", "--label", "log", "--", sys.executable, "write_log.py", cwd=secret_output, env=env
    )
    assert ran.returncode == 0, ran.stderr.decode()
    target = tmp_path / "archive"
    options = {"--to": ["--to", str(target)], "--dry-run": ["--dry-run"]}.get(how, [])
    env = {**os.environ, "ZENODO_TOKEN": zenodo.token, "PAPERLINK_ZENODO_URL": zenodo.api}
    if how != "zenodo":
        env["SERVICE_TOKEN"] = value
    if how == "site":
        done = paperlink_process("site", str(target), cwd=secret_output, env=env)
        where = "records/log/files/results/log.txt line 3 holds the value of"
    else:
        done = paperlink_process("publish", "--record", "log", *options, cwd=secret_output, env=env)
        where = "log__results__log.txt (results/log.txt) line 3 holds the value of"
    stderr = done.stderr.decode()
    assert done.returncode == 11, stderr
    assert where in stderr
    assert ("the archive token" if how == "zenodo" else "$SERVICE_TOKEN") in stderr
    assert value not in stderr and value not in done.stdout.decode()
    assert "Traceback" not in stderr
    assert not target.exists()
    assert zenodo.log() == [] and zenodo.state() == []


def test_scanner_finds_a_value_across_chunks_and_inside_compressed_files(tmp_path: Path) -> None:
    from paperlink.core.secretscan import CHUNK_SIZE, SecretScanner

    secret = "s3cr3t-value-across-the-boundary"
    scanner = SecretScanner({secret: "$X_TOKEN"})
    big = tmp_path / "big.log"
    head = b"line\n" * 1000
    pad = b"x" * (CHUNK_SIZE - len(head) - 10)
    big.write_bytes(head + pad + secret.encode() + b"\ntail\n")
    found = scanner.scan_file("big.log", big)
    assert [(f.file, f.line, f.what) for f in found] == [("big.log", 1001, "$X_TOKEN")]
    packed = tmp_path / "log.txt.gz"
    packed.write_bytes(gzip.compress(b"a\nb\n" + secret.encode()))
    assert secret.encode() not in packed.read_bytes()
    found = scanner.scan_file("log.txt.gz", packed)
    assert [(f.file, f.line) for f in found] == [("log.txt.gz (uncompressed)", 3)]
    site = tmp_path / "site.zip"
    with zipfile.ZipFile(site, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pages/index.html", "<p>\n" + secret + "</p>")
    found = scanner.scan_file("site.zip", site)
    assert [(f.file, f.line) for f in found] == [("site.zip: pages/index.html", 2)]
    short = SecretScanner({"abc12": "$SHORT_TOKEN", "123456789": "$PIN_PASSWORD"})
    assert short.empty  # too short or only digits: they would match by chance


TEXT_CASES = [
    ("curl -H 'Authorization: Bearer abc.def-123'", "curl -H 'Authorization: Bearer <redacted>'"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <redacted>"),
    ("x-api-key: k3y-v4lue", "x-api-key: <redacted>"),
    ("GET https://h.org/a?token=abc123&page=2", "GET https://h.org/a?token=<redacted>&page=2"),
    ("clone https://me:pa55w0rd@git.example.org/r.git", "clone https://git.example.org/r.git"),
    ('{"password": "hunter2", "n": 3}', '{"password": "<redacted>", "n": 3}'),
    ("db:\n  password: hunter 2 words\n  host: h", "db:\n  password: <redacted>\n  host: h"),
    ("sh -c 'tool --api-key abc123 run'", "sh -c 'tool --api-key <redacted> run'"),
    ("-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----",
     "-----BEGIN EC PRIVATE KEY-----<redacted>-----END EC PRIVATE KEY-----"),
    # Not secrets: these stay as they are.
    ("max_tokens=512 tokenizer=bert author=Curie", "max_tokens=512 tokenizer=bert author=Curie"),
    ("the token expired; see the key points", "the token expired; see the key points"),
    ('"auth": {', '"auth": {'),
    ("PWD=/home/me", "PWD=/home/me"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES)
def test_redaction_rule_on_free_text(text: str, expected: str) -> None:
    from paperlink.core.redaction import Redactor

    assert Redactor().text(text) == expected


def test_redaction_rule_on_arguments_code_and_known_values(tmp_path: Path) -> None:
    from paperlink.core.redaction import Redactor, secret_values

    env = {"GITHUB_TOKEN": ENV_TOKEN, "XDG_SESSION_ID": "4", "DB_PWD": "123456789",
           "SSH_AUTH_SOCK": str(tmp_path), "HOME": "/home/me"}  # fmt: skip
    # Only values long enough, not plain numbers and not paths are hunted for elsewhere.
    assert secret_values(env) == [ENV_TOKEN]
    redactor = Redactor.from_environ(env)
    keyfile = tmp_path / "id.key"
    keyfile.write_text("x")
    argv = ["tool", "-p", "22", "-p", "s3cret-pw", "--key", str(keyfile), "--token", "--verbose",
            f"--url=https://x:{ENV_TOKEN}@h/", f"note={ENV_TOKEN}"]  # fmt: skip
    assert redactor.argv(argv) == [
        "tool", "-p", "22", "-p", "<redacted>", "--key", str(keyfile), "--token", "--verbose",
        "--url=https://h/", "note=<redacted>",
    ]  # fmt: skip
    # A value taken out of the arguments is hunted for in everything recorded after them.
    assert redactor.text("logged in with s3cret-pw") == "logged in with <redacted>"
    code = 'token = os.environ["T"]\nauth = get_auth()\npassword = "hunter2"\n'
    assert redactor.code(code) == code.replace("hunter2", "<redacted>")
    assert redactor.secret_line(code, code=True) == 3
    assert redactor.secret_line('token = os.environ["T"]\n', code=True) is None


def test_a_url_loses_its_user_info_and_nothing_else() -> None:
    from paperlink.core.redaction import redact_url

    assert redact_url("https://me:tok3n@git.example.org:8443/lab/a.git") == (
        "https://git.example.org:8443/lab/a.git"
    )
    assert redact_url("https://@git.example.org/a.git") == "https://git.example.org/a.git"
    assert redact_url("ssh://git@example.org/a") == "ssh://example.org/a"
    # An '@' past the host is not user-info; a malformed port does not keep the password in.
    assert redact_url("https://example.org/users/@me") == "https://example.org/users/@me"
    assert redact_url("https://u:p@example.org:port/x") == "https://example.org:port/x"
    assert redact_url("git@example.org:lab/a.git") == "git@example.org:lab/a.git"
