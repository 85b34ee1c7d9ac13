"""Reading a stream's saved state: the bookmark and where an unfinished pass resumes.

State comes from outside (Meltano's system database, a `--state` file someone edited, another
tap's output), so it is read tolerantly where the meaning is clear and rejected with a message
that says what to do where it is not. Pure functions: no SDK, no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tap_calltouch.windows import trusted_days

RESUME_KEY = "resume_from"  # the first local day an unfinished pass has not fetched yet
COMPLETE_KEY = "complete_through"  # the last local day a complete pass read whole
_MS_THRESHOLD = 10**11  # epoch values above this are milliseconds (year 5138 in seconds)


class StateError(ValueError):
    """Saved state that cannot be read; the message names the stream and what to do."""


def read_bookmark(
    state: dict[str, Any], *, stream: str, replication_key: str
) -> dt.datetime | None:
    """The saved bookmark as an aware UTC instant, or None when there is none.

    Accepted: RFC 3339 / ISO 8601 text (naive means UTC), and epoch seconds or milliseconds as
    a number or numeric text. A state without `replication_key` but with a value is taken as
    ours; one naming another key, or a value that is not a time, is refused rather than
    silently re-syncing from `start_date`.
    """
    value = state.get("replication_key_value")
    if value is None or value == "":
        return None
    saved_key = state.get("replication_key")
    if saved_key not in (None, replication_key):
        msg = (
            f"State for stream '{stream}' is bookmarked on {saved_key!r}, not on "
            f"{replication_key!r}: it is not this tap's state. Remove it (`meltano state clear "
            "...`) or fix the `--state` file."
        )
        raise StateError(msg)
    instant = _as_instant(value)
    if instant is None:
        msg = (
            f"State for stream '{stream}' has replication_key_value {value!r}, which is "
            "neither an ISO 8601 date-time nor epoch seconds/milliseconds. Fix it or remove it "
            "(`meltano state clear ...`)."
        )
        raise StateError(msg)
    return instant


def read_resume_day(state: dict[str, Any], *, stream: str) -> dt.date | None:
    """The first day an unfinished pass (stopped by `max_api_calls`) still has to fetch."""
    return _read_day(state, stream=stream, key=RESUME_KEY)


def read_complete_through(state: dict[str, Any], *, stream: str) -> dt.date | None:
    """The last day a complete pass read whole; None in state written before the key existed."""
    return _read_day(state, stream=stream, key=COMPLETE_KEY)


def drop_untrusted_days(saved: dict[str, Any], *, today: dt.date) -> list[str]:
    """Remove from one stream's (or site's) saved state the days a run may not rely on.

    A `resume_from` after `today` or a `complete_through` from `today` on (`trusted_days`):
    the run then plans as if they were absent, and the STATE it writes leaves them out,
    so they cannot take effect once their day has come. Returns `key value` of each removed;
    a value that is no date is left for the stream to report.
    """
    resume, complete = (_day_or_none(saved, key) for key in (RESUME_KEY, COMPLETE_KEY))
    kept = trusted_days(resume, complete, today)
    dropped = [
        key
        for key, day, trusted in zip(
            (RESUME_KEY, COMPLETE_KEY), (resume, complete), kept, strict=True
        )
        if day is not None and trusted is None
    ]
    return [f"{key} {saved.pop(key)}" for key in dropped]


def _day_or_none(saved: dict[str, Any], key: str) -> dt.date | None:
    try:
        return _read_day(saved, stream="", key=key)
    except StateError:
        return None


def _read_day(state: dict[str, Any], *, stream: str, key: str) -> dt.date | None:
    value = state.get(key)
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        msg = (
            f"State for stream '{stream}' has {key} {value!r}, which is not an ISO "
            "date (YYYY-MM-DD). Fix it or remove the key."
        )
        raise StateError(msg) from None


def _as_instant(value: Any) -> dt.datetime | None:  # noqa: ANN401 - state is anyone's JSON
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()
    ):
        number = float(value)
        seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)
