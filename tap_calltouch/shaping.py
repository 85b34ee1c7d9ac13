"""Record shaping: turn the API's request objects into warehouse-friendly rows.

The API mixes epoch milliseconds with local `dd/mm/yyyy hh:mm:ss` strings, sends ids and sums
as integers or strings, and packs several tags into one comma-joined name. These pure functions
settle each of those once, so every stream emits the same types. No SDK, no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

Record = dict[str, Any]

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
    if parts is None:
        return None
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
        return local_epoch(value, tz)
    return session_epoch(value, tz, at)


def epoch_seconds(value: Any) -> int | None:  # noqa: ANN401
    """A `timestamp` as epoch seconds, whether sent as seconds or (drifted) milliseconds."""
    number = as_int(value)
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return None
    seconds = number // 1000 if number >= _MS_FROM else number
    return seconds if seconds <= _LAST_SECOND else None


_MS_FROM = 10**11  # epoch seconds reach 10**11 in the year 5138; milliseconds did in 1973
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last time RFC 3339 can write


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(_INT64_MAX))


def as_int(value: Any) -> Any:  # noqa: ANN401
    """An id as an integer when it is one, whether the API sent 145507 or "145507".

    Only within the signed 64-bit range, which every loader can store: an id beyond it stays
    (or becomes) its exact decimal text.
    """
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        # ASCII only: str.isdigit() also takes "²", which int() refuses; the length check keeps
        # int() from reading (or refusing) thousands of digits.
        if digits.isdigit() and digits.isascii() and len(digits) <= _INT64_DIGITS:
            number = int(text)
            if _INT64_MIN <= number <= _INT64_MAX:
                return number
    return value


def as_decimal_text(value: Any) -> str | None:  # noqa: ANN401
    """A money amount as exact decimal text ("2800.0000"), whether it came as string or number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    return str(value)


def as_text(value: Any) -> str | None:  # noqa: ANN401
    """An opaque visitor id (cookie value) as text, whether it came as number or string."""
    if isinstance(value, str):
        return value
    return None if value is None or isinstance(value, bool) else str(value)


def as_value_text(value: Any) -> str | None:  # noqa: ANN401
    """A value as text: a string as sent, anything else as its compact JSON text."""
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson refuses
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_values(value: Any) -> list[Any] | None:  # noqa: ANN401
    """A list of values of no fixed type without its nulls; a lone value as a list of one."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [item for item in items if item is not None]


def split_tag_names(names: Any) -> list[str]:  # noqa: ANN401
    """Individual tags from `RequestTags[].names`, where one entry may hold "a,b"."""
    if not isinstance(names, list):
        names = [names] if isinstance(names, str) else []
    return [tag for name in names if isinstance(name, str) for tag in _split(name)]


def _split(joined: str) -> list[str]:
    return [part.strip() for part in joined.split(",") if part.strip()]


_ID_FIELDS = ("requestId", "siteId")
_SESSION_ID_FIELDS = ("sessionId",)
_VISITOR_ID_FIELDS = ("ctClientId", "ctGlobalId")  # cookie values: long numbers or strings
_ORDER_ID_FIELDS = ("orderId", "callId")
_ORDER_SUM_FIELDS = ("sum", "realSum", "orderSum")


def _shape_session(session: Any, tz: ZoneInfo, at: int | None) -> Any:  # noqa: ANN401
    """The attributed visit; `at`: the request's (or call's) epoch seconds."""
    if isinstance(session, dict):
        _ints(session, _SESSION_ID_FIELDS)
        _shape_visitor_ids(session)
        _shape_open_values(session, _TAG_LISTS)
        if "sessionDate" in session:
            text = session["sessionDate"]
            session["sessionDateStr"] = text if isinstance(text, str) else None
            seconds = visit_epoch(text, tz, at) if isinstance(text, str) else None
            session["sessionDate"] = None if seconds is None else epoch_s_to_rfc3339(seconds)
    return session


_TAG_LISTS = ("additionalTags",)
_ORDER_OPEN = ("offered", "isMarked")


def _shape_open_values(block: Record, lists: tuple[str, ...], values: tuple[str, ...] = ()) -> None:
    """Fields of no fixed type: lists without nulls, and a list where one value goes as text."""
    for key in lists:
        value = block.get(key)
        if value or (value is not None and not isinstance(value, list)):  # most are [] or null
            block[key] = as_values(value)
    for key in values:
        value = block.get(key)
        if isinstance(value, list):
            block[key] = as_value_text(value)


def _shape_custom_fields(record: Record) -> None:
    for field in _list(record.get("customFields")):
        value = field.get("value")
        if isinstance(value, list):
            field["value"] = as_value_text(value)


def _epoch_of(when: str | None) -> int | None:
    """Epoch seconds of an RFC 3339 UTC text the shaping wrote."""
    if when is None:
        return None
    return int(dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())


def _shape_visitor_ids(block: Record) -> None:
    _texts(block, _VISITOR_ID_FIELDS)


def _shape_order(order: Any, tz: ZoneInfo, at: int | None) -> Any:  # noqa: ANN401
    if not isinstance(order, dict):
        return order
    _ints(order, _ORDER_ID_FIELDS)
    for key in _ORDER_SUM_FIELDS:
        if key in order:
            order[key] = as_decimal_text(order[key])
    if "dateCreated" in order:
        order["dateCreated"] = epoch_ms_to_rfc3339(order["dateCreated"])
    _shape_open_values(order, (), _ORDER_OPEN)
    _shape_session(order.get("session"), tz, at)
    return order


def shape_request(record: Record, tz: ZoneInfo) -> Record:
    """Normalise one request object in place: times to RFC 3339 UTC, ids to int, sums to text."""
    _ints(record, _ID_FIELDS)
    _shape_visitor_ids(record)
    number = record.get("requestNumber")
    if number is not None and not isinstance(number, str):
        record["requestNumber"] = str(number)
    record["date"] = request_date(record, tz)

    at = _epoch_of(record["date"])  # the sessions' times are read against it

    _shape_session(record.get("session"), tz, at)
    client = record.get("client")
    if isinstance(client, dict) and "clientId" in client:
        client["clientId"] = as_int(client["clientId"])
    for order in _list(record.get("orders")):
        _shape_order(order, tz, at)
    _shape_order(record.get("order"), tz, at)
    for comment in _list(record.get("comments")):
        _ints(comment, ("commentId", "requestId", "partyId"))
    _shape_visits(record, tz)
    _shape_ad_ids(record)
    _shape_custom_fields(record)
    return record


def request_date(record: Record, tz: ZoneInfo) -> str | None:
    """A request's creation time: `date` (epoch ms), else `dateStr` read in the account's zone.

    None when neither holds a time: the journal then reports the record instead of sending it.
    """
    date = record.get("date")
    if isinstance(date, str) and not date.strip().isdigit():
        shaped = _local_as_ms_rfc3339(date, tz)
    else:
        shaped = epoch_ms_to_rfc3339(date)
    return shaped or _local_as_ms_rfc3339(record.get("dateStr"), tz)


def _local_as_ms_rfc3339(value: Any, tz: ZoneInfo) -> str | None:  # noqa: ANN401
    """A local time written like an epoch-ms one ("...:19.000Z"), so a stream's values sort."""
    seconds = local_epoch(value, tz)
    return None if seconds is None else epoch_ms_to_rfc3339(seconds * 1000)


def _shape_visits(record: Record, tz: ZoneInfo) -> None:
    """Visit times read on a 24-hour clock, the text kept beside them as sent.

    The requests journal's visits show 24-hour times; whether the calls journal prints its
    visits with the 12-hour clock of its `sessionDate` is not known (none was captured
    filled), and most visits are days before the call, where a 12-hour text could not be
    placed at all. `sessionDateStr` keeps the text, so a warehouse can read it again.
    """
    for visit in _list(record.get("mapVisits")):
        _ints(visit, _SESSION_ID_FIELDS)
        _shape_visitor_ids(visit)
        _shape_open_values(visit, _TAG_LISTS)
        text = visit.get("sessionDate")
        visit["sessionDateStr"] = text if isinstance(text, str) else None
        visit["sessionDate"] = local_to_rfc3339(text, tz)


_AD_BLOCKS = ("yandexDirect", "googleAdWords")


def _shape_ad_ids(record: Record) -> None:
    """Campaign, ad group, ad and criterion ids as integers, whether sent as numbers or text."""
    for block_key in _AD_BLOCKS:
        block = record.get(block_key)
        if isinstance(block, dict):
            _ints(block, tuple(block))


def _list(value: Any) -> list[Record]:  # noqa: ANN401
    """The dict elements of an API array that may be absent, null or hold junk."""
    if not value or not isinstance(value, list):  # absent, null or empty, as most are
        return []
    return [item for item in value if isinstance(item, dict)]


# Child rows: each child stream declares which list of its parent it reads and under which key
# the parent's id goes; the functions below cut its rows from an already shaped parent.


@dataclass(frozen=True)
class ChildRows:
    """Rows from the parent's list `field`, each with the parent's id and its `siteId`.

    An item whose `key` (its own id) is not an integer is no row: its primary key would be
    null, which upserting loaders refuse; `split` counts it. With `unique`, the first item of
    each `key` wins (a visit listed twice).
    """

    field: str
    parent_key: str
    key: str
    unique: bool = False

    def __call__(self, parent: Record) -> list[Record]:
        """The rows of `parent`."""
        return self.split(parent)[0]

    def split(self, parent: Record) -> tuple[list[Record], int]:
        """The rows of `parent`, and how many of its items were left out for want of an id."""
        items = _list(parent.get(self.field))
        if not items:  # most parents have none of a kind
            return [], 0
        keys = {self.parent_key: parent.get(self.parent_key), "siteId": parent.get("siteId")}
        key = self.key
        kept = [item for item in items if type(item.get(key)) is int]  # an id: no bool, no text
        left_out = len(items) - len(kept)
        if self.unique:
            firsts: dict[int, Record] = {}
            for item in kept:
                firsts.setdefault(item[key], item)
            kept = list(firsts.values())
        return [{**item, **keys} for item in kept], left_out


@dataclass(frozen=True)
class TagRows:
    """One row per tag after splitting comma-joined names; the first mention of a name wins."""

    field: str
    parent_key: str
    key: ClassVar[str] = "name"

    def __call__(self, parent: Record) -> list[Record]:
        """The rows of `parent`."""
        entries = _list(parent.get(self.field))
        if not entries:  # most parents have no tags
            return []
        parent_key, parent_id, site_id = (
            self.parent_key,
            parent.get(self.parent_key),
            parent.get("siteId"),
        )
        unique: dict[str, Record] = {}
        for entry in entries:
            for name in split_tag_names(entry.get("names")):
                if name not in unique:
                    unique[name] = {
                        parent_key: parent_id,
                        "siteId": site_id,
                        "name": name,
                        "type": entry.get("type"),
                        "category": entry.get("category"),
                    }
        return list(unique.values())

    def split(self, parent: Record) -> tuple[list[Record], int]:
        """The rows of `parent`; a tag always has its key, its name."""
        return self(parent), 0


order_rows = ChildRows("orders", "requestId", "orderId")
comment_rows = ChildRows("comments", "requestId", "commentId")
map_visit_rows = ChildRows("mapVisits", "requestId", "sessionId", unique=True)
request_tag_rows = TagRows("RequestTags", "requestId")


# Calls: local times, drifting ids, flags sent as booleans or as "True"/"false" strings.

_CALL_INT_FIELDS = ("callId", "duration", "waitingConnect", "sessionId", "siteId", "timestamp")
_CALL_TEXT_FIELDS = (
    "callerNumber",  # "Anonymous" and "undefined" stay as they are
    "phoneNumber",
    "redirectNumber",
    "ctCallerId",
    "ctClientId",
    "ctGlobalId",
    "clientId",
    "yaClientId",
    "callReferenceId",
    "callClientUniqueId",
)
_CALL_FLAGS = ("successful", "uniqueCall", "targetCall", "uniqTargetCall", "callbackCall")
_CALL_ORDER_TIMES = ("orderDate", "createdDate", "completedDate")
_CALL_ORDER_AMOUNTS = ("plannedAmount", "completedAmount")
_CALL_OPEN_LISTS = ("additionalTags", "phrases", "phonesInText")
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def as_bool(value: Any) -> bool | None:  # noqa: ANN401
    """A flag as a boolean, whether it came as true, "True", "false" or 0/1; else None."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return bool(value) if value in {0, 1} else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    return None


def any_time_to_rfc3339(value: Any, tz: ZoneInfo) -> str | None:  # noqa: ANN401
    """A local `dd/mm/yyyy hh:mm:ss` string or epoch milliseconds as RFC 3339 UTC."""
    if isinstance(value, str) and not value.strip().isdigit():
        return local_to_rfc3339(value, tz)
    return epoch_ms_to_rfc3339(value)


def shape_call(record: Record, tz: ZoneInfo) -> Record:
    """Normalise one call in place: one JSON type per field, times as RFC 3339 UTC."""
    _ints(record, _CALL_INT_FIELDS)
    _texts(record, _CALL_TEXT_FIELDS)
    _flags(record, _CALL_FLAGS)
    call = call_epoch(record, tz)
    record["date"] = None if call is None else epoch_s_to_rfc3339(call)
    text = record.get("sessionDate")
    record["sessionDateStr"] = text if isinstance(text, str) else None
    session = session_epoch(text, tz, call)
    record["sessionDate"] = None if session is None else epoch_s_to_rfc3339(session)
    for comment in _list(record.get("comments")):
        _ints(comment, ("commentId", "callId", "partyId"))
    for order in _list(record.get("orders")):
        _shape_call_order(order, tz)
    _shape_order(record.get("order"), tz, call)
    _shape_visits(record, tz)
    _shape_ad_ids(record)
    _shape_open_values(record, _CALL_OPEN_LISTS)
    _shape_custom_fields(record)
    return record


def call_epoch(record: Record, tz: ZoneInfo) -> int | None:
    """A call's time: `timestamp` (epoch seconds, exact), else `date` read in the account's zone.

    `date` is local wall time, which cannot tell the two passes of the hour the clocks go
    back; `timestamp` can. A `date` that drifted to epoch milliseconds is read as such.
    """
    seconds = epoch_seconds(record.get("timestamp"))
    if seconds is not None:
        return seconds
    date = record.get("date")
    if isinstance(date, str) and not date.strip().isdigit():
        return local_epoch(date, tz)
    return epoch_seconds(date)


def _shape_call_order(order: Record, tz: ZoneInfo) -> None:
    _ints(order, ("orderId",))
    _texts(order, ("orderNumber",))
    _convert(order, _CALL_ORDER_AMOUNTS, as_decimal_text)
    for key in _CALL_ORDER_TIMES:
        if key in order:
            order[key] = any_time_to_rfc3339(order[key], tz)


def _convert(block: Record, keys: tuple[str, ...], convert: Callable[[Any], Any]) -> None:
    for key in keys:
        if key in block:
            block[key] = convert(block[key])


# `_convert` with `as_int`, `as_text` and `as_bool`, called only for the values they would change
# (most are already of their type): a call per field of every record costs more than the rest.


def _ints(block: Record, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = block.get(key)  # absent or null: as_int leaves both
        if value is not None and not (type(value) is int and _INT64_MIN <= value <= _INT64_MAX):
            block[key] = as_int(value)


def _texts(block: Record, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = block.get(key)
        if value is not None and type(value) is not str:
            block[key] = as_text(value)


def _flags(block: Record, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = block.get(key)
        if value is not None and type(value) is not bool:
            block[key] = as_bool(value)


call_order_rows = ChildRows("orders", "callId", "orderId")
call_comment_rows = ChildRows("comments", "callId", "commentId")
call_map_visit_rows = ChildRows("mapVisits", "callId", "sessionId", unique=True)
call_tag_rows = TagRows("callTags", "callId")
