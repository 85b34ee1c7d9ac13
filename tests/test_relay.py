"""The relay: a run's journals fetched as one queue, the next starting while the last ends.

Against made-up legs (no server), the relay's contract: each journal takes exactly its own
parts, pages right after their window, in order, each fetched once; the next journal's first
call goes out while the previous journal's last answer is still awaited; a journal that cannot
begin fails in its own turn; a closed relay makes no more calls. Against the emulator, the same
for the tap's two journals, at the API's latency.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import signal
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tap_calltouch.answers import BARE_ARRAY, Answer
from tap_calltouch.client import SitesFailedError
from tap_calltouch.journal import JournalStream
from tap_calltouch.prefetch import StoppedError
from tap_calltouch.relay import Relay
from tap_calltouch.sites import Site
from tap_calltouch.tap import TapCalltouch
from tap_calltouch.windows import CALLS_DATE_FORMAT, REQUESTS_DATE_FORMAT, Part, Window
from tests.conftest import TOKEN, Stdout, run_tap
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.emulator.sites import Site as EmulatedSite
from tests.emulator.sites import generate_sites
from tests.test_faults import sync

if TYPE_CHECKING:
    from collections.abc import Iterable

SITE = Site(site_id=1, token="t")  # noqa: S106 - made up
DAY = dt.date(2026, 10, 1)
KEYS = {"requests": "requestId", "calls": "callId"}  # each journal's primary key
WAIT = 10.0  # seconds a fake call waits for the other journal before giving up


@dataclass
class FakeLeg:
    """A journal of `pages[k]` pages in window k; its fetches are logged, and may wait."""

    name: str
    pages: list[int]
    log: list[tuple[str, Part]]
    lock: threading.Lock
    delay: random.Random | None = None
    hold: dict[Part, threading.Event] = field(default_factory=dict)  # part -> waits for it
    began: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    fail_to_begin: Exception | None = None

    def window(self, k: int) -> Window:
        return Window(DAY + dt.timedelta(days=k), DAY + dt.timedelta(days=k))

    def expected(self) -> list[Part]:
        return [
            Part(self.window(k), SITE, page, total if page > 1 else None)
            for k, total in enumerate(self.pages)
            for page in range(1, total + 1)
        ]

    def begin_leg(self) -> Iterable[Part]:
        if self.fail_to_begin is not None:
            raise self.fail_to_begin
        self.began.set()
        return [Part(self.window(k), SITE, 1) for k in range(len(self.pages))]

    def fetch_part(self, part: Part) -> list[Answer]:
        assert not self.stopped.is_set(), f"{self.name} called after it was stopped"
        with self.lock:
            self.log.append((self.name, part))
        if part in self.hold:
            assert self.hold[part].wait(WAIT), f"{self.name} {part}: the other journal never began"
        if self.delay is not None:
            with self.lock:
                pause = self.delay.random() / 500
            threading.Event().wait(pause)
        return [Answer([], BARE_ARRAY)]

    def follow_ups(self, part: Part, answers: list[Answer]) -> list[Part]:
        assert answers
        return part.following(self.pages[(part.window.first_day - DAY).days])

    def may_start(self, in_flight: list[Part]) -> bool:  # noqa: ARG002 - no budget here
        return True

    def stop(self) -> None:
        self.stopped.set()


def legs_of(pages: list[list[int]], seed: int | None = None) -> list[FakeLeg]:
    log: list[tuple[str, Part]] = []
    lock = threading.Lock()
    rng = random.Random(seed) if seed is not None else None
    return [FakeLeg(f"journal {k}", p, log, lock, rng) for k, p in enumerate(pages)]


@settings(max_examples=150, deadline=None, derandomize=True)
@example(pages=[[], [1], [1]], concurrency=2, seed=0)  # an empty journal's successor first
@given(
    pages=st.lists(st.lists(st.integers(1, 4), max_size=5), min_size=1, max_size=3),
    concurrency=st.integers(1, 8),
    seed=st.integers(0, 1000),
)
def test_each_journal_takes_its_own_parts_in_order_each_fetched_once(
    pages: list[list[int]], concurrency: int, seed: int
) -> None:
    legs = legs_of(pages, seed)
    relay = Relay(legs, concurrency=concurrency)
    for leg in legs:
        assert relay.has(leg)
        taken = [part for part, _ in relay.take(leg)]
        assert taken == leg.expected()
        assert not relay.has(leg)
    fetched = legs[0].log
    assert sorted(map(repr, fetched)) == sorted(
        repr((leg.name, part)) for leg in legs for part in leg.expected()
    )


def test_the_next_journal_calls_while_the_last_answer_of_the_one_before_is_awaited() -> None:
    first, second = legs_of([[1, 1, 3], [2, 1]])
    # The first journal's last page answers only once the second journal has made a call.
    last = first.expected()[-1]
    second_called = threading.Event()
    first.hold[last] = second_called
    original = second.fetch_part

    def fetch(part: Part) -> list[Answer]:
        second_called.set()
        return original(part)

    second.fetch_part = fetch  # type: ignore[method-assign]
    relay = Relay([first, second], concurrency=8)
    assert [part for part, _ in relay.take(first)] == first.expected()
    assert [part for part, _ in relay.take(second)] == second.expected()
    names = [name for name, _ in first.log]
    assert names.index(second.name) < names.index(first.name, len(first.expected()) - 1)


def test_a_journal_that_cannot_begin_fails_in_its_turn_after_the_one_before_is_whole() -> None:
    first, second, third = legs_of([[1, 2], [1], [1]])
    second.fail_to_begin = ValueError("unreadable state")
    relay = Relay([first, second, third], concurrency=8)
    assert [part for part, _ in relay.take(first)] == first.expected()
    with pytest.raises(ValueError, match="unreadable state"):
        list(relay.take(second))
    assert not third.began.is_set()
    assert all(name == first.name for name, _ in first.log)


def test_a_closed_relay_stops_every_journal_it_began_and_starts_nothing() -> None:
    first, second = legs_of([[1, 1, 1, 1, 1, 1], [1, 1, 1]])
    relay = Relay([first, second], concurrency=2)
    taken = relay.take(first)
    next(taken)
    relay.close()
    assert first.stopped.is_set()
    assert not second.began.is_set()
    assert not relay.has(second)
    calls = len(first.log)
    threading.Event().wait(0.05)
    assert len(first.log) == calls <= 3  # the one handed out, and what was in flight


@pytest.mark.slow
@pytest.mark.parametrize("latency", [0.4])
def test_the_tap_starts_the_second_journal_while_the_first_is_still_answered(
    latency: float,
) -> None:
    days = 6
    requests = generate_dataset(seed=3, start=DAY, days=days, per_day=5)
    calls = generate_calls(seed=5, start=DAY, days=days, per_day=20)
    with Emulator(dataset=requests, calls=calls, token=TOKEN, latency=latency) as emulator:
        config: dict[str, Any] = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": DAY.isoformat(),
            "end_date": (DAY + dt.timedelta(days=days - 1)).isoformat(),
            "api_url": emulator.url,
            "window_days": 2,
            "calls_window_days": 2,
            "page_size": 20,
        }
        result = run_tap(config, streams=None)
        log = list(emulator.calls)
    assert len(result.records["requests"]) == len(requests)
    assert len(result.records["calls"]) == len(calls)
    assert emulator.peak_rate() <= 5
    first_journal = log[0].journal
    firsts = [call for call in log if call.journal == first_journal]
    seconds = [call for call in log if call.journal != first_journal]
    assert firsts
    assert seconds
    # The second journal's first call arrived before the first journal's last was answered.
    assert min(c.time for c in seconds) < max(c.time for c in firsts) + latency


def test_a_journal_begun_after_a_signal_makes_no_call() -> None:
    """A signal stops the run's calls for good: `start_fetching`, which a journal's beginning
    runs, used to ready its calls again, so the stop rested on the main thread raising first."""
    requests = generate_dataset(seed=3, start=DAY, days=2, per_day=2)
    calls = generate_calls(seed=5, start=DAY, days=2, per_day=2)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        tap = TapCalltouch(
            config={
                "api_token": TOKEN,
                "site_id": str(DEFAULT_SITE_ID),
                "start_date": DAY.isoformat(),
                "end_date": (DAY + dt.timedelta(days=1)).isoformat(),
                "api_url": emulator.url,
            }
        )
        stream = tap.streams["calls"]
        assert isinstance(stream, JournalStream)
        tap._handle_termination(signal.SIGTERM, None)  # records the stop, raises nothing
        (first, *_) = stream.begin_leg()
        with pytest.raises(StoppedError):
            stream.fetch_part(first)
        assert emulator.calls == []


def test_a_site_the_next_journal_stops_early_still_gets_the_journal_before_it_whole() -> None:
    """A site the next journal's first calls stop (here, refused with 400) stops for that
    journal: the one still syncing keeps its answers of the site, as when journals ran one
    after the other. Its last window of the site, a slow one, was dropped, and with the fault
    lasting, every run dropped it again: that site's newest days never came."""
    days = 4
    sites = generate_sites(
        2, seed=13, start=DAY, days=days, requests_per_day=3, calls_per_day=3,
        zones=("Europe/Moscow",),
    )  # fmt: skip
    faulty, other = sites
    tokens = {site.site_id: f"relay/tok+{k}" for k, site in enumerate(sites)}
    last_day = DAY + dt.timedelta(days=days - 1)
    config: dict[str, Any] = {
        "sites": [{"site_id": str(s.site_id), "api_token": tokens[s.site_id]} for s in sites],
        "start_date": DAY.isoformat(),
        "end_date": last_day.isoformat(),
        "window_days": 1,
        "calls_window_days": 1,
    }
    first, second = (name for name in TapCalltouch(config=config).streams if name in KEYS)
    formats = {"requests": REQUESTS_DATE_FORMAT, "calls": CALLS_DATE_FORMAT}
    with Emulator(sites=sites, tokens={t: {sid} for sid, t in tokens.items()}) as emulator:
        emulator.inject(
            "slow", journal=first, site=faulty.site_id, delay=1.5,
            dateFrom=last_day.strftime(formats[first]),
        )  # fmt: skip
        emulator.inject("status", times=100, status=400, journal=second, site=faulty.site_id)
        run = sync({**config, "api_url": emulator.url}, streams=None)
        log = list(emulator.calls)
    assert log[0].journal == first
    assert isinstance(run.error, SitesFailedError)
    assert str(faulty.site_id) in str(run.error)
    assert str(other.site_id) not in str(run.error)

    def delivered(journal: str) -> set[tuple[int, int]]:
        return {(r["siteId"], r[KEYS[journal]]) for r in run.result.records[journal]}

    def held(journal: str, of: list[EmulatedSite]) -> set[tuple[int, int]]:
        return {(s.site_id, int(r[KEYS[journal]])) for s in of for r in getattr(s, journal)}

    assert delivered(first) == held(first, sites)
    assert delivered(second) == held(second, [other])
    (partition,) = [
        p
        for p in run.result.final_state["bookmarks"][first]["partitions"]
        if p["context"] == {"siteId": faulty.site_id}
    ]
    assert "resume_from" not in partition  # its pass over the first journal is whole


@pytest.mark.slow
def test_a_dry_run_makes_no_call_of_a_journal_its_closed_relay_had_begun() -> None:
    """`--test` ends the first journal after one record and closes the relay, which had begun
    the next; that journal then syncs with a relay of its own. Its stop used to be cleared as it
    began again, so the calls the closed relay had waiting at the limiter went out after all:
    the same windows asked twice, ahead of the new relay's first call."""
    days = 6
    requests = generate_dataset(seed=3, start=DAY, days=days, per_day=5)
    calls = generate_calls(seed=5, start=DAY, days=days, per_day=10)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        config: dict[str, Any] = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": DAY.isoformat(),
            "end_date": (DAY + dt.timedelta(days=days - 1)).isoformat(),
            "api_url": emulator.url,
            "window_days": 1,
            "calls_window_days": days,  # the first journal (calls) is one window of pages
            "page_size": 20,
        }
        out = Stdout()
        with contextlib.redirect_stdout(out):
            tap = TapCalltouch(config=config)
            assert tap.run_sync_dry_run(dry_run_record_limit=1)
        for thread in threading.enumerate():  # the fetch threads left have made their calls
            if thread.name == "calltouch-fetch":
                thread.join(WAIT)
        asked = Counter(
            (call.journal, call.params.get("dateFrom"), call.page) for call in emulator.calls
        )
    assert {journal for journal, *_ in asked} == {"calls", "requests"}
    assert {part: n for part, n in asked.items() if n > 1} == {}
