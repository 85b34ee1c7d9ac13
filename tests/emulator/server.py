"""A local emulator of Calltouch's requests and calls journals, read top to bottom like the docs.

`GET /calls-service/RestAPI/requests/` answers a bare JSON array of request records, unsorted.
`GET /calls-service/RestAPI/{siteId}/calls-diary/calls` answers calls newest first, one day as a
bare array or any range page by page (its parameters and answers: `calls_journal`).
A call is judged as the real service would: the gateway first (unknown path, rate limit, the
faults a test injected), then access (token and site, daily points), then the parameters
(400 naming the bad one), then the filters, and each record is shaped by the `with*` flags.
Both journals share one rate limit per client IP and one daily points budget, as the API's do.

One emulator serves one site or many. One site, one token, as ever:

    Emulator(dataset=requests, calls=calls, token="tok", site_id=12345, tz="Europe/Moscow")

Many sites (an agency's cabinets) under a few tokens, each site with its own records, zone
and points budget (`sites.Site`, made by hand or by `sites.generate_sites`):

    Emulator(
        sites=[Site(101, requests=[...], calls=[...], tz="Asia/Novosibirsk"), Site(102), ...],
        tokens={"tok-a": {101, 102}, "tok-b": {103}},
    )

A token asking for a site it does not serve, in either journal, is refused as a wrong token
is (`denied_status`, 403 or 401, `ACCESS_DENIED`). At run time `revoke(token)` refuses every
call of a token and `restore(token)` lets it in again; `exhaust(site_id)` spends a site's
points for the day (its calls then get the points error, other sites still answer) and
`refill()` starts a new day. The rate limit stays one per client IP over every site and both
journals, as the API's is. Each logged `Call` knows its `site`; `count(site=...)` filters on it.
The single-site attributes (`dataset`, `call_records`, `token`, `site_id`, `zone`,
`points_budget`) are the first site's and the first token's.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import random
import re
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson
from typing_extensions import Self, override
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from tests.emulator.calls_journal import CallsQuery, site_in_path
from tests.emulator.dataset import DEFAULT_SITE_ID, DEFAULT_TZ, Record
from tests.emulator.errors import BadRequestError
from tests.emulator.requests_journal import REQUEST_TIME, Shape, filters, json_array
from tests.emulator.responses import (
    HELP_PAGE,
    HTML,
    JSON,
    cut_off,
    gateway_page,
    injected,
    json_error,
    points_error,
)
from tests.emulator.sites import Site

__all__ = ["API_PATH", "REQUEST_TIME", "Call", "Emulator", "PageServed"]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType
    from zoneinfo import ZoneInfo

    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.datastructures import MultiDict
    from werkzeug.serving import BaseWSGIServer

    Predicate = Callable[[Record], bool]
    PageHook = Callable[["PageServed"], "bool | None"]

API_PATH = "/calls-service/RestAPI/requests/"
PATHS = frozenset({API_PATH, API_PATH.rstrip("/")})  # clients call it with and without the slash
CLIENT_API_ID = "clientApiId"  # the token parameter


FAULTS = frozenset({"status", "reset", "hang", "slow", "truncated", "cut", "html", "object"})
ANSWERING_FAULTS = frozenset({"status", "reset", "hang", "html", "object"})  # instead of the API
JOURNALS = frozenset({"requests", "calls"})
MATCH_OPTIONS = ("page", "limit", "dateFrom", "dateTo")  # inject(..., page=3): match={"page": 3}
HOLD = "emulator.hold"  # environ key: seconds a `hang` fault keeps the caller waiting (None: ever)
ARRIVED = "emulator.arrived"  # environ key: time.monotonic() when the connection was accepted


@dataclasses.dataclass(frozen=True)
class Call:
    """One call as the emulator saw it: `params` without the token; `status` 0: dropped."""

    time: float  # time.monotonic() at arrival
    path: str
    params: dict[str, str]
    status: int
    tokens: int = 1  # how many token parameters the query held (a client should send one)

    @property
    def journal(self) -> str:
        """Which journal the call asked: "calls" or "requests" (also for an unknown path)."""
        return "calls" if site_in_path(self.path) is not None else "requests"

    @property
    def site(self) -> str | None:
        """The site the call named (calls: in the path; requests: `siteId`), as it named it."""
        return site_in_path(self.path) or self.params.get("siteId")

    @property
    def page(self) -> int | None:
        """The `page` a calls-journal call asked for; None without one, or when not a number."""
        page = self.params.get("page", "")
        return int(page) if page.isdigit() else None


@dataclasses.dataclass(frozen=True)
class PageServed:
    """A calls-journal answer about to be sent, as `Emulator.on_page` hooks see it."""

    site_id: str  # as the path named it
    params: dict[str, str]  # the query without the token
    page: int | None  # None: one-day mode, a bare array
    page_total: int | None  # None in one-day mode
    records_total: int
    call_ids: list[int]  # the calls on this page, newest first


class Emulator:
    """Serves a dataset on 127.0.0.1 as the Calltouch requests API does, with limits and faults."""

    def __init__(  # noqa: PLR0913 - every knob is a documented behaviour of the API
        self,
        *,
        dataset: list[Record] | None = None,
        token: str | None = None,
        site_id: int | None = None,
        tz: str | None = None,
        rate_limit: int | None = 5,
        retry_after: float | None = None,
        latency: float = 0.0,
        points_budget: int | None = None,
        max_response_records: int | None = None,
        shuffle_seed: int = 0,
        denied_status: int = 403,
        calls: list[Record] | None = None,
        empty_page_total: int = 0,
        calls_max_days: int | None = None,
        sites: Iterable[Site] | None = None,
        tokens: Mapping[str, Iterable[int]] | None = None,
        rate_limit_per: str = "ip",
    ) -> None:
        """Keep the dataset and the calls by reference, so a test can change them between runs.

        One site: `dataset`, `token`, and optionally `site_id`, `tz`, `calls`, `points_budget`.
        Many: `sites` and `tokens` (token -> the site ids it serves) instead of all of those.
        `calls` are the calls journal's records (see `calls_dataset`), served as
        `call_records`: `calls` itself is the call log. `empty_page_total` is the `pageTotal`
        an empty range answers (clients saw 0 and 1); `calls_max_days` makes longer calls-journal
        ranges a 400 (one client caps them at about 3 months; the vendor says nothing).
        `rate_limit_per="all"` counts every call against one `rate_limit`, whoever sends it: the
        API's per-IP limit as several processes or machines behind one NAT meet it.
        """
        if sites is None:
            if dataset is None or token is None or tokens is not None:
                msg = "give dataset= and token= for one site, or sites= and tokens= for many"
                raise ValueError(msg)
            site_id = DEFAULT_SITE_ID if site_id is None else site_id
            calls = [] if calls is None else calls
            sites = [Site(site_id, dataset, calls, tz or DEFAULT_TZ, points_budget)]
            tokens = {token: {site_id}}
        elif tokens is None or any(
            given is not None for given in (dataset, token, site_id, tz, calls, points_budget)
        ):
            msg = "with sites=, give tokens= and set data, zone and budget on each Site"
            raise ValueError(msg)
        self.sites: dict[int, Site] = {}
        for site in sites:
            if site.site_id in self.sites:
                msg = f"site {site.site_id} is given twice"
                raise ValueError(msg)
            self.sites[site.site_id] = site
        self.tokens: dict[str, set[int]] = {name: set(ids) for name, ids in tokens.items()}
        if unknown := set().union(*self.tokens.values()) - self.sites.keys():
            msg = f"tokens name sites the emulator does not serve: {sorted(unknown)}"
            raise ValueError(msg)
        self.empty_page_total = empty_page_total
        self.calls_max_days = calls_max_days
        self.rate_limit = rate_limit
        if rate_limit_per not in {"ip", "all"}:
            msg = f"rate_limit_per is 'ip' or 'all', not {rate_limit_per!r}"
            raise ValueError(msg)
        self.rate_limit_per = rate_limit_per
        self.retry_after = retry_after
        self.latency = latency
        self.max_response_records = max_response_records
        self.shuffle_seed = shuffle_seed
        self.denied_status = denied_status  # a wrong token or site: 403, sometimes 401
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._faults: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._page_hooks: list[PageHook] = []
        self._data_lock = threading.RLock()  # a page is selected, or a hook edits, not both
        self._points_spent: collections.Counter[int] = collections.Counter()
        self._exhausted: set[int] = set()  # sites whose points `exhaust` spent
        self._revoked: dict[str, int] = {}  # token -> the status its calls now get
        self._server: BaseWSGIServer | None = None
        self._stopping = threading.Event()  # releases the callers a `hang` fault holds
        self._thread: threading.Thread | None = None

    # --- the single-site view: the first site and the first token --------------------------------

    @property
    def first_site(self) -> Site:
        """The site given first (the only one, for a single-site emulator)."""
        return next(iter(self.sites.values()))

    @property
    def dataset(self) -> list[Record]:
        """The first site's requests."""
        return self.first_site.requests

    @dataset.setter
    def dataset(self, records: list[Record]) -> None:
        self.first_site.requests = records

    @property
    def call_records(self) -> list[Record]:
        """The first site's calls."""
        return self.first_site.calls

    @call_records.setter
    def call_records(self, records: list[Record]) -> None:
        self.first_site.calls = records

    @property
    def site_id(self) -> int:
        """The first site's id."""
        return self.first_site.site_id

    @property
    def zone(self) -> ZoneInfo:
        """The first site's zone."""
        return self.first_site.zone

    @property
    def points_budget(self) -> int | None:
        """The first site's daily points budget."""
        return self.first_site.points_budget

    @points_budget.setter
    def points_budget(self, budget: int | None) -> None:
        self.first_site.points_budget = budget

    @property
    def token(self) -> str:
        """The first token."""
        return next(iter(self.tokens))

    # --- access and points at run time, for tests -----------------------------------------------

    def revoke(self, token: str, *, status: int | None = None) -> None:
        """Refuse every call of `token`, for every site, with `status` (`denied_status`)."""
        if token not in self.tokens:
            raise KeyError(token)
        with self._lock:
            self._revoked[token] = self.denied_status if status is None else status

    def restore(self, token: str) -> None:
        """Let a revoked token in again, to the sites it served."""
        if token not in self.tokens:
            raise KeyError(token)
        with self._lock:
            self._revoked.pop(token, None)

    def exhaust(self, site_id: int) -> None:
        """Spend a site's points for the day: its calls get the points error until `refill`."""
        if site_id not in self.sites:
            raise KeyError(site_id)
        with self._lock:
            self._exhausted.add(site_id)

    def refill(self, site_id: int | None = None) -> None:
        """A new day: give one site (or every site) its whole points budget again."""
        with self._lock:
            for site in self.sites if site_id is None else [site_id]:
                self._points_spent.pop(site, None)
                self._exhausted.discard(site)

    def points_spent(self, site_id: int) -> int:
        """How many points a site spent today (successful calls over both journals)."""
        with self._lock:
            return self._points_spent[site_id]

    # --- running -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (a free port by default) from a daemon thread; return the base URL."""
        self._stopping.clear()
        # The datasets hold millions of objects; a full collection walking them would stall
        # every thread here for hundreds of ms (measured: 244 ms), arrivals included. A real
        # API has no such pause, so they are moved out of the collector's sight.
        gc.freeze()
        server = _ArrivalServer("127.0.0.1", port, self._wsgi, handler=_QuietHandler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. http://127.0.0.1:41234."""
        if self._server is None:
            msg = "the emulator is not started"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        """Stop serving and free the port; calls held by a `hang` fault are dropped."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        """Start on entry, so `with Emulator(...) as emulator:` serves inside the block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop on exit, even when the block failed."""
        self.stop()

    # --- faults and the call log, for tests ------------------------------------------------------

    def inject(self, kind: str, times: int = 1, **opts: Any) -> None:
        """Make the next `times` calls misbehave, to test the client's handling of that failure.

        Kinds: `status` (status=503, retry_after=None), `reset` (close without an answer),
        `hang` (keep the connection open without a word for seconds=None, i.e. until the
        emulator stops, then close it), `slow` (delay=1.0 seconds, then answer normally),
        `truncated` (the answer's body cut in half; after="]" cuts just after the last "]" of
        the first half, so the body still ends like an array), `cut` (the answer announced
        whole, by its Content-Length, and the connection dropped halfway through the body: a
        body broken mid-stream), `html` (200 with an HTML page), `object` (200 with a JSON
        object, or body=...). `status` answers a gateway's HTML page, or with message="..."
        the JSON error body `{"message": ...}` clients saw on 5xx.

        Every kind takes match={param: value}: the fault then waits for the first call whose
        query has these values (e.g. one window's `dateFrom`), and other calls pass it by.
        journal="calls" or "requests" limits it to one journal's calls, and page=, limit=,
        dateFrom=, dateTo= are short for those match entries: inject("status", journal="calls",
        page=3, dateFrom="01/03/2026") fails page 3 of the calls window that starts on March 1.
        site=12345 limits it to the calls naming that site, in either journal (the requests
        journal's `siteId`, the calls journal's path), so one site of many misbehaves.
        """
        if kind not in FAULTS:
            msg = f"unknown fault {kind!r}; use one of {sorted(FAULTS)}"
            raise ValueError(msg)
        journal = opts.pop("journal", None)
        if journal is not None and journal not in JOURNALS:
            msg = f"unknown journal {journal!r}; use one of {sorted(JOURNALS)}"
            raise ValueError(msg)
        wanted = {key: str(value) for key, value in (opts.pop("match", None) or {}).items()}
        wanted.update({key: str(opts.pop(key)) for key in MATCH_OPTIONS if key in opts})
        site = opts.pop("site", None)
        opts = {**opts, "match": wanted, "journal": journal, "site": site}
        with self._lock:
            self._faults.extend([(kind, opts)] * times)

    def count(
        self,
        status: int | None = None,
        *,
        journal: str | None = None,
        site: int | str | None = None,
    ) -> int:
        """How many calls arrived, or were answered with this status; of one journal, one site."""
        named = None if site is None else str(site)
        with self._lock:
            return sum(
                1
                for call in self.calls
                if (status is None or call.status == status)
                and (journal is None or call.journal == journal)
                and (named is None or call.site == named)
            )

    def peak_rate(self, window: float = 1.0) -> int:
        """The most calls that arrived within any `window` seconds, to check a client's throttle."""
        with self._lock:
            times = sorted(call.time for call in self.calls)
        peak, first = 0, 0
        for last, arrived in enumerate(times):
            while arrived - times[first] >= window:
                first += 1
            peak = max(peak, last - first + 1)
        return peak

    # --- calls that arrive (or go) while a client pages, for tests ------------------------------

    def on_page(self, hook: PageHook) -> None:
        """Run `hook(served)` after each calls-journal answer is built and before it is sent.

        `served` is a `PageServed`. The hook may edit `call_records` (append new calls, remove
        some): the next page is then selected from the changed list, as when calls arrive
        during a real sync. New calls, being the newest, push every record down the pages, so a
        client paging 1..pageTotal meets some twice; a removed call pulls them up, so a client
        misses one. A hook that returns True is done and removed; None or False keeps it.
        Hooks run one at a time, in the order added, on the server's thread.
        """
        with self._lock:
            self._page_hooks.append(hook)

    def arrive_after(
        self,
        page: int,
        calls: Iterable[Record] = (),
        *,
        remove: Iterable[int | str] = (),
        date_from: str | None = None,
        site: int | None = None,
    ) -> None:
        """Once, after calls-journal page `page` is served, append `calls` and remove `remove`.

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
            records = self.sites[int(served.site_id)].calls  # served: a site that exists
            records[:] = [r for r in records if int(r["callId"]) not in gone]
            records.extend(arriving)
            return True

        self.on_page(hook)

    def reset_log(self) -> None:
        """Forget the calls seen so far (faults, rate windows and points are kept)."""
        with self._lock:
            self.calls.clear()

    def idle(self) -> None:
        """As after a client's pause of a second or more: its rate window is empty again.

        For tests that run the tap many times in a row, as a schedule does minutes apart.
        """
        with self._lock:
            self._recent.clear()

    def clear_faults(self) -> None:
        """Drop the injected faults no call has met yet."""
        with self._lock:
            self._faults.clear()

    # --- one call ------------------------------------------------------------------------------

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer, log and delay one call; a `reset` fault closes the socket instead."""
        request = Request(environ)
        arrived = environ.get(ARRIVED) or time.monotonic()
        response = self._respond(request, arrived)
        params = {key: value for key, value in request.args.items() if key != CLIENT_API_ID}
        with self._lock:
            status = 0 if response is None else response.status_code
            tokens = len(request.args.getlist(CLIENT_API_ID))
            self.calls.append(Call(arrived, request.path, params, status, tokens))
        if response is None:
            if HOLD in environ:  # `hang`: the call is logged, the caller waits for nothing
                self._stopping.wait(environ[HOLD])
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError  # werkzeug takes it as a dropped connection: sends nothing
        time.sleep(self.latency)
        return response(environ, start_response)

    def _respond(self, request: Request, arrived: float) -> Response | None:
        """Judge the call as the gateway, then the API would; None means drop the connection."""
        site = site_in_path(request.path)
        if request.path not in PATHS and site is None:
            return Response(HELP_PAGE, 404, content_type=HTML)
        if not self._admit(request.remote_addr or "-", arrived):
            return json_error(429, "TOO_MANY_REQUESTS", "Too many requests", self.retry_after)
        journal = "requests" if site is None else "calls"
        kind, opts = self._next_fault(request.args, journal, site or request.args.get("siteId"))
        if kind == "hang":
            request.environ[HOLD] = opts.get("seconds")
        if kind in ANSWERING_FAULTS:
            return injected(kind, opts)
        if kind == "slow":
            time.sleep(opts.get("delay", 1.0))
        response = self._api(request) if site is None else self._calls_api(request, site)
        if kind == "truncated":
            body = response.get_data()
            cut = len(body) // 2
            if after := opts.get("after"):
                cut = body.rfind(after.encode(), 0, cut) + len(after)
            response.set_data(body[:cut])
        if kind == "cut":
            return cut_off(response, request.environ)
        return response

    def _api(self, request: Request) -> Response:
        """The API proper: access, parameters, then the records as a streamed array."""
        site = self._admitted_site(request, request.args.get("siteId"))
        if isinstance(site, Response):
            return site
        args = request.args
        try:
            keep = filters(args, site.zone)
            shape = Shape.from_args(args)
        except BadRequestError as error:
            return json_error(400, "BAD_REQUEST", str(error))
        records = [record for record in site.requests if all(test(record) for test in keep)]
        if self.max_response_records is not None and len(records) > self.max_response_records:
            return gateway_page(504)  # the real service cannot build such an answer in time
        if not self._spend_point(site):
            return points_error()
        random.Random(self.shuffle_seed).shuffle(records)  # the API does not sort
        return Response(json_array(records, shape), 200, content_type=JSON)

    def _calls_api(self, request: Request, named: str) -> Response:
        """The calls journal: access, parameters, then one page (or one day) newest first."""
        site = self._admitted_site(request, named)
        if isinstance(site, Response):
            return site
        try:
            query = CallsQuery.from_args(request.args, site.zone, self.calls_max_days)
        except BadRequestError as error:
            return json_error(400, "BAD_REQUEST", str(error))
        with self._data_lock:
            selected = query.select(site.calls)
            records = query.page_of(selected)
            if self.max_response_records is not None and len(records) > self.max_response_records:
                return gateway_page(504)
            if not self._spend_point(site):
                return points_error()
            shaped = [query.shape(record) for record in records]
            if query.page is None:
                body, page_total = orjson.dumps(shaped), None
            else:
                page_total = query.page_total(len(selected), self.empty_page_total)
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
            served = PageServed(
                named, params, query.page, page_total, len(selected),
                [int(record["callId"]) for record in records],
            )  # fmt: skip
            self._run_page_hooks(served)
        return Response(body, 200, content_type=JSON)

    def _run_page_hooks(self, served: PageServed) -> None:
        """Run the `on_page` hooks on an answer about to go out; drop those done."""
        with self._lock:
            hooks = list(self._page_hooks)
        done = [hook for hook in hooks if hook(served)]
        with self._lock:
            for hook in done:
                self._page_hooks.remove(hook)

    def _admitted_site(self, request: Request, named: str | None) -> Site | Response:
        """The site a call may read, or why not: no GET, a bad token or site, no points left.

        A token is bad when unknown, revoked, or not this site's. The requests journal names
        the site in its `siteId` parameter, the calls journal in the path (`named`).
        """
        if request.method != "GET":
            return json_error(405, "METHOD_NOT_ALLOWED", "Only GET is supported")
        token = request.args.get(CLIENT_API_ID)
        site = self._site_named(named)
        with self._lock:
            revoked = self._revoked.get(token) if token is not None else None
        if revoked is not None:
            return json_error(revoked, "ACCESS_DENIED", "Invalid clientApiId or siteId")
        if token not in self.tokens or site is None or site.site_id not in self.tokens[token]:
            return json_error(self.denied_status, "ACCESS_DENIED", "Invalid clientApiId or siteId")
        if not self._has_points(site):
            return points_error()
        return site

    def _site_named(self, named: str | None) -> Site | None:
        """The site a call names, exactly as its id prints ("012345" or " 12345" name none)."""
        if named is None or not (named.isascii() and named.isdigit()):
            return None
        site = self.sites.get(int(named))
        return site if site is not None and str(site.site_id) == named else None

    # --- limits --------------------------------------------------------------------------------

    def _admit(self, client: str, now: float) -> bool:
        """Let a call through unless `rate_limit` calls of this client (or of all, with
        `rate_limit_per="all"`) passed in the last second."""
        if self.rate_limit is None:
            return True
        with self._lock:
            recent = self._recent[client if self.rate_limit_per == "ip" else "*"]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= self.rate_limit:
                return False
            recent.append(now)
            return True

    def _next_fault(
        self, args: MultiDict[str, str], journal: str, site: str | None
    ) -> tuple[str | None, dict[str, Any]]:
        """Take the first injected fault that applies to a call of this journal, site and query."""
        with self._lock:
            for index, (kind, opts) in enumerate(self._faults):
                if opts["journal"] not in {None, journal}:
                    continue
                if opts["site"] is not None and str(opts["site"]) != site:
                    continue
                if all(args.get(key) == value for key, value in opts["match"].items()):
                    del self._faults[index]
                    return kind, opts
            return None, {}

    def _has_points(self, site: Site) -> bool:
        """Whether the site's daily budget still allows a successful call."""
        with self._lock:
            return self._points_left(site)

    def _spend_point(self, site: Site) -> bool:
        """Charge one successful call against the site's budget; False when it is spent."""
        with self._lock:
            if not self._points_left(site):
                return False
            self._points_spent[site.site_id] += 1
            return True

    def _points_left(self, site: Site) -> bool:
        """Whether a site may still spend a point today; call it holding `_lock`."""
        if site.site_id in self._exhausted:
            return False
        budget = site.points_budget
        return budget is None or self._points_spent[site.site_id] < budget


class _ArrivalServer(ThreadedWSGIServer):
    """Notes when each connection is accepted, which is when a call arrives.

    The API counts calls at its edge. Stamped later, in the handler thread, a call would wait
    for this process's GIL behind the threads building other answers (measured: up to 250 ms
    while 3 MB pages were encoded), and calls sent 220 ms apart would look bunched.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """A threaded werkzeug server with a table of accept times."""
        super().__init__(*args, **kwargs)
        self.accepted: dict[int, float] = {}

    @override
    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self.accepted[id(connection)] = time.monotonic()
        return connection, address


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug logs each request line, token included: skip those, and redact what else it logs."""

    server: _ArrivalServer

    @override
    def make_environ(self) -> WSGIEnvironment:
        """The request's environ, with when its connection arrived (kept-alive: when read)."""
        environ = super().make_environ()
        environ[ARRIVED] = self.server.accepted.pop(id(self.connection), None)
        return environ

    @override
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing per request: the query holds the token."""

    @override
    def log(self, type: str, message: str, *args: Any) -> None:
        """Log errors with any token in them masked."""
        text = message % args if args else message
        super().log(type, "%s", re.sub(rf"({CLIENT_API_ID}=)[^&\s]*", r"\1***", text))
