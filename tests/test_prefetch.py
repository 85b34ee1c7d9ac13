"""The ordered prefetcher: results in order, each job run once, never more than `concurrency`
running, the first alone, and a slow job not holding the others back."""

from __future__ import annotations

import random
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_calltouch.prefetch import OrderedPrefetcher

WAIT = 10.0  # seconds a job waits for an event before the test gives up on it


class Jobs:
    """Jobs named (window, page) that sleep a little and log how many run at once."""

    def __init__(self, pages: list[int], seed: int) -> None:
        self.pages = pages
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.started: list[tuple[int, int]] = []
        self.running = self.most = 0
        self.alone_first = True

    def run(self, item: tuple[int, int]) -> int:
        with self.lock:
            self.started.append(item)
            self.running += 1
            self.most = max(self.most, self.running)
            pause = self.rng.random() / 400
        threading.Event().wait(pause)
        with self.lock:
            if len(self.started) > 1 and item == self.started[0]:
                self.alone_first = False  # another began while the first ran
            self.running -= 1
        return self.pages[item[0]]

    def follow_ups(self, item: tuple[int, int], total: int) -> list[tuple[int, int]]:
        window, page = item
        return [(window, more) for more in range(2, total + 1)] if page == 1 else []


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    pages=st.lists(st.integers(1, 4), max_size=8),
    concurrency=st.integers(1, 8),
    seed=st.integers(0, 1000),
)
def test_results_come_in_order_each_job_run_once_within_the_concurrency(
    pages: list[int], concurrency: int, seed: int
) -> None:
    jobs = Jobs(pages, seed)
    prefetcher = OrderedPrefetcher(jobs.run, concurrency=concurrency, follow_ups=jobs.follow_ups)
    handed = [item for item, _ in prefetcher.run((window, 1) for window in range(len(pages)))]
    expected = [(window, page) for window, n in enumerate(pages) for page in range(1, n + 1)]
    assert handed == expected
    assert sorted(jobs.started) == expected
    assert jobs.most <= concurrency
    assert jobs.alone_first


def test_a_slow_job_does_not_hold_back_the_jobs_behind_it() -> None:
    """The next result is awaited while jobs behind it end: new ones start meanwhile."""
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def job(item: int) -> int:
        with lock:
            started.append(item)
            if len(started) == 6:  # the two after the slow one's batch began: let it end
                release.set()
        if item == 1:
            assert release.wait(WAIT), "no job started while the slow one was awaited"
        return item

    prefetcher = OrderedPrefetcher(job, concurrency=4)
    assert [item for item, _ in prefetcher.run(range(10))] == list(range(10))
    assert sorted(started) == list(range(10))
