"""What the gateway and the API answer besides records: errors, gateway pages, injected faults."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import orjson
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _typeshed.wsgi import WSGIEnvironment

JSON = "application/json;charset=UTF-8"
HTML = "text/html; charset=utf-8"

HELP_PAGE = (
    '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">'
    "<title>Справочный центр Calltouch</title></head><body><h1>Страница не найдена</h1>"
    "<p>Воспользуйтесь поиском по справочному центру Calltouch.</p></body></html>"
)
MAINTENANCE_PAGE = (
    '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Calltouch</title></head>'
    "<body><h1>Ведутся технические работы</h1><p>Сервис скоро вернётся.</p></body></html>"
)


def injected(kind: str, opts: dict[str, Any]) -> Response | None:
    """What an injected fault answers instead of the API; None drops the connection (`reset`)."""
    if kind == "status":
        status, retry_after = opts.get("status", 503), opts.get("retry_after")
        if "message" in opts:
            body = orjson.dumps({"message": opts["message"]})
            return _retry_after(Response(body, status, content_type=JSON), retry_after)
        return gateway_page(status, retry_after)
    if kind == "html":
        return Response(MAINTENANCE_PAGE, 200, content_type=HTML)
    if kind == "object":
        body = opts.get("body", {"status": "ERROR", "message": "Внутренняя ошибка сервера"})
        return Response(orjson.dumps(body), 200, content_type=JSON)
    return None


def cut_off(response: Response, environ: WSGIEnvironment) -> Response:
    """The answer announced whole (its Content-Length), its first half sent, then the
    connection dropped: the client's read breaks mid-body."""
    body = response.get_data()

    def half_then_drop() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError  # werkzeug takes it as a dropped connection, quietly

    cut = Response(half_then_drop(), response.status_code, content_type=response.content_type)
    cut.headers["Content-Length"] = str(len(body))
    return cut


def truncated(response: Response, after: str | None = None) -> Response:
    """The answer with its body cut in half; with `after`, just after its last `after` there."""
    body = response.get_data()
    cut = len(body) // 2
    if after:
        cut = body.rfind(after.encode(), 0, cut) + len(after)
    response.set_data(body[:cut])
    return response


def garbled(response: Response) -> Response:
    """The answer with one byte that is no UTF-8 inside a string (a broken encoder or proxy),
    still JSON in shape: a string value past the body's middle, else its first string (a key,
    if need be). A body without any string (`[]`) is sent as it is."""
    body = response.get_data()
    middle = len(body) // 2
    value = body.find(b'":"', middle)
    at = value + 3 if value >= 0 else body.find(b'"') + 1
    if at > 0:
        response.set_data(body[:at] + b"\xff" + body[at:])
    return response


def json_error(status: int, error: str, message: str, retry_after: float | None = None) -> Response:
    """A short JSON error body, as the API sends for 400, 403 and 429."""
    body = orjson.dumps({"error": error, "message": message})
    return _retry_after(Response(body, status, content_type=JSON), retry_after)


def points_error() -> Response:
    """The daily points budget is spent: 403, told apart from a bad token only by its body.

    The vendor documents neither the status nor the body of this answer (only that calls fail
    until the next day), and no published client or captured answer shows one: this one is
    the emulator's assumption, in the JSON error shape clients saw on 403.
    """
    return json_error(403, "POINTS_LIMIT_EXCEEDED", "Daily API points limit exceeded")


def gateway_page(status: int, retry_after: float | None = None) -> Response:
    """An nginx-style HTML error page, as a gateway answers when the service behind it fails."""
    title = f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}"
    page = (
        f"<html><head><title>{title}</title></head><body>"
        f"<center><h1>{title}</h1></center><hr><center>nginx</center></body></html>"
    )
    return _retry_after(Response(page, status, content_type=HTML), retry_after)


def _retry_after(response: Response, seconds: float | None) -> Response:
    """Add `Retry-After` when the emulator is told to send one (the real API's habit is unknown)."""
    if seconds is not None:
        response.headers["Retry-After"] = f"{seconds:g}"
    return response
