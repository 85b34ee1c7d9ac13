"""Answer bodies: from a 200 response to the records it holds, one parser per answer shape.

A body is spooled (`spool.py`) inside the retry loop, and checked there, so that one truncated or
not what the journal sends is simply fetched again. A calls page holds at most `page_size`
records. A small one is parsed whole with orjson at once. A large one is checked whole for its
shape as it comes (msgspec reads it through without building anything) and parsed whole with
msgspec only when its turn comes, so that up to 8 pages waiting cost disk, not heap; a value the
shape check cannot judge (a string not UTF-8, a number out of range) breaks it then, as a
requests answer that breaks mid-stream. A requests answer (a bare array) has no such
bound: a small one is read in full with ijson, a large one (over `WHOLE_PARSE_BYTES`) is checked
by its first and last bytes only, and its records are streamed from disk with ijson as they are
emitted, so memory stays flat however big a window's answer is.
"""

from __future__ import annotations

import contextlib
import mmap
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import ijson
import msgspec
import orjson
from singer_sdk.exceptions import RetriableAPIError

from tap_calltouch.redact import redact_registered, shorten
from tap_calltouch.spool import CHUNK, spool

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

WHOLE_PARSE_BYTES = 256 * 1024  # bodies up to this are read in full in the retry loop
SAID_LENGTH = 300  # characters of the API's error text quoted


@dataclass(frozen=True)
class Envelope:
    """How a journal wraps its records: a bare array, or a page object around them."""

    opens: bytes  # the body's first character
    closes: bytes  # and its last
    records_key: str | None  # the key of the records in a page object; None: a bare array
    totals: tuple[str, ...] = ()  # a page's whole numbers: `Answer.page_total`, `.records_total`
    kind: str = "a JSON array"  # for messages

    @property
    def records_prefix(self) -> str:
        """Where ijson finds each record."""
        return f"{self.records_key}.item" if self.records_key else "item"


BARE_ARRAY = Envelope(b"[", b"]", None)
PAGED = Envelope(b"{", b"}", "records", ("pageTotal", "recordsTotal"), "a JSON page object")


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
    """A large body that passed the checks made as it came but broke when its records were read.

    A requests array is checked at its edges, a calls page for its shape: a value inside a
    record (a string not UTF-8, a number out of range) is read only when its turn comes.
    """


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
    """Spool the body and check it as its journal's shape is read; a `BadBodyError` if it is not.

    A large answer keeps its body, which `records_of` reads and closes.
    """
    body = spool(response.iter_content(CHUNK))
    try:
        answer = _checked(body, response, envelope)
    except BaseException:
        body.close()
        raise
    if answer.records is not body:
        body.close()
    return answer


def records_of(answer: Answer) -> Iterator[dict[str, Any]]:
    """The records of an answer; a large one streamed from disk."""
    if isinstance(answer.records, list):
        yield from answer.records
        return
    with answer.records as body:
        body.seek(0)
        if answer.envelope.records_key is not None:  # a page, its shape checked as it came
            with mapped(body) as view:
                try:
                    records = _PAGE.decode(view)[answer.envelope.records_key]
                except (msgspec.DecodeError, RecursionError) as exc:  # a value unreadable
                    raise MalformedStreamError(str(exc)) from None
            stray = _stray(records)
            if stray:
                msg = f"a record is {stray}"
                raise MalformedStreamError(msg)
        else:
            try:
                for record in ijson.items(body, answer.envelope.records_prefix, use_float=True):
                    if type(record) is not dict:
                        msg = f"a record is {_stray([record])}"
                        raise MalformedStreamError(msg)
                    yield record
            except ijson.JSONError as exc:
                raise MalformedStreamError(yajl_reason(exc)) from None
            return
    yield from records


def _stray(records: list[Any]) -> str | None:
    """What the first record that is no JSON object is (`a JSON int, not an object`), or None."""
    for record in records:
        if type(record) is not dict:
            return f"a JSON {_json_type(record)}, not an object"
    return None


def _json_type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def release(answers: list[Answer]) -> None:
    """Close the spooled files of answers that will not be read."""
    for answer in answers:
        if not isinstance(answer.records, list):
            answer.records.close()


def yajl_reason(error: ijson.JSONError) -> str:
    """The parser's complaint without the 60 bytes of body it quotes around the fault.

    A body can echo the call's URL (a gateway's page spliced in): the token, cut by that
    excerpt, is no longer the whole one a mask looks for. yajl gives some complaints (bytes
    that are no UTF-8) as bytes, whose `str` is one line holding the excerpt.
    """
    said = error.args[0] if error.args else ""
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return text.strip().partition("\n")[0]


def _checked(body: IO[bytes], response: requests.Response, envelope: Envelope) -> Answer:
    """A small body read in full; a large one that opens and closes as its envelope does."""
    size = body.tell()
    _check_edges(body, size, response, envelope)
    if envelope.records_key is not None:
        if size > WHOLE_PARSE_BYTES:
            return Answer(body, envelope, *_checked_page(body, response, envelope))
        records, totals = _page(body.read(), response, envelope)
        return Answer(records, envelope, *totals)
    if size > WHOLE_PARSE_BYTES:
        return Answer(body, envelope)
    try:
        records = list(ijson.items(body, "item", use_float=True))
    except ijson.JSONError as exc:
        msg = f"HTTP 200 but the body is not {envelope.kind} ({yajl_reason(exc)})"
        raise BadBodyError(msg, response) from None
    stray = _stray(records)
    if stray:
        msg = f"HTTP 200 but an item of the array is {stray}"
        raise BadBodyError(msg, response)
    return Answer(records, envelope)


def _page(
    data: bytes, response: requests.Response, envelope: Envelope
) -> tuple[list[dict[str, Any]], list[int]]:
    """A page object parsed whole: its records, and its totals as whole numbers."""
    try:
        page = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = f"HTTP 200 but the body is not {envelope.kind} ({exc})"
        raise BadBodyError(msg, response) from None
    if not isinstance(page, dict):
        msg = f"HTTP 200 but the body is not {envelope.kind} (a JSON {type(page).__name__})"
        raise BadBodyError(msg, response)
    records = page.get(envelope.records_key)
    if not isinstance(records, list):
        msg = f"HTTP 200 but `{envelope.records_key}` is not a list (a JSON {_json_type(records)})"
        raise _not_records(msg, page, response)
    stray = _stray(records)
    if stray:
        msg = f"HTTP 200 but an item of `{envelope.records_key}` is {stray}"
        raise BadBodyError(msg, response)
    return records, _whole_numbers(page, response, envelope)


def _whole_numbers(
    page: dict[str, Any], response: requests.Response, envelope: Envelope
) -> list[int]:
    """The page's totals; a missing or non-numeric one is a bad body."""
    totals = []
    for key in envelope.totals:
        value = page.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            msg = f"HTTP 200 but `{key}` is not a whole number ({value!r:.40})"
            raise BadBodyError(msg, response)
        totals.append(value)
    named = dict(zip(envelope.totals, totals, strict=True))
    pages, records = named.get("pageTotal", 0), named.get("recordsTotal", 0)
    if pages > max(records, 1):  # every page but the last holds a record at least
        msg = f"HTTP 200 but `pageTotal` {pages} is more than `recordsTotal` {records} fills"
        raise BadBodyError(msg, response)
    return totals


#: Reads a page through, checking every byte of it, into its top-level values left unparsed.
_PAGE_CHECK = msgspec.json.Decoder(dict[str, msgspec.Raw])
#: Parses a page whole, as orjson would, without orjson's transient document of ~15x its size.
_PAGE = msgspec.json.Decoder(dict[str, Any])


@contextlib.contextmanager
def mapped(body: IO[bytes]) -> Iterator[memoryview]:
    """A spooled body's bytes mapped from its file, not copied onto the heap.

    A copy per fetch thread would be a few MB each that the allocator keeps after it is freed.
    """
    with mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ) as pages, memoryview(pages) as view:
        yield view


def _checked_page(body: IO[bytes], response: requests.Response, envelope: Envelope) -> list[int]:
    """A large page's totals; a `BadBodyError` unless the whole page is JSON with its records.

    Its records are left unbuilt, to be parsed when their turn comes (`records_of`).
    """
    with mapped(body) as view:
        head = _page_head(view, str(envelope.records_key))  # no view of the body outlives it
    if isinstance(head, str):  # what the check found, quoting none of the body
        msg = f"HTTP 200 but the body is not {envelope.kind} ({head})"
        raise BadBodyError(msg, response)
    shallow, kind = head
    if kind is not None:
        msg = f"HTTP 200 but `{envelope.records_key}` is {kind}"
        raise _not_records(msg, shallow, response)
    return _whole_numbers(shallow, response, envelope)


def _page_head(view: memoryview, key: str) -> tuple[dict[str, Any], str | None] | str:
    """A page's other top-level values parsed, and what its records are unless a list.

    The page's own fault, if it is no JSON object, as text.
    """
    try:
        top = _PAGE_CHECK.decode(view)
        records = top.pop(key, None)
        shallow = {name: orjson.loads(memoryview(value)) for name, value in top.items()}
    except (msgspec.DecodeError, orjson.JSONDecodeError, RecursionError) as exc:
        return str(exc)
    if records is None:
        return shallow, "missing"
    return shallow, None if bytes(memoryview(records)[:1]) == b"[" else "not a list"


def _check_edges(
    body: IO[bytes], size: int, response: requests.Response, envelope: Envelope
) -> None:
    """A body must open and close as its envelope does; the API's error in a small one is quoted."""
    body.seek(0)
    head = body.read(64).lstrip()[:1]
    body.seek(max(0, size - 64))
    tail = body.read().rstrip()[-1:]
    body.seek(0)
    if (head, tail) == (envelope.opens, envelope.closes):
        return
    parsed = None
    if size <= WHOLE_PARSE_BYTES:
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(body.read())
    what = _kind(response) if parsed is None else f"a JSON {type(parsed).__name__}"
    msg = f"HTTP 200 but the body is not {envelope.kind} ({what}, starts {head!r})"
    raise _not_records(msg, parsed, response)


def _kind(response: requests.Response) -> str:
    return str(response.headers.get("Content-Type", "unknown type"))
