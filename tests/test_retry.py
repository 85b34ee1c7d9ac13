"""Retry timing: exponential waits that honour Retry-After."""

from __future__ import annotations

import datetime as dt

import requests

from tap_calltouch.retry import exponential_waits, retry_after_seconds


def _error_with_retry_after(value: str) -> Exception:
    response = requests.Response()
    response.status_code = 429
    response.headers["Retry-After"] = value
    exc = Exception("429")
    exc.response = response  # type: ignore[attr-defined]
    return exc


def test_retry_after_as_seconds_or_http_date() -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Fri, 27 Nov 2026 12:00:10 GMT", now) == 10.0
    assert retry_after_seconds("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_waits_grow_exponentially_and_are_capped() -> None:
    waits = exponential_waits(factor=0.5, cap=4)
    waits.send(None)
    assert [waits.send(Exception()) for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]


def test_server_retry_after_wins_when_longer() -> None:
    waits = exponential_waits(factor=0.5, cap=60)
    waits.send(None)
    assert waits.send(_error_with_retry_after("7")) == 7
    assert waits.send(Exception()) == 1.0  # back on the exponential schedule
