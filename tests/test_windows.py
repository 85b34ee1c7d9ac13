"""Windows and time zones: pure functions, tested without a server."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_calltouch.windows import Window, cut_windows, local_day, parse_instant, sync_days

MOSCOW = ZoneInfo("Europe/Moscow")
UTC = dt.timezone.utc


def test_params_are_month_first() -> None:
    # 3 April must not become 4 March: the requests endpoint is mm/dd/yyyy.
    window = Window(dt.date(2019, 4, 3), dt.date(2019, 4, 12))
    assert window.params() == {"dateFrom": "04/03/2019", "dateTo": "04/12/2019"}


def test_cut_windows_covers_range_in_calendar_days() -> None:
    windows = cut_windows(dt.date(2026, 10, 1), dt.date(2026, 10, 10), 4)
    assert [(w.first_day.day, w.last_day.day) for w in windows] == [(1, 4), (5, 8), (9, 10)]


def test_cut_windows_empty_when_range_is_empty() -> None:
    assert cut_windows(dt.date(2026, 10, 2), dt.date(2026, 10, 1), 7) == []


def test_cut_windows_rejects_zero_days() -> None:
    with pytest.raises(ValueError, match="window_days"):
        cut_windows(dt.date(2026, 10, 1), dt.date(2026, 10, 2), 0)


def test_local_day_follows_account_zone() -> None:
    # 21:30 UTC on 31 Oct is already 1 Nov in Moscow (UTC+3).
    assert local_day(dt.datetime(2026, 10, 31, 21, 30, tzinfo=UTC), MOSCOW) == dt.date(2026, 11, 1)


def test_utc_bounds_of_a_moscow_day() -> None:
    start, end = Window(dt.date(2026, 11, 1), dt.date(2026, 11, 1)).utc_bounds(MOSCOW)
    assert start == dt.datetime(2026, 10, 31, 21, tzinfo=UTC)
    assert end == dt.datetime(2026, 11, 1, 21, tzinfo=UTC)


def test_parse_instant_reads_dates_in_account_zone() -> None:
    assert parse_instant("2026-11-01", MOSCOW) == dt.datetime(2026, 11, 1, tzinfo=MOSCOW)
    assert parse_instant("2026-11-01T10:00:00Z", MOSCOW) == dt.datetime(2026, 11, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_instant("01/11/2026", MOSCOW)


def test_sync_days_applies_lookback_but_never_before_start() -> None:
    start = dt.datetime(2026, 10, 1, tzinfo=MOSCOW)
    end = dt.datetime(2026, 11, 1, 12, tzinfo=MOSCOW)
    bookmark = dt.datetime(2026, 10, 20, 9, tzinfo=UTC)
    days = {"start": start, "end": end, "now": end, "tz": MOSCOW, "bookmark": bookmark}
    assert sync_days(**days, lookback_days=7) == (dt.date(2026, 10, 13), dt.date(2026, 11, 1))
    assert sync_days(**days, lookback_days=60)[0] == dt.date(2026, 10, 1)
    assert sync_days(start=start, end=end, now=end, tz=MOSCOW)[0] == dt.date(2026, 10, 1)


ZONES = st.sampled_from(["Europe/Moscow", "Asia/Vladivostok", "UTC", "America/New_York"])


@given(
    first=st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2030, 1, 1)),
    length=st.integers(min_value=0, max_value=400),
    window_days=st.integers(min_value=1, max_value=40),
)
def test_windows_cover_every_day_exactly_once(
    first: dt.date, length: int, window_days: int
) -> None:
    last = first + dt.timedelta(days=length)
    windows = cut_windows(first, last, window_days)
    days = [w.first_day + dt.timedelta(days=i) for w in windows for i in range(w.days)]
    assert days == [first + dt.timedelta(days=i) for i in range(length + 1)]
    assert all(w.days <= window_days for w in windows)


@given(
    zone=ZONES,
    first=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2028, 1, 1)),
    length=st.integers(min_value=0, max_value=120),
    window_days=st.integers(min_value=1, max_value=31),
    offset=st.floats(min_value=0, max_value=1),
)
def test_every_instant_lands_in_exactly_one_window(
    zone: str, first: dt.date, length: int, window_days: int, offset: float
) -> None:
    tz = ZoneInfo(zone)
    windows = cut_windows(first, first + dt.timedelta(days=length), window_days)
    range_start = windows[0].utc_bounds(tz)[0]
    range_end = windows[-1].utc_bounds(tz)[1]
    instant = range_start + (range_end - range_start) * offset * 0.999999
    owners = [w for w in windows if w.utc_bounds(tz)[0] <= instant < w.utc_bounds(tz)[1]]
    assert len(owners) == 1
    assert owners[0].first_day <= local_day(instant, tz) <= owners[0].last_day
