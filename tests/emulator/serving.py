"""The werkzeug server under the emulator: it stamps each call's arrival and logs no token."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from typing_extensions import override
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from tests.emulator.accounts import CLIENT_API_ID

if TYPE_CHECKING:
    import socket

    from _typeshed.wsgi import WSGIEnvironment

ARRIVED = "emulator.arrived"  # environ key: time.monotonic() when the connection was accepted


class ArrivalServer(ThreadedWSGIServer):
    """Notes when each connection is accepted, which is when a call arrives.

    The API counts calls at its edge. Stamped later, in the handler thread, a call would wait
    for this process's GIL behind the threads building other answers (measured: up to 250 ms
    while 3 MB pages were encoded), and calls sent 220 ms apart would look bunched.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """A threaded werkzeug server with a table of accept times."""
        super().__init__(*args, **kwargs)
        self.accepted: dict[int, float] = {}

    @override
    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self.accepted[id(connection)] = time.monotonic()
        return connection, address


class QuietHandler(WSGIRequestHandler):
    """Werkzeug logs each request line, token included: skip those, and redact what else it logs."""

    server: ArrivalServer

    @override
    def make_environ(self) -> WSGIEnvironment:
        """The request's environ, with when its connection arrived (kept-alive: when read)."""
        environ = super().make_environ()
        environ[ARRIVED] = self.server.accepted.pop(id(self.connection), None)
        return environ

    @override
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing per request: the query holds the token."""

    @override
    def log(self, type: str, message: str, *args: Any) -> None:
        """Log errors with any token in them masked."""
        text = message % args if args else message
        super().log(type, "%s", re.sub(rf"({CLIENT_API_ID}=)[^&\s]*", r"\1***", text))
