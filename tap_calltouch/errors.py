"""What a failed call means: the errors a person acts on, those retried, and how each is told.

`judge` reads an answer's status (and, for a 4xx, the API's own error), `read_records` its
body; a transport failure is told as one that never connected, or one whose answer broke.
"""

from __future__ import annotations

import re
from http import HTTPStatus

import orjson
import requests
import urllib3
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_calltouch.answers import Answer, Envelope, ErrorBodyError, api_error_texts, read_answer
from tap_calltouch.redact import redact_registered, shorten

TRANSIENT_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: Failures before the call was sent: no site's call can get through them. A refused or
#: unresolved host is a `ConnectionError` whose urllib3 reason is one of `_CONNECT_REASONS`.
_CONNECT_ERRORS = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.ProxyError,
    requests.exceptions.SSLError,
)
_CONNECT_REASONS = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)


class CalltouchAPIError(FatalAPIError):
    """A failure a person has to act on; the message says what to check."""


class TransientNetworkError(RetriableAPIError):
    """A reset, refused connection or timeout; the message is redacted."""


class NoConnectionError(TransientNetworkError):
    """The host could not be connected to: refused, unresolved, a connect timeout, TLS.

    The call was never sent, so no site's call can fare better.
    """


class AnswerTooLargeError(RetriableAPIError):
    """504: the server could not build the answer in time, most often because it is too big."""


class PointsExhaustedError(CalltouchAPIError):
    """The project's daily API points are spent; calls fail until tomorrow."""


class SitesFailedError(CalltouchAPIError):
    """Some sites stopped (rejected token, spent points, calls failing every try)."""


class UnreachableError(CalltouchAPIError):
    """The API could not be reached at all: no site can be read, so the run stops.

    Told from one site's answers breaking once a call has failed at the transport level
    through all its tries (`CalltouchStream._exhausted`): a call that could not connect
    (refused, unresolved, connect timeout, TLS) stops every site; a call whose answer broke
    (read timeout, reset, body cut off) stops its site alone, unless another site's call
    broke the same way and the API answered no call since.
    """


def judge(response: requests.Response) -> None:
    """Retry 429/5xx, stop on spent points or rejected credentials, report 3xx and other 4xx.

    429 and 5xx are retried whatever their body says (a gateway's "all endpoints busy"
    is not the points answer); only a 4xx whose API error names the points is.
    """
    status = response.status_code
    if HTTPStatus.MULTIPLE_CHOICES <= status < HTTPStatus.BAD_REQUEST:
        # Not followed: its `Location` would take the token in the query along.
        msg = (
            f"Calltouch answered HTTP {status} {response.reason}, a redirect, which the tap "
            f"does not follow (the token travels in the query): check the `api_url` setting"
        )
        raise CalltouchAPIError(msg)
    if status == HTTPStatus.GATEWAY_TIMEOUT:
        msg = f"HTTP {status} {response.reason} from Calltouch"
        raise AnswerTooLargeError(msg, response)
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        msg = f"HTTP {status} {response.reason} from Calltouch"
        raise RetriableAPIError(msg, response)
    if status >= HTTPStatus.BAD_REQUEST and is_points_answer(response):
        raise PointsExhaustedError(points_message(status, api_message(response)))
    if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
        msg = (
            f"Calltouch rejected the credentials (HTTP {status}): check the `api_token` "
            f"and `site_id` settings. API said: {api_message(response)}"
        )
        raise CalltouchAPIError(msg)
    if status >= HTTPStatus.BAD_REQUEST:
        msg = f"Calltouch refused the call (HTTP {status}): {api_message(response)}"
        raise CalltouchAPIError(msg)


def api_message(response: requests.Response) -> str:
    """The API's own error text, shortened and with the token masked."""
    try:
        text = response.text
    except (requests.RequestException, UnicodeDecodeError):  # pragma: no cover
        text = ""
    # Redact the whole text before shortening it: a cut through the token would leave
    # its first part unmasked.
    return shorten(redact_registered(text.strip())) or response.reason or "no message"


#: The API's points answer, as the emulator gives it: 403 with the JSON error
#: `{"error": "POINTS_LIMIT_EXCEEDED", "message": "Daily API points limit exceeded"}`. The
#: vendor says only that calls fail until the next day once the points are spent, and gives
#: no status or body; so the answer is told by its API error naming the points (the word
#: "points", or "балл" in Russian), never by a word found anywhere in a page.
_POINTS = re.compile(r"\bpoints?\b|POINTS_LIMIT|балл", re.IGNORECASE)


def is_points_answer(response: requests.Response) -> bool:
    """Whether a 4xx answer is the API saying the daily points budget is spent.

    429 and 5xx never are: they are retried. The API's errors are JSON: `error` and `message`
    at the top, or `data.apiErrorData.errorMessage` (shapes clients saw); an HTML page is a
    gateway's, not the API's.
    """
    status = response.status_code
    if not HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR:
        return False
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return False
    return any(_POINTS.search(text) for text in _api_error_texts(response))


def _api_error_texts(response: requests.Response) -> list[str]:
    """The API's own error fields of an answer, or none when it is not a JSON object."""
    try:  # a body broken on its way is a transport fault, retried: not caught here
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return []
    return api_error_texts(body)


def points_message(status: int, said: str) -> str:
    """What a run stopped by spent points says: when and from where the next run goes on."""
    return (
        f"Calltouch's daily API points are used up (HTTP {status}: {said}). Stopped at once; "
        "the state holds the last complete window, so the next run (after the daily reset) "
        "continues from there."
    )


def read_records(response: requests.Response, envelope: Envelope) -> Answer:
    """`read_answer`, with the points answer told in a 200 too: the API's error naming them."""
    try:
        return read_answer(response, envelope)
    except ErrorBodyError as error:
        if not any(_POINTS.search(text) for text in error.said):
            raise
        said = redact_registered(" / ".join(error.said))
        raise PointsExhaustedError(points_message(response.status_code, shorten(said))) from None


def could_not_connect(exc: Exception) -> bool:
    """Whether a transport failure came before the call was sent.

    Refused, unresolved, a connect timeout, TLS or a proxy; requests wraps urllib3's reason
    in `args[0]`.
    """
    if isinstance(exc, _CONNECT_ERRORS):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", None)
    return isinstance(reason, _CONNECT_REASONS)
