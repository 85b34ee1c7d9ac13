"""Answer bodies: from a 200 response to the records it holds, one parser per answer shape.

A body is spooled (`spool.py`) inside the retry loop, so one that is truncated or not what the
journal sends is simply fetched again. A calls page (a page object of at most `page_size`
records) is parsed whole there with orjson, and again when emitted if it is large. A requests
answer (a bare array as large as its window) is read with ijson: in full there when small; when
large, only its edges are checked there and its records are streamed from disk as they are
emitted, so memory stays flat however big a window's answer is.

Up to 8 answers wait for their turn, and a parsed body takes about five times its size: only
bodies up to `WHOLE_PARSE_BYTES` wait parsed, larger ones wait on disk.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import ijson
import orjson
from singer_sdk.exceptions import RetriableAPIError

from tap_calltouch.redact import redact_registered, shorten
from tap_calltouch.spool import CHUNK, spool

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

WHOLE_PARSE_BYTES = 256 * 1024  # answers up to this wait parsed; larger ones wait on disk
SAID_LENGTH = 300  # characters of the API's error text quoted


@dataclass(frozen=True)
class Envelope:
    """How a journal wraps its records: a bare array, or a page object around them."""

    records_key: str | None  # the key of the records in a page object; None: a bare array
    totals: tuple[str, ...] = ()  # a page's whole numbers: `Answer.page_total`, `.records_total`
    kind: str = "a JSON array"  # for messages


BARE_ARRAY = Envelope(None)
PAGED = Envelope("records", ("pageTotal", "recordsTotal"), "a JSON page object")


@dataclass
class Answer:
    """One answer: its records parsed, or its body on disk to stream, and what the page said."""

    records: list[dict[str, Any]] | IO[bytes]
    envelope: Envelope = BARE_ARRAY  # how a body on disk is read
    page_total: int | None = None
    records_total: int | None = None


class BadBodyError(RetriableAPIError):
    """A 200 whose body is not what the journal sends: a truncated answer, a proxy's page."""


class ErrorBodyError(BadBodyError):
    """A 200 whose body is the API's error object instead of records: what the API said."""

    def __init__(self, msg: str, response: requests.Response, said: list[str]) -> None:
        """Keep the API's own error texts, so the client can tell the points answer."""
        super().__init__(msg, response)
        self.said = said


class MalformedStreamError(ValueError):
    """A large body that passed the edge check but broke while streaming."""


def api_error_texts(body: object) -> list[str]:
    """The API's own error fields of a parsed body; none when it is no object.

    `error` and `message` at the top, or `data.apiErrorData.errorMessage`: the shapes clients saw.
    """
    if not isinstance(body, dict):
        return []
    nested = body.get("data")
    nested = nested.get("apiErrorData") if isinstance(nested, dict) else None
    fields = [body.get("error"), body.get("message")]
    fields.append(nested.get("errorMessage") if isinstance(nested, dict) else None)
    return [field for field in fields if isinstance(field, str)]


def _not_records(msg: str, parsed: object, response: requests.Response) -> BadBodyError:
    """A 200 that holds no records; the API's error text in it, if any, is quoted."""
    said = api_error_texts(parsed)
    if not said:
        return BadBodyError(msg, response)
    # Masked before it is cut: a cut through the token would leave its first part unmasked.
    quoted = shorten(redact_registered(" / ".join(said)), SAID_LENGTH)
    return ErrorBodyError(f"{msg}; API said: {quoted}", response, said)


def read_answer(response: requests.Response, envelope: Envelope = BARE_ARRAY) -> Answer:
    """Spool the body and read it as its journal's shape is read; a `BadBodyError` if it is not.

    A large answer keeps its body, which `records_of` reads (a page again) and closes.
    """
    body = spool(response.iter_content(CHUNK))
    records: list[dict[str, Any]] | IO[bytes]
    totals: list[int] = []
    try:
        size = body.tell()
        body.seek(0)
        if envelope.records_key is None:
            _check_edges(body, size, response)
            records = body if size > WHOLE_PARSE_BYTES else _array(body, response)
        else:
            records, totals = _page(body.read(), response, envelope)
            records = body if size > WHOLE_PARSE_BYTES else records
    except BaseException:
        body.close()
        raise
    if records is not body:
        body.close()
    return Answer(records, envelope, *totals)


def records_of(answer: Answer) -> Iterator[dict[str, Any]]:
    """The records of an answer; a large one from disk: a page parsed again, an array streamed."""
    if isinstance(answer.records, list):
        yield from answer.records
        return
    with answer.records as body:
        if answer.envelope.records_key is not None:
            body.seek(0)
            yield from orjson.loads(body.read())[answer.envelope.records_key]
            return
        try:
            yield from _items(body)
        except ijson.JSONError as exc:
            raise MalformedStreamError(yajl_reason(exc)) from None


def release(answers: list[Answer]) -> None:
    """Close the spooled files of answers that will not be read."""
    for answer in answers:
        if not isinstance(answer.records, list):
            answer.records.close()


def yajl_reason(error: ijson.JSONError) -> str:
    """The parser's complaint without the 60 bytes of body it quotes around the fault.

    A body can echo the call's URL (a gateway's page spliced in): the token, cut by that
    excerpt, is no longer the whole one a mask looks for.
    """
    return str(error).strip().partition("\n")[0]


def _items(body: IO[bytes]) -> Iterator[dict[str, Any]]:
    body.seek(0)
    return ijson.items(body, "item", use_float=True)  # type: ignore[no-any-return]


def _array(body: IO[bytes], response: requests.Response) -> list[dict[str, Any]]:
    """A small bare array's records, read in full."""
    try:
        return list(_items(body))
    except ijson.JSONError as exc:
        msg = f"HTTP 200 but the body is not {BARE_ARRAY.kind} ({yajl_reason(exc)})"
        raise BadBodyError(msg, response) from None


def _page(
    data: bytes, response: requests.Response, envelope: Envelope
) -> tuple[list[dict[str, Any]], list[int]]:
    """A page object parsed whole: its records, and its totals as whole numbers."""
    try:
        page = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = f"HTTP 200 but the body is not {envelope.kind} ({_kind(response)}: {exc})"
        raise BadBodyError(msg, response) from None
    if not isinstance(page, dict):
        msg = f"HTTP 200 but the body is not {envelope.kind} (a JSON {type(page).__name__})"
        raise BadBodyError(msg, response)
    records = page.get(envelope.records_key)
    if not isinstance(records, list):
        kind = "null" if records is None else type(records).__name__
        msg = f"HTTP 200 but `{envelope.records_key}` is not a list (a JSON {kind})"
        raise _not_records(msg, page, response)
    totals = []
    for key in envelope.totals:
        value = page.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            msg = f"HTTP 200 but `{key}` is not a whole number ({value!r:.40})"
            raise BadBodyError(msg, response)
        totals.append(value)
    return records, totals


def _check_edges(body: IO[bytes], size: int, response: requests.Response) -> None:
    """A bare array must open and close as one; the API's error in a small body is quoted."""
    head = body.read(64).lstrip()[:1]
    body.seek(max(0, size - 64))
    tail = body.read().rstrip()[-1:]
    body.seek(0)
    if (head, tail) == (b"[", b"]"):
        return
    parsed = None
    if size <= WHOLE_PARSE_BYTES:
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(body.read())
    what = _kind(response) if parsed is None else f"a JSON {type(parsed).__name__}"
    msg = f"HTTP 200 but the body is not {BARE_ARRAY.kind} ({what}, starts {head!r})"
    raise _not_records(msg, parsed, response)


def _kind(response: requests.Response) -> str:
    return str(response.headers.get("Content-Type", "unknown type"))
