"""Answer bodies with what JSON parsers disagree on: lone UTF-16 surrogates and huge integers.

Each body is read through `read_answer` and `records_of` from a real `requests.Response`
(its raw stream an in-memory file), once small (parsed whole with orjson) and once large
(spooled, then streamed with ijson); both paths must give the same records.
"""

from __future__ import annotations

import io
import re
import sys
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_calltouch import answers
from tap_calltouch.answers import WHOLE_PARSE_BYTES, read_answer, records_of
from tap_calltouch.shaping import as_int

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
    pad = answers._CHUNK - 2 - body.index(rb"\ud83d")
    body = body[:1] + b" " * pad + body[1:]
    assert body.index(rb"\ud83d") + 2 == answers._CHUNK
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
# them. Both flavours must match exactly the same text, or 3.10 would repair bodies differently.
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
    pattern: re.Pattern[bytes] = getattr(answers, name)
    greedy = re.compile(_POSSESSIVE_MARK.sub(b"", pattern.pattern), pattern.flags)
    if sys.version_info >= (3, 11):
        assert greedy.pattern != pattern.pattern  # the marks are there to remove
    for start in range(len(data) + 1):
        possessive_match, greedy_match = pattern.match(data, start), greedy.match(data, start)
        assert (possessive_match and possessive_match.span()) == (
            greedy_match and greedy_match.span()
        )
