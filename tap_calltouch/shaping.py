"""Record shaping: turn the API's request and call objects into warehouse-friendly rows.

The API mixes epoch milliseconds with local `dd/mm/yyyy hh:mm:ss` strings and sends ids, sums
and flags in drifting types. `shape_request` and `shape_call` settle each field once (through
`values` and `timestamps`), in place, so every stream emits the same types. No SDK, no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tap_calltouch.child_rows import ChildRows, TagRows
from tap_calltouch.timestamps import (
    any_time_to_rfc3339,
    epoch_ms_to_rfc3339,
    epoch_s_to_rfc3339,
    epoch_seconds,
    local_epoch,
    local_to_rfc3339,
    session_epoch,
    visit_epoch,
)
from tap_calltouch.values import (
    Record,
    as_decimal_text,
    as_int,
    as_value_text,
    as_values,
    dicts_in,
    flags,
    ints,
    texts,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

# ChildRows and TagRows too: journal.py names the kinds of child rows as this module's.
__all__ = ["ChildRows", "TagRows", "call_epoch", "request_date", "shape_call", "shape_request"]

_ID_FIELDS = ("requestId", "siteId")
_SESSION_ID_FIELDS = ("sessionId",)
_VISITOR_ID_FIELDS = ("ctClientId", "ctGlobalId")  # cookie values: long numbers or strings
_ORDER_ID_FIELDS = ("orderId", "callId")
_ORDER_SUM_FIELDS = ("sum", "realSum", "orderSum")


def _shape_session(session: Any, tz: ZoneInfo, at: int | None) -> Any:  # noqa: ANN401
    """The attributed visit; `at`: the request's (or call's) epoch seconds."""
    if isinstance(session, dict):
        ints(session, _SESSION_ID_FIELDS)
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
    for field in dicts_in(record.get("customFields")):
        value = field.get("value")
        if isinstance(value, list):
            field["value"] = as_value_text(value)


_MS_BEYOND = 253_402_300_800_000  # 10000-01-01T00:00:00Z in epoch milliseconds


def _request_epoch(sent: Any, written: str | None) -> int | None:  # noqa: ANN401
    """A request's epoch seconds: of the milliseconds sent, as nearly always, else of its text."""
    if type(sent) is int and 0 <= sent < _MS_BEYOND:
        return sent // 1000
    return _epoch_of(written)


def _epoch_of(when: str | None) -> int | None:
    """Epoch seconds of an RFC 3339 UTC text the shaping wrote."""
    if when is None:
        return None
    return int(dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())


def _shape_visitor_ids(block: Record) -> None:
    texts(block, _VISITOR_ID_FIELDS)


def _shape_order(order: Any, tz: ZoneInfo, at: int | None) -> Any:  # noqa: ANN401
    if not isinstance(order, dict):
        return order
    ints(order, _ORDER_ID_FIELDS)
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
    ints(record, _ID_FIELDS)
    _shape_visitor_ids(record)
    number = record.get("requestNumber")
    if number is not None and not isinstance(number, str):
        record["requestNumber"] = str(number)
    sent = record.get("date")
    record["date"] = request_date(record, tz)
    at = _request_epoch(sent, record["date"])  # the sessions' times are read against it

    _shape_session(record.get("session"), tz, at)
    client = record.get("client")
    if isinstance(client, dict) and "clientId" in client:
        client["clientId"] = as_int(client["clientId"])
    for order in dicts_in(record.get("orders")):
        _shape_order(order, tz, at)
    _shape_order(record.get("order"), tz, at)
    for comment in dicts_in(record.get("comments")):
        ints(comment, ("commentId", "requestId", "partyId"))
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
    for visit in dicts_in(record.get("mapVisits")):
        ints(visit, _SESSION_ID_FIELDS)
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
            ints(block, tuple(block))


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


def shape_call(record: Record, tz: ZoneInfo) -> Record:
    """Normalise one call in place: one JSON type per field, times as RFC 3339 UTC."""
    ints(record, _CALL_INT_FIELDS)
    texts(record, _CALL_TEXT_FIELDS)
    flags(record, _CALL_FLAGS)
    call = call_epoch(record, tz)
    record["date"] = None if call is None else epoch_s_to_rfc3339(call)
    text = record.get("sessionDate")
    record["sessionDateStr"] = text if isinstance(text, str) else None
    session = session_epoch(text, tz, call)
    record["sessionDate"] = None if session is None else epoch_s_to_rfc3339(session)
    for comment in dicts_in(record.get("comments")):
        ints(comment, ("commentId", "callId", "partyId"))
    for order in dicts_in(record.get("orders")):
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
    ints(order, ("orderId",))
    texts(order, ("orderNumber",))
    _convert(order, _CALL_ORDER_AMOUNTS, as_decimal_text)
    for key in _CALL_ORDER_TIMES:
        if key in order:
            order[key] = any_time_to_rfc3339(order[key], tz)


def _convert(block: Record, keys: tuple[str, ...], convert: Callable[[Any], Any]) -> None:
    for key in keys:
        if key in block:
            block[key] = convert(block[key])
