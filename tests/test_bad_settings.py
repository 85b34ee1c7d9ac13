"""Bad settings: every setting the tap lists in `--about`, given wrong types and values, stops
the run before its first call with an error naming the setting.

Here in process; `test_process.py` runs the same table through the command line.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_calltouch.journal import JournalStream
from tap_calltouch.settings import api_params, call_params
from tap_calltouch.tap import TapCalltouch
from tests.conftest import TOKEN, run_tap
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

TAP = Path(sys.executable).with_name("tap-calltouch")
FLAGS = (
    "with_call_tags",
    "with_comments",
    "with_orders",
    "with_map_visits",
    "with_request_tags",
    "with_yandex_direct",
    "with_google_adwords",
    "with_attrs",
    "with_widget_info",
    "with_custom_fields",
    "with_dcm",
)
TEXT_FILTERS = ("subject", "keywords", "city", "source", "medium", "manager", "phone", "email")
FLATTENING = {"flattening_enabled": True, "flattening_max_depth": 2}

NO_SITE_ID = {"site_id": None}  # taken as not set

# Setting -> wrong values, each with any other settings it needs to be judged (e.g. a filter
# mode without its filter). The first value of each setting also runs through the CLI.
BAD_SETTINGS: dict[str, list[tuple[Any, dict[str, Any]]]] = {
    "api_token": [("", {}), (12345, {}), (None, {}), (["a"], {})],
    "site_id": [
        ("abc", {}),
        ("", {}),
        ("12 3", {}),
        ("-5", {}),
        (None, {}),
        ("0", {}),  # digits, but no site
        ("9" * 30, {}),  # more than a 64-bit `siteId` holds
        ("1" * 5000, {}),  # more digits than int() reads
    ],
    "start_date": [
        ("tomorrow", {}),
        ("01/10/2026", {}),  # dd/mm, as Calltouch's other endpoints write dates
        ("2026-13-01", {}),
        ("", {}),
        (20261001, {}),
        (None, {}),
        ("0001-01-01", {"end_date": None}),  # a look-back or a zone's offset leaves year 1
    ],
    "end_date": [
        ("yesterday", {}),
        ("2026-09-01", {}),
        ("2026-02-30", {}),
        ("", {}),
        (5, {}),
        ("9999-12-31", {}),  # a window's end would pass year 9999
    ],
    "api_url": [
        ("api.calltouch.ru", {}),
        ("ftp://api.calltouch.ru", {}),
        ("https://api.calltouch.ru?x=1", {}),
        ("http://", {}),
        (5, {}),
        ("http://[::1", {}),  # urlsplit raises on it
        ("https://127.0.0.1:0", {}),
        ("https://me:secret@127.0.0.1:9", {}),  # loopback: never a real host
    ],
    "timezone": [("Mars/Olympus", {}), ("MSK+3", {}), ("+03:00", {}), ("../../etc/passwd", {})],
    "window_days": [(0, {}), (-1, {}), (367, {}), ("7", {}), (1.5, {}), (True, {}), (10**30, {})],
    # Absurd integers: before, 999999 passed and every later run failed (OverflowError).
    "lookback_days": [(-1, {}), ("7", {}), (1.5, {}), (True, {}), (999999, {}), (10**30, {})],
    "requests_per_second": [
        (0, {}),
        (-1, {}),
        (6, {}),
        (5.5, {}),
        ("5", {}),
        (True, {}),
        (1e-313, {}),  # above 0, and made the spacing between calls infinite
        (float("nan"), {}),  # Python's JSON reader takes NaN, and it passes every comparison
    ],
    "request_timeout": [(0, {}), (-5, {}), (3601, {}), ("60", {}), (1.5, {}), (10**30, {})],
    "max_api_calls": [(0, {}), (-1, {}), ("10", {}), (2.5, {}), (10**30, {})],
    "attribution": [(2, {}), (-1, {}), ("0", {}), (1.5, {})],
    "bind_to": [("call", {}), ("", {}), (1, {})],
    "calls_bind_to": [("request", {}), ("", {}), (1, {})],
    # Each of these also comes with `site_id`, which `sites` replaces; tests/test_sites.py
    # tries the lists on their own (duplicates, missing tokens, zones).
    "sites": [
        ("x", {}),
        ([], {}),
        ([{"site_id": "abc"}], {}),
        ([{"site_id": "1", "color": "red"}], {}),
        ([{"site_id": "1"}], {}),
        # Without `site_id`: shapes that once failed validation itself (AttributeError).
        ("12345", NO_SITE_ID),
        (["12345", "67890"], NO_SITE_ID),
        ([12345], NO_SITE_ID),
        ([None], NO_SITE_ID),
        ([[{"site_id": "1"}]], NO_SITE_ID),
        ({"site_id": "1"}, NO_SITE_ID),
        ([{"site_id": 12345}], NO_SITE_ID),
        ([{"site_id": "1", "api_token": 5}], NO_SITE_ID),
        ([{"site_id": "1", "timezone": 5}], NO_SITE_ID),
        ([{"site_id": "1", "name": ["x"]}], NO_SITE_ID),
        ([{"site_id": "12345"}, {"site_id": "012345"}], NO_SITE_ID),
        ([{"site_id": "0"}], NO_SITE_ID),
    ],
    "calls_window_days": [(0, {}), (93, {}), ("7", {}), (1.5, {}), (10**30, {})],
    "rate_limit_store": [
        ("sqlite:///relative/limit.db", {}),  # three slashes: relative to each working directory
        ("mysql://user:pw@127.0.0.1/db", {}),
        ("sqlite://", {}),
        ("sqlite:////tmp/", {}),
        ("postgresql:///no-host", {}),
        ("/var/lib/limit.db", {}),
        (5, {}),
    ],
    "shard": [("0/3", {}), ("4/3", {}), ("1-3", {}), ("a/b", {}), ("1/0", {}), ("", {}), (2, {})],
    "page_size": [(0, {}), (1001, {}), ("1000", {}), (2.5, {}), (10**30, {})],
    **{
        name: [("yes", {}), (1, {})]
        for name in (
            "calls_unique_only",
            "calls_target_only",
            "calls_unique_target_only",
            "calls_callback_only",
        )
    },
    **{name: [(1, {}), (["x"], {})] for name in TEXT_FILTERS},
    "phone_filter_mode": [("fuzzy", {"phone": "7999"}), ("exact", {}), (1, {"phone": "7999"})],
    "email_filter_mode": [("like", {"email": "a@b.ru"}), ("contains", {}), (1, {"email": "a"})],
    "request_ids": [
        ("1,2", {}),  # a string, not a list
        (["1,2"], {}),
        (["abc"], {}),  # the API would answer 400: ids are whole numbers
        ([-1], {}),
        ([1.5], {}),
        ([{}], {}),
    ],
    "request_numbers": [("x", {}), (["a,b"], {}), ([1.5], {}), ([None], {})],
    **{name: [("yes", {}), (1, {}), ("true", {})] for name in FLAGS},
    "stream_maps": [("requests", {}), (1, {}), ({"requests": 5}, {})],
    "stream_map_config": [("x", {}), (1, {})],
    "faker_config": [("x", {}), ({"locale": 5}, {})],
    "flattening_enabled": [("yes", {}), (1, {})],
    "fail_on_stopped_sites": [("no", {}), (0, {}), ([True], {})],
    "flattening_max_depth": [("deep", FLATTENING), (-1, FLATTENING), (1.5, FLATTENING)],
    "flattening_max_key_length": [
        ("long", FLATTENING),
        (0, FLATTENING),
        (-1, FLATTENING),
        (5, FLATTENING),  # two columns cut to one name: the SDK raised ValueError
    ],
    "flattening_separator": [(1, FLATTENING), (["__"], FLATTENING)],
    # Unknown keys: typos of real settings.
    "api_tokn": [("typo", {})],
    "windows_days": [(3, {})],
    "start-date": [("2026-10-01", {})],
}

CASES = [
    pytest.param(setting, value, extra, id=f"{setting}={value!r}")
    for setting, values in BAD_SETTINGS.items()
    for value, extra in values
]


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    """One emulator for the module: each test checks that its own run added no call."""
    dataset = generate_dataset(seed=3, start=dt.date(2026, 10, 1), days=3, per_day=5)
    with Emulator(dataset=dataset, token=TOKEN) as running:
        yield running


def good_settings(url: str) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "site_id": str(DEFAULT_SITE_ID),
        "start_date": "2026-10-01",
        "end_date": "2026-10-03",
        "api_url": url,
    }


def bad_config(url: str, setting: str, value: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {**good_settings(url), **extra, setting: value}


def about_settings() -> list[str]:
    """The settings `tap-calltouch --about --format=json` lists."""
    about = subprocess.run(  # noqa: S603 - our own executable, fixed arguments
        [str(TAP), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    return list(json.loads(about.stdout)["settings"]["properties"])


def test_every_setting_of_the_tap_is_tried() -> None:
    listed = about_settings()
    assert len(listed) > 30
    assert set(listed) <= set(BAD_SETTINGS)


def test_the_good_settings_are_good(server: Emulator) -> None:
    TapCalltouch(config=good_settings(server.url))
    assert server.count() == 0  # building the tap calls nobody


@pytest.mark.parametrize(("setting", "value", "extra"), CASES)
def test_a_bad_setting_fails_before_any_call_naming_it(
    server: Emulator, setting: str, value: Any, extra: dict[str, Any]
) -> None:
    server.reset_log()
    with pytest.raises(ConfigValidationError) as info:
        TapCalltouch(config=bad_config(server.url, setting, value, extra)).sync_all()
    assert server.count() == 0
    assert any(setting in error for error in info.value.errors), info.value.errors
    assert TOKEN not in " ".join(info.value.errors) + str(info.value)


# --- any JSON for any setting ---------------------------------------------------------------------

PROPERTY = hyp_settings(max_examples=60, deadline=None, derandomize=True)


def _every_setting() -> dict[str, Any]:
    """The tap's settings and the SDK's (stream maps, flattening), as `--about` lists them."""
    schema = copy.deepcopy(TapCalltouch.config_jsonschema)
    TapCalltouch.append_builtin_config(schema)
    return dict(schema["properties"])


SCHEMA = _every_setting()
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# Values near what each kind of setting takes, where bugs hide: very large integers, floats
# that JSON Schema counts as integers (5.0), NaN, dates at the ends of Python's calendar.
INTEGERS = (
    st.integers(-3, 3)
    | st.integers(min_value=1000, max_value=10**30)
    | st.integers(-(10**6), 10**6).map(float)
)
NUMBERS = INTEGERS | st.floats()
DATES = (
    st.dates().map(dt.date.isoformat)
    | st.datetimes().map(dt.datetime.isoformat)
    | st.tuples(st.datetimes(), st.integers(-14, 14)).map(
        lambda pair: pair[0].isoformat() + f"{pair[1]:+03d}:00"
    )
)
DIGITS = st.from_regex(r"\A0{0,3}[0-9]{1,25}\Z") | st.text(alphabet="0123456789١٢٣", min_size=1)
SITE_ENTRIES = st.fixed_dictionaries(
    {"site_id": DIGITS | JSON_SCALARS},
    optional={
        "api_token": st.text(min_size=1) | JSON_SCALARS,
        "timezone": st.sampled_from(["Asia/Omsk", "Mars/Base", ""]) | JSON_SCALARS,
        "name": JSON_SCALARS,
    },
)
NEAR: dict[str, st.SearchStrategy[Any]] = {
    "integer": INTEGERS,
    "number": NUMBERS,
    "array": st.lists(SITE_ENTRIES | DIGITS | INTEGERS, max_size=4),
}
NEAR_SETTING: dict[str, st.SearchStrategy[Any]] = {
    "start_date": DATES,
    "end_date": DATES,
    "site_id": DIGITS,
    "api_url": st.sampled_from(
        ["http://127.0.0.1:9", "https://127.0.0.1:0", "http://[::1", "https://127.0.0.1/x#y"]
    ),
    "timezone": st.sampled_from(["Asia/Omsk", "UTC", "Europe", "Etc/GMT+14", "../../etc"]),
}


def values_for(setting: str) -> st.SearchStrategy[Any]:
    kinds = SCHEMA[setting].get("type") or []
    kinds = [kinds] if isinstance(kinds, str) else kinds
    near = [NEAR[kind] for kind in kinds if kind in NEAR]
    if setting in NEAR_SETTING:
        near.append(NEAR_SETTING[setting])
    return st.one_of(JSON_VALUES, *near)


@pytest.fixture(scope="module")
def earlier_state(server: Emulator) -> dict[str, Any]:
    """The STATE a run of the good settings left: the next run reads from its bookmarks."""
    return run_tap(good_settings(server.url), streams=None).final_state


def plan_a_run(tap: TapCalltouch) -> None:
    """Everything a run works out from its settings before its first call."""
    config = dict(tap.config)
    api_params(config)
    call_params(config)
    assert tap.authenticator.spacing > 0
    for stream in tap.streams.values():
        if isinstance(stream, JournalStream):
            assert stream.timeout > 0
            for site in stream.sites:
                assert stream.planner.windows(site) is not None


def test_the_property_tries_every_setting() -> None:
    assert set(SCHEMA) == set(about_settings())


@pytest.mark.parametrize("setting", sorted(SCHEMA))
def test_any_json_value_of_a_setting_is_taken_or_refused_naming_it(
    server: Emulator, earlier_state: dict[str, Any], setting: str
) -> None:
    """Accepted, and a run can be planned from it with the earlier run's state; or refused
    with a message naming the setting. Never another exception (AttributeError, OverflowError,
    TypeError from a `null`), and never a call."""
    server.reset_log()

    @PROPERTY
    @given(value=values_for(setting))
    def taken_or_refused(value: Any) -> None:
        # Flattening's settings are judged with it on, as `flattening_max_depth` needs.
        extra = FLATTENING if setting.startswith("flattening_") else {}
        config = bad_config(server.url, setting, value, extra)  # any call would be counted
        if setting == "sites":
            del config["site_id"]
        refused: list[str] = []
        try:
            tap = TapCalltouch(config=config, state=copy.deepcopy(earlier_state))
        except ConfigValidationError as error:
            refused = error.errors
        if refused:
            assert any(setting in message for message in refused), refused
        else:
            plan_a_run(tap)

    taken_or_refused()
    assert server.count() == 0


def test_a_journal_class_without_its_declarations_fails_as_it_is_defined() -> None:
    with pytest.raises(TypeError, match=r"journal Incomplete does not declare shape, base_query$"):

        class Incomplete(JournalStream):
            name = "incomplete"
            window_days_setting = "window_days"
            default_window_days = 1
            bind_setting = "bind_to"
