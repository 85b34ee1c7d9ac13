"""Properties of window cutting and time-zone conversion, for any range, zone and window size.

Two readings of a window are checked. `utc_bounds` is the tap's own account of the instants a
window covers. The API's reading is what the query parameters select on the server: the
emulator's `_window` reads `dateFrom`/`timeFrom` .. `dateTo`/`timeTo` as local wall-clock times,
inclusive to the second, as the vendor documents; an ambiguous or skipped local time (a DST
change) resolves as Python's `fold=0` and Java's `ZonedDateTime.of` both do.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tap_calltouch.timestamps import epoch_ms_to_rfc3339, local_to_rfc3339
from tap_calltouch.windows import (
    HOURS_PER_DAY,
    Window,
    complete_day,
    cut_windows,
    local_day,
    progress,
    sync_days,
)
from tests.emulator.requests_journal import time_window as api_reading_of_params

UTC = dt.timezone.utc
# Russian zones, a fractional and a 45-minute offset, and zones with DST: two at 02:00, one
# whose clocks move by 30 minutes, two that change at midnight, and one that skipped a day.
ZONE_NAMES = [
    "Europe/Moscow",
    "Asia/Vladivostok",
    "Europe/Kaliningrad",
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Apia",
]
ZONES = st.sampled_from(ZONE_NAMES)
DAYS = st.dates(min_value=dt.date(2010, 1, 1), max_value=dt.date(2030, 12, 31))
PROPERTY = settings(max_examples=150, deadline=None)


def midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz)


def is_regular(day: dt.date, time: dt.time, tz: ZoneInfo) -> bool:
    """Whether a local time names exactly one instant (it is neither skipped nor repeated)."""
    local = dt.datetime.combine(day, time, tz)
    return local.replace(fold=0).utcoffset() == local.replace(fold=1).utcoffset()


def api_reading(window: Window, tz: ZoneInfo) -> tuple[int, int]:
    """The epoch-ms range [low, high] the server selects for this window's parameters."""
    return api_reading_of_params(MultiDict(window.params()), tz, required=True)


def asks_cleanly(window: Window, tz: ZoneInfo) -> bool:
    """Whether the window's own bounds are regular local times, so its reading is exact."""
    first = dt.time(window.hour or 0)
    last = dt.time(HOURS_PER_DAY - 1 if window.hour is None else window.hour, 59, 59)
    return is_regular(window.first_day, first, tz) and is_regular(window.last_day, last, tz)


def assert_tiles(pieces: list[Window], start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> None:
    """The pieces' UTC bounds run from start to end, each beginning where the last one ended."""
    bounds = [piece.utc_bounds(tz) for piece in pieces]
    assert bounds[0][0] == start
    assert bounds[-1][1] == end
    for (_, end_before), (start_after, _) in itertools.pairwise(bounds):
        assert end_before == start_after
    assert all(low <= high for low, high in bounds)


# --- cutting a range into windows ----------------------------------------------------------------


@PROPERTY
@given(
    zone=ZONES,
    first=DAYS,
    length=st.integers(min_value=0, max_value=400),
    window_days=st.integers(min_value=1, max_value=60),
)
def test_windows_tile_the_range_exactly_once(
    zone: str, first: dt.date, length: int, window_days: int
) -> None:
    tz = ZoneInfo(zone)
    last = first + dt.timedelta(days=length)
    windows = cut_windows(first, last, window_days)
    assert all(1 <= window.days <= window_days for window in windows)
    assert sum(window.days for window in windows) == length + 1
    start, end = midnight(first, tz), midnight(last + dt.timedelta(days=1), tz)
    assert_tiles(windows, start.astimezone(UTC), end.astimezone(UTC), tz)


@PROPERTY
@given(
    zone=ZONES,
    first=DAYS,
    length=st.integers(min_value=0, max_value=120),
    window_days=st.integers(min_value=1, max_value=31),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_every_record_is_asked_for_by_exactly_one_window(
    zone: str, first: dt.date, length: int, window_days: int, position: float
) -> None:
    tz = ZoneInfo(zone)
    windows = cut_windows(first, first + dt.timedelta(days=length), window_days)
    # Dates alone cannot name "the second 23:30" where clocks change at midnight; no tap can.
    assume(all(asks_cleanly(window, tz) for window in windows))
    low, high = api_reading(windows[0], tz)[0], api_reading(windows[-1], tz)[1]
    created = low + int((high - low + 1) * position)  # a record's `date`, epoch ms
    owners = [w for w in windows if api_reading(w, tz)[0] <= created <= api_reading(w, tz)[1]]
    assert len(owners) == 1
    instant = dt.datetime.fromtimestamp(created / 1000, UTC)
    assert owners[0].first_day <= local_day(instant, tz) <= owners[0].last_day
    bounds = owners[0].utc_bounds(tz)
    assert bounds[0] <= instant < bounds[1]


# --- splitting a window the server cannot answer whole -------------------------------------------


@PROPERTY
@given(zone=ZONES, first=DAYS, days=st.integers(min_value=1, max_value=40))
def test_split_pieces_tile_the_parent_exactly_once(zone: str, first: dt.date, days: int) -> None:
    tz = ZoneInfo(zone)
    parent = Window(first, first + dt.timedelta(days=days - 1))
    pieces = parent.split(tz)
    if days > 1:
        assert pieces == cut_windows(parent.first_day, parent.last_day, 1)
    else:
        assert pieces[0].hour == 0
        assert all(piece.hour is not None for piece in pieces)
        assert all(piece.split(tz) == [] for piece in pieces)  # a slice of hours is the smallest
    assert_tiles(pieces, *parent.utc_bounds(tz), tz)


@PROPERTY
@given(zone=ZONES, day=DAYS, position=st.floats(min_value=0, max_value=1, exclude_max=True))
# The days clocks change, where a day has 23 or 25 hours (or 24.5, at Lord Howe).
@example(zone="America/New_York", day=dt.date(2026, 11, 1), position=2.5 / 25)
@example(zone="America/New_York", day=dt.date(2026, 3, 8), position=2.5 / 23)
@example(zone="Europe/London", day=dt.date(2026, 10, 25), position=2.5 / 25)
@example(zone="Australia/Lord_Howe", day=dt.date(2026, 4, 5), position=2.25 / 24.5)
def test_every_record_of_a_split_day_is_asked_for_by_exactly_one_hour(
    zone: str, day: dt.date, position: float
) -> None:
    tz = ZoneInfo(zone)
    parent = Window(day, day)
    assume(asks_cleanly(parent, tz))
    low, high = api_reading(parent, tz)
    created = low + int((high - low + 1) * position)
    hours = parent.split(tz)
    owners = [h for h in hours if api_reading(h, tz)[0] <= created <= api_reading(h, tz)[1]]
    instant = dt.datetime.fromtimestamp(created / 1000, UTC)
    assert len(owners) == 1, (
        f"{instant.astimezone(tz)} is asked for by {[str(h) for h in owners] or 'no hour'}"
    )


# --- time zones: bookmarks and record times ------------------------------------------------------


@PROPERTY
@given(
    zone=ZONES,
    start_day=DAYS,
    span=st.integers(min_value=0, max_value=90),
    bookmark_at=st.floats(min_value=0, max_value=1),
    later=st.floats(min_value=0, max_value=1),
    lookback=st.integers(min_value=0, max_value=30),
    window_days=st.integers(min_value=1, max_value=31),
)
def test_a_resumed_run_asks_again_for_everything_from_the_bookmark_on(  # noqa: PLR0913
    *,
    zone: str,
    start_day: dt.date,
    span: int,
    bookmark_at: float,
    later: float,
    lookback: int,
    window_days: int,
) -> None:
    tz = ZoneInfo(zone)
    start = midnight(start_day, tz)
    end = start + dt.timedelta(days=span, hours=12)
    bookmark = start + (end - start) * bookmark_at  # the newest creation time already emitted
    first, last = sync_days(
        start=start, end=end, now=end, tz=tz, bookmark=bookmark, lookback_days=lookback
    )
    windows = cut_windows(first, last, window_days)
    covered_from = windows[0].utc_bounds(tz)[0]
    covered_to = windows[-1].utc_bounds(tz)[1]
    not_yet_safe = bookmark + (end - bookmark) * later  # any record at or after the bookmark
    assert covered_from <= bookmark
    assert covered_from <= not_yet_safe < covered_to
    assert covered_from >= min(start, bookmark - dt.timedelta(days=lookback + 1))


@PROPERTY
@given(
    first=st.integers(min_value=0, max_value=4_102_444_800_000),
    second=st.integers(min_value=0, max_value=4_102_444_800_000),
)
def test_creation_times_convert_exactly_and_sort_as_text(first: int, second: int) -> None:
    text = epoch_ms_to_rfc3339(first)
    assert text is not None
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert round(parsed.timestamp() * 1000) == first
    # The bookmark keeps the newest time by comparing these strings.
    other = epoch_ms_to_rfc3339(second)
    assert other is not None
    assert (text < other) == (first < second)


@PROPERTY
@given(
    zone=ZONES,
    instant=st.datetimes(
        min_value=dt.datetime(2010, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_local_times_sent_by_the_api_convert_back_to_their_instant(
    zone: str, instant: dt.datetime
) -> None:
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz).replace(microsecond=0)
    assume(is_regular(local.date(), local.time(), tz))  # a repeated hour's text is ambiguous
    text = epoch_ms_to_rfc3339(int(local.timestamp()) * 1000)
    assert local_to_rfc3339(local.strftime("%d/%m/%Y %H:%M:%S"), tz) == text.replace(".000Z", "Z")


@PROPERTY
@given(
    zone=ZONES,
    start_day=DAYS,
    hours=st.integers(min_value=0, max_value=24 * 60),
    later=st.integers(min_value=0, max_value=24 * 5),
    bookmark_at=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    lookback=st.integers(min_value=0, max_value=30),
)
def test_a_complete_pass_moves_on_but_reads_again_what_was_not_wholly_past(  # noqa: PLR0913
    *,
    zone: str,
    start_day: dt.date,
    hours: int,
    later: int,
    bookmark_at: float | None,
    lookback: int,
) -> None:
    tz = ZoneInfo(zone)
    start = midnight(start_day, tz)
    now = start + dt.timedelta(hours=hours)
    first, last = sync_days(start=start, end=now, now=now, tz=tz)
    through = complete_day(last, now, tz)
    assert through < local_day(now, tz), "today is not wholly past"
    bookmark = None if bookmark_at is None else start + (now - start) * bookmark_at
    again = now + dt.timedelta(hours=later)
    next_first, _ = sync_days(
        start=start, end=again, now=again, tz=tz, bookmark=bookmark, lookback_days=lookback,
        complete_through=through,
    )  # fmt: skip
    # The next run starts no later than the first day not wholly read, and moves on past
    # `start_date` once the look-back allows: a journal without records does not start over.
    assert next_first <= max(first, through + dt.timedelta(days=1))
    assert next_first >= min(first, through - dt.timedelta(days=lookback)) or bookmark is not None
    if through - dt.timedelta(days=lookback) > first:
        assert next_first > first
    # Of journals sharing a budget, one that read less is served first.
    behind = progress(start=start, now=now, tz=tz, bookmark=bookmark, complete_through=through)
    assert behind[0] <= 0, "nothing is read past today"
    assert progress(start=start, now=now, tz=tz) < behind, "never read comes first"
