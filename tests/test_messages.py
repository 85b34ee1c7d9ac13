"""What a person reads when a run fails for a reason they must act on, through the command line
at the default log level: the reason in a few lines, exit code 1, no traceback, no token. And a
`--test` connection check that passes reads as passed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, TOKEN
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.test_faults import assert_no_token, exception_texts
from tests.test_process import ENV, TAP

if TYPE_CHECKING:
    from pathlib import Path

MAX_LINES = 30
QUIET = {**ENV, "TAP_CALLTOUCH_LOGLEVEL": "INFO"}  # the default level, as Meltano runs it


def run_cli(
    tmp_path: Path, config: dict[str, Any], *args: str, env: dict[str, str] = QUIET
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(  # noqa: S603 - our own executable, arguments we wrote
        [TAP, "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def server() -> Any:
    requests = generate_dataset(seed=3, start=FIRST_DAY, days=4, per_day=5)
    calls = generate_calls(seed=3, start=FIRST_DAY, days=4, per_day=5)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        yield emulator


def settings(url: str, **changes: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "site_id": str(DEFAULT_SITE_ID),
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=3)).isoformat(),
        "api_url": url,
        "window_days": 1,
        **changes,
    }


@pytest.mark.parametrize(
    ("case", "changes", "says"),
    [
        ("token", {"api_token": "wrong/" + TOKEN[::-1]}, "Calltouch rejected the credentials"),
        ("points", {}, "daily API points are used up"),
        ("setting", {"window_days": 0}, "window_days"),
        # Before, 999999 passed, and every run with a bookmark failed with OverflowError.
        ("absurd integer", {"lookback_days": 999999}, "lookback_days"),
        # Before, validation itself failed with an AttributeError and its traceback.
        ("sites as ids", {"site_id": None, "sites": ["12345", "67890"]}, "sites"),
        ("sites as text", {"site_id": None, "sites": "12345"}, "sites"),
    ],
)
def test_an_error_to_act_on_is_its_message_alone(
    tmp_path: Path, server: Emulator, case: str, changes: dict[str, Any], says: str
) -> None:
    if case == "points":
        server.points_budget = 0
    done = run_cli(tmp_path, settings(server.url, **changes))
    lines = done.stderr.splitlines()
    assert done.returncode == 1
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) <= MAX_LINES, f"{len(lines)} lines:\n{done.stderr}"
    assert_no_token(done.stderr, done.stdout, token=changes.get("api_token", TOKEN))


def test_the_traceback_is_there_at_debug(tmp_path: Path, server: Emulator) -> None:
    debug = {**ENV, "TAP_CALLTOUCH_LOGLEVEL": "DEBUG"}
    done = run_cli(tmp_path, settings(server.url, api_token=TOKEN[::-1]), env=debug)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "Calltouch rejected the credentials" in done.stderr


def test_a_passing_connection_test_reads_as_passed(tmp_path: Path, server: Emulator) -> None:
    done = run_cli(tmp_path, settings(server.url), "--test")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "unhandled error" not in done.stderr
    assert '"status":"failed"' not in done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if '"RECORD"' in line]
    assert {record["stream"] for record in records} >= {"requests", "calls"}


def test_a_rejected_token_fails_the_connection_test_with_its_message_alone(
    tmp_path: Path, server: Emulator
) -> None:
    done = run_cli(tmp_path, settings(server.url, api_token=TOKEN[::-1]), "--test")
    assert done.returncode == 1
    assert "Calltouch rejected the credentials" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) <= MAX_LINES, done.stderr
    assert_no_token(done.stderr, done.stdout, token=TOKEN[::-1])


def first_record_stream(stdout: str) -> str | None:
    for line in stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            stream: str = message["stream"]
            return stream
    return None


def test_a_run_writes_no_record_before_the_api_accepts_its_token(
    tmp_path: Path, server: Emulator
) -> None:
    """`meltano config test` passes at the first RECORD: `sites`, written from the config,
    came first, so a wrong token passed it. Now a journal's answer comes first."""
    rejected = run_cli(tmp_path, settings(server.url, api_token=TOKEN[::-1]))
    assert rejected.returncode == 1
    assert first_record_stream(rejected.stdout) is None
    accepted = run_cli(tmp_path, settings(server.url))
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    assert first_record_stream(accepted.stdout) in {"calls", "call_orders", "call_comments",
                                                    "call_map_visits", "call_tags"}  # fmt: skip


# --- config errors never print a token -----------------------------------------------------------

NUMERIC_TOKEN = 98765432109876543210  # a token pasted as a JSON number
OTHER = "url/Tok+en=Pasted/In+The/Query/Of+api_url"  # made up


def _leaky(case: str, url: str) -> tuple[dict[str, Any], str, str]:
    """A config that once printed a token on failing, the setting named, and that token."""
    base = settings(url)
    without_site = {key: value for key, value in base.items() if key != "site_id"}
    site = str(DEFAULT_SITE_ID)
    cases: dict[str, tuple[dict[str, Any], str, str]] = {
        # The vendor documents its calls as full URLs, token included.
        "api_url with the token in its query": (
            {**base, "api_url": f"{url}/calls-service/RestAPI/requests/?clientApiId={TOKEN}"},
            "api_url",
            TOKEN,
        ),
        "api_url with another token in its query": (
            {**base, "api_url": f"{url}/?clientApiId={quote(OTHER, safe='')}&siteId={site}"},
            "api_url",
            OTHER,
        ),
        "api_url with a login": (
            {**base, "api_url": f"http://me:{OTHER}@127.0.0.1:9"},
            "api_url",
            OTHER,
        ),
        "numeric api_token": (
            {**base, "api_token": NUMERIC_TOKEN},
            "api_token",
            str(NUMERIC_TOKEN),
        ),
        "api_token in a list": ({**base, "api_token": [TOKEN]}, "api_token", TOKEN),
        "numeric token of a site": (
            {**without_site, "sites": [{"site_id": site, "api_token": NUMERIC_TOKEN}]},
            "sites",
            str(NUMERIC_TOKEN),
        ),
        "sites as one object": (
            {**without_site, "api_token": OTHER, "sites": {"site_id": site, "api_token": TOKEN}},
            "sites",
            TOKEN,
        ),
        # Echoed values were cut before they were masked: the token's head went out whole.
        "a token pasted late into a site's timezone": (
            {**without_site, "sites": [{"site_id": site, "timezone": f"Europe/{'x' * 40}{TOKEN}"}]},
            "timezone",
            TOKEN,
        ),
        "a token pasted late into a non-http api_url": (
            {**base, "api_url": f"ftp://{'x' * 170}{TOKEN}"},
            "api_url",
            TOKEN,
        ),
    }
    return cases[case]


LEAKY = [
    "api_url with the token in its query",
    "api_url with another token in its query",
    "api_url with a login",
    "numeric api_token",
    "api_token in a list",
    "numeric token of a site",
    "sites as one object",
    "a token pasted late into a site's timezone",
    "a token pasted late into a non-http api_url",
]


@pytest.mark.parametrize("case", LEAKY)
def test_a_config_error_never_prints_a_token(tmp_path: Path, server: Emulator, case: str) -> None:
    config, setting, token = _leaky(case, server.url)
    done = run_cli(tmp_path, config)
    assert done.returncode == 1
    assert setting in done.stderr
    assert "Config validation failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert server.count() == 0
    assert_no_token(done.stderr, done.stdout, token=token)


@pytest.mark.parametrize("case", LEAKY)
def test_a_config_error_in_process_never_holds_a_token(
    server: Emulator, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    config, setting, token = _leaky(case, server.url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigValidationError) as info:
        TapCalltouch(config=config)
    assert server.count() == 0
    assert any(setting in error for error in info.value.errors), info.value.errors
    assert_no_token(*info.value.errors, *exception_texts(info.value), caplog.text, token=token)
