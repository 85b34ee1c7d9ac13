"""Secret redaction: the token never reaches a log line, whichever logger writes it."""

from __future__ import annotations

import logging
import re
import string
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_calltouch.redact import MASK, config_secrets, redact, register_secret, secret_forms

if TYPE_CHECKING:
    from collections.abc import Callable

TOKEN = "mD4rd.Nc5JINXrWEDLIi7/jvY/3CR64etYH40DggYFpCo+x"  # noqa: S105 - a made-up token


def test_redact_covers_raw_and_url_encoded_forms() -> None:
    forms = secret_forms(TOKEN)
    url = requests.Request("GET", "http://h/p", params={"clientApiId": TOKEN}).prepare().url
    assert url is not None
    assert TOKEN not in url  # requests encodes the slashes and the plus
    for text in (f"token={TOKEN}", url, f"x {TOKEN} y {TOKEN}"):
        clean = redact(text, forms)
        assert MASK in clean
        assert "jvY" not in clean


def test_redact_leaves_other_text_alone() -> None:
    assert redact("nothing secret here", secret_forms(TOKEN)) == "nothing secret here"
    assert redact("anything", set()) == "anything"


def _fail_with_token() -> None:
    raise RuntimeError(TOKEN)


def test_log_records_of_any_logger_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(TOKEN)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug("GET /x?clientApiId=%s", TOKEN)
    logging.getLogger("some.other").warning("failed: %s", ValueError(f"url {TOKEN}"))
    try:
        _fail_with_token()
    except RuntimeError:
        logging.getLogger("tap").exception("boom")
    assert TOKEN not in caplog.text
    assert "jvY" not in caplog.text
    assert caplog.text.count(MASK) >= 3


# --- every form an echo can take ---------------------------------------------------------------
# Built here by hand, each encoder as a server or proxy might apply it, not from `secret_forms`.

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
# Token characters: base64's, a few URL-special ones, and non-ASCII letters.
TOKENS = st.text(alphabet=string.ascii_letters + string.digits + "/+=.-_~ЖжéЯ€", min_size=12)
URL_ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda t: t,
    "query": lambda t: quote(t, safe=""),  # as requests writes a query value
    "path": quote,  # `/` kept
    "form": quote_plus,
    # Non-ASCII letters decoded, the rest kept escaped: werkzeug's `request.url`.
    "iri": lambda t: "".join(c if not c.isascii() else quote(c, safe="/") for c in t),
    "iri_query": lambda t: "".join(c if not c.isascii() else quote(c, safe="") for c in t),
}
PERCENT_CASES: dict[str, Callable[[str], str]] = {
    "upper": lambda t: t,
    "lower": lambda t: re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), t),
}


def json_escaped(text: str, *, ascii_only: bool, slashes: bool, upper_hex: bool) -> str:
    r"""`text` as a JSON encoder writes it inside a string: PHP's `json_encode` writes `\/`
    and `\uXXXX` unless told not to; others write upper-case hex."""
    out = []
    for char in text:
        if char == "/" and slashes:
            out.append("\\/")
        elif char in '"\\':
            out.append("\\" + char)
        elif ascii_only and not char.isascii():
            units = char.encode("utf-16-be")
            for k in range(0, len(units), 2):
                code = f"{int.from_bytes(units[k : k + 2], 'big'):04x}"
                out.append("\\u" + (code.upper() if upper_hex else code))
        else:
            out.append(char)
    return "".join(out)


@PROPERTY
@given(
    token=TOKENS,
    url=st.sampled_from(sorted(URL_ENCODINGS)),
    case=st.sampled_from(sorted(PERCENT_CASES)),
    json_mode=st.sampled_from(["none", "ascii", "unicode"]),
    slashes=st.booleans(),
    upper_hex=st.booleans(),
)
def test_every_echoed_form_of_a_token_is_masked(  # noqa: PLR0913 - one per encoding step
    token: str, url: str, case: str, json_mode: str, *, slashes: bool, upper_hex: bool
) -> None:
    echoed = PERCENT_CASES[case](URL_ENCODINGS[url](token))
    if json_mode != "none":
        echoed = json_escaped(
            echoed, ascii_only=json_mode == "ascii", slashes=slashes, upper_hex=upper_hex
        )
    body = f'{{"error":"Bad request: GET /x?clientApiId={echoed}&siteId=1 failed"}}'
    clean = redact(body, secret_forms(token))
    assert clean == f'{{"error":"Bad request: GET /x?clientApiId={MASK}&siteId=1 failed"}}'


def test_php_writes_a_token_with_escaped_slashes_and_it_is_masked() -> None:
    """The case of the review: `json_encode` of a URL whose token keeps its `/`."""
    echoed = TOKEN.replace("/", "\\/")
    assert "jvY" in echoed  # pieces of the token between the slashes are readable
    clean = redact(f'{{"message":"https:\\/\\/h\\/p?clientApiId={echoed}"}}', secret_forms(TOKEN))
    assert "jvY" not in clean
    assert MASK in clean


@pytest.mark.parametrize("short", ["", "t", "abcde"])
def test_a_value_too_short_to_be_a_token_masks_nothing(short: str) -> None:
    """Masking every `t` (as a test's placeholder token once did) would garble each message."""
    assert secret_forms(short) == set()
    assert redact("timezone: bad", secret_forms(short)) == "timezone: bad"


def test_every_token_of_a_raw_config_is_found_whatever_its_type() -> None:
    """Read before validation, so a value the schema refuses (a number, a list) is hidden too."""
    config = {
        "api_token": 98765432109876543210,
        "sites": [
            {"site_id": "1", "api_token": ["first-token-x", {"nested": "second-token"}]},
            "not an object",
            {"site_id": "2", "api_tokn": "typo-d-token"},  # a typo of the key
        ],
        "api_url": "https://me:pass/word@h/calls?clientapiid=from%2Fthe%2Burl&siteId=1",
        "start_date": "2026-10-01",
        "api_token_short": "t",  # too short to be a token: masking it would garble messages
        "rate_limit_stor": "postgresql://h/db?sslpassword=key%2Fpass&password=db-pass",
        "limit_store": "host=h password='a quoted one' dbname=x",
    }
    assert config_secrets(config) == {
        "98765432109876543210",
        "first-token-x",
        "second-token",
        "typo-d-token",
        "pass/word",
        "from%2Fthe%2Burl",
        "from/the+url",  # decoded, as the server reads it
        "key%2Fpass",
        "key/pass",
        "db-pass",
        "a quoted one",
    }


def test_a_token_echoed_by_a_page_read_in_the_wrong_charset_is_masked() -> None:
    """requests reads a `text/html` page without a charset as ISO-8859-1: non-ASCII letters
    of a token echoed in UTF-8 arrive garbled, and the garbled text is the token all the same."""
    token = "pY7/tE+sT=ключ/Ωz9"  # noqa: S105 - a made-up token
    page = f"<html><body>Not found: /x?clientApiId={token}</body></html>".encode()
    answer = requests.Response()
    answer._content = page  # a response without a network
    answer.headers["Content-Type"] = "text/html"
    answer.encoding = requests.utils.get_encoding_from_headers(answer.headers)
    misread = answer.text
    assert token not in misread  # the letters came out as others
    for text in (misread, page.decode("cp1252", errors="replace")):
        clean = redact(text, secret_forms(token))
        assert clean == f"<html><body>Not found: /x?clientApiId={MASK}</body></html>"


@pytest.mark.parametrize("hexadecimal", [False, True])
def test_a_token_echoed_with_html_character_references_is_masked(*, hexadecimal: bool) -> None:
    token = "pY7/tE+sT=ключ/Ωz9"  # noqa: S105 - a made-up token
    echoed = "".join(
        char if char.isascii() else (f"&#x{ord(char):x};" if hexadecimal else f"&#{ord(char)};")
        for char in token
    )
    assert redact(f"<p>{echoed}</p>", secret_forms(token)) == f"<p>{MASK}</p>"
