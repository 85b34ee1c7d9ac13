"""Authentication under the rate limit: every call, first try or retry, waits its turn here."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate
from singer_sdk.authenticators import APIKeyAuthenticator

from tap_calltouch.redact import register_secret

if TYPE_CHECKING:
    import requests

# Calltouch counts calls per IP in any rolling second; pyrate-limiter keeps a sliding window
# and adds this margin to each wait so that network jitter cannot squeeze a sixth call in.
LIMITER_BUFFER_MS = 50


def build_limiter(requests_per_second: float) -> Limiter:
    """A sliding-window limiter: N calls per second, or evenly spaced calls for fractional N."""
    if not 0 < requests_per_second <= 5:  # noqa: PLR2004 - the API's documented ceiling
        msg = f"requests_per_second must be in (0, 5], got {requests_per_second}"
        raise ValueError(msg)
    if float(requests_per_second).is_integer():
        rate = Rate(int(requests_per_second), Duration.SECOND)
    else:
        rate = Rate(1, math.ceil(1000 / requests_per_second))
    return Limiter(InMemoryBucket([rate]), buffer_ms=LIMITER_BUFFER_MS)


class RateLimitedTokenAuthenticator(APIKeyAuthenticator):
    """Adds `clientApiId` to the query string after waiting for the shared limiter.

    The SDK calls the authenticator inside its retry loop, so retries are counted too; one
    instance is shared by every stream and fetch thread of a tap.
    """

    def __init__(self, *, token: str, limiter: Limiter) -> None:
        """Remember the token (and hide it from all logs) and the limiter to wait on."""
        super().__init__(key="clientApiId", value=token, location="params")
        register_secret(token)
        self.limiter = limiter
        self.calls = 0  # every call this run, retries included
        self._count_lock = threading.Lock()

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Block until the limiter grants a slot, then sign the request."""
        self.limiter.try_acquire("calltouch", blocking=True)
        with self._count_lock:
            self.calls += 1
        return super().authenticate_request(request)
