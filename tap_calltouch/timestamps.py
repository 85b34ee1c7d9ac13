"""The API's times, read as instants and written as RFC 3339 UTC.

The API mixes epoch milliseconds, epoch seconds and local `dd/mm/yyyy hh:mm:ss` texts (one of
them on a 12-hour clock without AM/PM), in the account's zone. These pure functions read each
once, so every stream writes its times alike. No SDK, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tap_calltouch.values import as_int

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_LOCAL_LENGTH = len("dd/mm/yyyy hh:mm:ss")  # dateStr, sessionDate: the account's local time


def epoch_ms_to_rfc3339(value: Any) -> str | None:  # noqa: ANN401 - the API's types drift
    """Epoch milliseconds (int or numeric string) as an RFC 3339 UTC date-time.

    Written from the day's cached text and tables of the time of day's parts: what
    `(epoch + timedelta(milliseconds)).isoformat(timespec="milliseconds")` writes, at a fraction
    of its cost (a record has one to several of these).
    """
    ms = as_int(value)
    if not isinstance(ms, int) or isinstance(ms, bool):
        return None
    days, rest = divmod(ms, 86_400_000)
    day = _day_text(days)
    if day is None:  # before year 1 or beyond year 9999: not a time
        return None
    minute, rest = divmod(rest, 60_000)
    return day + _HOUR_MINUTE[minute] + _SECOND_DOT[rest // 1000] + _MILLIS_Z[rest % 1000]


_HOUR_MINUTE = [f"T{hour:02}:{minute:02}:" for hour in range(24) for minute in range(60)]
_SECOND_DOT = [f"{second:02}." for second in range(60)]
_SECOND_Z = [f"{second:02}Z" for second in range(60)]
_MILLIS_Z = [f"{millis:03}Z" for millis in range(1000)]


@lru_cache(maxsize=4096)
def _day_text(days: int) -> str | None:
    """The date `days` after 1970-01-01 as `yyyy-mm-dd`; None outside years 1..9999."""
    try:
        return dt.date.fromordinal(_ORDINAL_1970 + days).isoformat()
    except (ValueError, OverflowError):
        return None


def local_to_rfc3339(value: Any, tz: ZoneInfo) -> str | None:  # noqa: ANN401
    """A local `dd/mm/yyyy hh:mm:ss` string in the account's zone as an RFC 3339 UTC date-time.

    A wall time the autumn clock change repeats is read as its first pass (fold 0), the one
    rule for every local time that has no instant beside it to tell (see `local_epoch`).
    """
    parts = local_parts(value)
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts
    steady = _steady_offset(tz, year, month, day)
    if steady is not None and 0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60:  # noqa: PLR2004
        ordinal, offset = steady  # the day's one offset: no datetime to build (visits have many)
        wall = (ordinal - _ORDINAL_1970) * 86_400 + hour * 3600 + minute * 60 + second
        return epoch_s_to_rfc3339(wall - offset)
    try:
        local = dt.datetime(*parts, tzinfo=tz)
        return local.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError):  # 31/02, hour 25, or beyond year 9999 in UTC
        return None


def epoch_s_to_rfc3339(seconds: int) -> str | None:
    """Epoch seconds as an RFC 3339 UTC date-time, whole seconds; None beyond year 9999."""
    days, rest = divmod(seconds, 86_400)
    day = _day_text(days)
    if day is None:
        return None
    minute, second = divmod(rest, 60)
    return day + _HOUR_MINUTE[minute] + _SECOND_Z[second]


_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()
_LOOSE_LOCAL = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s*"
)
Parts = tuple[int, int, int, int, int, int]  # year, month, day, hour, minute, second


def local_parts(value: Any) -> Parts | None:  # noqa: ANN401
    """The fields of a local `dd/mm/yyyy hh:mm:ss` text, also with one-digit fields ("9:05:00")."""
    if not isinstance(value, str):
        return None
    if len(value) == _LOCAL_LENGTH and value[2] == "/" and value[13] == ":":
        try:  # sliced by hand: strptime costs more than the rest of a record's shaping
            return (
                int(value[6:10]),
                int(value[3:5]),
                int(value[0:2]),
                int(value[11:13]),
                int(value[14:16]),
                int(value[17:19]),
            )
        except ValueError:
            pass
    match = _LOOSE_LOCAL.fullmatch(value)
    if match is None:
        return None
    day, month, year, hour, minute, second = match.groups()
    return int(year), int(month), int(day), int(hour), int(minute), int(second or 0)


def _instants(parts: Parts, hour: int, tz: ZoneInfo) -> tuple[int, ...]:
    """The epoch seconds a wall time denotes: one, two in a repeated hour, none in a skipped one."""
    year, month, day, _, minute, second = parts
    steady = _steady_offset(tz, year, month, day)
    if steady is not None and 0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60:  # noqa: PLR2004
        ordinal, offset = steady  # a day without a clock change: one offset for every wall time
        return ((ordinal - _ORDINAL_1970) * 86_400 + hour * 3600 + minute * 60 + second - offset,)
    try:
        naive = dt.datetime(year, month, day, hour, minute, second)  # noqa: DTZ001
    except ValueError:
        return ()
    first, again = tz.utcoffset(naive), tz.utcoffset(naive.replace(fold=1))
    if first is None or again is None:
        return ()
    wall = (naive.toordinal() - _ORDINAL_1970) * 86_400 + hour * 3600 + minute * 60 + second
    if first == again:
        return (wall - int(first.total_seconds()),)
    if first > again:  # clocks went back: the wall time happened twice, first pass first
        return (wall - int(first.total_seconds()), wall - int(again.total_seconds()))
    return ()  # clocks went forward: the wall time never happened


@lru_cache(maxsize=4096)
def _steady_offset(tz: ZoneInfo, year: int, month: int, day: int) -> tuple[int, int] | None:
    """The day's ordinal and its one UTC offset (seconds); None if the clocks change that day.

    Cached: visits and sessions fall on a few days, and the offset costs more than the rest.
    """
    try:
        start = dt.datetime(year, month, day)  # noqa: DTZ001 - a wall time in `tz`
        last = start + dt.timedelta(seconds=86_399)
    except (ValueError, OverflowError):
        return None
    offsets = {
        tz.utcoffset(moment.replace(fold=fold)) for moment in (start, last) for fold in (0, 1)
    }
    if len(offsets) != 1 or None in offsets:
        return None
    (offset,) = offsets
    return start.toordinal(), int(offset.total_seconds())  # type: ignore[union-attr]


def local_epoch(value: Any, tz: ZoneInfo) -> int | None:  # noqa: ANN401
    """A 24-hour local text as epoch seconds; a repeated wall time as its first pass (fold 0).

    A wall time the spring change skips is read with the offset before the change (Python's
    fold 0 too), so it lands in the hour after the gap rather than nowhere.
    """
    parts = local_parts(value)
    return None if parts is None else _local_instant(parts, tz)


def _local_instant(parts: Parts, tz: ZoneInfo) -> int | None:
    """`local_epoch` of a text's fields."""
    year, month, day, hour, minute, second = parts
    steady = _steady_offset(tz, year, month, day)
    if steady is not None and 0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60:  # noqa: PLR2004
        ordinal, offset = steady  # the day's one offset: no datetime to build
        return (ordinal - _ORDINAL_1970) * 86_400 + hour * 3600 + minute * 60 + second - offset
    try:
        return int(dt.datetime(*parts, tzinfo=tz).timestamp())
    except (ValueError, OverflowError):  # 31/02, hour 25, or beyond what a datetime holds
        return None


SESSION_HORIZON = 12 * 3600  # a 12-hour text tells AM from PM only within 12 hours


def session_epoch(value: Any, tz: ZoneInfo, call: int | None) -> int | None:  # noqa: ANN401
    """A call's `sessionDate`, printed on a 12-hour clock without AM/PM, as epoch seconds.

    The API prints it like Java's `dd/MM/yyyy hh:mm:ss`: hours 01..12, hour 0 as 12, on the
    session's own local day. The text denotes two instants (three or four when the clocks
    went back that day); the session is the latest of them not after the `call`, provided it
    is less than 12 hours before it: within 12 hours only one reading fits, except on a day
    the clocks change (a session 11 to 12 hours old may fit two; and a session in the first
    pass of the repeated hour, its call after the second pass, fits both passes): the later
    is taken, an hour late in the second case, which the text cannot tell. When none
    does (no reading at or before the call, or all 12 hours or more before it), the answer is
    None rather than a guess; a session that old whose text also fits an instant within the
    12 hours cannot be told from it. An hour 00 or 13..23 is already unambiguous.
    """
    parts = local_parts(value)
    if parts is None or call is None:
        return None
    return _session_instant(parts, tz, call)


def _session_instant(parts: Parts, tz: ZoneInfo, call: int) -> int | None:
    """`session_epoch` of a text's fields."""
    hour = parts[3]
    hours = (hour,) if hour == 0 or hour > 12 else (hour % 12, hour % 12 + 12)  # noqa: PLR2004
    best = None
    for candidate in hours:
        for instant in _instants(parts, candidate, tz):
            if instant <= call and (best is None or instant > best):
                best = instant
    if best is None or call - best >= SESSION_HORIZON:
        return None
    return best


def visit_epoch(value: Any, tz: ZoneInfo, at: int | None) -> int | None:  # noqa: ANN401
    """A `session.sessionDate` of a request (or of a deal) as epoch seconds; `at`: the request.

    The one captured (11:38:22, 57 s before its request at 11:39:19) fits a 24-hour clock and
    the calls journal's 12-hour one alike. An hour 00 or 13..23 only a 24-hour clock prints:
    that one reading is taken, however old the visit. An hour 01..12 is read as the calls'
    `sessionDate` is (`session_epoch`): the latest reading not after `at` within 12 hours.
    """
    parts = local_parts(value)
    if parts is None:
        return None
    hour = parts[3]
    if hour == 0 or hour > 12:  # noqa: PLR2004
        return _local_instant(parts, tz)
    return None if at is None else _session_instant(parts, tz, at)


def epoch_seconds(value: Any) -> int | None:  # noqa: ANN401
    """A `timestamp` as epoch seconds, whether sent as seconds or (drifted) milliseconds."""
    number = as_int(value)
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return None
    seconds = number // 1000 if number >= _MS_FROM else number
    return seconds if seconds <= _LAST_SECOND else None


_MS_FROM = 10**11  # epoch seconds reach 10**11 in the year 5138; milliseconds did in 1973
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last time RFC 3339 can write


def any_time_to_rfc3339(value: Any, tz: ZoneInfo) -> str | None:  # noqa: ANN401
    """A local `dd/mm/yyyy hh:mm:ss` string or epoch milliseconds as RFC 3339 UTC."""
    if isinstance(value, str) and not value.strip().isdigit():
        return local_to_rfc3339(value, tz)
    return epoch_ms_to_rfc3339(value)
