"""Answer bodies spooled as they arrive, with what orjson and ijson read apart read one way.

A body waits in a temporary file (on disk above 1 MB) so that a large one costs no heap. Two
things in valid JSON the parsers read apart are made to read alike: an unpaired UTF-16 surrogate
escape (orjson refuses it, yajl makes it `?`) becomes U+FFFD, and an integer outside the signed
64-bit range (orjson turns some into floats, yajl refuses them) becomes a string of its exact
digits. Both are rare, so each chunk is only searched for them as it arrives (a regex for
surrogate escapes, a scan of 19-digit runs for long numbers); a body that may hold either is then
rewritten (`_repair`), chunk by chunk, before any parser reads it.
"""

from __future__ import annotations

import re
import sys
import tempfile
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

SPOOL_BYTES = 1024 * 1024  # bodies above this wait on disk (page cache), not in our heap
CHUNK = 256 * 1024  # bytes read and searched at a time

#: `\uD800`..`\uDFFF`: a surrogate escape, paired or not (an escaped backslash before `u`
#: matches too; `_repair` tells them apart). A literal prefix: searched at memchr speed.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: Digits as `0`, so a run of 19 is found by `bytes.find` (a regex scanning for digit runs costs
#: more than orjson's whole parse).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_INT64_DIGITS = len(str(2**63))  # 19
_DIGIT_RUN = b"0" * _INT64_DIGITS
_TWO_TO_63 = str(2**63).encode()
_BEFORE_NUMBER = b":,["  # what precedes a number in JSON, give or take whitespace and a `-`
_WHITESPACE = b" \t\r\n"
_OVERLAP = 64  # bytes of the chunk before searched again with the next, across the cut


def spool(chunks: Iterable[bytes]) -> IO[bytes]:
    """A body in a temporary file, at its end; rewritten by `_repair` if it may need it."""
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
    try:
        rare, before = False, b""
        for chunk in chunks:
            if not rare:
                searched = before + chunk
                rare = _may_need_repair(searched)
                before = searched[-_OVERLAP:]
            body.write(chunk)
        return _repaired_copy(body) if rare else body
    except BaseException:
        body.close()
        raise


def _may_need_repair(data: bytes) -> bool:
    """Whether `data` may hold a surrogate escape or an integer of magnitude 2**63 or more.

    Such an integer has 20+ digits, or 19 from 9223372036854775808 up. The API sends 19-digit
    ids below that, and long digit runs inside text (a click id in a URL), so each run of 19 is
    looked at: its length, its value, and whether it follows `:`, `,` or `[` as a number does.
    """
    if _SURROGATE_ESCAPE.search(data):
        return True
    digits = data.translate(_DIGITS_AS_ZERO)
    at = digits.find(_DIGIT_RUN)
    while at >= 0:
        end = at + _INT64_DIGITS
        long = digits[end : end + 1] == b"0" or data[at:end] >= _TWO_TO_63
        if long and _follows_value_start(data, at):
            return True
        at = digits.find(_DIGIT_RUN, end)
    return False


def _follows_value_start(data: bytes, at: int) -> bool:
    """Whether what precedes `at` is where a number starts; yes when `data` begins first."""
    at -= 1
    if at >= 0 and data[at] == ord("-"):
        at -= 1
    while at >= 0 and data[at] in _WHITESPACE:
        at -= 1
    return at < 0 or data[at] in _BEFORE_NUMBER


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

    -2**63 itself fits int64, but yajl cannot read it, so it is quoted too, for both parsers.
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
            while chunk := body.read(CHUNK):
                done, used = _repair(carry + chunk, final=False)
                fixed.write(done)
                carry = (carry + chunk)[used:]
            fixed.write(_repair(carry, final=True)[0])
    except BaseException:
        fixed.close()
        raise
    return fixed
