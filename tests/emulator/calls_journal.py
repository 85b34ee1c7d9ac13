"""The calls journal's parameters and answers, read like its document; the server serves them.

`GET /calls-service/RestAPI/{siteId}/calls-diary/calls`: the site id is in the path and dates
are dd/mm/yyyy (the requests journal has a `siteId` parameter and mm/dd/yyyy). Two modes:
one day (`dateFrom == dateTo`, no `page`) answers a bare JSON array; with `page` (from 1) and
`limit` (at most 1000) any range answers `{"page", "pageTotal", "pageSize", "recordsTotal",
"records"}`. Calls come newest first by call time, in both modes.

Calls may arrive (or go) while a client pages: hooks (`CallsJournal.on_page`) run after each
answer is built and may change the site's calls before the next page is selected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from typing import TYPE_CHECKING

import orjson
from typing_extensions import override
from werkzeug.wrappers import Response

from tests.emulator.accounts import CLIENT_API_ID
from tests.emulator.calls_dataset import CALL_SESSION_TIME, CALL_TIME
from tests.emulator.errors import BadRequestError
from tests.emulator.journal import Journal
from tests.emulator.responses import JSON

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from zoneinfo import ZoneInfo

    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers import Request

    from tests.emulator.dataset import Record
    from tests.emulator.server import Emulator
    from tests.emulator.sites import Site

    PageHook = Callable[["PageServed"], "bool | None"]

CALLS_PATH = re.compile(r"/calls-service/RestAPI/(?P<site>[^/]+)/calls-diary/calls/?")
DATE = re.compile(r"\d{2}/\d{2}/\d{4}")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000  # what `limit` is when only `page` is sent (undocumented; clients send both)

# bindTo chooses which time the date range applies to; calls without a session have none.
BIND_TO = {"call": CALL_TIME, "session": CALL_SESSION_TIME}

# Filters that keep only calls whose boolean is true (whatever its drifted type).
ONLY_FILTERS = {
    "uniqueOnly": "uniqueCall",
    "targetOnly": "targetCall",
    "uniqTargetOnly": "uniqTargetCall",
    "callbackOnly": "callbackCall",
}

# Flags that fill their block only when "true". Unasked, a block is null, as in captured
# answers, except `orders`, which is [] then (and `additionalTags`, [] always): every key is in
# every record.
KEY_FLAGS = {
    "withCallTags": "callTags",
    "withComments": "comments",
    "withMapVisits": "mapVisits",
    "withOrders": "orders",
    "withYandexDirect": "yandexDirect",
    "withGoogleAdwords": "googleAdWords",  # the parameter has a lower-case w, the key not
    "withDcm": "dcm",
}
# Blocks captured null whose flags no document names; these names are the emulator's guess
# (the tap sends none of them, so it always sees them null, as captured).
UNNAMED_FLAGS = {
    "withCallbackInfo": "callbackInfo",
    "withAttrs": "attrs",
    "withText": "phrases",
    "withPhonesInText": "phonesInText",
}
EMPTY_UNASKED = frozenset({"orders"})


@dataclasses.dataclass(frozen=True)
class PageServed:
    """A calls-journal answer about to be sent, as `Emulator.on_page` hooks see it."""

    site_id: str  # as the path named it
    params: dict[str, str]  # the query without the token
    page: int | None  # None: one-day mode, a bare array
    page_total: int | None  # None in one-day mode
    records_total: int
    call_ids: list[int]  # the calls on this page, newest first


class CallsJournal(Journal):
    """Serves a site's calls, one page (or one day) newest first; runs the `on_page` hooks."""

    name = "calls"

    def __init__(self, emulator: Emulator) -> None:
        """No hooks yet; a lock so that a page is selected, or a hook edits, not both."""
        super().__init__(emulator)
        self._hooks: list[PageHook] = []
        self._hooks_lock = threading.Lock()
        self._data_lock = threading.RLock()

    @override
    @staticmethod
    def serves(path: str) -> bool:
        return site_in_path(path) is not None

    @override
    @staticmethod
    def site_named(path: str, params: Mapping[str, str]) -> str | None:
        return site_in_path(path)

    @override
    def answer(self, request: Request, site: Site) -> Response:
        query = CallsQuery.from_args(request.args, site.zone, self.emulator.calls_max_days)
        with self._data_lock:
            selected = query.select(site.calls)
            records = query.page_of(selected)
            if refused := self.refusal(site, records):
                return refused
            shaped = [query.shape(record) for record in records]
            if query.page is None:
                body, page_total = orjson.dumps(shaped), None
            else:
                page_total = query.page_total(len(selected), self.emulator.empty_page_total)
                body = orjson.dumps(
                    {
                        "page": query.page,
                        "pageTotal": page_total,
                        "pageSize": query.limit,
                        "recordsTotal": len(selected),
                        "records": shaped,
                    }
                )
            params = {k: v for k, v in request.args.items() if k != CLIENT_API_ID}
            call_ids = [int(record["callId"]) for record in records]
            served = PageServed(
                str(site.site_id), params, query.page, page_total, len(selected), call_ids
            )
            self._run_hooks(served)
        return Response(body, 200, content_type=JSON)

    def on_page(self, hook: PageHook) -> None:
        """Run `hook(served)` after each answer is built and before it is sent.

        `served` is a `PageServed`. The hook may edit the site's calls (append new ones, remove
        some): the next page is then selected from the changed list, as when calls arrive
        during a real sync. New calls, being the newest, push every record down the pages, so a
        client paging 1..pageTotal meets some twice; a removed call pulls them up, so a client
        misses one. A hook that returns True is done and removed; None or False keeps it.
        Hooks run one at a time, in the order added, on the server's thread.
        """
        with self._hooks_lock:
            self._hooks.append(hook)

    def arrive_after(
        self,
        page: int,
        calls: Iterable[Record],
        remove: Iterable[int | str],
        date_from: str | None,
        site: int | None,
    ) -> None:
        """Once, after page `page` is served, append `calls` and remove `remove`.

        `remove` holds callIds (numbers or strings). `date_from` (dd/mm/yyyy) waits for the
        page of that window only, `site` for a page of that site only; the calls change on the
        site whose page was served. Make the new calls with `calls_dataset.new_calls`, on the
        range's last day and later than its calls, so they come first on page 1.
        """
        arriving = list(calls)
        gone = {int(call_id) for call_id in remove}

        def hook(served: PageServed) -> bool:
            if served.page != page:
                return False
            if date_from is not None and served.params.get("dateFrom") != date_from:
                return False
            if site is not None and served.site_id != str(site):
                return False
            records = self.emulator.sites[int(served.site_id)].calls  # served: a site that exists
            records[:] = [r for r in records if int(r["callId"]) not in gone]
            records.extend(arriving)
            return True

        self.on_page(hook)

    def _run_hooks(self, served: PageServed) -> None:
        """Run the hooks on an answer about to go out; drop those done."""
        with self._hooks_lock:
            hooks = list(self._hooks)
        done = [hook for hook in hooks if hook(served)]
        with self._hooks_lock:
            for hook in done:
                self._hooks.remove(hook)


def calls_path(site_id: int | str) -> str:
    """The calls journal's path for a site, without a trailing slash."""
    return f"/calls-service/RestAPI/{site_id}/calls-diary/calls"


def site_in_path(path: str) -> str | None:
    """The site id a calls-journal path names, or None when the path is not the calls journal."""
    match = CALLS_PATH.fullmatch(path)
    return None if match is None else match["site"]


def is_true(value: object) -> bool:
    """A call boolean as clients must read it: true, "true" and "True" are all yes."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclasses.dataclass(frozen=True)
class CallsQuery:
    """One call's parameters, checked: what to select, which page, how to shape each record."""

    date_from: dt.date
    date_to: dt.date
    low: int  # epoch seconds, inclusive: local midnight starting dateFrom
    high: int  # epoch seconds, inclusive: local 23:59:59 ending dateTo
    time_key: str  # the private time the range applies to (bindTo)
    only: tuple[str, ...]  # boolean keys that must be true
    hidden: frozenset[str]  # keys whose flag is not "true": null (or []) in the record
    attribution: int | None  # echoed into each record; None keeps the account's setting
    page: int | None  # None: one-day mode, a bare array
    limit: int

    @classmethod
    def from_args(
        cls, args: MultiDict[str, str], zone: ZoneInfo, max_days: int | None = None
    ) -> CallsQuery:
        """Check the query as the API does, raising BadRequestError (a 400 naming the parameter)."""
        first, last = _date(args, "dateFrom"), _date(args, "dateTo")
        if first > last:
            msg = "Parameter 'dateFrom' must not be after 'dateTo'"
            raise BadRequestError(msg)
        if max_days is not None and (last - first).days + 1 > max_days:
            msg = f"Parameter 'dateTo' must be at most {max_days} days after 'dateFrom'"
            raise BadRequestError(msg)
        page = _positive(args, "page")
        limit = _positive(args, "limit")
        if limit is not None and limit > MAX_LIMIT:
            msg = f"Parameter 'limit' must be from 1 to {MAX_LIMIT}"
            raise BadRequestError(msg)
        if page is None and first != last:
            msg = "Parameter 'page' is required when 'dateFrom' and 'dateTo' differ"
            raise BadRequestError(msg)
        time_key = BIND_TO.get(args.get("bindTo", "call"))
        if time_key is None:
            msg = "Parameter 'bindTo' must be 'call' or 'session'"
            raise BadRequestError(msg)
        attribution = args.get("attribution")
        if attribution not in {None, "0", "1"}:
            msg = "Parameter 'attribution' must be 0 or 1"
            raise BadRequestError(msg)
        return cls(
            date_from=first,
            date_to=last,
            low=int(dt.datetime.combine(first, dt.time(0, 0, 0), zone).timestamp()),
            high=int(dt.datetime.combine(last, dt.time(23, 59, 59), zone).timestamp()),
            time_key=time_key,
            only=tuple(key for name, key in ONLY_FILTERS.items() if _boolean(args, name)),
            hidden=frozenset(
                key
                for flag, key in {**KEY_FLAGS, **UNNAMED_FLAGS}.items()
                if args.get(flag) != "true"
            ),
            attribution=None if attribution is None else int(attribution),
            page=page,
            limit=DEFAULT_LIMIT if limit is None else limit,
        )

    def select(self, records: Iterable[Record]) -> list[Record]:
        """The calls in range that pass the filters, newest first (ties: higher callId first)."""
        low, high, key, only = self.low, self.high, self.time_key, self.only
        chosen = [
            record
            for record in records
            if record[key] is not None
            and low <= record[key] <= high
            and all(is_true(record[name]) for name in only)
        ]
        chosen.sort(key=lambda r: (r[CALL_TIME], int(r["callId"])), reverse=True)
        return chosen

    def page_of(self, selected: list[Record]) -> list[Record]:
        """The records of the asked page (all of them in one-day mode); [] beyond the last."""
        if self.page is None:
            return selected
        start = (self.page - 1) * self.limit
        return selected[start : start + self.limit]

    def page_total(self, records_total: int, empty_page_total: int) -> int:
        """How many pages the range fills; an empty range says `empty_page_total` (0 or 1)."""
        if records_total == 0:
            return empty_page_total
        return -(-records_total // self.limit)

    def shape(self, record: Record) -> Record:
        """A served copy: blocks null unless asked, no private keys, attribution echoed."""
        hidden = self.hidden
        shaped = {
            k: (([] if k in EMPTY_UNASKED else None) if k in hidden else v)
            for k, v in record.items()
            if not k.startswith("_")
        }
        if self.attribution is not None:
            shaped["attribution"] = self.attribution
        return shaped


def _date(args: MultiDict[str, str], name: str) -> dt.date:
    """Read a required dd/mm/yyyy date strictly: 2026-10-01, 1/3/2026 or 31/02/2026 are 400s."""
    value = args.get(name, "")
    try:
        if DATE.fullmatch(value):
            return dt.datetime.strptime(value, "%d/%m/%Y").date()  # noqa: DTZ007 - a date, no time
    except ValueError:
        pass
    msg = f"Parameter '{name}' is required, in format dd/mm/yyyy"
    raise BadRequestError(msg)


def _positive(args: MultiDict[str, str], name: str) -> int | None:
    """An optional integer of at least 1, or a 400 naming it."""
    value = args.get(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        msg = f"Parameter '{name}' must be a positive integer"
        raise BadRequestError(msg)
    return int(value)


def _boolean(args: MultiDict[str, str], name: str) -> bool:
    """An optional true/false filter parameter; anything else is a 400 naming it."""
    value = args.get(name)
    if value is None:
        return False
    if value.lower() not in {"true", "false"}:
        msg = f"Parameter '{name}' must be true or false"
        raise BadRequestError(msg)
    return value.lower() == "true"
