"""Ordered prefetch: run a few jobs at once, hand their results back in submission order.

Windows are fetched concurrently (the shared limiter keeps the pace) but emitted in window
order, so STATE after each window stays a true "everything before here was emitted".

Each job runs on a daemon thread of its own rather than in a `ThreadPoolExecutor`: the
executor's workers are joined when the interpreter exits, so a run that failed or was stopped
by a signal would wait for every call in flight (up to `request_timeout`, and any backoff
sleep) before the process could end. Nothing a job does has to finish once its result is
unwanted: answers are spooled to temporary files, and only the consumer writes output.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Seconds between two looks at `check` while a result is awaited.
CHECK_EVERY = 0.2


class StoppedError(RuntimeError):
    """A job was not run because the consumer stopped."""


class OrderedPrefetcher(Generic[Item, Result]):
    """Runs `job` over items with at most `concurrency` in flight, yielding results in order.

    The first job runs alone: when it fails for a reason that dooms every job (a rejected
    token), no other job has started. Then a job starts whenever one in flight ends, even
    while the result to hand out next is still awaited, so one slow answer does not leave the
    limiter idle; at most twice `concurrency` results are pending. `may_start(item, in_flight)`
    is asked before each new item, with the items started and not yet handed out, so a caller
    can hold back work (an API-call budget); `held_back` then names the first item that was not
    started. `follow_ups(item, result)` names the items a result reveals (the other pages of a
    window, once its first page tells how many there are): they come right after their item,
    before any later one, and start first. `release` is called on results that were fetched
    but never handed out, e.g. to close files.
    """

    def __init__(
        self,
        job: Callable[[Item], Result],
        *,
        concurrency: int,
        may_start: Callable[[Item, list[Item]], bool] = lambda _item, _in_flight: True,
        follow_ups: Callable[[Item, Result], list[Item]] = lambda _item, _result: [],
        release: Callable[[Result], None] = lambda _: None,
    ) -> None:
        """Remember the job and the limits; nothing runs until iteration."""
        self._job = job
        self._concurrency = max(1, concurrency)
        self._may_start = may_start
        self._follow_ups = follow_ups
        self._release = release
        self.held_back: Item | None = None
        # In the order results are handed out; None: a follow-up not started yet.
        self._pending: deque[tuple[Item, Future[Result] | None]] = deque()

    def run(
        self, items: Iterable[Item], *, check: Callable[[], None] = lambda: None
    ) -> Generator[tuple[Item, Result], None, None]:
        """Yield (item, result) in order, follow-ups included; a failure is raised in order.

        `check()` is called every `CHECK_EVERY` seconds while a result is awaited, and once it
        has come: what it raises (a stop by a signal) ends the run, however long a call takes.
        """
        stop = threading.Event()
        pending = self._pending = deque()
        upcoming = iter(items)

        def guarded(item: Item) -> Result:
            if stop.is_set():
                raise StoppedError
            return self._job(item)

        try:
            self._top_up(pending, upcoming, guarded, 1)
            limit = 1  # the first job alone, until its result is handed out
            while pending:
                item, future = pending[0]
                while future is None or not future.done():  # start more as others end
                    if future is None or limit > 1:  # the first job stays alone
                        self._top_up(pending, upcoming, guarded, limit)
                    running = [f for _, f in pending if f is not None and not f.done()]
                    if running:
                        wait(running, timeout=CHECK_EVERY, return_when=FIRST_COMPLETED)
                    check()
                    item, future = pending[0]
                pending.popleft()
                result = _outcome(future, check)
                more = self._follow_ups(item, result)
                pending.extendleft((follow_up, None) for follow_up in reversed(more))
                limit = self._concurrency
                self._top_up(pending, upcoming, guarded, limit)
                yield item, result
        finally:
            stop.set()
            for _, future in pending:
                if future is not None:
                    future.add_done_callback(self._release_done)

    def _top_up(
        self,
        pending: deque[tuple[Item, Future[Result] | None]],
        upcoming: Iterator[Item],
        job: Callable[[Item], Result],
        limit: int,
    ) -> None:
        """Start waiting follow-ups first, then new items, until `limit` are running.

        New items start only while fewer than twice `limit` results are pending, so answers
        fetched ahead of a slow one stay few.
        """
        running = sum(future is not None and not future.done() for _, future in pending)
        for index, (waiting, future) in enumerate(pending):
            if running >= limit:
                return
            if future is None:
                pending[index] = (waiting, _start(job, waiting))
                running += 1
        while self.held_back is None and running < limit and len(pending) < 2 * limit:
            item = next(upcoming, None)
            if item is None:
                return
            if not self._may_start(item, [in_flight for in_flight, _ in pending]):
                self.held_back = item
                return
            pending.append((item, _start(job, item)))
            running += 1

    def _release_done(self, future: Future[Result]) -> None:
        if future.exception() is None:
            self._release(future.result())


def _start(job: Callable[[Item], Result], item: Item) -> Future[Result]:
    """Run `job(item)` on a new daemon thread; its outcome lands in the returned future.

    At most `concurrency` jobs are running at a time, so a thread per job costs a thread
    start per window (tens of microseconds against a call of about a second) and needs no
    queue or shutdown of its own.
    """
    future: Future[Result] = Future()
    future.set_running_or_notify_cancel()

    def work() -> None:
        try:
            result = job(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, as an executor does
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=work, name="calltouch-fetch", daemon=True).start()
    return future


def _outcome(future: Future[Result], check: Callable[[], None]) -> Result:
    """The job's result, or its error; `check` is called while it is awaited, and after."""
    while not wait((future,), timeout=CHECK_EVERY).done:
        check()
    check()  # a job the stop itself ended: the stop is what the consumer sees
    return future.result()
