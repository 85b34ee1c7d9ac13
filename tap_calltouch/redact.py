"""Secret redaction: masks the API token, which travels in the query string.

Every text that can hold a URL (log records, exception messages) passes through `redact`.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


MAX_MESSAGE = 500  # characters of an API error text that reach a message


def secret_forms(secret: str) -> set[str]:
    """The secret as it may appear: raw, URL-encoded by requests, or form-encoded.

    Percent-escapes are matched in upper and lower case (`%2F`, `%2f`): servers and proxies
    that echo a URL back do not all keep the client's case.
    """
    if not secret:
        return set()
    encoded = {quote(secret, safe=""), quote_plus(secret), quote(secret)}
    lowered = {_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), form) for form in encoded}
    return {secret, *encoded, *lowered}


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """At most `limit` characters of an already redacted text, marked where it was cut."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def redact(text: str, secrets: set[str] | frozenset[str]) -> str:
    """Replace every form of every secret in `text` with a mask; longest first."""
    for form in sorted(secrets, key=len, reverse=True):
        if form and form in text:
            text = text.replace(form, MASK)
    return text


def redact_registered(text: str) -> str:
    """Redact with the secrets registered in this process."""
    return redact(text, frozenset(_secrets))


def register_secret(secret: str) -> None:
    """Mask `secret` in every log record this process creates from now on.

    A log-record factory sees every record of every logger (the SDK's backoff messages,
    urllib3's debug lines with full URLs, handlers added later by pytest or Meltano), which a
    filter on one handler would not.
    """
    global _installed  # noqa: PLW0603 - one factory per process, installed once
    with _lock:
        _secrets.update(secret_forms(secret))
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
        if any(form in str(exc) for form in _secrets):
            record.exc_info = None
            record.msg = f"{record.msg} ({type(exc).__name__}: {redact_registered(str(exc))})"
            record.args = None
