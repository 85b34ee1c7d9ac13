"""A PostgreSQL connection string read as libpq reads it, and every secret it may carry.

libpq (and so psycopg) takes a URI, `postgresql://user:password@host:port/db?name=value&...`,
each part percent-encoded, or key=value words, `host=db password='a b' dbname=limits`, and any
of its parameters in either form: the password also as `?password=`, the client key's as
`sslpassword`, OAuth's `oauth_client_secret`. `parse` reads both, refusing what other URL
readers would read differently (an `@` or `/` of a password left unencoded); `secrets` finds
every value not known to be public, as written and as read, even in a string `parse` refuses.
Neither ever quotes the text in a message.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import unquote

URI_PREFIXES = ("postgresql://", "postgres://")

# Parameters whose values may be shown. Any other one (password, sslpassword,
# oauth_client_secret, scram_client_key, one misspelt) is taken for a secret.
PUBLIC = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "passfile", "channel_binding",
        "connect_timeout", "client_encoding", "options", "application_name",
        "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
        "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslrootcert",
        "sslcrl", "sslcrldir", "sslsni", "requirepeer", "require_auth", "ssl_min_protocol_version",
        "ssl_max_protocol_version", "min_protocol_version", "max_protocol_version",
        "krbsrvname", "gsslib", "gssdelegation", "service", "servicefile",
        "target_session_attrs", "load_balance_hosts", "oauth_issuer", "oauth_client_id",
        "oauth_scope", "ssl",
    }
)  # fmt: skip

_SPACE = " \t\n\v\f\r"  # C's isspace, which splits libpq's key=value words
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})|%00")
_WORD = re.compile(r"""([^\s=]+)\s*=\s*('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)*)""", re.DOTALL)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_CREDENTIALS = re.compile(r"[^@/]*@")  # up to the first `@`, if no `/` comes before it
_HOST = re.compile(r"[^:/?,]*")
_PORT = re.compile(r"[^/?,]*")


class ConninfoError(ValueError):
    """Why libpq, or another URL reader, would misread the string; the string is not quoted."""


def is_uri(text: str) -> bool:
    """Whether libpq reads `text` as a URI (else as key=value words)."""
    return text.startswith(URI_PREFIXES)


def parse(text: str) -> dict[str, str]:
    """The parameters libpq reads from `text`, decoded; ConninfoError if it reads none well."""
    return _uri(text) if is_uri(text) else _words(text)


def secrets(text: str) -> set[str]:
    """Every value in `text` that may be secret, as written and as read; never raises.

    Read leniently as well as libpq does, so a password in a string that is refused (an `@`
    left in it, a quote never closed) is still found, under each way of splitting it.
    """
    found: set[str] = set()
    with contextlib.suppress(ConninfoError):
        found |= {value for name, value in parse(text).items() if name not in PUBLIC}
    if "://" in text:
        rest = text.split("://", 1)[1]
        if "@" in rest:  # the credentials up to the first `@` (libpq's) and the last (RFC 3986)
            found |= {part.partition(":")[2] for part in rest.split("@")[:-1]}
            found.add(rest.rpartition("@")[0].partition(":")[2])
        for pair in rest.partition("?")[2].split("&"):
            name, _, value = pair.partition("=")
            if unquote(name) not in PUBLIC:
                found.add(value)
    else:
        for name, value in _WORD.findall(text):
            if name not in PUBLIC:
                found |= {value, _ESCAPED.sub(r"\1", value.strip("'"))}
    found |= {unquote(value) for value in found}
    return {value for value in found if value}


def _uri(text: str) -> dict[str, str]:
    """A URI as libpq reads it (conninfo_uri_parse_options), step for step."""
    rest = text.split("://", 1)[1]
    if "#" in rest:
        msg = "a `#` must be written %23 (other readers cut the URL there)"
        raise ConninfoError(msg)
    params: dict[str, str] = {}
    at = _CREDENTIALS.match(rest)
    if at:
        user, colon, password = at.group()[:-1].partition(":")
        if "?" in user + password:
            msg = "a `?` in the user name or password must be written %3F"
            raise ConninfoError(msg)
        _store(params, "user", user)
        if colon:
            _store(params, "password", password)
    begin = at.end() if at else 0
    hosts, ports, end = _hosts(rest, begin)
    _store(params, "host", hosts)
    _store(params, "port", ports)
    head, question, query = rest[end:].partition("?")
    if "@" in rest[begin:end] + head:
        msg = (
            "an `@` or `/` in the user name or password, or an `@` in the database name, "
            "must be written %40 or %2F"
        )
        raise ConninfoError(msg)
    if head.startswith("/"):
        _store(params, "dbname", head[1:])
    if question:
        _query(params, query)
    return params


def _hosts(rest: str, start: int) -> tuple[str, str, int]:
    """The host list and port list as libpq joins them (`h1,h2`, `5432,`), and where they end."""
    hosts: list[str] = []
    ports: list[str] = []
    index = start
    while True:
        if rest.startswith("[", index):
            close = rest.find("]", index)
            if close <= index + 1:
                msg = "an IPv6 host address needs `[address]`"
                raise ConninfoError(msg)
            hosts.append(rest[index + 1 : close])
            index = close + 1
            if index < len(rest) and rest[index] not in ":/?,":
                msg = "an IPv6 host address is followed by neither `:` nor `/`"
                raise ConninfoError(msg)
        else:
            host, index = _span(_HOST, rest, index)
            hosts.append(host)
        port = ""
        if rest.startswith(":", index):
            port, index = _span(_PORT, rest, index + 1)
        ports.append(port)
        if not rest.startswith(",", index):
            return ",".join(hosts), ",".join(ports), index
        index += 1


def _span(pattern: re.Pattern[str], text: str, start: int) -> tuple[str, int]:
    """What `pattern` (which matches the empty text too) takes from `start`, and where it ends."""
    found = pattern.match(text, start)
    return (found.group(), found.end()) if found else ("", start)


def _query(params: dict[str, str], query: str) -> None:
    """`name=value&...` (conninfo_uri_parse_params): each pair needs exactly one `=`."""
    for pair in query.split("&") if query else []:
        if pair.count("=") != 1:
            msg = "each query parameter must be name=value, joined by `&`"
            raise ConninfoError(msg)
        name, _, value = pair.partition("=")
        name, value = _decoded(name), _decoded(value)
        if (name, value) == ("ssl", "true"):
            name, value = "sslmode", "require"
        params[name] = value


def _store(params: dict[str, str], name: str, written: str) -> None:
    """Keep a URI part decoded, as libpq does, unless it is empty."""
    if written:
        params[name] = _decoded(written)


def _decoded(written: str) -> str:
    """A percent-encoded part read; libpq refuses a bad or zero escape, and a space."""
    if _BAD_ESCAPE.search(written):
        msg = "a `%` must start an escape such as %40 (and %00 is not allowed)"
        raise ConninfoError(msg)
    if " " in written:
        msg = "a space must be written %20"
        raise ConninfoError(msg)
    try:
        return unquote(written, errors="strict")
    except UnicodeDecodeError:
        msg = "a percent-encoded part is not UTF-8"
        raise ConninfoError(msg) from None


def _words(text: str) -> dict[str, str]:
    """`name=value` words as libpq reads them (conninfo_parse): quotes and backslashes."""
    params: dict[str, str] = {}
    index, size = 0, len(text)
    while index < size:
        if text[index] in _SPACE:
            index += 1
            continue
        start = index
        while index < size and text[index] != "=" and text[index] not in _SPACE:
            index += 1
        name = text[start:index]
        while index < size and text[index] in _SPACE:
            index += 1
        if index == size or text[index] != "=":
            msg = "not a URI, and not name=value words (each needs an `=`)"
            raise ConninfoError(msg)
        index += 1
        while index < size and text[index] in _SPACE:
            index += 1
        value, index = _word_value(text, index)
        params[name] = value
    return params


def _word_value(text: str, index: int) -> tuple[str, int]:
    """One value: up to a space, or between single quotes; a backslash keeps the next char."""
    quoted = text.startswith("'", index)
    index += quoted
    value: list[str] = []
    while index < len(text):
        char = text[index]
        if char == "\\":
            value.append(text[index + 1 : index + 2])
            index += 2
        elif (char == "'") if quoted else (char in _SPACE):
            return "".join(value), index + 1
        else:
            value.append(char)
            index += 1
    if quoted:
        msg = "a value's single quote is never closed"
        raise ConninfoError(msg)
    return "".join(value), index
