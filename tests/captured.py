"""Records as Calltouch sends them, served by the emulator: its own and the captured real ones.

The captured answers (`../shared/reference/captured/`, beside the repository, as in CI) are
others' data: they are read from there, never copied into the project. A file is a record or a
list of records; its name says the journal (`requests__...`, `calls__...`), so a file dropped
in is served without a change here.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tap_calltouch.timestamps import epoch_seconds, local_epoch
from tests.emulator.calls_dataset import CALL_SESSION_TIME, CALL_TIME, generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, DEFAULT_TZ, SESSION_TIME, generate_dataset
from tests.emulator.sites import Site

Record = dict[str, Any]

CAPTURED = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "captured"
JOURNALS = ("requests", "calls")
EMULATED_DAY = dt.date(2026, 10, 1)
EMULATED_DAYS = 2


@dataclass(frozen=True)
class Served:
    """A record as the emulator serves it, and where it came from."""

    journal: str  # "requests" or "calls"
    origin: str  # a captured file's name, or "emulator"
    site_id: int
    record: Record  # as served: no private keys


@dataclass
class Account:
    """The sites to serve and what each serves; the tap's `sites` setting to read them all."""

    sites: dict[int, Site] = field(default_factory=dict)
    served: list[Served] = field(default_factory=list)
    days: set[dt.date] = field(default_factory=set)
    own: dict[str, list[Record]] = field(default_factory=lambda: {j: [] for j in JOURNALS})

    def site(self, site_id: int) -> Site:
        """The site of that id, made on first use."""
        return self.sites.setdefault(site_id, Site(site_id, [], [], DEFAULT_TZ))

    def add(self, journal: str, origin: str, record: Record, day: dt.date) -> None:
        """Serve `record` (with the emulator's private keys) from its own site."""
        site_id = int(record.get("siteId") or DEFAULT_SITE_ID)
        site = self.site(site_id)
        (site.requests if journal == "requests" else site.calls).append(record)
        public = {key: value for key, value in record.items() if not key.startswith("_")}
        self.served.append(Served(journal, origin, site_id, copy.deepcopy(public)))
        self.days.add(day)
        if origin == "emulator":
            self.own[journal].append(record)  # by reference: `vary` changes what is served

    def config(self, url: str, token: str) -> dict[str, Any]:
        """Tap settings reading every site over every day served, in the longest windows."""
        return {
            "sites": [{"site_id": str(site_id), "api_token": token} for site_id in self.sites],
            "start_date": min(self.days).isoformat(),
            "end_date": max(self.days).isoformat(),
            "api_url": url,
            "window_days": 366,
            "calls_window_days": 92,
            "lookback_days": 0,
        }


def captured_files() -> list[Path]:
    """The captured answers of either journal; none where the folder is absent."""
    if not CAPTURED.is_dir():
        return []
    return sorted(path for path in CAPTURED.glob("*.json") if path.name.split("__")[0] in JOURNALS)


def account(*, captured: bool = True, emulated: bool = True) -> Account:
    """The emulator's own records (one site, every block filled somewhere), and the captured."""
    built = Account()
    if emulated:
        last_day = EMULATED_DAY + dt.timedelta(days=EMULATED_DAYS - 1)
        for record in generate_dataset(seed=26, start=EMULATED_DAY, days=EMULATED_DAYS, per_day=40):
            built.add("requests", "emulator", record, last_day)
        for record in generate_calls(seed=26, start=EMULATED_DAY, days=EMULATED_DAYS, per_day=40):
            built.add("calls", "emulator", record, EMULATED_DAY)
    if captured:
        for path in captured_files():
            journal = path.name.split("__")[0]
            loaded = json.loads(path.read_text(encoding="utf-8"))
            for record in loaded if isinstance(loaded, list) else [loaded]:
                served, day = _servable(journal, record)
                built.add(journal, path.name, served, day)
    return built


def _servable(journal: str, record: Record) -> tuple[Record, dt.date]:
    """A captured record with the private keys the emulator selects on, and its local day."""
    zone = ZoneInfo(DEFAULT_TZ)
    if journal == "requests":
        seconds = epoch_seconds(record.get("date")) or local_epoch(record.get("dateStr"), zone)
        served = {
            **copy.deepcopy(record),
            SESSION_TIME: None if seconds is None else seconds * 1000,
        }
    else:
        seconds = epoch_seconds(record.get("timestamp")) or local_epoch(record.get("date"), zone)
        served = {**copy.deepcopy(record), CALL_TIME: seconds, CALL_SESSION_TIME: None}
    if seconds is None:
        msg = f"a captured {journal} record without a time the emulator can serve it at"
        raise ValueError(msg)
    return served, dt.datetime.fromtimestamp(seconds, zone).date()


# Values of every JSON type, where the vendor gives a field no type.
OPEN_VALUES: list[Any] = [5, 1.5, True, {"a": 1, "b": [2]}, ["x", 2], "as sent", None]


def vary(built: Account) -> None:
    """Put values of every type where the vendor fixes none, and items without their id.

    The emulator's own records only: custom field values, `additionalTags` of sessions, visits
    and calls, deals' `offered` and `isMarked`; one deal, comment and visit of each journal
    without its id.
    """
    requests, calls = built.own["requests"], built.own["calls"]
    for n, record in enumerate(requests):
        record["customFields"] = [
            {"field": f"f{k}", "value": value} for k, value in enumerate(OPEN_VALUES)
        ]
        if record["session"] is not None:
            record["session"]["additionalTags"] = OPEN_VALUES[n % 7 :]
        for visit in record["mapVisits"]:
            visit["additionalTags"] = OPEN_VALUES[: n % 7]
        for order in record["orders"]:
            order["offered"], order["isMarked"] = OPEN_VALUES[n % 7], OPEN_VALUES[-n % 7]
    for n, call in enumerate(calls):
        call["customFields"] = [{"field": "f", "value": OPEN_VALUES[n % 7]}]
        call["additionalTags"] = OPEN_VALUES[n % 7 :]
    for journal, deal in ((requests, {"session": None}), (calls, {})):
        parent = next(r for r in journal if r["orders"] and r["comments"] and r["mapVisits"])
        parent["orders"].append({**deal, "orderNumber": "no id"})
        parent["comments"].append({"comment": "no id"})
        parent["mapVisits"].append({"sessionId": None, "sessionDate": None, "source": "no id"})
