"""Calls leave on a grid a spacing apart: a call that left late does not push every later one
back, and no call leaves closer than `spacing - CATCH_UP` behind the one before.

A fake clock stands in for time (the authenticator's and the bucket's), so lateness is drawn,
not waited for: sleeps overshoot and sends take as long as hypothesis says.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pyrate_limiter.clocks
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_calltouch import auth
from tap_calltouch.auth import CATCH_UP, RateLimitedTokenAuthenticator, build_limiter, spacing_ms
from tests.conftest import TOKEN

if TYPE_CHECKING:
    from collections.abc import Iterator

RATE = 5.0
SPACING = spacing_ms(RATE) / 1000  # production's: read at import, before any test changes it
# Lateness a call meets twice: its sleep wakes late, then its send is held up (the GIL);
# together less than `CATCH_UP`.
LATE = st.floats(min_value=0, max_value=CATCH_UP * 0.45)
ANY_LATE = st.floats(min_value=0, max_value=0.5)
START = 1000.0  # the fake clock's first reading: the first call's turn begins here


class FakeClock:
    """`time` for auth.py and pyrate-limiter: sleeping moves it on, by the sleep and more."""

    def __init__(self, lateness: Iterator[float]) -> None:
        self.now = START
        self.lateness = lateness

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + next(self.lateness)

    def monotonic_ns(self) -> int:
        return round(self.now * 1e9)


pytestmark = pytest.mark.usefixtures("production_pacing")


def leave_times(
    monkeypatch: pytest.MonkeyPatch, wakes: list[float], sends: list[float]
) -> list[float]:
    """When each of `len(sends)` back-to-back calls left, under that lateness."""
    clock = FakeClock(itertools.cycle(wakes))
    monkeypatch.setattr(auth, "time", clock)
    monkeypatch.setattr(pyrate_limiter.clocks, "monotonic_ns", clock.monotonic_ns)
    authenticator = RateLimitedTokenAuthenticator(
        token=TOKEN, limiter=build_limiter(RATE), spacing=SPACING
    )
    left = []
    for send in sends:
        with authenticator.turn():
            clock.now += send
        left.append(clock.now)
    return left


def drawn_leave_times(
    data: st.DataObject, lateness: st.SearchStrategy[float], most: int
) -> list[float]:
    """When each of 2 to `most` calls left, each late by draws of `lateness` twice."""
    calls = data.draw(st.integers(min_value=2, max_value=most))
    wakes = data.draw(st.lists(lateness, min_size=calls, max_size=calls))
    sends = data.draw(st.lists(lateness, min_size=calls, max_size=calls))
    with pytest.MonkeyPatch.context() as monkeypatch:
        return leave_times(monkeypatch, wakes, sends)


def assert_no_six_within_a_second(left: list[float]) -> None:
    assert all(left[index + 5] - left[index] > 1 for index in range(len(left) - 5))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_calls_late_by_less_than_the_catch_up_keep_to_the_grid(data: st.DataObject) -> None:
    left = drawn_leave_times(data, LATE, most=60)
    grid = [START + index * SPACING for index in range(len(left))]
    assert all(when >= due - 1e-6 for when, due in zip(left, grid, strict=True))
    assert all(when < due + 2 * CATCH_UP for when, due in zip(left, grid, strict=True))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_no_call_leaves_closer_than_spacing_less_catch_up(data: st.DataObject) -> None:
    left = drawn_leave_times(data, ANY_LATE, most=40)
    gaps = [after - before for before, after in itertools.pairwise(left)]
    assert min(gaps) >= SPACING - CATCH_UP - 1e-6
    assert_no_six_within_a_second(left)


def test_after_one_late_call_six_calls_still_span_more_than_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The case the property above must not miss by chance: one send held up far past
    `CATCH_UP`, every other call punctual. The next call catches up by at most `CATCH_UP`, so no
    six calls fall within one second."""
    left = leave_times(monkeypatch, [0.0], [0.0, 0.3] + [0.0] * 8)
    assert left[2] - left[1] >= SPACING - CATCH_UP - 1e-6
    assert_no_six_within_a_second(left)
