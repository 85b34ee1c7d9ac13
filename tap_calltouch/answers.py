"""Answer bodies: from a 200 response to the records it holds, with flat memory.

A body is spooled to a temporary file as it arrives. A small one is parsed at once with orjson
(inside the retry loop, so a truncated or malformed body is simply fetched again); a large one
only has its edges checked there and is later streamed object by object with ijson, so memory
stays flat however big a window's answer is.
"""

from __future__ import annotations

import tempfile
from typing import IO, TYPE_CHECKING, Any, Union

import ijson
import orjson
from singer_sdk.exceptions import RetriableAPIError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

SPOOL_BYTES = 1024 * 1024  # bodies above this wait on disk (page cache), not in our heap
WHOLE_PARSE_BYTES = SPOOL_BYTES  # parsed in one go up to this; larger bodies are streamed
_CHUNK = 256 * 1024

#: Parsed records, or a spooled body to stream.
Answer = Union[list[dict[str, Any]], IO[bytes]]  # noqa: UP007 - a runtime alias on 3.10


class BadBodyError(RetriableAPIError):
    """A 200 whose body is not a JSON array: a truncated answer or a proxy's HTML page."""


class MalformedStreamError(ValueError):
    """A large body that passed the edge check but broke while streaming."""


def read_answer(response: requests.Response) -> Answer:
    """Spool the body, then parse it if small or check its edges if large."""
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        for chunk in response.iter_content(_CHUNK):
            body.write(chunk)
        if body.tell() > WHOLE_PARSE_BYTES:
            _check_edges(body, response)
            return body  # streamed later by `records_of`, which closes it
        body.seek(0)
        data = body.read()
    except BaseException:
        body.close()
        raise
    body.close()
    return _parse_whole(data, response)


def _parse_whole(data: bytes, response: requests.Response) -> list[dict[str, Any]]:
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = f"HTTP 200 but the body is not a JSON array ({_kind(response)}: {exc})"
        raise BadBodyError(msg, response) from None
    if not isinstance(records, list):
        msg = f"HTTP 200 but the body is not a JSON array (a JSON {type(records).__name__})"
        raise BadBodyError(msg, response)
    return records


def _check_edges(body: IO[bytes], response: requests.Response) -> None:
    """A large body must start with `[` and end with `]`; the rest is checked as it streams."""
    size = body.tell()
    body.seek(0)
    head = body.read(64).lstrip()[:1]
    body.seek(max(0, size - 64))
    tail = body.read().rstrip()[-1:]
    if head != b"[" or tail != b"]":
        msg = f"HTTP 200 but the body is not a JSON array ({_kind(response)}, starts {head!r})"
        raise BadBodyError(msg, response)


def _kind(response: requests.Response) -> str:
    return str(response.headers.get("Content-Type", "unknown type"))


def records_of(answer: Answer) -> Iterator[dict[str, Any]]:
    """The records of an answer, streamed from disk when it was large."""
    if isinstance(answer, list):
        yield from answer
        return
    with answer:
        answer.seek(0)
        try:
            yield from ijson.items(answer, "item", use_float=True)
        except ijson.JSONError as exc:
            raise MalformedStreamError(str(exc)) from None


def release(answers: list[Answer]) -> None:
    """Close the spooled files of answers that will not be read."""
    for answer in answers:
        if not isinstance(answer, list):
            answer.close()
