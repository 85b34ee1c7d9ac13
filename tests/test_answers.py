"""Answer bodies with what JSON parsers disagree on: lone UTF-16 surrogates and huge integers.

Each body is read through `read_answer` and `records_of` from a real `requests.Response` (its
raw stream an in-memory file): read in full when small (a calls page with orjson, a requests
answer with ijson) and streamed from its spooled file with ijson when large. All must give the
same records.
"""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any
from urllib.parse import quote

import ijson
import orjson
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_calltouch import answers, redact, spool
from tap_calltouch.answers import WHOLE_PARSE_BYTES, read_answer, records_of
from tap_calltouch.shaping import as_int
from tests.conftest import TOKEN

# An escape of each kind, as the API's JSON text has it (these are bytes, not Python escapes).
SURROGATES = (
    rb'{"high": "a\ud83db", "low": "\ude00", "pair": "\ud83d\ude00", "escaped": "\\ud83d",'
    rb' "high_then_pair": "\ud83d\ud83d\ude00", "\udc00key": 1}'
)
SURROGATES_READ = {
    "high": "a\ufffdb",
    "low": "\ufffd",
    "pair": "\U0001f600",
    "escaped": "\\ud83d",  # a backslash, then the text ud83d
    "high_then_pair": "\ufffd\U0001f600",
    "\ufffdkey": 1,
}
INTEGERS = (
    rb'{"ints": [9223372036854775807, 9223372036854775808, 18446744073709551617,'
    rb" -9223372036854775809], "
    rb'"max": 9223372036854775807, "over": 9223372036854775808, "huge": 18446744073709551617,'
    rb' "under": -9223372036854775809, "visitor": 1907153766996797312,'
    rb' "text": "18446744073709551617"}'
)
INTEGERS_READ = {
    "ints": [
        9223372036854775807,
        "9223372036854775808",
        "18446744073709551617",
        "-9223372036854775809",
    ],
    "max": 9223372036854775807,
    "over": "9223372036854775808",
    "huge": "18446744073709551617",
    "under": "-9223372036854775809",
    "visitor": 1907153766996797312,  # 19 digits within int64: an int, on the fast path
    "text": "18446744073709551617",
}
FILLER = (
    b'{"requestId": 145507, "ctClientId": 1307321117812513472, "subject": "\xd0\xb7\xd0\xb0'
    b'\xd0\xbf\xd1\x80\xd0\xbe\xd1\x81", "sum": 2800.5, "tags": ["a", "b"], "note": "x\\ny"}'
)
FILLER_READ = {
    "requestId": 145507,
    "ctClientId": 1307321117812513472,
    "subject": "запрос",
    "sum": 2800.5,
    "tags": ["a", "b"],
    "note": "x\ny",
}


def response_of(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(body)
    response.headers["Content-Type"] = "application/json;charset=UTF-8"
    return response


def read(body: bytes) -> list[dict[str, Any]]:
    return list(records_of(read_answer(response_of(body))))


def small(*records: bytes) -> bytes:
    body = b"[" + b",".join(records) + b"]"
    assert len(body) <= WHOLE_PARSE_BYTES
    return body


def large(*records: bytes, at: int) -> tuple[bytes, int]:
    """`records` after `at` filler records, followed by enough filler to pass 1 MB."""
    total = WHOLE_PARSE_BYTES // len(FILLER) + 10
    items = [FILLER] * at + list(records) + [FILLER] * (total - at)
    body = b"[" + b",".join(items) + b"]"
    assert len(body) > WHOLE_PARSE_BYTES
    return body, total


def fillers(count: int) -> list[dict[str, Any]]:
    return [dict(FILLER_READ) for _ in range(count)]


# --- lone surrogates ---------------------------------------------------------------------------


def test_small_body_with_lone_surrogates_reads_them_as_replacement_characters() -> None:
    assert read(small(FILLER, SURROGATES)) == [FILLER_READ, SURROGATES_READ]


@pytest.mark.parametrize("at", [0, 5000])
def test_large_body_with_lone_surrogates_reads_them_as_the_small_one_does(at: int) -> None:
    body, total = large(SURROGATES, at=at)
    expected = [*fillers(at), SURROGATES_READ, *fillers(total - at)]
    assert read(body) == expected
    assert read(small(SURROGATES)) == [SURROGATES_READ]


def test_lone_surrogate_cut_by_a_chunk_edge_is_still_found() -> None:
    # The body's only escape is placed so that its `\u` ends one chunk and `d83d` starts the next.
    record = rb'{"high": "a\ud83db"}'
    body, total = large(record, at=0)
    pad = spool.CHUNK - 2 - body.index(rb"\ud83d")
    body = body[:1] + b" " * pad + body[1:]
    assert body.index(rb"\ud83d") + 2 == spool.CHUNK
    assert read(body) == [{"high": "a\ufffdb"}, *fillers(total)]


def test_escaped_backslash_before_u_is_text_not_an_escape() -> None:
    body = small(rb'{"escaped": "\\ud83d", "both": "\\\ud83d"}')
    assert read(body) == [{"escaped": "\\ud83d", "both": "\\\ufffd"}]


# --- integers beyond int64 ---------------------------------------------------------------------


def test_small_body_carries_integers_beyond_int64_as_exact_text() -> None:
    assert read(small(INTEGERS)) == [INTEGERS_READ]


@pytest.mark.parametrize("at", [0, 5000])
def test_large_body_carries_integers_beyond_int64_as_the_small_one_does(at: int) -> None:
    # yajl stops at the first one; the records already yielded must not come twice.
    body, total = large(INTEGERS, at=at)
    assert read(body) == [*fillers(at), INTEGERS_READ, *fillers(total - at)]


def test_large_body_with_both_surrogates_and_huge_integers() -> None:
    body, total = large(SURROGATES, INTEGERS, at=10)
    expected = [*fillers(10), SURROGATES_READ, INTEGERS_READ, *fillers(total - 10)]
    assert read(body) == expected
    assert read(small(SURROGATES, INTEGERS)) == [SURROGATES_READ, INTEGERS_READ]


def test_integer_of_thousands_of_digits_is_text_on_both_paths() -> None:
    digits = "7" * 5000
    record = b'{"n": -' + digits.encode() + b"}"
    assert read(small(record)) == [{"n": "-" + digits}]
    body, total = large(record, at=3)
    assert read(body) == [*fillers(3), {"n": "-" + digits}, *fillers(total - 3)]


def test_minimum_int64_is_read_on_both_paths() -> None:
    # yajl cannot read -2**63 as a number, so it is carried as text on both paths, and
    # `as_int` makes it an integer again where an id is expected.
    record = b'{"min": -9223372036854775808}'
    assert read(small(record)) == [{"min": "-9223372036854775808"}]
    body, total = large(record, at=0)
    assert read(body) == [{"min": "-9223372036854775808"}, *fillers(total)]
    assert as_int("-9223372036854775808") == -(2**63)


def test_as_int_keeps_ids_within_int64_and_text_beyond() -> None:
    assert as_int(2**63 - 1) == 2**63 - 1
    assert as_int("9223372036854775807") == 2**63 - 1
    assert as_int(2**63) == "9223372036854775808"
    assert as_int("9223372036854775808") == "9223372036854775808"
    assert as_int(2**64 + 1) == "18446744073709551617"
    assert as_int("18446744073709551617") == "18446744073709551617"
    assert as_int(-(2**63) - 1) == "-9223372036854775809"
    assert as_int("-9223372036854775809") == "-9223372036854775809"
    assert as_int(" 145507 ") == 145507
    assert as_int("7" * 5000) == "7" * 5000
    assert as_int("--5") == "--5"
    assert as_int("²") == "²"


# --- the same patterns on Python 3.10 ----------------------------------------------------------

# Possessive quantifiers came in 3.11; on 3.10 the careful path compiles its patterns without
# them. Both flavours must match exactly the same text, or 3.10 would rewrite bodies differently.
_POSSESSIVE_MARK = re.compile(rb"(?<=[*+}?])\+")
JSONISH = st.lists(
    st.sampled_from(
        [
            *(b'"', b"\\", b"u", b"d", b"D", b"8", b"c", b"0", b"1", b"9", b"-", b"e", b"."),
            *(b"+", b",", b":", b"[", b"]", b"{", b"}", b" ", b"a", b"9223372036854775808"),
            b"\\ud83d",
        ]
    ),
    max_size=40,
).map(b"".join)


@pytest.mark.parametrize("name", ["_PLAIN", "_STRING", "_NUMBER", "_INTEGER"])
@settings(max_examples=300, derandomize=True)
@given(data=JSONISH)
def test_careful_patterns_match_the_same_without_possessive_quantifiers(
    name: str, data: bytes
) -> None:
    pattern: re.Pattern[bytes] = getattr(spool, name)
    greedy = re.compile(_POSSESSIVE_MARK.sub(b"", pattern.pattern), pattern.flags)
    if sys.version_info >= (3, 11):
        assert greedy.pattern != pattern.pattern  # the marks are there to remove
    for start in range(len(data) + 1):
        possessive_match, greedy_match = pattern.match(data, start), greedy.match(data, start)
        assert (possessive_match and possessive_match.span()) == (
            greedy_match and greedy_match.span()
        )


# --- large bodies and pages -------------------------------------------------------------------

NESTED = (
    b'{"requestId": 7, "orders": [{"requestId": 7, "x": "},{\\"requestId\\": 1"},'
    b' {"requestId": 7, "y": [1, {"requestId": 2}]}], "note": "]}"}'
)


def _page(records: bytes, *, records_first: bool) -> bytes:
    totals = b'"pageTotal": 1, "recordsTotal": 3'
    if records_first:
        return b'{"records": ' + records + b", " + totals + b"}"
    return b"{" + totals + b', "records": ' + records + b"}"


def test_large_bodies_and_pages_read_records_that_hold_what_looks_like_a_record() -> None:
    body, total = large(NESTED, at=700)
    expected = [*fillers(700), orjson.loads(NESTED), *fillers(total - 700)]
    assert read(body) == expected
    for records_first in (True, False):
        page = read_answer(response_of(_page(body, records_first=records_first)), answers.PAGED)
        assert list(records_of(page)) == expected


def test_large_page_with_huge_integers_before_its_totals_reads_as_the_small_one_does() -> None:
    body, _ = large(INTEGERS, at=3)
    for page in (_page(body, records_first=True), _page(small(INTEGERS), records_first=True)):
        answer = read_answer(response_of(page), answers.PAGED)
        assert (answer.page_total, answer.records_total) == (1, 3)
        assert INTEGERS_READ in list(records_of(answer))


def exactly(value: Any) -> Any:
    """`value` as the tap reads it: an integer beyond int64 (or -2**63) as its digits, a lone
    surrogate as U+FFFD, pairs joined."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) < value < 2**63 else str(value)
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, list):
        return [exactly(item) for item in value]
    if isinstance(value, dict):
        return {exactly(key): exactly(item) for key, item in value.items()}
    return value


# Surrogates alone and paired, escapes, and integers about the int64 bounds and far beyond.
TEXTS = st.text(
    st.sampled_from(["a", "\ud83d", "\ude00", "\\", '"', "я", "\U0001f600"]), max_size=5
)
INTEGERS_ABOUT = st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 + 1]).flatmap(
    lambda bound: st.integers(bound - 2, bound + 2)
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | INTEGERS_ABOUT | TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, derandomize=True)
@given(
    records=st.lists(st.dictionaries(TEXTS, VALUES, max_size=4), min_size=1, max_size=6),
    chunk=st.sampled_from([7, 64, spool.CHUNK]),
    pretty=st.booleans(),
)
def test_both_shapes_read_long_integers_and_lone_surrogates_alike(
    records: list[dict[str, Any]], chunk: int, *, pretty: bool
) -> None:
    """Calls pages and requests answers, small (read in full) and large (streamed): one reading.

    Small chunks cut the body anywhere, inside escapes and numbers, as it is searched and
    rewritten.
    """
    text = json.dumps(records, indent=2 if pretty else None).encode()  # escapes, exact integers
    expected = exactly(records)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answers, "CHUNK", chunk)
        patch.setattr(spool, "CHUNK", chunk)
        page = read_answer(response_of(_page(text, records_first=True)), answers.PAGED)
        assert list(records_of(page)) == expected
        assert read(text) == expected
        patch.setattr(answers, "WHOLE_PARSE_BYTES", 0)  # read from disk as they are emitted
        streamed = read_answer(response_of(text))
        assert not isinstance(streamed.records, list)
        assert list(records_of(streamed)) == expected
        page = read_answer(response_of(_page(text, records_first=False)), answers.PAGED)
        assert not isinstance(page.records, list)
        assert list(records_of(page)) == expected


def test_a_large_body_broken_midway_yields_the_records_before_then_fails() -> None:
    body, _ = large(b'{"requestId": 1, "sub', at=700)
    got: list[dict[str, Any]] = []
    with pytest.raises(answers.MalformedStreamError):
        got.extend(records_of(read_answer(response_of(body))))
    assert got == fillers(700)


@pytest.mark.parametrize("records_first", [False, True], ids=["totals-first", "records-first"])
def test_a_large_page_broken_midway_is_fetched_again(*, records_first: bool) -> None:
    """A page is checked whole in the retry loop, wherever the break falls: none of its records
    goes out, and the call is made again, as for a small page."""
    body, _ = large(b'{"requestId": 1, "sub', at=700)
    with pytest.raises(answers.BadBodyError, match=r"not a JSON page object \(JSON is malformed"):
        read_answer(response_of(_page(body, records_first=records_first)), answers.PAGED)


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_body_that_is_no_utf8_is_refused_without_quoting_it(size: str) -> None:
    """yajl gives its lexical errors as bytes with an excerpt of the body: none of it, nor a
    token the body echoes, may reach the message."""
    record = b'{"requestId": 1, "url": "https://x.ru/?clientApiId=' + TOKEN.encode() + b'\xff"}'
    if size == "small":
        with pytest.raises(answers.BadBodyError) as refused:
            read_answer(response_of(small(record)))
        message = str(refused.value)
    else:
        body, _ = large(record, at=700)
        with pytest.raises(answers.MalformedStreamError) as broken:
            list(records_of(read_answer(response_of(body))))
        message = str(broken.value)
    assert "UTF8" in message
    assert TOKEN[:8] not in message
    assert "right here" not in message
    assert "clientApiId" not in message


@pytest.mark.parametrize(
    "stray", [b"1", b'"x"', b"null", b"[]"], ids=["int", "str", "null", "list"]
)
@pytest.mark.parametrize("paged", [False, True], ids=["array", "page"])
def test_a_record_that_is_no_object_is_a_bad_body_or_breaks_the_stream(
    stray: bytes, *, paged: bool
) -> None:
    """Small: refused in the retry loop. Large: it breaks when its turn comes, as a stream does;
    either way a `MalformedStreamError` or a `BadBodyError` the client turns into a site's stop,
    never a record the shaping cannot read."""
    envelope = answers.PAGED if paged else answers.BARE_ARRAY

    def body_of(records: bytes) -> bytes:
        return _page(records, records_first=True) if paged else records

    with pytest.raises(answers.BadBodyError, match="not an object"):
        read_answer(response_of(body_of(small(FILLER, stray))), envelope)
    body, _ = large(stray, at=700)
    answer = read_answer(response_of(body_of(body)), envelope)
    with pytest.raises(answers.MalformedStreamError, match="not an object"):
        list(records_of(answer))


#: JSON in shape whose values a whole parse refuses: a string not UTF-8, a number out of range.
UNREADABLE_VALUES = {
    "not-utf8": b'{"callId": 1, "callerNumber": "7\xff"}',
    "out-of-range": b'{"callId": 1, "duration": 1e400}',
}


@pytest.mark.parametrize("record", UNREADABLE_VALUES.values(), ids=UNREADABLE_VALUES.keys())
def test_a_large_page_with_a_value_that_cannot_be_read_breaks_as_a_stream_does(
    record: bytes,
) -> None:
    """Checked for its shape only (a second whole parse would double its CPU), such a page
    breaks when its records are read: a `MalformedStreamError`, which stops its site, as a large
    requests answer that breaks; a small page is refused in the retry loop."""
    with pytest.raises(answers.BadBodyError):
        read_answer(response_of(_page(small(record), records_first=True)), answers.PAGED)
    body, _ = large(record, at=700)
    answer = read_answer(response_of(_page(body, records_first=True)), answers.PAGED)
    with pytest.raises(answers.MalformedStreamError):
        list(records_of(answer))


@pytest.mark.parametrize("where", ["in-a-record", "beside-the-records"])
def test_a_large_page_nested_deeper_than_the_parser_goes_is_a_bad_body(where: str) -> None:
    """Refused in the retry loop, as a small page is, not escaping as a `RecursionError`."""
    deep = b"[" * 1100 + b"]" * 1100
    if where == "in-a-record":
        page = _page(large(b'{"callId": 1, "x": ' + deep + b"}", at=700)[0], records_first=True)
    else:
        page = b'{"extra": ' + deep + b", " + _page(large(at=700)[0], records_first=True)[1:]
    with pytest.raises(answers.BadBodyError, match="recursion"):
        read_answer(response_of(page), answers.PAGED)


def test_a_large_page_cut_after_a_closing_brace_is_fetched_again() -> None:
    """Cut where an object ends, it still opens and closes as a page does."""
    body = _page(large(at=700)[0], records_first=False)
    cut = body[: body.rindex(b"}", 0, len(body) - 3) + 1]  # the last record but one ends
    assert cut.endswith(b"}")
    assert len(cut) > WHOLE_PARSE_BYTES
    with pytest.raises(answers.BadBodyError, match="truncated"):
        read_answer(response_of(cut), answers.PAGED)


def test_a_page_s_records_are_read_under_their_own_key_not_a_look_alike() -> None:
    """A key that ends in an escaped quote and `records` comes before the real key, which is
    written with a unicode escape."""
    count = WHOLE_PARSE_BYTES // 1000 + 1
    body = orjson.dumps([{"callId": n, "text": "x" * 1000} for n in range(count)])
    totals = b'"pageTotal": 1, "recordsTotal": 3'
    page = b'{"a\\"records": [{"callId": 1}], ' + totals + b', "\\u0072ecords": ' + body + b"}"
    expected = list(ijson.items(io.BytesIO(page), "records.item", use_float=True))
    assert list(records_of(read_answer(response_of(page), answers.PAGED))) == expected


# A gateway's page spliced into a large answer, echoing the URL of the call, token and all.
_ECHO = b"<p>?clientApiId=" + quote(TOKEN, safe="").encode() + b"</p>"


def _pieces(secret: str, length: int = 6) -> set[str]:
    return {secret[at : at + length] for at in range(len(secret) - length + 1)}


@pytest.mark.parametrize("paged", [False, True], ids=["streamed-records", "streamed-totals"])
def test_a_broken_large_body_s_message_quotes_no_piece_of_the_token(*, paged: bool) -> None:
    """yajl's message quotes 30 bytes either side of where it stopped: the token it cuts there
    is no longer the token any mask looks for. No run of its characters reaches the message."""
    redact.register_secret(TOKEN)
    body, _ = large(_ECHO, at=700)
    envelope = answers.BARE_ARRAY
    if paged:
        body = b'{"records": ' + body + b', "pageTotal": 1, "recordsTotal": 1}'
        envelope = answers.PAGED
    with pytest.raises((answers.MalformedStreamError, answers.BadBodyError)) as info:
        list(records_of(read_answer(response_of(body), envelope)))
    message = redact.redact_registered(str(info.value))
    pieces = _pieces(TOKEN) | _pieces(quote(TOKEN, safe=""))
    assert not {piece for piece in pieces if piece in message}, message
