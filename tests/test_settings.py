"""Settings: checks beyond JSON Schema, and the query each setting produces."""

from __future__ import annotations

from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_calltouch.settings import api_params, call_params, problems
from tap_calltouch.sites import sites_of
from tap_calltouch.tap import TapCalltouch

BASE = {"api_token": "t", "site_id": "123", "start_date": "2026-10-01"}


def test_defaults_ask_for_every_optional_block() -> None:
    params = api_params(BASE)
    assert "siteId" not in params  # the journal adds each site's own
    for flag in (
        "withMapVisits",
        "withRequestTags",
        "withYandexDirect",
        "withGoogleAdwords",
        "withAttrs",
        "withWidgetInfo",
        "withCustomFields",
        "withDcm",
    ):
        assert params[flag] == "true"


def test_filters_map_to_api_names() -> None:
    params = api_params(
        {
            **BASE,
            "with_dcm": False,
            "subject": "Заявка",
            "city": "moscow",
            "attribution": 0,
            "bind_to": "session",
            "phone": "7999",
            "phone_filter_mode": "startwith",
            "email": "a@b.ru",
            "request_ids": [1, "2"],
            "request_numbers": ["x"],
        }
    )
    assert "withDcm" not in params
    assert params["subject"] == "Заявка"
    assert params["city"] == "moscow"
    assert params["attribution"] == "0"
    assert params["bindTo"] == "session"
    assert params["ani.value"] == "7999"
    assert params["ani.filterMode"] == "startwith"
    assert params["email.value"] == "a@b.ru"
    assert params["email.filterMode"] == "exact"
    assert params["requestId"] == "1,2"
    assert params["requestNumber"] == "x"


def test_good_config_has_no_problems() -> None:
    assert (
        problems({**BASE, "end_date": "2026-10-31T23:00:00+03:00", "timezone": "Asia/Omsk"}) == []
    )


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start_date": "01/10/2026"}, "start_date"),
        ({"end_date": "yesterday"}, "end_date"),
        ({"end_date": "2026-09-01"}, "end_date"),
        ({"api_url": "ftp://example"}, "api_url"),
        ({"api_url": "https://api.calltouch.ru?x=1"}, "api_url"),
        ({"email_filter_mode": "contains"}, "email_filter_mode"),
        ({"request_ids": ["1,2"]}, "request_ids"),
    ],
)
def test_problems_name_the_setting(change: dict[str, Any], setting: str) -> None:
    found = problems({**BASE, **change})
    assert len(found) == 1
    assert found[0].startswith(f"{setting}:")


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"site_id": "abc"}, "site_id"),
        ({"window_days": 0}, "window_days"),
        ({"lookback_days": -1}, "lookback_days"),
        ({"requests_per_second": 0}, "requests_per_second"),
        ({"requests_per_second": 6}, "requests_per_second"),
        ({"attribution": 2}, "attribution"),
        ({"bind_to": "call"}, "bind_to"),
        ({"phone_filter_mode": "fuzzy"}, "phone_filter_mode"),
        ({"with_dcm": "yes"}, "with_dcm"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start_date": "tomorrow"}, "start_date"),
        ({"api_tokn": "typo"}, "api_tokn"),
    ],
)
def test_tap_refuses_bad_settings_before_any_call(change: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TapCalltouch(config={**BASE, **change})
    assert any(setting in error for error in info.value.errors), info.value.errors


def test_tap_requires_token_site_and_start() -> None:
    with pytest.raises(ConfigValidationError) as info:
        TapCalltouch(config={})
    text = " ".join(info.value.errors)
    for setting in ("api_token", "site_id", "start_date"):
        assert setting in text


def test_integers_written_as_floats_go_out_as_integers() -> None:
    """JSON Schema counts 500.0 as an integer, so it passes; the API would get `limit=500.0`."""
    params = call_params({**BASE, "page_size": 500.0, "attribution": 1.0})
    assert params["limit"] == "500"
    assert params["attribution"] == "1"
    assert api_params({**BASE, "attribution": 0.0})["attribution"] == "0"


@pytest.mark.parametrize("written", ["123", "0123", "000123"])
def test_a_single_site_id_is_its_number(written: str) -> None:
    assert [site.site_id for site in sites_of({**BASE, "site_id": written})] == [123]
    assert problems({**BASE, "site_id": written}) == []
