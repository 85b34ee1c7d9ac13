"""HTTP policy for the Calltouch API: one base stream owns URLs, auth, retries and fetching."""

from __future__ import annotations

import sys
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream

from tap_calltouch.answers import (
    BARE_ARRAY,
    Answer,
    Envelope,
    MalformedStreamError,
    records_of,
    release,
)
from tap_calltouch.errors import (
    TRANSIENT_NETWORK_ERRORS,
    AnswerTooLargeError,
    CalltouchAPIError,
    NoConnectionError,
    TransientNetworkError,
    UnreachableError,
    could_not_connect,
    judge,
    read_records,
)
from tap_calltouch.prefetch import OrderedPrefetcher, StoppedError
from tap_calltouch.records import ShapedStream
from tap_calltouch.redact import redact_registered
from tap_calltouch.retry import exponential_waits
from tap_calltouch.settings import DEFAULT_API_URL
from tap_calltouch.shards import shard_in, share
from tap_calltouch.sites import Site, sites_of
from tap_calltouch.windows import REQUESTS_DATE_FORMAT, Part

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    from backoff.types import Details

    from tap_calltouch.auth import RateLimitedTokenAuthenticator

DEFAULT_REQUEST_TIMEOUT = 120  # seconds


class CalltouchStream(ShapedStream, RESTStream[Any]):
    """Base stream of the Calltouch API: HTTP, auth, retries, judging answers, fetching parts.

    A journal declares `path` (with `{site_id}` where the site id goes in the path), how its
    answers are wrapped (`envelope`, which says whether it is `paged`) and its date format.
    """

    #: Where the records sit in an answer, and what else the answer must say.
    envelope: ClassVar[Envelope] = BARE_ARRAY
    #: How `dateFrom`/`dateTo` are written.
    date_format: ClassVar[str] = REQUESTS_DATE_FORMAT
    #: The query parameter naming the site; None where `path` has `{site_id}` instead.
    site_parameter: ClassVar[str | None] = None
    #: The query every call carries besides dates, page and token (a function of `settings`).
    base_query: ClassVar[staticmethod[[dict[str, Any]], dict[str, str]]]
    #: How many parts may be in flight at once; they still come out in order.
    #: With the API answering in ~1 s, 8 in flight keep the 5 calls/s limiter busy.
    fetch_concurrency = 8
    backoff_tries = 8
    #: The first part not started because `max_api_calls` was reached, if any.
    held_back: Part | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Set up the per-sync fetch bookkeeping shared with the fetch threads."""
        super().__init__(*args, **kwargs)
        self._stopping = threading.Event()  # set when the sync stops: no more calls (its own)
        self._parts_called: set[Part] = set()  # parts that made their first call
        self._count_lock = threading.Lock()
        self.calls_made = 0  # by this stream in this sync, retries included
        self._current_part = threading.local()  # the part a fetch thread works on, its stop
        self._answered_at = -1.0  # time.monotonic() of the last whole HTTP answer, any site
        self._silent_failure: tuple[Site, float] | None = None  # see `_exhausted`

    @property
    def paged(self) -> bool:
        """Whether a window is read page by page: its answers are pages saying `pageTotal`."""
        return "pageTotal" in self.envelope.totals

    @property
    @override
    def url_base(self) -> str:
        """The API host from settings, so tests and the demo point at the emulator."""
        return str(self.config.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @property
    @override
    def authenticator(self) -> RateLimitedTokenAuthenticator:
        """The tap's one authenticator, so all streams and threads share one limiter."""
        return self._tap.authenticator  # type: ignore[attr-defined,no-any-return]

    @property
    @override
    def timeout(self) -> int:
        """Seconds to wait for an answer before the call is retried."""
        return int(self.config.get("request_timeout", DEFAULT_REQUEST_TIMEOUT))

    @cached_property
    def sites(self) -> list[Site]:
        """The sites this run reads, in the order configured: this `shard`'s, if one is set."""
        return share(sites_of(dict(self.config)), shard_in(dict(self.config)))

    @cached_property
    def _query(self) -> dict[str, str]:
        """The query parameters every call of this run carries, besides dates and the token."""
        return self.base_query(dict(self.config))

    def journal_url(self, site: Site) -> str:
        """The journal's URL for a site, with its id where the path has a place for it."""
        return self.url_base + self.path.format(site_id=site.site_id)

    @property
    def site_failures(self) -> dict[int, str]:
        """Sites stopped in this run, and why: the tap's own, shared by every stream."""
        failures: dict[int, str] = self._tap.site_failures  # type: ignore[attr-defined]
        return failures

    # Retries

    @override
    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """The SDK's backoff around one attempt (`_send`), with a `giveup` of its own.

        Only `RetriableAPIError` is retried: `_send` turns transport failures into one, with
        the token masked. Nothing is retried once the sync has stopped, and a 504 of a window
        that can be split is given up at once: its days are fetched instead (`_fetch`).
        """
        decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = backoff.on_exception(
            self.backoff_wait_generator,
            RetriableAPIError,
            max_tries=self.backoff_max_tries,
            giveup=self._gives_up,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )
        return decorator(func)

    def _gives_up(self, exc: Exception) -> bool:
        current = self._current_part
        return bool(
            current.stopping.is_set()
            or (current.splittable and isinstance(exc, AnswerTooLargeError))
        )

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        return exponential_waits()

    @override
    def backoff_max_tries(self) -> int:
        return self.backoff_tries

    @override
    def backoff_handler(self, details: Details) -> None:
        """Log the retry without arguments: they hold the prepared request."""
        exc = details.get("exception")
        self.logger.warning(
            "Retrying after %s (attempt %d of %d), waiting %.1f s",
            redact_registered(str(exc)) if exc else "an error",
            details.get("tries", 0),
            self.backoff_tries,
            details.get("wait") or 0.0,
        )

    # Judging answers

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Judge an answer's status: see `errors.judge`."""
        judge(response)

    # Fetching

    def stop(self) -> None:
        """Make no more calls in this sync."""
        self._stopping.set()

    def check_stopped(self) -> None:
        """Raise `Interrupted` if a signal has stopped the run: called where answers are awaited."""
        self._tap.check_stopped()  # type: ignore[attr-defined]

    def _check_running(self) -> None:
        """Refuse to call once the run, the sync or the part's site has stopped.

        The run's stop (a signal) outlasts `start_fetching`: a journal that begins after the
        signal, before the main thread raises it, makes no call either.
        """
        if (
            self._current_part.stopping.is_set()
            or self._tap.stopped.is_set()  # type: ignore[attr-defined]
            or self._current_part.value.site.site_id in self.site_failures
        ):
            raise StoppedError

    def _send(self, prepared: requests.PreparedRequest) -> Answer:
        """One attempt: wait for the limiter, sign, send, judge the status, read the body."""
        self._check_running()
        with self.authenticator.turn():
            self._check_running()  # the limiter may have kept us waiting past a fatal error
            signed = self.authenticator.sign(prepared, self._current_part.value.site.token)
            with self._count_lock:
                self.calls_made += 1
            self._parts_called.add(self._current_part.value)
        try:  # sent right after the turn ends, which the next turn counts from
            # Redirects are not followed: one keeps the query, token included, for any host.
            response = self.requests_session.send(
                signed, timeout=self.timeout, stream=True, allow_redirects=False
            )
            with response:
                try:
                    self.validate_response(response)
                    answer = read_records(response, self.envelope)
                except (RetriableAPIError, FatalAPIError):
                    self._answered_at = time.monotonic()  # an error, but a whole answer
                    raise
            self._answered_at = time.monotonic()
        except TRANSIENT_NETWORK_ERRORS as exc:
            # requests puts the whole URL, token included, into its messages; the redacted
            # error is raised outside this block so the original is not chained to it.
            message = redact_registered(str(exc))
            kind = NoConnectionError if could_not_connect(exc) else TransientNetworkError
        else:
            return answer
        raise kind(message)

    def fetch_part(self, part: Part) -> list[Answer]:
        """Answers covering one part: one, or several when the server cannot build a window.

        With several sites, one whose token is rejected, whose points are spent or whose calls
        fail every try stops alone (see `stop_site`): it is noted in `site_failures`, and its
        parts answer nothing from then on.
        """
        self._current_part.value = part
        self._current_part.stopping = self._stopping  # the sync's it was started in
        try:
            answers = self._fetch(part)
            self._tap.answered.add(part.site.site_id)  # type: ignore[attr-defined]
        except StoppedError:
            if part.site.site_id in self.site_failures:
                return []
            raise
        except CalltouchAPIError as error:
            self.stop_site(part.site, error)
            return []
        return answers

    def stop_site(self, site: Site, error: CalltouchAPIError) -> None:
        """Note that a site stopped, and why; raise `error` when it stops the whole run.

        It does with one site configured (a shard holding one site of a longer `sites` is a
        share of the list: its site stops alone), or when the API cannot be reached at all.
        """
        if len(sites_of(dict(self.config))) == 1 or isinstance(error, UnreachableError):
            raise error
        with self._count_lock:
            self.site_failures.setdefault(site.site_id, str(error))
        self.logger.error("%s stopped, the other sites go on: %s", site, error)

    def _fetch(self, part: Part) -> list[Answer]:
        # A page is not split (a smaller page is the fix); a whole window is, on a 504.
        pieces = [] if part.page is not None else part.window.split(part.site.zone)
        params = {**self._query, **part.params(self.date_format)}
        if self.site_parameter:
            params[self.site_parameter] = str(part.site.site_id)
        # Prepared unsigned: `_send` signs each attempt, so each one waits for the limiter once.
        headers = {"User-Agent": self.user_agent, **self.http_headers}
        url = self.journal_url(part.site)
        prepared = requests.Request("GET", url, params=params, headers=headers)
        error: Exception
        began = time.monotonic()
        self._current_part.splittable = bool(pieces)  # read by `_gives_up`
        try:
            return [self.request_decorator(self._send)(prepared.prepare())]
        except RetriableAPIError as exc:
            splittable = bool(pieces) and isinstance(exc, AnswerTooLargeError)
            error = exc if splittable else self._exhausted(part, exc, began)
        except FatalAPIError as exc:
            error = type(exc)(redact_registered(f"{self.name} window {part}: {exc}"))
        if not isinstance(error, AnswerTooLargeError):
            raise error  # raised outside the handler, so no response object rides along
        self.logger.warning(
            "Window %s is too large for one answer (HTTP 504); fetching it as %d parts",
            part,
            len(pieces),
        )
        answers: list[Answer] = []
        try:
            for piece in pieces:
                answers.extend(self._fetch(Part(piece, part.site)))
        except BaseException:
            release(answers)
            raise
        return answers

    def _failure_message(self, part: Part, exc: Exception, why: str = "") -> str:
        msg = f"{self.name} window {part} failed after {self.backoff_tries} attempts: {exc}"
        if isinstance(exc, NoConnectionError) or why:
            msg += f" ({why}check the `api_url` setting, {self.url_base}, and the network)"
        elif isinstance(exc, TransientNetworkError):
            msg += " (the API took the call, but its answer did not arrive whole)"
        return redact_registered(msg)

    def _exhausted(self, part: Part, exc: RetriableAPIError, began: float) -> CalltouchAPIError:
        """The error a call that failed every try ends with: `UnreachableError` stops every site.

        The rule (see `UnreachableError`): a call that could not connect was never sent, so it
        says nothing about its site: the host is down. An answer that broke may be the site's
        own (a huge window, a slow shard), so its site stops alone while other sites' calls
        are answered; but when two sites' calls break one after the other and no call of any
        site got a whole answer since the first began, the API is answering nothing at all.
        """
        if isinstance(exc, NoConnectionError):
            return UnreachableError(self._failure_message(part, exc))
        if not isinstance(exc, TransientNetworkError):
            return CalltouchAPIError(self._failure_message(part, exc))
        with self._count_lock:
            silent = self._answered_at < began  # no whole answer while this call failed
            earlier = self._silent_failure
            if earlier is not None and self._answered_at >= earlier[1]:
                earlier = None  # answers came since that one began: it was its site's
            if silent and earlier is not None and earlier[0] != part.site:
                why = f"{earlier[0]}'s calls broke the same way and no call was answered since; "
                return UnreachableError(self._failure_message(part, exc, why))
            if silent and earlier is None:
                self._silent_failure = (part.site, began)
        return CalltouchAPIError(self._failure_message(part, exc))

    def follow_ups(self, part: Part, answers: list[Answer]) -> list[Part]:
        """A window's other pages, once its first page's answer says how many there are."""
        return part.following(answers[0].page_total or 0) if answers else []

    def fetch_in_order(
        self, parts: Iterable[Part], *, call_limit: int | None = None
    ) -> Iterator[tuple[Part, list[Answer]]]:
        """Fetch parts concurrently under the shared limiter, yielding them in order.

        A window's first page brings its other pages in right after it. With `call_limit`,
        no new part starts once the run's calls, retries included, plus one for each part
        started that has not called yet, reach it; `held_back` then names the first part
        left for the next run. A window once started is read to its end.
        """

        def may_start(_part: Part, in_flight: list[Part]) -> bool:
            if call_limit is None:
                return True
            pending_first_calls = sum(part not in self._parts_called for part in in_flight)
            return self.authenticator.calls + pending_first_calls < call_limit

        prefetcher: OrderedPrefetcher[Part, list[Answer]] = OrderedPrefetcher(
            self.fetch_part,
            concurrency=self.fetch_concurrency,
            may_start=may_start,
            follow_ups=self.follow_ups,
            release=release,
        )
        yield from prefetcher.run(parts, check=self.check_stopped)
        if call_limit is not None:
            self.held_back = prefetcher.held_back

    def start_fetching(self) -> None:
        """A new sync: calls may go out again, once the limiter (and its store) is ready."""
        _ = self.authenticator
        # A new event, not the old one cleared: calls still waiting from a sync that was
        # stopped (a `--test` run ended early) stay stopped when this one begins.
        self._stopping = threading.Event()
        self._parts_called.clear()
        self.held_back = None
        self.calls_made = 0
        self._silent_failure = None

    def parse_answer(self, answer: Answer, part: Part) -> Iterator[dict[str, Any]]:
        """The records of one answer; a large one that breaks as they are read stops its site.

        A requests answer breaks mid-stream, a calls page on a value its shape check could not
        judge. Some records of the window may be out by then, so it is not fetched again in this
        run: its window stays incomplete (no STATE), and the next run reads it again.
        """
        try:
            yield from records_of(answer)
        except MalformedStreamError as exc:
            msg = (
                f"{self.name} window {part}: the answer could not be read through ({exc}); state "
                "holds the previous window, so the next run fetches this one again"
            )
        else:
            return
        self.stop_site(part.site, CalltouchAPIError(msg))

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Unused: this stream reads spooled bodies through `parse_body`."""
        raise NotImplementedError

    @override
    def get_new_paginator(self) -> None:
        """Pages are parts of their own, fetched concurrently: see `fetch_in_order`."""
        return
