"""HTTP policy for the Calltouch API: one base stream owns URLs, auth, retries and body checks."""

from __future__ import annotations

import sys
import tempfile
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any

import backoff
import ijson
import orjson
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream

from tap_calltouch.output import LeanRecordStream
from tap_calltouch.prefetch import OrderedPrefetcher
from tap_calltouch.redact import redact_registered
from tap_calltouch.retry import exponential_waits
from tap_calltouch.settings import DEFAULT_API_URL, account_zone, api_params

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator
    from zoneinfo import ZoneInfo

    from backoff.types import Details

    from tap_calltouch.auth import RateLimitedTokenAuthenticator
    from tap_calltouch.windows import Window

REQUESTS_PATH = "/calls-service/RestAPI/requests/"
SPOOL_BYTES = 1024 * 1024  # bodies above this wait on disk (page cache), not in our heap
WHOLE_PARSE_BYTES = 4 * 1024 * 1024  # bodies up to this are parsed in one go, larger streamed
_CHUNK = 256 * 1024
_TRANSIENT_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class CalltouchAPIError(FatalAPIError):
    """A failure a person has to act on; the message says what to check."""


class BadBodyError(RetriableAPIError):
    """A 200 whose body is not a JSON array: a truncated answer or a proxy's HTML page."""


class TransientNetworkError(RetriableAPIError):
    """A reset, refused connection or timeout; the message is redacted."""


class AnswerTooLargeError(RetriableAPIError):
    """504: the server could not build the answer in time, most often because it is too big."""


class PointsExhaustedError(CalltouchAPIError):
    """The project's daily API points are spent; calls fail until tomorrow."""


class CalltouchStream(LeanRecordStream, RESTStream[Any]):
    """Base stream for the requests journal: HTTP, auth, retries, and window fetching."""

    path = REQUESTS_PATH
    records_jsonpath = "$[*]"
    #: How many windows may be in flight at once; they still come out in window order.
    #: With the API answering in ~1 s, 8 in flight keep the 5 calls/s limiter busy.
    fetch_concurrency = 8
    backoff_tries = 8
    #: The first window not started because `max_api_calls` was reached, if any.
    held_back: Window | None = None

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
        return int(self.config.get("request_timeout", 300))

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone."""
        return account_zone(dict(self.config))

    # Retries

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
        """Fail at once on rejected credentials, retry 429/5xx, report other 4xx verbatim."""
        status = response.status_code
        if status >= HTTPStatus.BAD_REQUEST and _mentions_points(response):
            msg = (
                f"Calltouch's daily API points are used up (HTTP {status}: "
                f"{self._api_message(response)}). Stopped at once; the state holds the last "
                "complete window, so the next run (after the daily reset) continues from there."
            )
            raise PointsExhaustedError(msg)
        if status == HTTPStatus.GATEWAY_TIMEOUT:
            msg = f"HTTP {status} {response.reason} from Calltouch"
            raise AnswerTooLargeError(msg, response)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            msg = (
                f"Calltouch rejected the credentials (HTTP {status}): check the `api_token` "
                f"and `site_id` settings. API said: {self._api_message(response)}"
            )
            raise CalltouchAPIError(msg)
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            msg = f"HTTP {status} {response.reason} from Calltouch"
            raise RetriableAPIError(msg, response)
        if status >= HTTPStatus.BAD_REQUEST:
            msg = f"Calltouch refused the call (HTTP {status}): {self._api_message(response)}"
            raise CalltouchAPIError(msg)

    @staticmethod
    def _api_message(response: requests.Response) -> str:
        """The API's own error text, shortened and with the token masked."""
        try:
            text = response.text
        except (requests.RequestException, UnicodeDecodeError):  # pragma: no cover
            text = ""
        return redact_registered(text.strip()[:500]) or response.reason or "no message"

    # Fetching

    def _send(self, prepared: requests.PreparedRequest) -> IO[bytes]:
        """One attempt: sign, send, judge the status, and spool a body that looks like an array."""
        signed = self.authenticator(prepared)
        try:
            response = self.requests_session.send(signed, timeout=self.timeout, stream=True)
            with response:
                self.validate_response(response)
                return _spool_array(response)
        except _TRANSIENT_NETWORK_ERRORS as exc:
            # requests puts the whole URL, token included, into its messages.
            raise TransientNetworkError(redact_registered(str(exc))) from None

    def _retrying(
        self, send: Callable[[requests.PreparedRequest], IO[bytes]], *, can_split: bool
    ) -> Callable[[requests.PreparedRequest], IO[bytes]]:
        """The SDK's backoff hooks around `send`; a splittable window is not retried on 504."""
        return backoff.on_exception(
            self.backoff_wait_generator,
            RetriableAPIError,
            max_tries=self.backoff_max_tries,
            giveup=lambda exc: can_split and isinstance(exc, AnswerTooLargeError),
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(send)

    def fetch_window(self, window: Window) -> list[IO[bytes]]:
        """Bodies covering one window: one, or several when the server cannot build it whole."""
        pieces = window.split()
        params = {**api_params(dict(self.config)), **window.params}
        # Prepared unsigned: `_send` signs each attempt, so each one waits for the limiter once.
        headers = {"User-Agent": self.user_agent, **self.http_headers}
        prepared = requests.Request(
            "GET", self.get_url(None), params=params, headers=headers
        ).prepare()
        try:
            return [self._retrying(self._send, can_split=bool(pieces))(prepared)]
        except RetriableAPIError as exc:
            if not (pieces and isinstance(exc, AnswerTooLargeError)):
                msg = f"Window {window} failed after {self.backoff_tries} attempts: {exc}"
                raise CalltouchAPIError(redact_registered(msg)) from None
            self.logger.warning(
                "Window %s is too large for one answer (HTTP 504); fetching it as %d parts",
                window,
                len(pieces),
            )
        except FatalAPIError as exc:
            msg = f"Window {window}: {exc}"
            raise type(exc)(redact_registered(msg)) from None
        bodies: list[IO[bytes]] = []
        try:
            for piece in pieces:
                bodies.extend(self.fetch_window(piece))
        except BaseException:
            for body in bodies:
                body.close()
            raise
        return bodies

    def fetch_in_order(self, windows: Iterable[Window]) -> Iterator[tuple[Window, list[IO[bytes]]]]:
        """Fetch windows concurrently under the shared limiter, yielding them in window order.

        With `max_api_calls` set, no new window starts once the calls made and in flight reach
        it; `self.held_back` then names the first window left for the next run.
        """
        budget = self.config.get("max_api_calls")

        def may_start(in_flight: int) -> bool:
            return not budget or self.authenticator.calls + in_flight < budget

        prefetcher: OrderedPrefetcher[Window, list[IO[bytes]]] = OrderedPrefetcher(
            self.fetch_window,
            concurrency=self.fetch_concurrency,
            may_start=may_start,
            release=_close_all,
        )
        yield from prefetcher.run(windows)
        self.held_back = prefetcher.held_back

    def parse_body(self, body: IO[bytes], window: Window) -> Iterator[dict[str, Any]]:
        """The array's objects: parsed whole when small, streamed when large.

        orjson parses a small body several times faster than a streaming parser, and its
        objects fit easily in memory; a large body is streamed object by object with ijson,
        so memory stays flat however big a window's answer is.
        """
        with body:
            size = body.tell()
            body.seek(0)
            try:
                if size <= WHOLE_PARSE_BYTES:
                    yield from orjson.loads(body.read())
                else:
                    yield from ijson.items(body, "item", use_float=True)
            except (orjson.JSONDecodeError, ijson.JSONError) as exc:
                msg = f"Window {window}: the answer is not valid JSON ({exc}); no state was saved"
                raise CalltouchAPIError(msg) from None

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Unused: this stream reads spooled bodies through `parse_body`."""
        raise NotImplementedError

    @override
    def get_new_paginator(self) -> None:
        """The API has no pagination: each window is one call."""
        return


def _mentions_points(response: requests.Response) -> bool:
    """Whether an error answer is about the daily points budget rather than the credentials."""
    text = response.text.lower()
    return "points" in text or "балл" in text


def _spool_array(response: requests.Response) -> IO[bytes]:
    """Copy the body to a spooled file and check it has the shape of a JSON array.

    A truncated body or an HTML error page from a proxy comes with status 200; checking the
    first and last bytes catches them here, inside the retry loop, at no parsing cost.
    """
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - caller closes
    try:
        for chunk in response.iter_content(_CHUNK):
            body.write(chunk)
        _check_array_edges(body, response)
    except BaseException:
        body.close()
        raise
    return body


def _check_array_edges(body: IO[bytes], response: requests.Response) -> None:
    head, tail = _edges(body)
    if head != b"[" or tail != b"]":
        content_type = response.headers.get("Content-Type", "unknown type")
        msg = f"HTTP 200 but the body is not a JSON array ({content_type}, starts {head!r})"
        raise BadBodyError(msg, response)


def _edges(body: IO[bytes]) -> tuple[bytes, bytes]:
    """The first and last non-blank bytes of a file."""
    size = body.tell()
    body.seek(0)
    head = body.read(64).lstrip()[:1]
    body.seek(max(0, size - 64))
    tail = body.read().rstrip()[-1:]
    return head, tail


def _close_all(bodies: list[IO[bytes]]) -> None:
    """Release the spooled bodies of a window fetched after the sync stopped."""
    for body in bodies:
        body.close()
