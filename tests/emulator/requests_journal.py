"""The requests journal: its query parameters as record tests, and its answer, a JSON array.

`GET /calls-service/RestAPI/requests/` takes `siteId`, `dateFrom`/`dateTo` (mm/dd/yyyy, in the
account's zone), optional `timeFrom`/`timeTo`, `bindTo`, ids, numbers and content filters, and
the `with*` flags that add blocks to each record. It answers every matching request in one bare
JSON array, unsorted. A bad parameter raises BadRequestError, which the server answers as the
API does (400 naming it). The calls journal's counterpart is `calls_journal`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from typing import TYPE_CHECKING

import orjson
from typing_extensions import override
from werkzeug.wrappers import Response

from tests.emulator.dataset import SESSION_TIME, Record
from tests.emulator.errors import BadRequestError
from tests.emulator.journal import Journal
from tests.emulator.responses import JSON

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from zoneinfo import ZoneInfo

    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers import Request

    from tests.emulator.sites import Site

    Predicate = Callable[[Record], bool]

API_PATH = "/calls-service/RestAPI/requests/"
PATHS = frozenset({API_PATH, API_PATH.rstrip("/")})  # clients call it with and without the slash

# Dates are mm/dd/yyyy (the calls API has dd/mm/yyyy), times hh:mm:ss, in the account's zone.
DATE = re.compile(r"\d{2}/\d{2}/\d{4}")
TIME = re.compile(r"\d{2}:\d{2}:\d{2}")
DAY_START, DAY_END = dt.time(0, 0, 0), dt.time(23, 59, 59)

# bindTo chooses which time the date range applies to.
BIND_TO = {"request": "date", "session": SESSION_TIME}
# A test that garbles a request's public `date` keeps its true epoch ms here (stripped when served).
REQUEST_TIME = "_requestTime"

# ani.filterMode and email.filterMode; exact is the default.
FILTER_MODES: dict[str, Callable[[str, str], bool]] = {
    "startwith": str.startswith,
    "contains": str.__contains__,
    "exact": str.__eq__,
}

# Flags that add their key to each record only when "true". withDcm, withAttrs: null or data.
KEY_FLAGS = {
    "withMapVisits": "mapVisits",
    "withRequestTags": "RequestTags",
    "withYandexDirect": "yandexDirect",
    "withGoogleAdwords": "googleAdWords",
    "withWidgetInfo": "widgetInfo",
    "withCustomFields": "customFields",
}
CHUNK_BYTES = 256 * 1024


class RequestsJournal(Journal):
    """Serves a site's requests: those the query matches, shuffled, as a streamed array."""

    name = "requests"

    @override
    @staticmethod
    def serves(path: str) -> bool:
        return path in PATHS

    @override
    @staticmethod
    def site_named(path: str, params: Mapping[str, str]) -> str | None:
        return params.get("siteId")

    @override
    def answer(self, request: Request, site: Site) -> Response:
        keep = filters(request.args, site.zone)
        shape = Shape.from_args(request.args)
        records = [record for record in site.requests if all(test(record) for test in keep)]
        if refused := self.refusal(site, records):
            return refused
        random.Random(self.emulator.shuffle_seed).shuffle(records)  # the API does not sort
        return Response(json_array(records, shape), 200, content_type=JSON)


# --- parameters --------------------------------------------------------------------------------


def filters(args: MultiDict[str, str], zone: ZoneInfo) -> list[Predicate]:
    """Turn the query into record tests, raising BadRequestError where the API answers 400."""
    ids = {_integer(value, "requestId") for value in _split(args.get("requestId"))}
    numbers = set(_split(args.get("requestNumber")))
    time_key = BIND_TO.get(args.get("bindTo", "request"))
    if time_key is None:
        msg = "Parameter 'bindTo' must be 'request' or 'session'"
        raise BadRequestError(msg)
    keep: list[Predicate] = []
    if ids:
        keep.append(lambda r: r["requestId"] in ids)
    if numbers:
        keep.append(lambda r: str(r["requestNumber"]) in numbers)
    window = time_window(args, zone, required=not (ids or numbers))
    if window is not None:
        low, high = window
        key = REQUEST_TIME if time_key == "date" else time_key
        keep.append(lambda r: low <= r[key if key in r else time_key] <= high)
    return keep + _content_filters(args)


def _content_filters(args: MultiDict[str, str]) -> list[Predicate]:
    """The filters on what a request holds: form, keyword, traffic, manager, phone, e-mail."""
    keep: list[Predicate] = []
    if subject := args.get("subject"):
        keep.append(lambda r: r["subject"].startswith(subject))
    if keywords := args.get("keywords"):
        keep.append(lambda r: r["session"] is not None and keywords in r["session"]["keywords"])
    keep.extend(
        _session_equals(name, value)
        for name in ("city", "source", "medium")
        if (value := args.get(name))
    )
    if manager := args.get("manager"):
        keep.append(lambda r: r["manager"] == manager)
    if phone := _text_match(args, "ani"):
        keep.append(lambda r: any(phone(p["phoneNumber"]) for p in r["client"]["phones"]))
    if email := _text_match(args, "email"):
        keep.append(
            lambda r: any(
                email(c["contactValue"])
                for c in r["client"]["contacts"]
                if c["contactType"] == "EMAIL"
            )
        )
    return keep


def _session_equals(key: str, value: str) -> Predicate:
    """An exact-match filter on a session field; requests without a session never match."""
    return lambda r: r["session"] is not None and r["session"][key] == value


def time_window(
    args: MultiDict[str, str], zone: ZoneInfo, *, required: bool
) -> tuple[int, int] | None:
    """[dateFrom timeFrom, dateTo timeTo] in epoch ms, inclusive, read in the account's zone."""
    if not required and "dateFrom" not in args and "dateTo" not in args:
        return None
    first, last = _date(args, "dateFrom"), _date(args, "dateTo")
    if first > last:
        msg = "Parameter 'dateFrom' must not be after 'dateTo'"
        raise BadRequestError(msg)
    low = dt.datetime.combine(first, _time(args, "timeFrom", DAY_START), zone)
    high = dt.datetime.combine(last, _time(args, "timeTo", DAY_END), zone)
    return int(low.timestamp()) * 1000, int(high.timestamp()) * 1000 + 999


def _date(args: MultiDict[str, str], name: str) -> dt.date:
    """Read a required mm/dd/yyyy date strictly: 2026-10-01 or 13/01/2026 are 400s."""
    value = args.get(name, "")
    try:
        if DATE.fullmatch(value):
            return dt.datetime.strptime(value, "%m/%d/%Y").date()  # noqa: DTZ007 - a date, no time
    except ValueError:
        pass
    msg = f"Parameter '{name}' is required, in format mm/dd/yyyy"
    raise BadRequestError(msg)


def _time(args: MultiDict[str, str], name: str, default: dt.time) -> dt.time:
    """Read an optional hh:mm:ss time."""
    value = args.get(name)
    if value is None:
        return default
    try:
        if TIME.fullmatch(value):
            return dt.time.fromisoformat(value)
    except ValueError:
        pass
    msg = f"Parameter '{name}' must be in format hh:mm:ss"
    raise BadRequestError(msg)


def _text_match(args: MultiDict[str, str], prefix: str) -> Callable[[str], bool] | None:
    """The test for `ani` or `email`: `<prefix>.value` under `<prefix>.filterMode`."""
    mode = args.get(f"{prefix}.filterMode", "exact")
    if mode not in FILTER_MODES:
        msg = f"Parameter '{prefix}.filterMode' must be one of {', '.join(FILTER_MODES)}"
        raise BadRequestError(msg)
    wanted = args.get(f"{prefix}.value")
    if not wanted:
        return None
    matches = FILTER_MODES[mode]
    return lambda value: matches(value, wanted)


def _split(value: str | None) -> list[str]:
    """A comma-separated list parameter."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _integer(value: str, name: str) -> int:
    """An integer parameter, or a 400 naming it."""
    if not value.isdigit():
        msg = f"Parameter '{name}' must be a comma-separated list of integers"
        raise BadRequestError(msg)
    return int(value)


# --- the answer --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shape:
    """What the `with*` flags and `attribution` do to each record."""

    hidden: frozenset[str]  # keys whose flag is not "true": absent from the record
    dcm: bool  # else dcm is null
    attrs: bool  # else session.attrs is null
    attribution: int | None  # echoed into session.attribution; None keeps the account's setting

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Shape:
        """Read the flags (only the exact string "true" turns one on) and check `attribution`."""
        attribution = args.get("attribution")
        if attribution not in {None, "0", "1"}:
            msg = "Parameter 'attribution' must be 0 or 1"
            raise BadRequestError(msg)
        return cls(
            hidden=frozenset(key for flag, key in KEY_FLAGS.items() if args.get(flag) != "true"),
            dcm=args.get("withDcm") == "true",
            attrs=args.get("withAttrs") == "true",
            attribution=None if attribution is None else int(attribution),
        )

    def __call__(self, record: Record) -> Record:
        """A shaped copy of a stored record; private `_` keys never leave the emulator."""
        shaped = {k: v for k, v in record.items() if k not in self.hidden and not k.startswith("_")}
        shaped["session"] = self.session(record["session"])
        shaped["orders"] = [
            {**order, "session": self.session(order["session"])} for order in record["orders"]
        ]
        shaped["order"] = shaped["orders"][0] if shaped["orders"] else None
        if not self.dcm:
            shaped["dcm"] = None
        return shaped

    def session(self, session: Record | None) -> Record | None:
        """A session with attrs and attribution as asked."""
        if session is None:
            return None
        return {
            **session,
            "attrs": session["attrs"] if self.attrs else None,
            "attribution": session["attribution"] if self.attribution is None else self.attribution,
        }


def json_array(records: list[Record], shape: Shape) -> Iterator[bytes]:
    """Stream `[record,record,...]` in chunks, so a 30 MB answer is never one bytes object."""
    chunk = bytearray(b"[")
    for index, record in enumerate(records):
        if index:
            chunk += b","
        chunk += orjson.dumps(shape(record))
        if len(chunk) >= CHUNK_BYTES:
            yield bytes(chunk)
            chunk.clear()
    chunk += b"]"
    yield bytes(chunk)
