"""Authentication under the rate limit: every call, first try or retry, waits its turn here."""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pyrate_limiter import InMemoryBucket, Limiter, Rate, RateItem
from singer_sdk.authenticators import APIKeyAuthenticator

from tap_calltouch.limit_store import open_bucket
from tap_calltouch.redact import register_secret

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from tap_calltouch.limit_store import Store

# Calltouch counts the calls that *arrive* in any rolling second. A call can leave a little
# after its slot (a new TCP connection, the GIL held by a parse), so bursts of five could land
# as six in one second. Calls are spaced evenly instead, with this much headroom: six calls
# then span 1.1 s, and arrivals would have to bunch by 100 ms to break the limit (the longest
# GIL hold here, an orjson parse of a 256 KB answer, is ~4 ms).
SPACING_HEADROOM = 1.10
TOKEN_PARAMETER = "clientApiId"  # noqa: S105 - the name of the parameter, not a token
SLOT = "calltouch"  # the one key every call takes its slot under, in every process
# A slot older than this when its call is about to leave is given up for a fresh one: the
# process lost the CPU after taking it, and its call would arrive close behind the next
# process's (measured under load, three shard processes on one store: arrivals 138 ms apart,
# then six in one second).
STALE_SLOT = 0.02  # seconds
# Calls keep to a grid a spacing apart: one that left late (its sleep woke late, or a parse
# held the GIL, up to the interpreter's 5 ms switch interval) does not push every later one
# back, since the next may leave this much sooner after it. Six calls still span 1.075 s.
CATCH_UP = 0.005  # seconds
_logger = logging.getLogger("tap-calltouch")


def spacing_ms(requests_per_second: float) -> int:
    """Milliseconds between two calls: a little wider than `requests_per_second` needs."""
    if not 0 < requests_per_second <= 5:  # noqa: PLR2004 - the API's documented ceiling
        msg = f"requests_per_second must be in (0, 5], got {requests_per_second}"
        raise ValueError(msg)
    return math.ceil(1000 * SPACING_HEADROOM / requests_per_second)


def build_limiter(requests_per_second: float, store: Store | None = None) -> Limiter:
    """A limiter that spaces calls evenly, a little wider than `requests_per_second` needs.

    Without a store the slots are this process's own; with one (`rate_limit_store`) they are
    taken from pyrate-limiter's bucket there, so every process naming it shares the spacing.
    """
    # pyrate-limiter counts a slot as held while it is `interval` ms old or younger, so the next
    # one frees at `interval + 1`: one millisecond lost on every call of a sustained run.
    # The process's own bucket lets a call catch up with the grid (`CATCH_UP`); a shared one
    # keeps every process's slot a whole spacing from any other's.
    catch_up = round(CATCH_UP * 1000) if store is None else 0
    rates = [Rate(1, spacing_ms(requests_per_second) - catch_up - 1)]
    bucket = InMemoryBucket(rates) if store is None else open_bucket(store, rates)
    return Limiter(bucket, buffer_ms=0)


class RateLimitedTokenAuthenticator(APIKeyAuthenticator):
    """Adds `clientApiId` to the query string after waiting for the shared limiter.

    The SDK calls the authenticator inside its retry loop, so retries are counted too; one
    instance is shared by every stream and fetch thread of a tap.
    """

    def __init__(
        self, *, token: str, limiter: Limiter, spacing: float, shared: bool = False
    ) -> None:
        """Remember the token (and hide it from all logs), the limiter and the spacing.

        `shared`: the limiter's bucket is a `rate_limit_store` other processes take slots from.
        """
        super().__init__(key=TOKEN_PARAMETER, value=token, location="params")
        register_secret(token)
        self.limiter = limiter
        self.spacing = spacing  # seconds between two calls leaving
        self.calls = 0  # every call this run, retries included
        self.shared = shared
        self.stale_slots = 0  # slots given up because the process lost the CPU after one
        # One waiter at a time: several threads sleeping in the limiter at once wake late
        # and leave slots unused (measured: ~3.8 instead of ~4.3 calls/s with 8 threads).
        self._turn = threading.Lock()
        self._left = -math.inf  # when the last call left (time.monotonic)
        self._due = -math.inf  # when the last call was due to leave, on the grid

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until a call may go: a spacing after the last was due, on a grid.

        The limiter spaces its grants, but a thread can lose the CPU or the GIL between its
        grant and its send, and then leave together with the next one. So the next turn also
        waits until `spacing - CATCH_UP` after this one really left (the end of the block, just
        before the send), and this one takes its slot only after that wait. With a `shared`
        store it takes a fresh slot if the block ended more than `STALE_SLOT` after it: other
        processes count from the slot, not from when this call left.
        """
        with self._turn:
            due = max(self._due + self.spacing, self._left + self.spacing - CATCH_UP)
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            else:
                due = now  # nothing waited for a turn: the grid starts again here
            self._due = due
            taken = self._take_slot()
            self.calls += 1
            try:
                yield
            except BaseException:
                self._left = time.monotonic()
                raise
            while self.shared and (held := time.monotonic() - taken) > STALE_SLOT:
                self.stale_slots += 1
                _logger.debug(
                    "Slot held %.0f ms before the call could leave: a fresh one", held * 1e3
                )
                taken = self._take_slot()
            self._left = time.monotonic()

    def _take_slot(self) -> float:
        """Take the next slot, asking again each time the bucket says one frees up.

        Not the limiter's own blocking wait: that stamps the slot it finally takes with the time
        it meant to wake, not the time it did, and a process waking late would leave less than
        `spacing` before the next process's call. Asked afresh, each slot carries the bucket's
        clock (the database's, for PostgreSQL) at the moment it was taken. Returns when
        (`time.monotonic`).
        """
        (bucket,) = self.limiter.buckets()  # build_limiter's one, sync
        while not self.limiter.try_acquire(SLOT, blocking=False):
            wait_ms = bucket.waiting(RateItem(SLOT, int(bucket.now())))  # type: ignore[no-untyped-call]
            time.sleep(max(int(wait_ms), 1) / 1000)  # type: ignore[arg-type]
        return time.monotonic()

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Wait for a turn, then sign the request; send it at once."""
        with self.turn():
            return self.sign(request)

    def sign(
        self, request: requests.PreparedRequest, token: str | None = None
    ) -> requests.PreparedRequest:
        """A signed copy with the token (a site's own, or the default), without waiting.

        A copy, so every retry signs the unsigned request: signing it in place would add one
        more `clientApiId` to its query on each attempt.
        """
        request = request.copy()
        if token is None:
            return super().authenticate_request(request)
        request.prepare_url(request.url, {TOKEN_PARAMETER: token})
        return request
