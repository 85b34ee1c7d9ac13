"""The demo's emulated agency: each site is read in the zone the emulator serves it in."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.emulator.sites import ZONES

if TYPE_CHECKING:
    from types import ModuleType

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo"] = module
    spec.loader.exec_module(module)
    return module


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


def test_a_site_whose_zone_the_emulator_did_not_say_stops_the_demo() -> None:
    demo = load_demo()
    served = ["EMULATOR_SITES=1,2\n", "EMULATOR_SITE=1 TZ=Europe/Moscow REQUESTS=1 CALLS=1\n"]
    with pytest.raises(SystemExit, match="site\\(s\\) 2"):
        demo.zoned_sites(({"site_id": "1"}, {"site_id": "2"}), served)
