"""A run's fetching as one relay over its journals: no idle limiter between two of them.

The SDK syncs the journals one after the other. With a prefetcher of its own each, the calls
journal's last pages were read with fewer and fewer calls in flight, then requests began with
one window alone (a prefetcher's first call runs alone, to prove the token): at 1 s a call, a
run's calls per second over both journals fell to 3.6 where each alone reaches 4.15. A relay is
one prefetcher over the parts of every journal, in the order they sync: the next journal's first
windows start as soon as the previous one has started its last, and go out while its last pages
are in flight. Each journal still takes only its own answers, in order, so its STATE stays a true
"everything before here was emitted". A journal is planned when the relay reaches it (or when it
asks first), so it sees the sites stopped by then; the run's first call still runs alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tap_calltouch.answers import release
from tap_calltouch.prefetch import OrderedPrefetcher

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from tap_calltouch.answers import Answer
    from tap_calltouch.windows import Part


class Leg(Protocol):
    """A journal as a relay runs it."""

    def begin_leg(self) -> Iterable[Part]:
        """Plan the journal and ready it to call; its first parts, in the order to fetch."""

    def fetch_part(self, part: Part) -> list[Answer]:
        """The answers covering one part (on a fetch thread)."""

    def follow_ups(self, part: Part, answers: list[Answer]) -> list[Part]:
        """The parts an answer reveals: a window's other pages."""

    def may_start(self, in_flight: list[Part]) -> bool:
        """Whether one more of its parts may start, given its own started and not handed out."""

    def stop(self) -> None:
        """Make no more calls."""


if TYPE_CHECKING:
    Fetch = tuple[Leg, Part]


class Relay:
    """Fetches the parts of `legs`, one after the other with no gap, for each leg to `take`."""

    def __init__(
        self, legs: Sequence[Leg], *, concurrency: int, check: Callable[[], None] = lambda: None
    ) -> None:
        """Nothing is planned or fetched until the first leg asks (`ready` or `take`).

        `check` is the prefetcher's: called while an answer is awaited, to end the run.
        """
        self.legs = list(legs)
        self._parts: dict[int, Iterable[Part] | None] = {}  # by leg index; None: it failed
        self._failed: dict[int, Exception] = {}  # what a leg's beginning raised, to raise
        self._done: set[int] = set()
        self._closed = False
        self._ahead: tuple[Fetch, list[Answer]] | None = None  # a later leg's, handed out early
        self._prefetcher: OrderedPrefetcher[Fetch, list[Answer]] = OrderedPrefetcher(
            lambda fetch: fetch[0].fetch_part(fetch[1]),
            concurrency=concurrency,
            may_start=lambda fetch, in_flight: fetch[0].may_start(
                [part for leg, part in in_flight if leg is fetch[0]]
            ),
            follow_ups=lambda fetch, answers: [
                (fetch[0], part) for part in fetch[0].follow_ups(fetch[1], answers)
            ],
            release=release,
        )
        self._results = self._prefetcher.run(self._fetches(), check=check)

    def has(self, leg: Leg) -> bool:
        """Whether this relay is yet to hand `leg` its answers."""
        return not self._closed and leg in self.legs and self.legs.index(leg) not in self._done

    def ready(self, leg: Leg) -> None:
        """Begin `leg` unless the relay has already; raise what its beginning raised.

        A later leg's error waits for its turn: the journals before it sync whole.
        """
        index = self.legs.index(leg)
        self._begin(index)
        if index in self._failed:
            raise self._failed.pop(index)

    def take(self, leg: Leg) -> Iterator[tuple[Part, list[Answer]]]:
        """`leg`'s parts and their answers, in order; it ends where the next leg's begin."""
        index = self.legs.index(leg)
        self.ready(leg)
        try:
            while True:
                fetched, self._ahead = self._ahead, None
                if fetched is None:
                    upcoming = self._prefetcher.next_item
                    if upcoming is not None and self.legs.index(upcoming[0]) > index:
                        return  # not waited for: its answer may be a call's latency away
                    fetched = next(self._results, None)
                if fetched is None:
                    return
                (owner, part), answers = fetched
                if self.legs.index(owner) > index:  # the first of a later leg: this one is done
                    self._ahead = fetched
                    return
                if owner is not leg:  # a leg before this one that never took its answers
                    release(answers)
                    continue
                yield part, answers
        finally:
            self._done.add(index)

    def held_back(self, leg: Leg) -> Part | None:
        """The first part of `leg` its `may_start` kept back, if any."""
        fetch = self._prefetcher.held_back
        return fetch[1] if fetch is not None and fetch[0] is leg else None

    def close(self) -> None:
        """Start nothing more; every leg begun makes no more calls (a journal's sync failed)."""
        self._closed = True
        self._results.close()
        if self._ahead is not None:
            release(self._ahead[1])
        for index, parts in self._parts.items():
            if parts is not None:
                self.legs[index].stop()

    def _begin(self, index: int) -> Iterable[Part] | None:
        if index not in self._parts:
            try:
                self._parts[index] = self.legs[index].begin_leg()
            except Exception as error:  # noqa: BLE001 - raised to the leg, in its turn (`ready`)
                self._failed[index] = error
                self._parts[index] = None
        return self._parts[index]

    def _fetches(self) -> Iterator[Fetch]:
        """Every leg's parts in turn; a leg that fails to begin ends the relay there."""
        for index, leg in enumerate(self.legs):
            parts = self._begin(index)
            if parts is None:
                return
            for part in parts:
                yield leg, part
