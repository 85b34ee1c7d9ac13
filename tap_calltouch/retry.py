"""Retry timing: exponential backoff that yields to the server's `Retry-After` when it sends one."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Generator

    import requests


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def exponential_waits(
    *, factor: float = 0.5, cap: float = 60.0
) -> Generator[float, BaseException | None, None]:
    """A `backoff` wait generator: factor * 2**n capped, or the server's `Retry-After` if longer.

    `backoff` sends the exception it caught into the generator, so a 429's header can steer
    the next wait while calls without one keep the exponential schedule.
    """
    exc = yield 0.0  # primed by backoff with an empty send
    attempt = 0
    while True:
        wait = min(cap, factor * 2**attempt)
        server_wait = retry_after_seconds(_retry_after_header(exc))
        if server_wait is not None:
            wait = min(cap, max(wait, server_wait))
        attempt += 1
        exc = yield wait


def _retry_after_header(exc: BaseException | None) -> str | None:
    response: requests.Response | None = getattr(exc, "response", None)
    if response is None:
        return None
    header: Any = response.headers.get("Retry-After")
    return header if isinstance(header, str) else None
