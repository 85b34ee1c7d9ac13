"""A simulation: the tap run again and again against the emulator, under a virtual clock.

Time passes by whole hours; requests and calls are created at the hours that pass, and edited
late (deals added, comments, tags, a deal moved to another record). Runs start at any hour,
with any `max_api_calls` and an `end_date` past, today or ahead; sites are added later, fail
for a while (revoked token, spent points, server errors), and a run may be killed mid-way:
only the messages out by then count, and the last STATE among them is what Meltano keeps.

After every run:
- no stream emitted a row twice (per site and primary key);
- STATE claims nothing it has not delivered: for each journal and site, every record that
  existed when the run began and lies at or before the bookmark, before `resume_from`, or on
  or before `complete_through`, went out in this run or an earlier one; neither day is past
  today, nor `complete_through` today itself;
- budgeted runs with nothing failing make progress: run again and again with the same budget
  at one instant, they reach a state where every journal of every site has read through
  yesterday, without ever leaving the state as it found it, and all was delivered.
When the example ends, faults stop and a few unbudgeted runs deliver every record created before
the last run began, each record of the look-back at its latest version.

Runs are cheap (a week, windows of a few days, pages of a few calls) and the emulator keeps the
API's rate limit. `TAP_CALLTOUCH_SIMULATION=long` runs many more and longer examples, and
`TAP_CALLTOUCH_SIMULATION=first` (or `long-first`) reports the first failure found without
shrinking it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tap_calltouch.client import CalltouchStream
from tap_calltouch.errors import CalltouchAPIError
from tap_calltouch.retry import exponential_waits
from tap_calltouch.tap import TapCalltouch
from tests.conftest import Stdout, SyncResult
from tests.emulator.calls_dataset import (
    CALL_TIME,
    add_call_comment,
    add_call_order,
    add_call_tag,
    add_calls,
    new_calls,
)
from tests.emulator.dataset import add_order, add_requests, add_tag
from tests.emulator.server import Emulator
from tests.emulator.sites import generate_sites
from tests.integration.warehouses import PRIMARY_KEYS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.emulator.dataset import Record
    from tests.emulator.server import PageServed
    from tests.emulator.sites import Site

# Runs again and again under the API's rate limit, with real spacing: minutes of pacing.
pytestmark = pytest.mark.slow

UTC = dt.timezone.utc
# Midnight UTC is already 22 October in every zone below (all east of UTC), so no record is
# older than `start_date` in its site's zone.
ORIGIN = dt.datetime(2026, 10, 22, tzinfo=UTC)
START_DATE = "2026-10-22"
ZONES = ("Europe/Moscow", "Europe/Berlin", "Asia/Novosibirsk")  # Berlin: west, and DST on 25 Oct
SITES = len(ZONES)
JOURNALS = {"requests": "requestId", "calls": "callId"}
CATCH_UP_RUNS = 40  # far more than any example needs: a bound, not a target
PROFILES = {"quick": (25, 20), "long": (300, 50)}  # examples, and steps in each

Key = tuple[int, int]  # (siteId, record id)


def created(journal: str, record: Record) -> dt.datetime:
    """A record's creation instant, as the emulator keeps it."""
    if journal == "requests":
        return dt.datetime.fromtimestamp(record["date"] / 1000, UTC)
    return dt.datetime.fromtimestamp(record[CALL_TIME], UTC)


def version(record: Record) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """What late edits change in a record: its deals and comments."""
    return (
        tuple(sorted(int(order["orderId"]) for order in record.get("orders") or [])),
        tuple(sorted(int(comment["commentId"]) for comment in record.get("comments") or [])),
    )


def instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def quick_waits(_stream: CalltouchStream) -> Iterator[float]:
    return exponential_waits(factor=0.01)


def no_jitter(_stream: CalltouchStream, value: float) -> float:
    return value


class Simulation(RuleBasedStateMachine):
    """One account over a week or so: its sites, its records, the tap's state, what went out."""

    def __init__(self) -> None:
        """Sites with no records yet, served from the start; only the first is configured."""
        super().__init__()
        self.sites: list[Site] = generate_sites(
            SITES, seed=1, start=ORIGIN.date(), days=0, requests_per_day=0, calls_per_day=0,
            zones=ZONES,
        )  # fmt: skip
        self.tokens = {site.site_id: f"sim/tok+{k}" for k, site in enumerate(self.sites)}
        self.emulator = Emulator(
            sites=self.sites, tokens={token: {sid} for sid, token in self.tokens.items()}
        )
        self.emulator.start()
        self.active = 1
        self.now = ORIGIN
        self.state: dict[str, Any] | None = None
        self.delivered: dict[str, set[Key]] = defaultdict(set)
        self.latest: dict[tuple[str, Key], tuple[Any, ...]] = {}
        self.failing: set[str] = set()  # what is failing now: "revoked", "spent", "errors"
        self.settings: dict[str, Any] = {}
        self.seed = 0
        self.runs = 0
        self.claimed_of: dict[tuple[str, int], dict[Key, dt.datetime]] = {}
        self.patches = contextlib.ExitStack()
        # The tap's eight tries, 10 ms apart: server errors that outlast them stop a site.
        self.patches.enter_context(
            mock.patch.object(CalltouchStream, "backoff_wait_generator", quick_waits)
        )
        self.patches.enter_context(mock.patch.object(CalltouchStream, "backoff_jitter", no_jitter))

    @initialize(
        lookback=st.integers(0, 2),
        window_days=st.integers(1, 3),
        calls_window_days=st.integers(1, 3),
        page_size=st.integers(2, 4),
    )
    def configure(
        self, lookback: int, window_days: int, calls_window_days: int, page_size: int
    ) -> None:
        self.settings = {
            "lookback_days": lookback,
            "window_days": window_days,
            "calls_window_days": calls_window_days,
            "page_size": page_size,
        }

    # --- the world -----------------------------------------------------------------------------

    @property
    def live_sites(self) -> list[Site]:
        return self.sites[: self.active]

    @rule(
        hours=st.integers(1, 30),
        requests=st.integers(0, 3),
        calls=st.integers(0, 3),
        spread=st.randoms(use_true_random=False),
    )
    def time_passes(self, hours: int, requests: int, calls: int, spread: Any) -> None:
        """Hours pass; each site gets new requests and calls, created within them."""
        before, self.now = self.now, self.now + dt.timedelta(hours=hours)
        for site in self.sites:  # sites not configured yet have records too
            for journal, n in (("requests", requests), ("calls", calls)):
                moments = sorted(
                    before + dt.timedelta(seconds=spread.randrange(1, hours * 3600))
                    for _ in range(n)
                )
                for moment in moments:
                    self._create(site, journal, moment)

    def _create(self, site: Site, journal: str, moment: dt.datetime) -> None:
        local = moment.astimezone(site.zone)
        add = add_requests if journal == "requests" else add_calls
        records = site.requests if journal == "requests" else site.calls
        self.seed += 1
        # A whole second at least 1 s before `now`: the milliseconds the emulator adds stay
        # before it.
        add(records, 1, local.date(), times=[local.time()], seed=self.seed, tz=site.tz)

    @rule(site=st.integers(0, SITES - 1), pick=st.integers(0, 10**6), what=st.integers(0, 3))
    def edit_late(self, site: int, pick: int, what: int) -> None:
        """A deal, comment or tag added to an older record, or a deal moved to another one."""
        target = self.sites[site]
        if what < 2 and target.requests:
            record = target.requests[pick % len(target.requests)]
            if what == 0:
                add_order(target.requests, record["requestId"])
            else:
                add_tag(target.requests, record["requestId"], "Поздний")
        elif what == 2 and target.calls:
            call = target.calls[pick % len(target.calls)]
            add_call_order(target.calls, call["callId"], tz=target.tz)
            add_call_comment(target.calls, call["callId"], "Перезвонить")
            add_call_tag(target.calls, call["callId"], "Поздний")
        elif len(target.requests) > 1:
            self._move_a_deal(target.requests, pick)

    @staticmethod
    def _move_a_deal(requests: list[Record], pick: int) -> None:
        """A CRM relinks a deal: it leaves one request for another."""
        having = [record for record in requests if record["orders"]]
        if not having:
            return
        source = having[pick % len(having)]
        target = requests[(pick // 7) % len(requests)]
        if target is source:
            return
        order = source["orders"].pop()
        source["order"] = source["orders"][0] if source["orders"] else None
        target["orders"].append(order)
        target["order"] = target["order"] or order

    @precondition(lambda self: self.active < SITES)
    @rule()
    def add_site(self) -> None:
        """A site is added to `sites`; it has records from before."""
        self.active += 1

    @rule(
        site=st.integers(0, SITES - 1),
        how=st.sampled_from(["revoked", "spent", "status", "reset", "cut"]),
        errors=st.sampled_from([3, CalltouchStream.backoff_tries + 1]),
    )
    def fail(self, site: int, how: str, errors: int) -> None:
        """A site starts failing: its token revoked, its points spent, or a burst of faults.

        500s, resets or bodies cut mid-stream, within the tap's tries or past them (the site
        then stops, the others go on).
        """
        target = self.sites[site]
        if how == "revoked":
            self.emulator.revoke(self.tokens[target.site_id])
        elif how == "spent":
            self.emulator.exhaust(target.site_id)
        else:
            extra = {"status": 500} if how == "status" else {}
            self.emulator.inject(how, times=errors, site=target.site_id, **extra)
        self.failing.add(how)

    @rule()
    def heal(self) -> None:
        """Tokens restored, points refilled, faults gone."""
        for token in self.tokens.values():
            self.emulator.restore(token)
        self.emulator.refill()
        self.emulator.clear_faults()
        self.failing.clear()

    # --- runs ----------------------------------------------------------------------------------

    @rule(
        budget=st.one_of(st.none(), st.integers(1, 4)),
        end=st.one_of(st.none(), st.integers(-2, 2)),
        kill=st.one_of(st.none(), st.integers(1, 60)),
        arriving=st.integers(0, 2),
        site=st.integers(0, SITES - 1),
    )
    def run(
        self, budget: int | None, end: int | None, kill: int | None, arriving: int, site: int
    ) -> None:
        """A scheduled run: any budget, `end_date` so many days from today, perhaps killed.

        `arriving` calls of one site come in while its first calls page is read, pushing the
        others down a page, as today's calls do.
        """
        if arriving:
            self._arrive_during_the_run(self.sites[site], arriving)
        self._run(budget=budget, end=end, kill=kill)

    def _arrive_during_the_run(self, site: Site, n: int) -> None:
        """Calls made a second before now, appearing after the site's next first page."""
        local = (self.now - dt.timedelta(seconds=1)).astimezone(site.zone)
        self.seed += 1
        calls = new_calls(site.calls, n, local.date(), times=[local.time()] * n, seed=self.seed,
                          tz=site.tz)  # fmt: skip
        run = self.runs + 1

        def arrive(served: PageServed) -> bool:
            if self.runs != run:  # that run is over: they never came
                return True
            if served.page != 1 or served.site_id != str(site.site_id):
                return False
            site.calls.extend(calls)
            return True

        self.emulator.on_page(arrive)

    @rule(budget=st.integers(1, 3))
    def catch_up(self, budget: int) -> None:
        """Nothing fails; the same budget, run after run at one instant, reads everything."""
        self.heal()
        seen: list[str] = []
        while not self._caught_up():
            before = json.dumps(self.state, sort_keys=True)
            assert before not in seen, (
                f"runs with max_api_calls={budget} went round in a circle at "
                f"{self.now.isoformat()}, behind: {self._behind()}; the last run asked "
                f"{self._last_calls()}"
            )
            assert len(seen) < CATCH_UP_RUNS, f"not caught up after {len(seen)} runs"
            seen.append(before)
            error = self._run(budget=budget, end=None, kill=None)
            assert error is None, error
        if seen:  # time stood still: every run began now; days before today are read
            self._check_all_delivered(self.now, before_today=True)

    def _run(self, *, budget: int | None, end: int | None, kill: int | None) -> Exception | None:
        """Run the tap once at `now`; check and remember what it delivered and left in STATE."""
        self.runs += 1
        existing = self._existing()
        config = self._config(budget, end)
        out = Stdout()
        error: Exception | None = None
        self.emulator.idle()  # runs are minutes apart, not milliseconds
        self.emulator.reset_log()
        with (
            contextlib.redirect_stdout(out),
            mock.patch.object(TapCalltouch, "clock", staticmethod(lambda: self.now)),
        ):
            try:
                TapCalltouch(config=config, state=self.state).sync_all()
            except CalltouchAPIError as failed:  # a stopped site, spent points: exit 1
                error = failed
        self.runs += 1  # calls still to arrive in that run never come
        messages = [json.loads(line) for line in out.getvalue().splitlines() if line]
        if kill is not None:
            messages, error = messages[:kill], None
        result = SyncResult(messages)
        event("run: " + ("killed" if kill is not None else type(error).__name__ if error else "ok"))
        delivered = len(result.records["requests"]) + len(result.records["calls"])
        event("records delivered by a run: " + ("none" if not delivered else "some"))
        self._check_no_repeats(result)
        for journal, key in JOURNALS.items():
            for record in result.records[journal]:
                row = (int(record["siteId"]), int(record[key]))
                self.delivered[journal].add(row)
                self.latest[journal, row] = version(record)
        if result.states:
            for journal in JOURNALS:  # what a partition claims, it claims of the records
                old = self._partitions(journal)  # that existed when it was written
                for site_id, saved in self._partitions(journal, result.final_state).items():
                    if old.get(site_id) != saved:
                        self.claimed_of[journal, site_id] = existing[journal]
            self.state = result.final_state
        self._check_claims()
        return error

    def _config(self, budget: int | None, end: int | None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "sites": [
                {"site_id": str(site.site_id), "api_token": self.tokens[site.site_id],
                 "timezone": site.tz}
                for site in self.live_sites
            ],
            "start_date": START_DATE,
            "api_url": self.emulator.url,
            **self.settings,
        }  # fmt: skip
        if budget is not None:
            config["max_api_calls"] = budget
        if end is not None:
            today = self.now.astimezone(ZoneInfo(ZONES[0])).date()
            day = max(today + dt.timedelta(days=end), dt.date.fromisoformat(START_DATE))
            config["end_date"] = day.isoformat()
        return config

    # --- what is true ----------------------------------------------------------------------------

    def _existing(self) -> dict[str, dict[Key, dt.datetime]]:
        """Every record of the configured sites now, with its creation instant."""
        return {
            journal: {
                (site.site_id, int(record[key])): created(journal, record)
                for site in self.live_sites
                for record in (site.requests if journal == "requests" else site.calls)
            }
            for journal, key in JOURNALS.items()
        }

    def _partitions(
        self, journal: str, state: dict[str, Any] | None = None
    ) -> dict[int, dict[str, Any]]:
        state = self.state if state is None else state
        stream = ((state or {}).get("bookmarks") or {}).get(journal) or {}
        return {int(p["context"]["siteId"]): p for p in stream.get("partitions") or []}

    def _today(self, site_id: int) -> dt.date:
        site = next(site for site in self.sites if site.site_id == site_id)
        return self.now.astimezone(site.zone).date()

    def _check_no_repeats(self, result: SyncResult) -> None:
        for stream, keys in PRIMARY_KEYS.items():
            rows = Counter(
                (row["siteId"], *(row[key] for key in keys)) for row in result.records[stream]
            )
            twice = [row for row, times in rows.items() if times > 1]
            assert not twice, f"{stream}: emitted twice in one run: {twice[:3]}"

    def _check_claims(self) -> None:
        """What the STATE says was read, was delivered.

        Of the records that existed when the run that wrote each partition began: a call that
        shows up later, timed before the bookmark, is the look-back's to read.
        """
        for journal in JOURNALS:
            for site_id, saved in self._partitions(journal).items():
                site = next(site for site in self.sites if site.site_id == site_id)
                today = self._today(site_id)
                bookmark = saved.get("replication_key_value")
                upto = instant(bookmark) if bookmark else None
                resume = saved.get("resume_from")
                before = dt.date.fromisoformat(resume) if resume else None
                through = saved.get("complete_through")
                whole = dt.date.fromisoformat(through) if through else None
                assert before is None or before <= today, f"{journal} {site_id}: {saved}"
                assert whole is None or whole < today, f"{journal} {site_id}: {saved}"
                for row, when in self.claimed_of.get((journal, site_id), {}).items():
                    if row[0] != site_id:
                        continue
                    day = when.astimezone(site.zone).date()
                    claimed = (
                        (upto is not None and when <= upto)
                        or (before is not None and day < before)
                        or (whole is not None and day <= whole)
                    )
                    assert not claimed or row in self.delivered[journal], (
                        f"{journal} {row} created {when.isoformat()} was never delivered, "
                        f"yet the state says {saved}"
                    )

    def _last_calls(self) -> list[tuple[str, str | None, str, int | None, int]]:
        """What the last run asked: journal, site, first day, page and status of each call."""
        return [
            (call.journal, call.site, call.params.get("dateFrom", ""), call.page, call.status)
            for call in self.emulator.calls
        ]

    def _caught_up(self) -> bool:
        """Every journal of every configured site read through yesterday, no pass unfinished."""
        return not self._behind()

    def _behind(self) -> list[tuple[str, int, dict[str, Any]]]:
        """The journals and sites whose state does not say they read every day before today.

        A day is read whole when it is on or before `complete_through`, or before the
        bookmark's day (read in order, and past when read). A pass under way may still be
        re-reading the look-back: with a tight budget the journals take turns at that.
        """
        behind = []
        for journal in JOURNALS:
            partitions = self._partitions(journal)
            for site in self.live_sites:
                saved = partitions.get(site.site_id) or {}
                yesterday = self._today(site.site_id) - dt.timedelta(days=1)
                bookmark = saved.get("replication_key_value")
                through = saved.get("complete_through")
                read = [
                    *([instant(bookmark).astimezone(site.zone).date()] if bookmark else []),
                    *([dt.date.fromisoformat(through) + dt.timedelta(days=1)] if through else []),
                ]
                if not read or max(read) <= yesterday:
                    behind.append((journal, site.site_id, saved))
        return behind

    def _check_all_delivered(self, began: dt.datetime, *, before_today: bool = False) -> None:
        """Every record created before the last run began (or before its day) went out."""
        zones = {site.site_id: site.zone for site in self.sites}

        def due(row: Key, when: dt.datetime) -> bool:
            if not before_today:
                return when <= began
            zone = zones[row[0]]
            return when.astimezone(zone).date() < began.astimezone(zone).date()

        for journal, rows in self._existing().items():
            due_rows = sorted(row for row, when in rows.items() if due(row, when))
            lost = [row for row in due_rows if row not in self.delivered[journal]]
            assert not lost, f"{journal}: never delivered: {lost[:5]} of {len(due_rows)}"

    def _check_latest_versions(self) -> None:
        """Records created within the look-back went out at their latest version."""
        lookback = int(self.settings.get("lookback_days", 0))
        for journal, key in JOURNALS.items():
            for site in self.live_sites:
                oldest = self._today(site.site_id) - dt.timedelta(days=lookback)
                for record in site.requests if journal == "requests" else site.calls:
                    if created(journal, record).astimezone(site.zone).date() < oldest:
                        continue
                    row = (site.site_id, int(record[key]))
                    assert self.latest.get((journal, row)) == version(record), (
                        f"{journal} {row}: delivered {self.latest.get((journal, row))}, "
                        f"now {version(record)}"
                    )

    @invariant()
    def state_is_readable_json(self) -> None:
        """STATE is plain JSON Meltano can store and hand back."""
        assert json.loads(json.dumps(self.state)) == self.state

    def teardown(self) -> None:
        """Faults stop: a few unbudgeted runs deliver everything, the look-back at its latest."""
        try:
            if self.settings:
                self.heal()
                began = self.now
                for _ in range(3):
                    began = self.now
                    assert self._run(budget=None, end=None, kill=None) is None
                    if self._caught_up():
                        break
                self._check_all_delivered(began)
                self._check_latest_versions()
        finally:
            self.emulator.stop()
            self.patches.close()


PROFILE = os.environ.get("TAP_CALLTOUCH_SIMULATION", "quick")
EXAMPLES, STEPS = PROFILES["long" if PROFILE.startswith("long") else "quick"]
TestSimulation = Simulation.TestCase
TestSimulation.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    # `first`, `long-first`: report the first failing example as found, without minutes of
    # shrinking it.
    phases=[Phase.explicit, Phase.generate] if PROFILE.endswith("first") else list(Phase),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
