"""The one redaction rule: what a record, a stored stream or a diff may not keep, and what replaces it.

A :class:`Redactor` is built once per run from the environment. It knows the *values* of the
secret-looking environment variables and learns the values it takes out of arguments and parameters, and
replaces each of them wherever it appears; it also takes out what is secret by its form, whatever the
value: the value of a secret-looking option (``--token X``, ``--password=X``, ``-p X``), of a secret-looking
``key=value``, ``key: value`` or ``"key": "value"``, an ``Authorization:`` header's credential, a URL's
user-info (``https://user:pass@host/`` → ``https://host/``), a PEM private key block, and any entry under a
secret-looking key of a nested mapping, at any depth.

Which values are hunted for: a value is looked for in other strings when it has at least
:data:`MIN_HUNTED_LENGTH` characters, is not only digits and does not name an existing file or folder.
Shorter values and plain numbers would be found by chance in unrelated text (a 4-character value appears
in many outputs) and a path is not a secret; such values are still redacted where a name says they are
secret.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from paperlink.core.patterns import LazyPattern

REDACTED = "<redacted>"
MIN_HUNTED_LENGTH = 6

# Matched against a name with every run of non-alphanumerics turned into "_" (so api-key, X-Api-Key,
# auth.pw and apiKey all count). TOKEN(?!S|IZ) spares max_tokens and tokenizer, AUTH(?!ORS?) authors,
# and the working directory's PWD is not a password.
_SECRET_NAME = re.compile(
    r"TOKEN(?!S|IZ)|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|AUTH(?!ORS?(?:_|$))|COOKIE|SIGNATURE"
    r"|API_?KEY|ACCESS_?KEY|(^|_)KEY($|_)|(^|_)PASS($|_)|(^|_)PW($|_)|(^|_)PWD_|_PWD$",
    re.IGNORECASE,
)
_NOT_SECRET_VALUES = {"", "null", "none", "true", "false", "yes", "no", REDACTED}
# HTTP authentication schemes: the scheme word stays readable, the credential after it goes.
_SCHEME = r"(?:(?P<scheme>(?i:bearer|basic|digest|token|bot|negotiate|ntlm))[ \t]+)?"
# An unquoted value: no spaces, quotes or brackets, not a call or an index (``auth=get_auth()``,
# ``token = os.environ["T"]`` are code, not secrets). The lookahead-and-backreference pair is an atomic
# group, which Python 3.10 lacks.
_BARE = r"(?=(?P<bare>[^\s\"'&;,<>(){}\[\]=$][^\s\"'&;,<>(){}\[\]]*))(?P=bare)(?![(\[.\w]|[ \t]+<redacted>)"
_QUOTED = r"(?P<quoted>\"[^\"\n]*\"|'[^'\n]*')"

_PRIVATE_KEY = LazyPattern(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END (?P=kind)PRIVATE KEY-----|\Z)"
)
# Anchored on the literal "://", which the regex engine finds fast; a scheme before it is not needed.
_USERINFO = LazyPattern(r"://(?P<user>[^\s/?#@:\"'<>]*)(?::(?P<password>[^\s/?#@\"'<>]*))?@")
# A secret by its form always has a secret-looking name, and every such name holds one of these words: the
# rules start from where a word is found (one literal search per word on the lowered text, many times
# faster than a case-insensitive pattern tried at every position of megabytes of output).
_KEYWORDS = ("token", "secret", "pass", "credential", "private", "auth", "cookie", "key", "pw")
_NAME_REST = LazyPattern(r"[\w.-]*")
_SEP = r"(?P<sep>[ \t]*(?::(?!//)|=(?!=))[ \t]*)"
# After a name at the start of a line (an HTTP header, a YAML or INI entry): the value is the rest of it.
_LINE_REST = LazyPattern(r"(?P<sep>[ \t]*[:=][ \t]*)" + _SCHEME + r"(?P<rest>\S[^\n]*)")
# After a name anywhere: name=value, name: value, "name": "value" (a URL's query, a log line, a shell line).
_VALUE = LazyPattern(_SEP + _SCHEME + "(?:" + _QUOTED + "|" + _BARE + ")")
# In code only a string literal counts: an unquoted name there is a variable, not a secret.
_LITERAL_VALUE = LazyPattern(_SEP + _SCHEME + _QUOTED)
# After an option in free text: --token VALUE (a shell command line in one argument).
_OPTION_VALUE = LazyPattern(r"\s+(?P<value>[^\s\"'<>-][^\s\"'<>]*)")
_LINE_LEAD = " \t>*-"


@functools.lru_cache(maxsize=4096)
def looks_secret(name: str) -> bool:
    """Whether an environment variable, option, parameter or header name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(re.sub(r"[^A-Za-z0-9]+", "_", name)))


def hunted(value: str) -> bool:
    """Whether ``value`` is looked for in other strings (see the module docstring for the rule)."""
    if len(value) < MIN_HUNTED_LENGTH or value.isdigit() or value.lower() in _NOT_SECRET_VALUES:
        return False
    return not _existing_path(value)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values of the secret-looking variables that are hunted for, longest first."""
    found = {v.strip() for k, v in environ.items() if looks_secret(k)}
    return sorted((v for v in found if hunted(v)), key=lambda v: (-len(v), v))


def secret_names(environ: Mapping[str, str]) -> dict[str, str]:
    """Each hunted value and the variable that holds it (``$NAME``), to say where a value came from."""
    named: dict[str, str] = {}
    for key in sorted(environ):
        value = environ[key].strip()
        if looks_secret(key) and hunted(value):
            named.setdefault(value, f"${key}")
    return named


def redact_url(url: str) -> str:
    """A URL without its user-info (``https://user:token@host/…`` → ``https://host/…``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    # Cut at the last '@' of the network location, as a URL parser does, even where the port is malformed.
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _plain(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


# What opens a nested block rather than giving a value ("auth": {, auth:, password: |).
_OPENERS = {"{", "[", "{}", "[]", "|", ">", "|-", ">-"}


def _worth_hiding(value: str) -> bool:
    plain = _plain(value).strip().rstrip(",").strip()
    return plain.lower() not in _NOT_SECRET_VALUES and plain not in _OPENERS


def _existing_path(value: str) -> bool:
    try:
        return Path(value).exists()
    except (OSError, ValueError):
        return False


class Redactor:
    """Applies the redaction rule; built once per run, it learns the secret values it takes out.

    ``values`` are literal secrets to replace wherever they appear (``from_environ`` collects those of the
    secret-looking variables). Methods: :meth:`argv`, :meth:`url`, :meth:`value` (a parameter, nested at
    any depth), :meth:`text` (free text: a reason, a tag, a stream), :meth:`data` (bytes),
    :meth:`literal_data` (only the known values: for diffs, whose form must survive ``git apply``) and
    :meth:`secret_line` (where a file's content holds a secret).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self._learning = True
        for value in values:
            self.learn(value)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        return cls([*secret_values(environ), *extra])

    @property
    def values(self) -> list[str]:
        """The hunted values, longest first (so a value containing another is replaced whole)."""
        return list(self._values)

    def learn(self, value: Any) -> None:
        """Hunt for ``value`` (and each string inside a list or mapping) from now on, if the rule allows."""
        if isinstance(value, Mapping):
            for item in value.values():
                self.learn(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.learn(item)
        elif isinstance(value, str) and self._learning:
            value = _plain(value.strip())
            if hunted(value) and value not in self._values:
                self._values.append(value)
                self._values.sort(key=lambda v: (-len(v), v))

    # -- free text ------------------------------------------------------------------------------------
    def literal(self, text: str) -> str:
        """``text`` with every known secret value replaced."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def text(self, text: str) -> str:
        """``text`` with known values and everything secret by its form taken out."""
        if not text:
            return text
        # The forms first: a known value replaced first could hide the name that marks a form.
        text = self._keys_and_userinfo(text)
        text = self._named_forms(text)
        return self.literal(text)

    def code(self, text: str) -> str:
        """The rule for program source: as :meth:`text`, but only string literals count as values."""
        text = self._keys_and_userinfo(text)
        text = self._named_forms(text, code=True)
        return self.literal(text)

    def _keys_and_userinfo(self, text: str) -> str:
        # Each pattern starts with a literal, looked for first: most text holds neither.
        if "PRIVATE KEY-----" in text:
            text = _PRIVATE_KEY.re.sub(self._private_key, text)
        if "://" in text:
            text = _USERINFO.re.sub(self._userinfo, text)
        return text

    def _named_forms(self, text: str, *, code: bool = False) -> str:
        """Values taken out where a secret-looking name gives them (see the module docstring)."""
        low = text.lower()
        if len(low) != len(text):  # a character whose lower case is longer: keep positions aligned
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        starts: set[int] = set()
        for word in _KEYWORDS:
            at = low.find(word)
            while at >= 0:
                starts.add(at)
                at = low.find(word, at + len(word))
        hits = sorted(starts)
        pieces: list[str] = []
        done = 0
        for at in hits:
            if at < done:
                continue
            found = self._value_at(text, at, code=code)
            if found is not None:
                start, end, value = found
                pieces += [text[done:start], value]
                done = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _value_at(self, text: str, at: int, *, code: bool) -> tuple[int, int, str] | None:
        """(start, end, replacement) of the secret value named by the word at ``at``, if there is one."""
        start = at
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            start -= 1
        end = _NAME_REST.re.match(text, at).end()  # type: ignore[union-attr]
        dashes = len(text[start:end]) - len(text[start:end].lstrip("-"))
        first = start + dashes
        if first >= end or not (text[first].isalpha() or text[first] == "_"):
            return None
        name = text[first:end]
        if not looks_secret(name):
            return None
        quote = text[first - 1] if not dashes and first > 0 and text[first - 1] in "\"'" else ""
        if quote and text[end : end + 1] != quote:
            quote = ""
        lead = first - len(quote)
        after = end + len(quote)
        if not code and not dashes:
            line = text.rfind("\n", 0, lead) + 1
            if not text[line:lead].strip(_LINE_LEAD):
                entry = _LINE_REST.re.match(text, after)
                if entry is not None:
                    rest = entry["rest"]
                    if not _worth_hiding(rest) or rest.startswith(REDACTED):
                        return None
                    return self._replacement(entry, "rest")
        match = (_LITERAL_VALUE if code else _VALUE).re.match(text, after)
        if match is not None:
            group = "quoted" if match["quoted"] is not None else "bare"
            return self._replacement(match, group) if _worth_hiding(match[group]) else None
        if dashes >= 2 and not code:
            option = _OPTION_VALUE.re.match(text, end)
            value = option["value"] if option is not None else REDACTED
            if option is not None and value != REDACTED and not _existing_path(value):
                return self._replacement(option, "value")
        return None

    def _replacement(self, match: re.Match[str], group: str) -> tuple[int, int, str]:
        value = match[group]
        self.learn(value)
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
        return (
            match.start(group),
            match.end(group),
            (f"{value[0]}{REDACTED}{value[0]}" if quoted else REDACTED),
        )

    def data(self, data: bytes) -> bytes:
        """:meth:`text` on bytes; bytes that are not UTF-8 pass through unchanged."""
        if not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        return self.text(text).encode("utf-8", "surrogateescape")

    def literal_data(self, data: bytes) -> bytes:
        """Known secret values replaced in bytes, nothing else changed."""
        for value in self._values:
            needle = value.encode("utf-8", "surrogateescape")
            if needle in data:
                data = data.replace(needle, REDACTED.encode())
        return data

    def secret_line(self, text: str, *, code: bool = False) -> int | None:
        """The first line (1-based) of ``text`` that holds a secret, or None."""
        rule = self.code if code else self.text
        # Only looking: what a heuristic flags in a file is not learnt as a value to hunt elsewhere.
        self._learning, learning = False, self._learning
        try:
            if rule(text) == text:
                return None
            for number, line in enumerate(text.splitlines(), 1):
                if rule(line) != line or "PRIVATE KEY-----" in line:
                    return number
            return 1
        finally:
            self._learning = learning

    def _userinfo(self, match: re.Match[str]) -> str:
        # A token is often the user part (https://TOKEN@github.com/…); a short user is only a name.
        user = match["user"]
        self.learn(match["password"] or (user if len(user) >= 20 else ""))
        return "://"

    def _private_key(self, match: re.Match[str]) -> str:
        kind = match["kind"]
        return f"-----BEGIN {kind}PRIVATE KEY-----{REDACTED}-----END {kind}PRIVATE KEY-----"

    # -- structured values ----------------------------------------------------------------------------
    def url(self, url: str) -> str:
        """A URL without user-info, secret query values or known secrets."""
        return self.text(redact_url(url))

    def argv(self, argv: Iterable[str]) -> list[str]:
        """``argv`` with the values of secret-looking options and ``key=value`` arguments, credentials in
        URLs and headers, and known secret values replaced by ``<redacted>``.

        ``--token X`` and ``--token=X`` count for any option whose name looks secret, and ``-p X`` (mysql's
        and sshpass's password) unless X is a number; in both, a value that names an existing file or
        folder is kept (a key *file* is not the key) and so is one that starts with ``-`` (the next option).
        """
        out: list[str] = []
        items = list(argv)
        hide_next = False
        for index, arg in enumerate(items):
            if hide_next:
                hide_next = False
                self.learn(arg)
                out.append(REDACTED)
                continue
            if arg.startswith("-") and len(arg) > 1 and arg != "--":
                name, eq, value = arg.partition("=")
                following = items[index + 1] if index + 1 < len(items) else ""
                if name.startswith("--") and looks_secret(name):
                    if eq:
                        if _existing_path(value):
                            out.append(self.text(arg))
                        else:
                            self.learn(value)
                            out.append(f"{name}={REDACTED}")
                        continue
                    hide_next = _option_value(following)
                elif arg == "-p":
                    hide_next = _option_value(following) and not following.isdigit()
                out.append(self.text(arg))
                continue
            key, eq, value = arg.partition("=")
            named = eq and re.fullmatch(r"[A-Za-z_][\w.-]*", key) and looks_secret(key)
            if named and _worth_hiding(value):
                self.learn(value)
                out.append(f"{key}={REDACTED}")
                continue
            out.append(self.text(arg))
        return out

    def value(self, name: str, value: Any) -> Any:
        """A parameter's value: ``<redacted>`` when any part of its (dotted) name looks secret, else the
        value with the rule applied inside it, to any depth (``servers[0].password``)."""
        if any(looks_secret(part) for part in re.split(r"[.\[\]]+", name) if part):
            self.learn(value)
            return REDACTED
        return self._nested(value)

    def _nested(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.url(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._nested(item) for item in value]
        return value

    def mapping(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Every entry of ``data`` through :meth:`value`."""
        return {key: self.value(key, item) for key, item in data.items()}

    def stream_parts(self, parts: Mapping[str, bytes], *, truncated: bool) -> dict[str, bytes]:
        """A kept stream's head and tail, redacted. Where the stream was cut, a secret may have been cut
        in two: the start of one at the end of the head, or the end of one at the start of the tail."""
        head, tail = parts.get("head", b""), parts.get("tail")
        if tail is None:
            return {"head": self.data(head)}
        if not truncated:  # head and tail are contiguous: one text, so nothing is cut
            return {"head": self.data(head + tail)}
        return {"head": self._cut_end(self.data(head)), "tail": self._cut_start(self.data(tail))}

    def _partials(self) -> list[bytes]:
        return [v.encode("utf-8", "surrogateescape") for v in self._values]

    def _cut_end(self, data: bytes) -> bytes:
        for needle in self._partials():
            for size in range(len(needle) - 1, MIN_HUNTED_LENGTH // 2 - 1, -1):
                if data.endswith(needle[:size]):
                    return data[:-size] + REDACTED.encode()
        return data

    def _cut_start(self, data: bytes) -> bytes:
        for needle in self._partials():
            for size in range(len(needle) - 1, MIN_HUNTED_LENGTH // 2 - 1, -1):
                if data.startswith(needle[-size:]):
                    return REDACTED.encode() + data[size:]
        return data


def _option_value(arg: str) -> bool:
    """Whether the argument after a secret-looking option is its value (not the next option, not a file)."""
    return bool(arg) and not (arg.startswith("-") and len(arg) > 1) and not _existing_path(arg)
