"""Settings: the checks JSON Schema cannot express, and the mapping to the API's query parameters.

Pure functions of the config dict, so a wrong value is reported, naming the setting, before
the first call, and the query a setting produces can be tested without a server.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from tap_calltouch.redact import redact_registered, shorten
from tap_calltouch.sites import DEFAULT_TIMEZONE, site_problems, zone_named
from tap_calltouch.windows import parse_instant

DEFAULT_API_URL = "https://api.calltouch.ru"

# Boolean settings and the API flag each one turns on.
FLAGS = {
    "with_map_visits": "withMapVisits",
    "with_request_tags": "withRequestTags",
    "with_yandex_direct": "withYandexDirect",
    "with_google_adwords": "withGoogleAdwords",
    "with_attrs": "withAttrs",
    "with_widget_info": "withWidgetInfo",
    "with_custom_fields": "withCustomFields",
    "with_dcm": "withDcm",
}

# The calls journal's flags: its own three, and those it shares with the requests journal.
CALL_FLAGS = {
    "with_call_tags": "withCallTags",
    "with_comments": "withComments",
    "with_orders": "withOrders",
    "with_map_visits": "withMapVisits",
    "with_yandex_direct": "withYandexDirect",
    "with_google_adwords": "withGoogleAdwords",
    "with_dcm": "withDcm",
}

# The calls journal's filters: boolean settings, sent as "true" only when set.
CALL_FILTERS = {
    "calls_unique_only": "uniqueOnly",
    "calls_target_only": "targetOnly",
    "calls_unique_target_only": "uniqTargetOnly",
    "calls_callback_only": "callbackOnly",
}

MAX_PAGE_SIZE = 1000  # the calls journal refuses a larger `limit`
# Sane ceilings of settings that have no natural one. Ten years of look-back already re-read
# everything Calltouch keeps; a million calls is more than two days at 5 calls a second.
# (Unbounded, `lookback_days: 999999` would put the first window before year 1: OverflowError.)
MAX_LOOKBACK_DAYS = 3650
MAX_API_CALLS = 1_000_000
# One call in 100 seconds; above 0 alone, 1e-313 would pass and make the spacing infinite.
MIN_REQUESTS_PER_SECOND = 0.01
# The dates a run can read. Wide (1900 for "from the beginning"), and far enough inside
# Python's years 1..9999 that a look-back, a window and a time zone's offset stay in them.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2999, 12, 31)

# Text filters passed through under the API's own names.
TEXT_FILTERS = {
    "subject": "subject",
    "keywords": "keywords",
    "city": "city",
    "source": "source",
    "medium": "medium",
    "manager": "manager",
}

FILTER_MODES = ("startwith", "contains", "exact")


def problems(config: dict[str, Any]) -> list[str]:
    """Every setting that is set but unusable, each message naming the setting."""
    zone, errors = _zone_problems(config)
    return [
        *site_problems(config),
        *errors,
        *_date_problems(config, zone),
        *_url_problems(config),
        *_filter_problems(config),
        *_rate_problems(config),
        *_sdk_problems(config),
    ]


def _zone_problems(config: dict[str, Any]) -> tuple[ZoneInfo, list[str]]:
    name = config.get("timezone") or DEFAULT_TIMEZONE
    zone = zone_named(name)
    if zone is not None:
        return zone, []
    message = f"timezone: {name!r} is not an IANA time zone name (e.g. 'Europe/Moscow')"
    return ZoneInfo("UTC"), [message]


def _date_problems(config: dict[str, Any], zone: ZoneInfo) -> list[str]:
    errors: list[str] = []
    instants = {}
    for key in ("start_date", "end_date"):
        value = config.get(key)
        if value is None:
            continue
        try:
            instant = parse_instant(str(value), zone)
        except ValueError:
            errors.append(f"{key}: {value!r} is not an ISO 8601 date or date-time")
            continue
        if not EARLIEST_DATE <= instant.date() <= LATEST_DATE:
            errors.append(f"{key}: {value!r} is not between {EARLIEST_DATE} and {LATEST_DATE}")
            continue
        instants[key] = instant
    if len(instants) == 2 and instants["start_date"] > instants["end_date"]:  # noqa: PLR2004
        errors.append("end_date: must not be before start_date")
    return errors


def _rate_problems(config: dict[str, Any]) -> list[str]:
    """NaN, which Python's JSON reader takes and which every comparison of the schema passes."""
    rate = config.get("requests_per_second")
    if isinstance(rate, float) and not math.isfinite(rate):
        return [f"requests_per_second: must be a number from {MIN_REQUESTS_PER_SECOND} to 5"]
    return []


def _sdk_problems(config: dict[str, Any]) -> list[str]:
    """The SDK's own settings that its schema lets through but that would crash a sync."""
    length = config.get("flattening_max_key_length")
    if isinstance(length, int) and length < 1:
        return ["flattening_max_key_length: must be at least 1"]
    return []


def _url_problems(config: dict[str, Any]) -> list[str]:
    """A base URL, without the query or login a URL pasted from the vendor's examples has.

    Neither is echoed: the query of such a URL holds the token (`clientApiId=...`).
    """
    url = str(config.get("api_url") or DEFAULT_API_URL)
    rule = f"api_url: must be an http(s) base URL such as {DEFAULT_API_URL}"
    if "?" in url or "#" in url:
        query = "without a query or `#` part (not shown here): the token goes in `api_token`"
        return [f"{rule}, {query}"]
    if "@" in url:
        return [f"{rule}, without a login (not shown here)"]
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when it is not a number
    except ValueError:
        parts, port = urlsplit(""), None
    if parts.scheme in {"http", "https"} and parts.hostname and port != 0:
        return []
    shown = shorten(redact_registered(url), 200)  # masked first: a cut hides a token from it
    return [f"api_url: {shown!r} is not an http(s) base URL such as {DEFAULT_API_URL}"]


def _filter_problems(config: dict[str, Any]) -> list[str]:
    errors = [
        f"{mode_key}: set only together with {value_key}"
        for value_key, mode_key in (("phone", "phone_filter_mode"), ("email", "email_filter_mode"))
        if config.get(mode_key) and not config.get(value_key)
    ]
    errors.extend(
        f"{list_key}: give one id per list item, without commas"
        for list_key in ("request_ids", "request_numbers")
        if any("," in str(value) for value in config.get(list_key) or [])
    )
    ids = [str(value) for value in config.get("request_ids") or []]
    if any("," not in value and not value.isdigit() for value in ids):
        errors.append("request_ids: Calltouch request ids are whole numbers")
    return errors


def api_params(config: dict[str, Any]) -> dict[str, str]:
    """The query parameters every requests-journal call carries, besides site, dates, token."""
    params: dict[str, str] = {}
    params.update({flag: "true" for setting, flag in FLAGS.items() if config.get(setting, True)})
    params.update({name: str(config[key]) for key, name in TEXT_FILTERS.items() if config.get(key)})
    if config.get("attribution") is not None:
        params["attribution"] = str(int(config["attribution"]))  # JSON Schema: 1.0 is 1
    if config.get("bind_to"):
        params["bindTo"] = str(config["bind_to"])
    for setting, prefix in (("phone", "ani"), ("email", "email")):
        if config.get(setting):
            params[f"{prefix}.value"] = str(config[setting])
            params[f"{prefix}.filterMode"] = str(config.get(f"{setting}_filter_mode") or "exact")
    for setting, name in (("request_ids", "requestId"), ("request_numbers", "requestNumber")):
        if config.get(setting):
            params[name] = ",".join(str(value) for value in config[setting])
    return params


def call_params(config: dict[str, Any]) -> dict[str, str]:
    """The query parameters every calls-journal call carries, besides dates, page and token.

    The site id is in the path, not the query.
    """
    params = {flag: "true" for setting, flag in CALL_FLAGS.items() if config.get(setting, True)}
    params.update({name: "true" for setting, name in CALL_FILTERS.items() if config.get(setting)})
    if config.get("attribution") is not None:
        params["attribution"] = str(int(config["attribution"]))
    if config.get("calls_bind_to"):
        params["bindTo"] = str(config["calls_bind_to"])
    params["limit"] = str(int(config.get("page_size") or MAX_PAGE_SIZE))  # 1000.0 is an integer
    return params
