"""The `sites` stream: the run's sites from the config, once a call proved each; no token, no
state."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tap_calltouch.errors import SitesFailedError
from tests.conftest import FIRST_DAY, TOKEN, run_tap
from tests.emulator.dataset import DEFAULT_SITE_ID
from tests.emulator.server import Emulator
from tests.emulator.sites import generate_sites
from tests.test_faults import sync

OTHER_TOKEN = "site/Two+tOkEn/xyz"  # noqa: S105 - a made-up token of the second site
REQUEST_STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")


def agency_config(url: str) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "sites": [
            {"site_id": str(DEFAULT_SITE_ID), "name": "Окна"},
            {
                "site_id": str(DEFAULT_SITE_ID + 1),
                "name": "Двери",
                "timezone": "Asia/Novosibirsk",
                "api_token": OTHER_TOKEN,
            },
        ],
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=2)).isoformat(),
        "api_url": url,
        "timezone": "Europe/Samara",
    }


def test_sites_lists_each_configured_site_after_one_call_without_a_token() -> None:
    sites = generate_sites(2, seed=3, start=FIRST_DAY, days=3, requests_per_day=2, calls_per_day=2)
    tokens = {TOKEN: {DEFAULT_SITE_ID}, OTHER_TOKEN: {DEFAULT_SITE_ID + 1}}
    with Emulator(sites=sites, tokens=tokens) as emulator:
        result = run_tap(agency_config(emulator.url), streams=("sites",))
        calls = list(emulator.calls)
    # Nothing else proved the sites in this run: one call each, with its own token.
    assert [(call.site, call.status) for call in calls] == [
        (str(DEFAULT_SITE_ID), 200),
        (str(DEFAULT_SITE_ID + 1), 200),
    ]
    assert result.records["sites"] == [
        {"siteId": DEFAULT_SITE_ID, "name": "Окна", "timezone": "Europe/Samara"},
        {"siteId": DEFAULT_SITE_ID + 1, "name": "Двери", "timezone": "Asia/Novosibirsk"},
    ]
    output = json.dumps(result.messages, ensure_ascii=False)
    assert TOKEN not in output
    assert OTHER_TOKEN not in output
    assert result.final_state["bookmarks"]["sites"] == {}  # full table: nothing to resume


def test_a_site_id_run_lists_its_one_site_in_the_default_zone() -> None:
    with Emulator(dataset=[], token=TOKEN) as emulator:
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "api_url": emulator.url,
        }
        result = run_tap(config, streams=("sites",))
    assert result.records["sites"] == [
        {"siteId": DEFAULT_SITE_ID, "name": None, "timezone": "Europe/Moscow"}
    ]


def test_selecting_sites_changes_neither_the_journal_calls_nor_the_journal_state() -> None:
    """Listed after the journals, the sites they read cost no call; listed first, one each."""
    sites = generate_sites(2, seed=3, start=FIRST_DAY, days=3, requests_per_day=4, calls_per_day=3)
    tokens = {TOKEN: {DEFAULT_SITE_ID}, OTHER_TOKEN: {DEFAULT_SITE_ID + 1}}
    with Emulator(sites=sites, tokens=tokens) as emulator:
        config = agency_config(emulator.url)
        without = run_tap(config, streams=REQUEST_STREAMS)
        calls_without = emulator.count(200)  # points: a 429 of two runs back to back is none
        emulator.reset_log()
        with_sites = run_tap(config, streams=("sites", *REQUEST_STREAMS))
        calls_with = emulator.count(200)
    sites_first = next(m["stream"] for m in with_sites.messages if m["type"] == "SCHEMA") == "sites"
    assert calls_with == calls_without + (len(sites) if sites_first else 0)
    assert calls_without > 0
    assert len(with_sites.records["sites"]) == len(sites)
    journals = without.final_state["bookmarks"]
    assert {name: with_sites.final_state["bookmarks"][name] for name in journals} == journals


def test_a_run_a_site_stops_lists_only_the_sites_the_api_answered_for() -> None:
    """A site whose token is rejected is no row of `sites`, whichever stream syncs first; the
    run still fails naming it."""
    sites = generate_sites(2, seed=13, start=FIRST_DAY, days=2, requests_per_day=2,
                           calls_per_day=2, zones=("Europe/Moscow",))  # fmt: skip
    tokens = {site.site_id: f"site/tok+{k}" for k, site in enumerate(sites)}
    with Emulator(sites=sites, tokens={t: {sid} for sid, t in tokens.items()}) as emulator:
        emulator.revoke(tokens[sites[0].site_id])
        run = sync(
            {
                "sites": [
                    {"site_id": str(s.site_id), "api_token": tokens[s.site_id]} for s in sites
                ],
                "start_date": FIRST_DAY.isoformat(),
                "end_date": (FIRST_DAY + dt.timedelta(days=1)).isoformat(),
                "api_url": emulator.url,
            },
            streams=None,
        )
    assert isinstance(run.error, SitesFailedError)
    assert f"site {sites[0].site_id}: " in str(run.error)
    listed = {record["siteId"] for record in run.result.records["sites"]}
    assert listed <= {sites[1].site_id}
    assert {record["siteId"] for record in run.result.records["requests"]} == {sites[1].site_id}
