"""The demo's emulated agency: each site is read in the zone the emulator serves it in."""

from __future__ import annotations

import datetime as dt
import json
import os
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest
import requests

from tests.conftest import load_script
from tests.emulator.server import API_PATH
from tests.emulator.sites import ZONES
from tests.test_faults import closed_port

if TYPE_CHECKING:
    from types import ModuleType

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


def load_demo() -> ModuleType:
    return load_script(DEMO)


def test_each_demo_site_is_read_in_the_zone_it_is_served_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo = load_demo()
    monkeypatch.setattr(demo, "DEMO_DAYS", 2)  # a small account: the zones are the point
    monkeypatch.setattr(demo, "DEMO_PER_DAY", 3)
    monkeypatch.setattr(demo, "DEMO_CALLS_PER_DAY", 3)
    env: dict[str, str] = {}
    process, _ = demo.start_emulator(env)
    try:
        sites = json.loads(env["TAP_CALLTOUCH_SITES"])
    finally:
        demo.stop(process)
    # The emulator serves its sites in ZONES in turn: Moscow, then Yekaterinburg (+2 h).
    assert [site["timezone"] for site in sites] == list(ZONES[: len(sites)])
    assert len({site["timezone"] for site in sites}) == len(sites) > 1


def test_the_demo_s_tap_reaches_its_emulator_whatever_proxy_the_shell_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy variable left from installing Meltano sent the tap's calls to the proxy, which
    refused them: "connection refused" on a first run, never again once the shell was new."""
    demo = load_demo()
    monkeypatch.setattr(demo, "DEMO_DAYS", 2)
    monkeypatch.setattr(demo, "DEMO_PER_DAY", 3)
    monkeypatch.setattr(demo, "DEMO_CALLS_PER_DAY", 3)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    env = dict(os.environ)
    process, _ = demo.start_emulator(env)
    try:
        first_day = dt.date.fromisoformat(env["TAP_CALLTOUCH_START_DATE"])
        with mock.patch.dict(os.environ, env, clear=True):  # the tap's environment
            answer = requests.get(
                f"{env['TAP_CALLTOUCH_API_URL']}{API_PATH}",
                params={
                    "clientApiId": env["TAP_CALLTOUCH_API_TOKEN"],
                    "siteId": json.loads(env["TAP_CALLTOUCH_SITES"])[0]["site_id"],
                    "dateFrom": f"{first_day:%d/%m/%Y}",
                    "dateTo": f"{first_day:%d/%m/%Y}",
                },
                timeout=10,
            )
    finally:
        demo.stop(process)
    assert answer.status_code == HTTPStatus.OK, answer.text
    assert isinstance(answer.json(), list)  # the journal's answer, from the emulator


def test_a_site_whose_zone_the_emulator_did_not_say_stops_the_demo() -> None:
    demo = load_demo()
    served = ["EMULATOR_SITES=1,2\n", "EMULATOR_SITE=1 TZ=Europe/Moscow REQUESTS=1 CALLS=1\n"]
    with pytest.raises(SystemExit, match="site\\(s\\) 2"):
        demo.zoned_sites(({"site_id": "1"}, {"site_id": "2"}), served)
