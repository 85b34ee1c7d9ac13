"""What a journal is to the server: the calls that are its, the site they name, its answer.

The server judges every call the same way (the gateway: path, rate limit, injected faults;
then access: token, site, points) and hands an admitted call to its journal, which reads the
parameters (raising BadRequestError, answered 400) and builds the answer. A new journal is a
module with a `Journal` subclass, and a line in `server.JOURNALS`.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from tests.emulator.responses import gateway_page, points_error

if TYPE_CHECKING:
    from collections.abc import Mapping, Sized

    from werkzeug.wrappers import Request, Response

    from tests.emulator.server import Emulator
    from tests.emulator.sites import Site


class Journal(abc.ABC):
    """One journal of the API, served by one emulator (its settings, its points)."""

    name: ClassVar[str]  # as `inject(journal=...)`, `count(journal=...)` and `Call.journal` say

    def __init__(self, emulator: Emulator) -> None:
        """Serve for `emulator`, whose settings a test may change between calls."""
        self.emulator = emulator

    @staticmethod
    @abc.abstractmethod
    def serves(path: str) -> bool:
        """Whether a call to `path` is this journal's."""

    @staticmethod
    @abc.abstractmethod
    def site_named(path: str, params: Mapping[str, str]) -> str | None:
        """The site a call of this journal names, exactly as it is written (None: none)."""

    @abc.abstractmethod
    def answer(self, request: Request, site: Site) -> Response:
        """The answer to an admitted call; a bad parameter raises BadRequestError."""

    def refusal(self, site: Site, records: Sized) -> Response | None:
        """Why `records` cannot be served, or None when they can (a point is then spent).

        Too many for the real service to build in time: its gateway's 504. The site's points
        spent (since access was checked, by a call in parallel): the points error.
        """
        most = self.emulator.max_response_records
        if most is not None and len(records) > most:
            return gateway_page(504)
        if not self.emulator.spend_point(site):
            return points_error()
        return None
