"""Answer bodies: from a 200 response to the records it holds, with flat memory.

A body is spooled to a temporary file as it arrives. A small one is parsed at once with orjson
(inside the retry loop, so a truncated or malformed body is simply fetched again); a large one
only has its edges checked there and is later read in batches of whole records, each parsed
with orjson, so memory stays flat however big a window's answer is. A body the batches cannot
cut is streamed object by object with ijson instead, from the first record not yet read.

Two things in valid JSON neither parser reads the way we want, so both paths give the same
records: an unpaired UTF-16 surrogate escape (orjson refuses it, yajl makes it `?`) becomes
U+FFFD, and an integer outside the signed 64-bit range (orjson turns some into floats, yajl
refuses them) becomes a string of its exact digits. Both are rare, so the fast path only looks
for them: a regex per chunk for surrogate escapes, a scan of each small body's or batch's
19-digit runs for long numbers, and yajl's own "integer overflow" error when ijson reads. Only
then is the text rewritten (`_repair`), the same way on both paths, and read by the same parsers.
"""

from __future__ import annotations

import itertools
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import ijson
import orjson
from singer_sdk.exceptions import RetriableAPIError

from tap_calltouch.redact import redact_registered, shorten

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    import requests

SPOOL_BYTES = 1024 * 1024  # bodies above this wait on disk (page cache), not in our heap
# Parsed in one go up to this; larger bodies are streamed. Up to 8 answers wait in memory for
# their turn, and a parsed body takes about five times its size, so a 1 MB threshold let mid-size
# answers (a calls page of 333) hold ~35 MB more than streamed ones (benchmarks, goal C4).
WHOLE_PARSE_BYTES = 256 * 1024
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Envelope:
    """How a journal wraps its records: a bare array, or a page object around them."""

    opens: bytes  # the body's first character
    closes: bytes  # and its last
    records_key: str | None  # the key of the records in a page object; None: a bare array
    totals: tuple[str, ...] = ()  # whole numbers a page object must hold beside its records
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
    envelope: Envelope = BARE_ARRAY
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


SAID_LENGTH = 300  # characters of the API's error text quoted


class MalformedStreamError(ValueError):
    """A large body that passed the edge check but broke while streaming."""


# --- finding the rare cases cheaply ------------------------------------------------------------

#: `\uD800`..`\uDFFF`: a surrogate escape, paired or not (an escaped backslash before `u`
#: matches too; `_repair` tells them apart). A literal prefix, so a chunk is searched at memchr
#: speed.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_EDGE = 3  # bytes of a surrogate escape's 4-byte prefix that can sit on either side of a cut
#: Digits as `0`, so a run of 19 is found by `bytes.find` (a regex scanning for digit runs costs
#: more than orjson's whole parse).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_INT64_DIGITS = len(str(2**63))  # 19
_DIGIT_RUN = b"0" * _INT64_DIGITS
_TWO_TO_63 = str(2**63).encode()
_BEFORE_NUMBER = b":,["  # what precedes a number in JSON, give or take whitespace and a `-`
_WHITESPACE = b" \t\r\n"


def read_answer(response: requests.Response, envelope: Envelope = BARE_ARRAY) -> Answer:
    """Spool the body, then parse it if small or check its edges (and totals) if large."""
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
    surrogates = False
    tail = b""
    try:
        for chunk in response.iter_content(_CHUNK):
            if not surrogates:
                surrogates = bool(
                    _SURROGATE_ESCAPE.search(chunk)
                    or _SURROGATE_ESCAPE.search(tail + chunk[:_EDGE])
                )
                tail = chunk[-_EDGE:] if len(chunk) >= _EDGE else (tail + chunk)[-_EDGE:]
            body.write(chunk)
        if body.tell() > WHOLE_PARSE_BYTES:
            _check_edges(body, response, envelope)
            if surrogates:
                body = _repaired_copy(body)
            try:
                totals = _streamed_totals(body, response, envelope)
            except _LongIntegerError:  # before the totals: yajl reads on in the repaired body
                body = _repaired_copy(body)
                totals = _streamed_totals(body, response, envelope)
            # Read later by `records_of`, which closes it.
            return Answer(body, envelope, **totals)
        body.seek(0)
        data = body.read()
    except BaseException:
        body.close()
        raise
    body.close()
    if surrogates or _has_long_integer(data):
        data, _ = _repair(data, final=True)
    return _parse_whole(data, response, envelope)


def _has_long_integer(data: bytes) -> bool:
    """Whether a body may hold an integer of magnitude 2**63 or more.

    Such a number has 20+ digits, or 19 from 9223372036854775808 up. The API sends 19-digit ids
    below that (ctClientId as numbers, yaClientId as strings), so each run of 19 is looked at:
    its length, its value, and whether it follows `:`, `,` or `[` as a number does.
    """
    digits = data.translate(_DIGITS_AS_ZERO)
    at = digits.find(_DIGIT_RUN)
    while at >= 0:
        end = at + _INT64_DIGITS
        if (digits[end : end + 1] == b"0" or data[at:end] >= _TWO_TO_63) and _follows_value_start(
            data, at
        ):
            return True
        at = digits.find(_DIGIT_RUN, end)
    return False


def _follows_value_start(data: bytes, at: int) -> bool:
    at -= 1
    if at >= 0 and data[at] == ord("-"):
        at -= 1
    while at >= 0 and data[at] in _WHITESPACE:
        at -= 1
    return at >= 0 and data[at] in _BEFORE_NUMBER


def _parse_whole(data: bytes, response: requests.Response, envelope: Envelope) -> Answer:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = f"HTTP 200 but the body is not {envelope.kind} ({_kind(response)}: {exc})"
        raise BadBodyError(msg, response) from None
    if envelope.records_key is None:
        if not isinstance(parsed, list):
            msg = f"HTTP 200 but the body is not a JSON array (a JSON {type(parsed).__name__})"
            raise _not_records(msg, parsed, response)
        return Answer(parsed, envelope)
    if not isinstance(parsed, dict):
        msg = f"HTTP 200 but the body is not {envelope.kind} (a JSON {type(parsed).__name__})"
        raise BadBodyError(msg, response)
    records = parsed.get(envelope.records_key)
    if not isinstance(records, list):
        msg = f"HTTP 200 but `{envelope.records_key}` is not a list (a JSON {_json_type(records)})"
        raise _not_records(msg, parsed, response)
    return Answer(records, envelope, **_totals(parsed, response, envelope))


def _totals(
    page: dict[str, Any], response: requests.Response, envelope: Envelope
) -> dict[str, int]:
    """The page's totals as `Answer` fields; a missing or non-numeric one is a bad body."""
    totals = {}
    for key in envelope.totals:
        value = page.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            msg = f"HTTP 200 but `{key}` is not a whole number ({value!r:.40})"
            raise BadBodyError(msg, response)
        totals[_FIELDS[key]] = value
    return totals


_FIELDS = {"pageTotal": "page_total", "recordsTotal": "records_total"}


def _streamed_totals(
    body: IO[bytes], response: requests.Response, envelope: Envelope
) -> dict[str, int]:
    """A large page object's totals, read from its top level without building its records."""
    if not envelope.totals:
        return {}
    found: dict[str, Any] = {}
    body.seek(0)
    try:
        for prefix, event, value in ijson.parse(body, use_float=True):
            if prefix in envelope.totals and event in {"number", "string", "null", "boolean"}:
                found[prefix] = value
                if len(found) == len(envelope.totals):
                    break
    except ijson.JSONError as exc:
        if _INTEGER_OVERFLOW in str(exc):
            raise _LongIntegerError from None
        msg = f"HTTP 200 but the body is not {envelope.kind} ({yajl_reason(exc)})"
        raise BadBodyError(msg, response) from None
    return _totals(found, response, envelope)


class _LongIntegerError(Exception):
    """yajl met an integer beyond int64 before a page's totals."""


def _json_type(value: Any) -> str:  # noqa: ANN401
    return "null" if value is None else type(value).__name__


def _check_edges(body: IO[bytes], response: requests.Response, envelope: Envelope) -> None:
    """A large body must open and close as its envelope does; the rest is checked later."""
    size = body.tell()
    body.seek(0)
    head = body.read(64).lstrip()[:1]
    body.seek(max(0, size - 64))
    tail = body.read().rstrip()[-1:]
    if head != envelope.opens or tail != envelope.closes:
        msg = f"HTTP 200 but the body is not {envelope.kind} ({_kind(response)}, starts {head!r})"
        raise BadBodyError(msg, response)


def _kind(response: requests.Response) -> str:
    return str(response.headers.get("Content-Type", "unknown type"))


def records_of(answer: Answer) -> Iterator[dict[str, Any]]:
    """The records of an answer, read from disk in batches when it was large.

    When the batches stop short, ijson streams the rest; when yajl meets an integer it cannot
    hold, the body is repaired and streamed again from the record after the last one yielded.
    """
    body, prefix = answer.records, answer.envelope.records_prefix
    if isinstance(body, list):
        yield from body
        return
    with body:
        yielded = 0
        batches = _batches(body, answer.envelope)
        try:
            while True:
                batch = next(batches)
                yield from batch
                yielded += len(batch)
        except StopIteration as done:
            if done.value:
                return
        # A body the batches could not cut: ijson reads it, from the record after the last one.
        try:
            for record in itertools.islice(_stream(body, prefix), yielded, None):
                yield record
                yielded += 1
        except ijson.JSONError as exc:
            if _INTEGER_OVERFLOW not in str(exc):
                raise MalformedStreamError(yajl_reason(exc)) from None
        else:
            return
        with _repaired_copy(body) as fixed:
            try:
                yield from itertools.islice(_stream(fixed, prefix), yielded, None)
            except ijson.JSONError as exc:
                raise MalformedStreamError(yajl_reason(exc)) from None


def yajl_reason(error: ijson.JSONError) -> str:
    """The parser's complaint without the 60 bytes of body it quotes around the fault.

    A body can echo the call's URL (a gateway's page spliced in): the token, cut by that
    excerpt, is no longer the whole one a mask looks for.
    """
    return str(error).strip().partition("\n")[0]


_INTEGER_OVERFLOW = "integer overflow"  # yajl's message, for any magnitude of 2**63 or more


def _stream(body: IO[bytes], prefix: str) -> Iterator[dict[str, Any]]:
    body.seek(0)
    return ijson.items(body, prefix, use_float=True)  # type: ignore[no-any-return]


# --- large bodies in batches ---------------------------------------------------------------------

#: Bytes of records parsed at once from a large body. orjson reads a batch several times faster
#: than ijson streams it (yajl builds each value through a callback), and memory stays flat.
BATCH_BYTES = 256 * 1024
_CUT_TRIES = 4  # record starts tried as a cut in one buffer before more is read
_MAX_BUFFER = 8 * BATCH_BYTES  # no cut found in this much: ijson reads the rest
_MAX_OPENING = 64  # bytes of a record's opening brace and first key
_JSON_SPACE = b" \t\r\n"
_COMMA = ord(",")
_RECORDS_KEY_TAIL = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\[")


def _batches(body: IO[bytes], envelope: Envelope) -> Generator[list[Any], None, bool]:
    """A large body's records, a batch of whole records at a time, parsed by orjson.

    A batch is cut before a record's opening (`{"callId":`, as the first record opens), and
    orjson itself tells a cut between two records from one inside a record: only there is
    `[` + batch + `]` valid JSON. Integers beyond int64 are carried as text, as on the small
    path. Returns whether it read the whole body; if not (no cut found, a batch orjson
    refuses, an odd envelope), ijson reads on from the first record not yielded, as before.
    """
    body.seek(0)
    buffer = body.read(BATCH_BYTES)
    start = _records_start(buffer, envelope)
    if start is None:
        return False
    head, buffer = buffer[: start - 1], buffer[start:].lstrip(_JSON_SPACE)
    opening = buffer[: buffer.find(b":") + 1]
    if not opening.startswith(b"{") or len(opening) > _MAX_OPENING:
        return False  # not records as the API sends them: ijson reads them
    more = True
    while more:
        while more and len(buffer) < BATCH_BYTES:
            chunk = body.read(BATCH_BYTES)
            buffer += chunk
            more = bool(chunk)
        if not more:
            break
        cut = _cut(buffer, opening)
        if cut is None:
            if len(buffer) >= _MAX_BUFFER:
                return False
            chunk = body.read(BATCH_BYTES)
            buffer += chunk
            more = bool(chunk)
            continue
        records, at = cut
        yield records
        buffer = buffer[at:]
    return (yield from _last_batch(buffer, head, envelope))


def _records_start(buffer: bytes, envelope: Envelope) -> int | None:
    """Just after the `[` that opens a large body's records, if the body's head shows it."""
    text = buffer.lstrip(_JSON_SPACE)
    skipped = len(buffer) - len(text)
    if envelope.records_key is None:
        return skipped + 1 if text[:1] == b"[" else None
    key = orjson.dumps(envelope.records_key)
    at = buffer.find(key)
    found = _RECORDS_KEY_TAIL.match(buffer, at + len(key)) if at >= 0 else None
    if found is None:
        return None
    try:  # the key is a member of the page object itself, not of something in it
        page = orjson.loads(buffer[: found.end() - 1] + b"[]}")
    except orjson.JSONDecodeError:
        return None
    # And the text found is that key, not the end of another (`"a\"records"`).
    return found.end() if _holds_no_records(page, envelope) else None


def _holds_no_records(page: object, envelope: Envelope) -> bool:
    """Whether `page`, read with `[]` for the records found, is a page object holding them.

    Not so when the text found ends another key, or the records key comes again (written with
    an escape) with other records: ijson reads those, orjson keeps only the last.
    """
    return isinstance(page, dict) and page.get(envelope.records_key) == []


def _cut(buffer: bytes, opening: bytes) -> tuple[list[Any], int] | None:
    """The whole records at the start of `buffer`, and where the next one starts."""
    at = len(buffer)
    for _ in range(_CUT_TRIES):
        at = buffer.rfind(opening, 1, at)
        if at < 0:
            return None
        comma = at - 1
        while comma > 0 and buffer[comma] in _JSON_SPACE:
            comma -= 1
        if buffer[comma] == _COMMA:
            records = _parse_batch(buffer[:comma])
            if records is not None:
                return records, at
    return None


def _last_batch(buffer: bytes, head: bytes, envelope: Envelope) -> Generator[list[Any], None, bool]:
    """The records up to the `]` that closes them, if what follows closes the body well."""
    end = len(buffer)
    for _ in range(_CUT_TRIES):
        end = buffer.rfind(b"]", 0, end)
        if end < 0:
            return False
        records = _parse_batch(buffer[:end])
        if records is not None:
            if not _ends_well(buffer[end:], head, envelope):
                return False
            yield records
            return True
    return False


def _ends_well(rest: bytes, head: bytes, envelope: Envelope) -> bool:
    """Whether `rest`, from the records' closing `]`, ends the body as its envelope does."""
    tail = rest[1:]
    if envelope.records_key is None:
        return not tail.strip(_JSON_SPACE)
    if orjson.dumps(envelope.records_key) in tail:  # a second list of records: ijson's case
        return False
    try:
        page = orjson.loads(head + b"[]" + tail)
    except orjson.JSONDecodeError:
        return False
    return _holds_no_records(page, envelope)


def _parse_batch(records: bytes) -> list[Any] | None:
    """`records`, the text of records and the commas between them, parsed; None if not that."""
    data = b"[" + records + b"]"
    if _has_long_integer(data):
        data, _ = _repair(data, final=True)
    try:
        parsed: list[Any] = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return parsed


def release(answers: list[Answer]) -> None:
    """Close the spooled files of answers that will not be read."""
    for answer in answers:
        if not isinstance(answer.records, list):
            answer.records.close()


# --- the careful path ----------------------------------------------------------------------------

#: Possessive quantifiers (`~` below; Python 3.11+) keep the matches below from saving a
#: backtracking point per token, which makes `_PLAIN` about eight times faster. Each pattern is
#: unambiguous (strings as unrolled loops), so on 3.10 it matches the same without them, and a
#: failing match still backtracks in linear time.
_POSSESSIVE = b"+" if sys.version_info >= (3, 11) else b""


def _compile(pattern: bytes, flags: int = 0) -> re.Pattern[bytes]:
    return re.compile(pattern.replace(b"~", _POSSESSIVE), flags)


#: A run of JSON that needs no change, from a point outside any string: strings without a
#: surrogate escape; structure, literals and whitespace; numbers whose integer part is surely
#: within int64 (up to 18 digits, or 19 below 92...). It stops before anything else, and before
#: a string that does not end in the buffer.
_PLAIN = _compile(
    rb"""(?:
        "[^"\\]*~(?:\\(?:[^u]|u(?![dD][89a-fA-F]))[^"\\]*~)*~"
      | [^"0-9-]+~
      | -?(?:[0-9]{1,18}~|[0-8][0-9]{18}|9[01][0-9]{17})(?![0-9])[0-9.eE+-]*~
    )*~""",
    re.VERBOSE | re.DOTALL,
)
_STRING = _compile(rb'"[^"\\]*~(?:\\.[^"\\]*~)*~"', re.DOTALL)
_NUMBER = _compile(rb"-?[0-9]+~[0-9.eE+-]*~")
_INTEGER = _compile(rb"-?(?:0|[1-9][0-9]*~)")
#: An escape inside a string: a surrogate pair (kept), a lone surrogate, or any other (kept).
_ESCAPE = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|[\s\S])"
)
_REPLACEMENT = rb"\ufffd"


def _repair(data: bytes, *, final: bool) -> tuple[bytes, int]:
    """Rewrite lone surrogate escapes as U+FFFD's escape and out-of-range integers as strings.

    `data` starts outside any string. Unless `final`, it is read up to its last `,`, `:`, `]` or
    `}` only, and a string that does not end there is left for the next chunk. Returns the
    rewritten bytes and how much of `data` they stand for.
    """
    end = len(data) if final else 1 + max(data.rfind(c) for c in (b",", b":", b"]", b"}"))
    parts: list[bytes] = []
    pos = 0
    while True:
        plain = _PLAIN.match(data, pos, end)
        stop = plain.end() if plain else pos
        parts.append(data[pos:stop])
        pos = stop
        if pos >= end:
            break
        if data[pos] == ord('"'):
            string = _STRING.match(data, pos, end)
            if string is None:  # the string goes on past `end`
                if final:
                    parts.append(data[pos:])  # unterminated: the parser reports it
                    pos = end
                break
            parts.append(_ESCAPE.sub(_fix_escape, string.group()))
            pos = string.end()
            continue
        number = _NUMBER.match(data, pos, end)
        if number is None:  # a stray `-`: the parser reports it
            parts.append(data[pos : pos + 1])
            pos += 1
            continue
        parts.append(_fix_number(number.group()))
        pos = number.end()
    return b"".join(parts), pos


def _fix_escape(escape: re.Match[bytes]) -> bytes:
    return _REPLACEMENT if escape.group(1) else escape.group()


def _fix_number(token: bytes) -> bytes:
    """An integer of magnitude 2**63 or more as a string of its digits; anything else as is.

    -2**63 itself fits int64, but yajl cannot read it, so it is quoted too, on both paths.
    Compared as text: `int()` refuses numbers of more than 4300 digits.
    """
    if not _INTEGER.fullmatch(token):
        return token
    digits = token.lstrip(b"-")
    if len(digits) > _INT64_DIGITS or (len(digits) == _INT64_DIGITS and digits >= _TWO_TO_63):
        return b'"' + token + b'"'
    return token


def _repaired_copy(body: IO[bytes]) -> IO[bytes]:
    """A repaired copy of a spooled body, chunk by chunk; the original is closed."""
    fixed = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        with body:
            body.seek(0)
            carry = b""
            while chunk := body.read(_CHUNK):
                done, used = _repair(carry + chunk, final=False)
                fixed.write(done)
                carry = (carry + chunk)[used:]
            fixed.write(_repair(carry, final=True)[0])
    except BaseException:
        fixed.close()
        raise
    return fixed
