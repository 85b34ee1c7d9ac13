"""A wrong configuration fails before the first RECORD, whichever stream syncs first.

`meltano config test` (and any check that reads the tap's output) calls a configuration valid
at the first RECORD. `sites` was made from the configuration alone, so with it first a wrong
token, site or `api_url` passed. Now a site is listed only once the API has answered a call for
it in the run: the journals' calls, or one call of the `sites` stream's own (the first hour of
today). Each case runs in the order the tap loads its streams and in the SDK's (by name, where
`sites` comes last), with every stream selected and with `sites` alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from tap_calltouch.errors import CalltouchAPIError, SitesFailedError, UnreachableError
from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, TOKEN, Stdout, SyncResult, catalog_selecting
from tests.emulator.dataset import DEFAULT_SITE_ID
from tests.emulator.server import Emulator
from tests.emulator.sites import generate_sites
from tests.test_faults import assert_no_token, closed_port
from tests.test_process import ENV, TAP

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.emulator.sites import Site

OTHER_TOKEN = "site/Two+tOkEn/xyz"  # noqa: S105 - a made-up token of the second site
ALL = None  # every stream selected, as `meltano config test` and `--test` do
SITES_ONLY = ("sites",)


class ByName(TapCalltouch):
    """The tap with its streams in the SDK's order (by name: `sites` after both journals)."""

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._streams = dict(sorted(self.streams.items()))


ORDERS = {"as-loaded": TapCalltouch, "by-name": ByName}


def run(
    tap: type[TapCalltouch], config: dict[str, Any], streams: tuple[str, ...] | None
) -> tuple[SyncResult, Exception | None]:
    """A whole sync; what it wrote before it ended, and the error it ended with."""
    catalog = catalog_selecting(streams) if streams is not None else None
    out = Stdout()
    error: Exception | None = None
    with contextlib.redirect_stdout(out):
        try:
            tap(config=config, catalog=catalog).sync_all()
        except Exception as exc:  # noqa: BLE001 - the test judges the failure
            error = exc
    return SyncResult([json.loads(line) for line in out.getvalue().splitlines() if line]), error


@pytest.fixture
def account() -> Iterator[tuple[Emulator, list[Site]]]:
    sites = generate_sites(2, seed=5, start=FIRST_DAY, days=3, requests_per_day=2, calls_per_day=2)
    tokens = {TOKEN: {DEFAULT_SITE_ID}, OTHER_TOKEN: {DEFAULT_SITE_ID + 1}}
    with Emulator(sites=sites, tokens=tokens, rate_limit=None) as emulator:
        yield emulator, sites


def one_site(url: str, **changes: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "site_id": str(DEFAULT_SITE_ID),
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=2)).isoformat(),
        "api_url": url,
        **changes,
    }


def two_sites(url: str) -> dict[str, Any]:
    return {
        **one_site(url),
        "site_id": None,
        "sites": [
            {"site_id": str(DEFAULT_SITE_ID), "name": "Окна"},
            {"site_id": str(DEFAULT_SITE_ID + 1), "api_token": OTHER_TOKEN},
        ],
    }


WRONG = {
    "rejected token": ({"api_token": "wrong"}, "Calltouch rejected the credentials", "api_token"),
    "unknown site": ({"site_id": "999"}, "Calltouch rejected the credentials", "site_id"),
    "unreachable api_url": ({}, "failed after 8 attempts", "check the `api_url` setting"),
}


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("streams", [ALL, SITES_ONLY], ids=["all-streams", "sites-alone"])
@pytest.mark.parametrize("wrong", list(WRONG))
def test_a_wrong_configuration_fails_with_its_message_before_any_record(
    account: tuple[Emulator, list[Site]],
    wrong: str,
    streams: tuple[str, ...] | None,
    order: str,
) -> None:
    emulator, _ = account
    changes, said, names = WRONG[wrong]
    url = f"http://127.0.0.1:{closed_port()}" if wrong == "unreachable api_url" else emulator.url
    result, error = run(ORDERS[order], one_site(url, **changes), streams)
    assert not result.records, f"RECORDs before the failure: {dict(result.records)}"
    assert isinstance(error, CalltouchAPIError), error
    assert said in str(error)
    assert names in str(error)
    if wrong == "unreachable api_url":
        assert isinstance(error, UnreachableError)
    assert_no_token(json.dumps(result.messages) + str(error))


@pytest.mark.parametrize("order", list(ORDERS))
def test_a_good_configuration_lists_its_sites_at_no_cost_once_the_journals_read_them(
    account: tuple[Emulator, list[Site]], order: str
) -> None:
    emulator, sites = account
    config = two_sites(emulator.url)
    without_sites = run(ORDERS[order], config, ("requests",))[0]
    calls_without = len(emulator.calls)
    emulator.reset_log()
    result, error = run(ORDERS[order], config, ("sites", "requests"))
    assert error is None
    sites_first = next(m["stream"] for m in result.messages if m["type"] == "SCHEMA") == "sites"
    # Listed first, each site costs one call of its own; after the journals, none.
    assert len(emulator.calls) == calls_without + (len(sites) if sites_first else 0)
    assert result.records["sites"] == [
        {"siteId": DEFAULT_SITE_ID, "name": "Окна", "timezone": "Europe/Moscow"},
        {"siteId": DEFAULT_SITE_ID + 1, "name": None, "timezone": "Europe/Moscow"},
    ]
    journals = without_sites.final_state["bookmarks"]
    assert {name: result.final_state["bookmarks"][name] for name in journals} == journals


def test_sites_alone_lists_each_site_after_one_call_for_the_first_hour_of_today(
    account: tuple[Emulator, list[Site]],
) -> None:
    emulator, sites = account
    now = dt.datetime(2026, 12, 7, 1, 30, tzinfo=dt.timezone.utc)  # 04:30 in Moscow
    with mock.patch.object(TapCalltouch, "clock", staticmethod(lambda: now)):
        result, error = run(TapCalltouch, two_sites(emulator.url), SITES_ONLY)
    assert error is None
    assert [r["siteId"] for r in result.records["sites"]] == [s.site_id for s in sites]
    asked = [(c.journal, c.site, c.status, c.params["dateFrom"], c.params["timeFrom"],
              c.params["timeTo"]) for c in emulator.calls]  # fmt: skip
    assert asked == [
        ("requests", str(site.site_id), 200, "12/07/2026", "00:00:00", "00:59:59") for site in sites
    ]
    assert result.final_state["bookmarks"]["sites"] == {}  # full table: nothing to resume
    output = json.dumps(result.messages)
    assert_no_token(output)
    assert_no_token(output, token=OTHER_TOKEN)


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize(
    "streams",
    [ALL, SITES_ONLY, ("sites", "calls"), ("sites", "orders")],
    ids=["all-streams", "sites-alone", "sites-and-calls", "sites-and-a-child"],
)
@pytest.mark.parametrize("budget", [None, 50], ids=["no-budget", "budget"])
def test_of_several_sites_one_rejected_is_never_listed_and_fails_the_run(
    account: tuple[Emulator, list[Site]],
    streams: tuple[str, ...] | None,
    order: str,
    budget: int | None,
) -> None:
    emulator, _ = account
    emulator.revoke(OTHER_TOKEN)
    config = {**two_sites(emulator.url), "max_api_calls": budget}
    result, error = run(ORDERS[order], config, streams)
    assert isinstance(error, SitesFailedError), error
    assert f"site {DEFAULT_SITE_ID + 1}: " in str(error)
    # The site that completed is still listed: a stopped one never keeps the dimension (its
    # name, the zone its reports' days are cut in) from the others.
    listed = [record["siteId"] for record in result.records["sites"]]
    assert listed == [DEFAULT_SITE_ID]


def test_sites_proves_a_site_the_requests_journal_had_no_window_for(
    account: tuple[Emulator, list[Site]],
) -> None:
    """A `start_date` ahead: the requests journal syncs, reads nothing, and ends its sync."""
    emulator, _ = account
    now = dt.datetime.combine(FIRST_DAY - dt.timedelta(days=2), dt.time(12), dt.timezone.utc)
    with mock.patch.object(TapCalltouch, "clock", staticmethod(lambda: now)):
        result, error = run(
            TapCalltouch, one_site(emulator.url, end_date=None), ("requests", "sites")
        )
    assert error is None, repr(error)
    assert len(emulator.calls) == 1
    assert [r["siteId"] for r in result.records["sites"]] == [DEFAULT_SITE_ID]


def test_sites_respects_the_call_budget(account: tuple[Emulator, list[Site]]) -> None:
    emulator, _ = account
    config = {**two_sites(emulator.url), "max_api_calls": 1}
    result, error = run(TapCalltouch, config, SITES_ONLY)
    assert error is None
    assert len(emulator.calls) == 1
    assert [r["siteId"] for r in result.records["sites"]] == [DEFAULT_SITE_ID]


@pytest.mark.parametrize("wrong", ["rejected token", "unknown site"])
def test_the_test_flag_fails_with_the_one_message_and_writes_no_record(
    account: tuple[Emulator, list[Site]], tmp_path: Path, wrong: str
) -> None:
    emulator, _ = account
    changes, said, names = WRONG[wrong]
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(one_site(emulator.url, **changes)))
    done = subprocess.run(  # noqa: S603 - our own executable, arguments we wrote
        [TAP, "--config", str(config_file), "--test"],
        capture_output=True,
        text=True,
        env={**ENV, "TAP_CALLTOUCH_LOGLEVEL": "INFO"},
        timeout=120,
        check=False,
    )  # INFO: at DEBUG the tap keeps the traceback on purpose
    assert done.returncode == 1, done.stderr
    assert '"RECORD"' not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert said in last, last
    assert names in last, last
    assert "Traceback" not in done.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(one_site(emulator.url)))
    passed = subprocess.run(  # noqa: S603
        [TAP, "--config", str(good), "--test"],
        capture_output=True,
        text=True,
        env={**ENV, "TAP_CALLTOUCH_LOGLEVEL": "INFO"},
        timeout=120,
        check=False,
    )
    assert passed.returncode == 0, passed.stderr
    assert '"RECORD"' in passed.stdout
