"""Secret redaction: masks the API token, which travels in the query string, and passwords.

Every text that can hold a URL (log records, exception messages) passes through `redact`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 6  # no Calltouch token is shorter; masking "t" would garble every message
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_NON_ASCII_ESCAPES = re.compile(r"(?:%[89A-F][0-9A-F])+")  # UTF-8 bytes of non-ASCII letters
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()  # _secrets, longest first, as `redact` applies them
_installed = False


MAX_MESSAGE = 500  # characters of an API error text that reach a message


def secret_forms(secret: str) -> set[str]:
    r"""The secret as it may appear: raw, URL-encoded, form-encoded, and each JSON-escaped.

    Percent-escapes are matched in upper and lower case (`%2F`, `%2f`): servers and proxies
    that echo a URL back do not all keep the client's case, and some (werkzeug's `request.url`)
    decode its non-ASCII letters, keeping `%2B` and the like. An API error body is JSON, and
    PHP's `json_encode` writes `/` as `\/` and non-ASCII as `\uXXXX` (each can be turned off,
    so every mix is a form), which hides the plain text from a search.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    encoded = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    encoded |= {_NON_ASCII_ESCAPES.sub(lambda m: unquote(m.group()), form) for form in encoded}
    cased = encoded | {_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), f) for f in encoded}
    return {escaped for form in cased for escaped in _json_forms(form)} | _misread_forms(secret)


def _misread_forms(secret: str) -> set[str]:
    """Non-ASCII letters as a page shows them: its UTF-8 read in the wrong charset, or as `&#...;`.

    requests reads a `text/*` body without a charset (a gateway's HTML page echoing the URL)
    as ISO-8859-1, so `ключ` arrives as `ÐºÐ»ÑÑ`; HTML writes letters as character references.
    """
    if secret.isascii():
        return set()
    utf8 = secret.encode()
    return {
        utf8.decode("latin-1"),
        utf8.decode("cp1252", errors="replace"),
        secret.encode("ascii", errors="xmlcharrefreplace").decode(),
        "".join(char if char.isascii() else f"&#x{ord(char):x};" for char in secret),
    }


def _json_forms(text: str) -> set[str]:
    r"""`text` inside a JSON string: as is, escaped, `/` as `\/`, `\u` hex in either case."""
    escaped = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    escaped |= {form.replace("/", "\\/") for form in escaped}
    return escaped | {_UNICODE_ESCAPE.sub(_upper_hex, form) for form in escaped}


def _upper_hex(escape: re.Match[str]) -> str:
    return "\\u" + escape.group()[2:].upper()


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """At most `limit` characters of an already redacted text, marked where it was cut."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every form of every secret in `text` with a mask; longest first."""
    return _redact_ordered(text, sorted(secrets, key=len, reverse=True))


def _redact_ordered(text: str, forms: Iterable[str]) -> str:
    for form in forms:
        if form and form in text:
            text = text.replace(form, MASK)
    return text


def redact_registered(text: str) -> str:
    """Redact with the secrets registered in this process."""
    return _redact_ordered(text, _ordered)


def register_secret(secret: str) -> None:
    """Mask `secret` in every log record this process creates from now on.

    A log-record factory sees every record of every logger (the SDK's backoff messages,
    urllib3's debug lines with full URLs, handlers added later by pytest or Meltano), which a
    filter on one handler would not.
    """
    global _installed, _ordered  # noqa: PLW0603 - one registry and factory per process
    with _lock:
        _secrets.update(secret_forms(secret))
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:  # noqa: ANN401
            record = previous(*args, **kwargs)
            if _secrets:
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _redact_record(record: logging.LogRecord) -> None:
    message = record.getMessage()
    clean = redact_registered(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        if any(form in str(exc) for form in _ordered):  # a snapshot: another thread may add
            record.exc_info = None
            record.msg = f"{record.msg} ({type(exc).__name__}: {redact_registered(str(exc))})"
            record.args = None


_SECRET_KEYS = ("tok", "clientapiid", "secret", "password")  # "tok": typos too
_TOKEN_IN_URL = re.compile(r"clientApiId=([^&#\s\"'<>]+)", re.IGNORECASE)
_PASSWORD_IN_URL = re.compile(r"://[^:/@\s]*:([^@\s]+)@")  # up to the last `@`, `/` and all
# libpq's other places for one: `?password=`, `&sslpassword=`, `password='...'` words.
_PASSWORD_PARAMETER = re.compile(r"(?:password|secret)\w*\s*=\s*('[^']*|[^&\s#']+)", re.IGNORECASE)


def config_secrets(config: object) -> set[str]:
    """Every token-like value in a raw config, whatever its type or depth.

    The value of any key naming a token (`api_token`, a `sites` entry's, a typo such as
    `api_tokn`), whether a string, a number or a list of them, and any `clientApiId` or
    password in a URL or connection string (an `api_url` pasted from the vendor's examples, a
    store's URL under a misspelt key). Read before the config is validated: a schema error
    quotes the value it refuses.
    """
    found: set[str] = set()
    _collect(config, secret=False, found=found)
    return {value for value in found if len(value) >= MIN_SECRET_LENGTH}


def _collect(value: object, *, secret: bool, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            named = any(word in str(key).lower() for word in _SECRET_KEYS)
            _collect(item, secret=secret or named, found=found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, secret=secret, found=found)
    elif isinstance(value, str):
        if secret:
            found.add(value)
        found.update(_url_secrets(value))
    elif secret and isinstance(value, int | float) and not isinstance(value, bool):
        found.update({str(value), json.dumps(value)})


def _url_secrets(text: str) -> set[str]:
    """The token and password a URL-like text carries, as written and decoded."""
    written = set(_TOKEN_IN_URL.findall(text)) | set(_PASSWORD_IN_URL.findall(text))
    written |= {value.lstrip("'") for value in _PASSWORD_PARAMETER.findall(text)}
    return written | {unquote(value) for value in written} | {unquote_plus(v) for v in written}
