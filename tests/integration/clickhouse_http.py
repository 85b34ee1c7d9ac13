"""ClickHouse's HTTP interface over chdb (the ClickHouse engine in process), for the tests only.

No PyPI or Debian package ships a current ClickHouse server, and chdb cannot listen on a port
itself: this serves one chdb session on loopback as the server does, as much as
clickhouse-connect, clickhouse-sqlalchemy and dbt-clickhouse use. A query comes in `?query=`,
the body or both (joined by a line break, as the server joins them); `INSERT ... FORMAT X` reads
its data from the rest of the body, through a file; request bodies may be gzip, deflate, lz4 or
zstd; settings in the URL apply to that request alone; an error is an HTTP 500 with ClickHouse's
own text. `timezone` is the server's zone (DateTime columns without a zone of their own);
`certificate` (a PEM certificate and its key) serves HTTPS instead, as on port 8443.
"""

from __future__ import annotations

import base64
import gzip
import re
import shutil
import ssl
import tempfile
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

# URL parameters that are not settings (the HTTP interface's own, and the clients').
NOT_SETTINGS = {
    "query", "database", "default_format", "user", "password", "query_id", "session_id",
    "session_timeout", "session_check", "compress", "decompress", "enable_http_compression",
    "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "buffer_size", "client_protocol_version",
}  # fmt: skip
READS = re.compile(r"(?is)^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b")
_ENGINE = (
    threading.Lock()
)  # the process's one chdb engine: one statement with its settings at a time
INSERT_DATA = re.compile(r"(?is)^\s*(INSERT\s+INTO\s.*?\bFORMAT\s+(\w+))[ \t]*\r?\n?(.*)$")


def decompress(body: bytes, encoding: str) -> bytes:
    """A request body as sent with Content-Encoding `encoding`."""
    if encoding in {"", "identity"}:
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "lz4":
        import lz4.frame  # noqa: PLC0415 - clickhouse-connect's own dependency

        return bytes(lz4.frame.decompress(body))
    if encoding == "zstd":
        import zstandard  # noqa: PLC0415 - clickhouse-connect's own dependency

        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    msg = f"Content-Encoding {encoding} is not served here"
    raise ValueError(msg)


class ChdbServer:
    """A chdb session in `path`, served over HTTP on 127.0.0.1 while the context is open."""

    def __init__(
        self,
        session: Any,  # a chdb.session.Session
        timezone: str = "UTC",
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        """Serve `session` (chdb runs one engine per process: every server shares it, and
        closing is its owner's); DateTime columns without a zone read in `timezone`; TLS with
        `certificate` (certificate file, key file)."""
        self.timezone = timezone
        self.session = session
        self.lock = _ENGINE
        self.scratch = Path(tempfile.mkdtemp(prefix="chdb-http-"))
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.owner = self
        self.port = self.server.server_address[1]
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.logins: set[tuple[str, str]] = set()  # (user, password) of Basic logins seen
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        """Start serving."""
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving and close the session."""
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def run(self, sql: str, fmt: str, database: str, url: dict[str, str]) -> bytes:
        """Run `sql` in `database` and the server's zone, with the settings and {name:Type}
        parameters (`param_name`) of the request's `url`, for this statement alone."""
        settings = {
            name: value
            for name, value in url.items()
            if name not in NOT_SETTINGS and not name.startswith("param_")
        }
        params = {name[6:]: value for name, value in url.items() if name.startswith("param_")}
        # chdb's session keeps its settings, and readonly once set refuses every later SET: the
        # server's check for a read-only request is made here instead.
        if settings.pop("readonly", "0") != "0" and not READS.match(sql):
            msg = "Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)"
            raise PermissionError(msg)
        with self.lock:
            applied = {"session_timezone": self.timezone, **settings}
            try:
                for name, value in applied.items():
                    self.session.query(f"SET {name} = '{value.replace(chr(39), '')}'")
                self.session.query(f"USE `{database}`")
                return bytes(self.session.query(sql, fmt, params=params or None).bytes())
            finally:
                for name in applied:
                    self.session.query(f"SET {name} = DEFAULT")


class _Server(ThreadingHTTPServer):
    owner: ChdbServer
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *_args: Any) -> None:
        """Quiet: the tests read the database, not a request log."""

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._chunks()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._serve(decompress(body, self.headers.get("Content-Encoding", "").lower()))

    def _chunks(self) -> bytes:
        """A body sent in chunks (clickhouse-connect streams its inserts)."""
        parts = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers
            pass
        return b"".join(parts)

    def _serve(self, body: bytes) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            user, _, password = base64.b64decode(token).decode().partition(":")
            self.server.owner.logins.add((user, password))
        url = urlsplit(self.path)
        if url.path.rstrip("/") in {"/ping", ""} and not url.query and not body:
            self._answer(200, b"Ok.\n")
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        text = b"\n".join(part for part in (params.get("query", "").encode(), body) if part)
        database = params.get("database") or self.headers.get("X-ClickHouse-Database")
        sql, fmt, data = self._statement(text, params.get("default_format"))
        try:
            answer = self.server.owner.run(sql, fmt, database or "default", params)
        except Exception as error:  # noqa: BLE001 - the server answers every error as text
            self._answer(500, f"{error}\n".encode(), error=True)
            return
        finally:
            if data is not None:
                data.unlink()
        self._answer(200, answer)

    def _statement(self, text: bytes, default_format: str | None) -> tuple[str, str, Path | None]:
        """The SQL to run, its output format, and the file an insert's data is in."""
        fmt = default_format or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
        head = text[:65536].decode("utf-8", errors="replace")
        insert = INSERT_DATA.match(head)
        if insert is None:
            return text.decode(), fmt, None
        data = text[len(head[: insert.start(3)].encode()) :]
        if not data.strip():
            return insert.group(1), fmt, None
        with tempfile.NamedTemporaryFile(dir=self.server.owner.scratch, delete=False) as sink:
            sink.write(data)
        into = re.sub(r"(?is)\s+FORMAT\s*$", "", insert.group(1)[: insert.start(2)])
        return f"{into} FROM INFILE '{sink.name}' FORMAT {insert.group(2)}", fmt, Path(sink.name)

    def _answer(self, status: int, body: bytes, *, error: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Timezone", self.server.owner.timezone)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb")
        self.send_header("X-ClickHouse-Summary", '{"read_rows":"0","written_rows":"0"}')
        if error:
            self.send_header("X-ClickHouse-Exception-Code", "1")
        self.end_headers()
        self.wfile.write(body)
