"""Ordered prefetch: run a few jobs at once, hand their results back in submission order.

Windows are fetched concurrently (the shared limiter keeps the pace) but emitted in window
order, so STATE after each window stays a true "everything before here was emitted".
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

Item = TypeVar("Item")
Result = TypeVar("Result")


class StoppedError(RuntimeError):
    """A job was not run because the consumer stopped."""


class OrderedPrefetcher(Generic[Item, Result]):
    """Runs `job` over items with at most `concurrency` in flight, yielding results in order.

    The first job runs alone: when it fails for a reason that dooms every job (a rejected
    token), no other job has started. `may_start(in_flight)` is asked before each new job,
    with the items started and not yet handed out, so a caller can hold back work (an API-call
    budget); `held_back` then names the first item that was not started. `release` is called
    on results that were fetched but never handed out, e.g. to close files.
    """

    def __init__(
        self,
        job: Callable[[Item], Result],
        *,
        concurrency: int,
        may_start: Callable[[list[Item]], bool] = lambda _: True,
        release: Callable[[Result], None] = lambda _: None,
    ) -> None:
        """Remember the job and the limits; nothing runs until iteration."""
        self._job = job
        self._concurrency = max(1, concurrency)
        self._may_start = may_start
        self._release = release
        self.held_back: Item | None = None

    def run(self, items: Iterable[Item]) -> Iterator[tuple[Item, Result]]:
        """Yield (item, result) in the order of `items`; the first failure is raised in order."""
        stop = threading.Event()
        pending: deque[tuple[Item, Future[Result]]] = deque()
        upcoming = iter(items)

        def guarded(item: Item) -> Result:
            if stop.is_set():
                raise StoppedError
            return self._job(item)

        pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="calltouch-fetch")

        def top_up(limit: int) -> None:
            while self.held_back is None and len(pending) < limit:
                item = next(upcoming, None)
                if item is None:
                    return
                if not self._may_start([started for started, _ in pending]):
                    self.held_back = item
                    return
                pending.append((item, pool.submit(guarded, item)))

        try:
            top_up(1)
            while pending:
                item, future = pending.popleft()
                result = future.result()
                top_up(self._concurrency)
                yield item, result
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            for _, future in pending:
                future.add_done_callback(self._release_done)

    def _release_done(self, future: Future[Result]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._release(future.result())
