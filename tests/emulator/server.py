"""A local emulator of Calltouch's API, read top to bottom like the docs: the server's part.

A call is judged as the real service would: the gateway first (unknown path, rate limit, the
faults a test injected), then access (token and site, daily points: `accounts`), then its
journal's parameters (400 naming the bad one) and answer, each journal a module of its own
(`requests_journal`, `calls_journal`; listed in `JOURNALS`). Here is what they share: the HTTP
server, the rate limit (one per client IP over every site and both journals, as the API's
is), fault injection and the call log. One site under one token, or many under a few:

    Emulator(dataset=requests, calls=calls, token="tok", site_id=12345, tz="Europe/Moscow")
    Emulator(sites=[Site(101, requests=[...], calls=[...]), ...], tokens={"tok-a": {101}})
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from typing_extensions import Self
from werkzeug.wrappers import Request, Response

from tests.emulator.accounts import CLIENT_API_ID, Accounts, given_sites
from tests.emulator.calls_journal import CallsJournal, PageServed
from tests.emulator.errors import BadRequestError
from tests.emulator.requests_journal import API_PATH, REQUEST_TIME, RequestsJournal
from tests.emulator.responses import (
    HELP_PAGE,
    HTML,
    cut_off,
    garbled,
    injected,
    json_error,
    truncated,
)
from tests.emulator.serving import ARRIVED, ArrivalServer, QuietHandler

__all__ = ["API_PATH", "JOURNALS", "REQUEST_TIME", "Call", "Emulator", "PageServed"]

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.datastructures import MultiDict
    from werkzeug.serving import BaseWSGIServer

    from tests.emulator.calls_journal import PageHook
    from tests.emulator.dataset import Record
    from tests.emulator.journal import Journal
    from tests.emulator.sites import Site

# The journals served, each a module of its own; a path is theirs in this order. The first is
# also what a call to an unknown path is counted under.
JOURNALS: tuple[type[Journal], ...] = (RequestsJournal, CallsJournal)

FAULTS = frozenset(
    {"status", "reset", "hang", "slow", "truncated", "garbled", "cut", "html", "object"}
)
ANSWERING_FAULTS = frozenset({"status", "reset", "hang", "html", "object"})  # instead of the API
MATCH_OPTIONS = ("page", "limit", "dateFrom", "dateTo")  # inject(..., page=3): match={"page": 3}
HOLD = "emulator.hold"  # environ key: seconds a `hang` fault keeps the caller waiting (None: ever)


def journal_of(path: str) -> type[Journal] | None:
    """The journal a path is, or None: the gateway's help page (404)."""
    return next((journal for journal in JOURNALS if journal.serves(path)), None)


@dataclasses.dataclass(frozen=True)
class Call:
    """One call as the emulator saw it: `params` without the token; `status` 0: dropped."""

    time: float  # time.monotonic() at arrival
    path: str
    params: dict[str, str]
    status: int
    tokens: int = 1  # how many token parameters the query held (a client should send one)

    @property
    def _journal(self) -> type[Journal]:
        return journal_of(self.path) or JOURNALS[0]

    @property
    def journal(self) -> str:
        """Which journal the call asked: "calls" or "requests" (also for an unknown path)."""
        return self._journal.name

    @property
    def site(self) -> str | None:
        """The site the call named (calls: in the path; requests: `siteId`), as it named it."""
        return self._journal.site_named(self.path, self.params)

    @property
    def page(self) -> int | None:
        """The `page` a calls-journal call asked for; None without one, or when not a number."""
        page = self.params.get("page", "")
        return int(page) if page.isdigit() else None


class Emulator(Accounts):
    """Serves the journals on 127.0.0.1 as the Calltouch API does, with its limits and faults.

    Its sites, tokens, access and points are those of `Accounts`; each journal's answers are
    its `Journal`'s (`journals`, by name).
    """

    #: The `rate_limit` of an emulator not given one: the API's 5 calls a second. None (no
    #: limit) in the tests whose subject is not pacing, where the tap spaces its calls 1 ms
    #: apart (tests/conftest.py).
    default_rate_limit: ClassVar[int | None] = 5

    def __init__(  # noqa: PLR0913 - every knob is a documented behaviour of the API
        self,
        *,
        dataset: list[Record] | None = None,
        token: str | None = None,
        site_id: int | None = None,
        tz: str | None = None,
        rate_limit: int | Literal["default"] | None = "default",
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
        `rate_limit` is how many calls a client may make in any second (None: any number);
        `rate_limit_per="all"` counts every call against one `rate_limit`, whoever sends it: the
        API's per-IP limit as several processes or machines behind one NAT meet it.
        """
        given = given_sites(dataset, token, site_id, tz, calls, points_budget, sites, tokens)
        super().__init__(*given, denied_status)
        if rate_limit_per not in {"ip", "all"}:
            msg = f"rate_limit_per is 'ip' or 'all', not {rate_limit_per!r}"
            raise ValueError(msg)
        self.rate_limit = self.default_rate_limit if rate_limit == "default" else rate_limit
        self.rate_limit_per = rate_limit_per
        self.retry_after = retry_after
        self.latency = latency
        self.max_response_records = max_response_records
        self.shuffle_seed = shuffle_seed
        self.empty_page_total = empty_page_total
        self.calls_max_days = calls_max_days
        self.journals: dict[str, Journal] = {journal.name: journal(self) for journal in JOURNALS}
        self.calls: list[Call] = []
        self._lock = threading.Lock()  # the call log, the rate windows and the faults
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._faults: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._server: BaseWSGIServer | None = None
        self._stopping = threading.Event()  # releases the callers a `hang` fault holds
        self._thread: threading.Thread | None = None

    # --- running -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (a free port by default) from a daemon thread; return the base URL."""
        self._stopping.clear()
        # The datasets hold millions of objects; a full collection walking them would stall
        # every thread here for hundreds of ms (measured: 244 ms), arrivals included. A real
        # API has no such pause, so they are moved out of the collector's sight.
        gc.freeze()
        server = ArrivalServer("127.0.0.1", port, self._wsgi, handler=QuietHandler)
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
        the first half, so the body still ends like an array), `garbled` (one byte that is no
        UTF-8 put into a string past the body's middle), `cut` (the answer announced
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
        if journal is not None and journal not in self.journals:
            msg = f"unknown journal {journal!r}; use one of {sorted(self.journals)}"
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

    # --- calls that arrive (or go) while a client pages, for tests ------------------------------

    def on_page(self, hook: PageHook) -> None:
        """Run `hook(served)` on each calls-journal answer about to go out (`CallsJournal`)."""
        self._calls_journal.on_page(hook)

    def arrive_after(
        self,
        page: int,
        calls: Iterable[Record] = (),
        *,
        remove: Iterable[int | str] = (),
        date_from: str | None = None,
        site: int | None = None,
    ) -> None:
        """Once, after calls-journal page `page` is served, append `calls` and remove `remove`."""
        self._calls_journal.arrive_after(page, calls, remove, date_from, site)

    @property
    def _calls_journal(self) -> CallsJournal:
        return cast("CallsJournal", self.journals[CallsJournal.name])

    # --- one call ------------------------------------------------------------------------------

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer, log and delay one call; a `reset` fault closes the socket instead."""
        request = Request(environ)
        arrived = environ.get(ARRIVED) or time.monotonic()
        response = self._respond(request, arrived)
        params = {key: value for key, value in request.args.items() if key != CLIENT_API_ID}
        status = 0 if response is None else response.status_code
        call = Call(arrived, request.path, params, status, len(request.args.getlist(CLIENT_API_ID)))
        with self._lock:
            self.calls.append(call)
        if response is None:
            if HOLD in environ:  # `hang`: the call is logged, the caller waits for nothing
                self._stopping.wait(environ[HOLD])
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError  # werkzeug takes it as a dropped connection: sends nothing
        time.sleep(self.latency)
        return response(environ, start_response)

    def _respond(self, request: Request, arrived: float) -> Response | None:
        """Judge the call as the gateway, then the API would; None means drop the connection."""
        journal = journal_of(request.path)
        if journal is None:
            return Response(HELP_PAGE, 404, content_type=HTML)
        if not self._admit(request.remote_addr or "-", arrived):
            return json_error(429, "TOO_MANY_REQUESTS", "Too many requests", self.retry_after)
        named = journal.site_named(request.path, request.args)
        kind, opts = self._next_fault(request.args, journal.name, named)
        if kind == "hang":
            request.environ[HOLD] = opts.get("seconds")
        if kind in ANSWERING_FAULTS:
            return injected(kind, opts)
        if kind == "slow":
            time.sleep(opts.get("delay", 1.0))
        response = self._api(request, self.journals[journal.name], named)
        if kind == "truncated":
            response = truncated(response, opts.get("after"))
        elif kind == "garbled":
            response = garbled(response)
        elif kind == "cut":
            response = cut_off(response, request.environ)
        return response

    def _api(self, request: Request, journal: Journal, named: str | None) -> Response:
        """The API proper: access, then the journal's answer (400 naming a bad parameter)."""
        site = self.admitted_site(request, named)
        if isinstance(site, Response):
            return site
        try:
            return journal.answer(request, site)
        except BadRequestError as error:
            return json_error(400, "BAD_REQUEST", str(error))

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
