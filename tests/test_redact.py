"""Secret redaction: the token never reaches a log line, whichever logger writes it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import requests

from tap_calltouch.redact import MASK, redact, register_secret, secret_forms

if TYPE_CHECKING:
    import pytest

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
