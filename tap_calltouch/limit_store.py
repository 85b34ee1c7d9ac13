"""Where the per-IP call budget lives: this process alone, a SQLite file, or a PostgreSQL database.

Calltouch allows 5 calls a second per outgoing IP, whoever makes them. Processes that share an IP
(two Meltano jobs on one server, workers behind one NAT) share that budget by naming one store in
`rate_limit_store`: every call of each of them, retries included, first takes a slot from
pyrate-limiter's SQLite or PostgreSQL bucket there. `parse_store` and `store_problems` are pure;
`open_bucket` connects, and fails with one message naming the setting. A message names a store
by `describe` alone (scheme, hosts, ports, database): never by the text it was given, which
may hold a password in any of the places libpq reads one from.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tap_calltouch import conninfo
from tap_calltouch.redact import redact_registered, register_secret

if TYPE_CHECKING:
    from pyrate_limiter import AbstractBucket, Rate

SETTING = "rate_limit_store"
TABLE = "calltouch_calls"  # one budget per store: the IP's
SQLITE = "sqlite"
POSTGRES = "postgresql"
_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_QUOTED = re.compile(r'"[^"]*"')
CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL store before the run gives up
LOCK_TIMEOUT = 5.0  # seconds to take a SQLite store's lock file; others hold it for a moment
EXAMPLES = (
    "sqlite:////var/lib/calltouch/limit.db, postgresql://user:password@host/db "
    "or host=... dbname=... words"
)


class RateStoreError(RuntimeError):
    """The store named in `rate_limit_store` cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class Store:
    """A parsed `rate_limit_store`: its kind, where it is, and how messages name it."""

    kind: str  # SQLITE or POSTGRES
    target: str = dataclasses.field(repr=False)  # the SQLite path or a libpq connection string
    shown: str  # `describe`: no user, password or parameters


def describe(kind: str, params: dict[str, str]) -> str:
    """How every message names a store: scheme, hosts and ports, database; nothing else.

    `params` are libpq's (`host`, `port`, `dbname`; a list of hosts as `h1,h2`), or a SQLite
    store's `path`.
    """
    if kind == SQLITE:
        return redact_registered(f"sqlite:///{params['path']}")
    hosts = (params.get("host") or params.get("hostaddr") or "").split(",")
    ports = params.get("port", "").split(",")
    ports = ports * len(hosts) if len(ports) == 1 else ports  # one port for every host
    where = ",".join(
        (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        for host, port in zip(hosts, ports + [""] * len(hosts), strict=False)
    )
    return redact_registered(f"postgresql://{where}/{params.get('dbname', '')}")


def parse_store(url: str) -> Store:
    """The store a setting names; ValueError, with a message naming the setting, when it names none.

    `sqlite:////abs/path.db` (four slashes: an absolute path, since every process must name
    the same file whatever its working directory); for PostgreSQL whatever libpq reads, a URI
    (`postgresql://...`, also SQLAlchemy's `postgres://` and `postgresql+psycopg://`) or
    `host=... dbname=...` words, with a host and a database.
    """
    url = url.strip()  # a value read from a file or a variable often ends in a newline
    scheme = _SCHEME.match(url)
    kind = scheme.group(1).lower() if scheme else ""
    if kind == SQLITE:
        return _sqlite_store(url)
    if kind in _POSTGRES_SCHEMES:
        target = POSTGRES + url[len(kind) :]
    elif not scheme and "=" in url:
        target = url
    else:
        shown = f"{redact_registered(kind)}://, which" if kind else "it"
        msg = (
            f"{SETTING}: {shown} names neither a SQLite file nor a PostgreSQL database ({EXAMPLES})"
        )
        raise ValueError(msg)
    try:
        params = conninfo.parse(target)
    except conninfo.ConninfoError as error:
        msg = f"{SETTING}: not a PostgreSQL connection string libpq reads as meant: {error}"
        raise ValueError(msg) from None
    if not (params.get("host") or params.get("hostaddr")) or not params.get("dbname"):
        msg = f"{SETTING}: a PostgreSQL store needs a host and a database: postgresql://host/db"
        raise ValueError(msg)
    if not all(port.isdigit() for port in params.get("port", "").split(",") if port):
        msg = f"{SETTING}: the port of {describe(POSTGRES, params | {'port': ''})} is not a number"
        raise ValueError(msg)
    return Store(POSTGRES, target, describe(POSTGRES, params))


def _sqlite_store(url: str) -> Store:
    """A SQLite store: an absolute file, without user, password, query or `#` part."""
    rule = (
        f"{SETTING}: a SQLite store is sqlite:////absolute/path.db (four slashes, nothing "
        "after the file name), the same file in every process"
    )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(rule) from None
    path = unquote(parts.path)
    if parts.netloc or parts.query or parts.fragment or "?" in url or not path.startswith("//"):
        raise ValueError(rule)
    absolute = str(PurePosixPath(path[1:]))
    if path.endswith("/") or absolute == "/":
        msg = f"{SETTING}: {describe(SQLITE, {'path': absolute})} names a folder, not a file"
        raise ValueError(msg)
    return Store(SQLITE, absolute, describe(SQLITE, {"path": absolute}))


def hide_password(config: dict[str, Any]) -> None:
    """Mask every secret the store's setting may hold in every log line and message from now on.

    Called before anything reads the setting, so even a message about a string that is not
    a store at all never shows a password in it.
    """
    url = config.get(SETTING)
    if url:
        for secret in conninfo.secrets(str(url)):
            register_secret(secret)


def store_of(config: dict[str, Any]) -> Store | None:
    """The store a valid config names, None for this process alone; hides its secrets."""
    url = config.get(SETTING)
    if not url:
        return None
    hide_password(config)
    return parse_store(str(url))


def store_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with `rate_limit_store`, before any connection is tried."""
    url = config.get(SETTING)
    if not url or not isinstance(url, str):  # not a string: the schema says so
        return []
    try:
        store_of(config)
    except ValueError as error:
        return [str(error)]
    return []


def open_bucket(store: Store, rates: list[Rate]) -> AbstractBucket:
    """Connect to the store and return pyrate-limiter's bucket there; RateStoreError if not."""
    try:
        if store.kind == SQLITE:
            return _sqlite_bucket(store, rates, LOCK_TIMEOUT)
        return _postgres_bucket(store, rates)
    except RateStoreError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the driver raises, one clear message
        msg = f"{SETTING}: cannot open {store.shown}: {driver_reason(error)}"
        raise RateStoreError(msg) from None


def driver_reason(error: Exception) -> str:
    """A driver's error as one line, secrets masked.

    libpq's complaints about a connection string quote it, or the part it stumbled on, in
    double quotes (the whole URI, password and all, for a bad IPv6 address): those are left out.
    """
    text = f"{type(error).__name__}: {error}"
    if type(error).__name__ == "ProgrammingError":
        text = _QUOTED.sub('"..."', text)
    return " ".join(redact_registered(text).split())


def _sqlite_bucket(store: Store, rates: list[Rate], lock_timeout: float) -> AbstractBucket:
    """A SQLite bucket whose every check-and-take holds a lock file, so processes take turns."""
    from pyrate_limiter import SQLiteBucket  # noqa: PLC0415 - only a run with a store needs it

    folder = PurePosixPath(store.target).parent
    if not Path(folder).is_dir():
        msg = f"{SETTING}: cannot open {store.shown}: the folder {folder} does not exist"
        raise RateStoreError(msg)
    lock = ProcessLock(f"{store.target}.lock")
    # filelock takes a lock file it cannot create (ENOENT in /proc, say) for one held by
    # another process, and would wait for ever: no process holds it longer than a moment.
    if not lock.acquire(timeout=lock_timeout):
        msg = (
            f"{SETTING}: cannot open {store.shown}: its lock file {store.target}.lock could not "
            f"be taken within {lock_timeout:g} s (can files be made in {folder}?)"
        )
        raise RateStoreError(msg)
    try:  # the first process creates the table while the others wait
        made = SQLiteBucket.init_from_file(rates, table=TABLE, db_path=store.target)
    finally:
        lock.release()
    return SQLiteBucket(rates, made.conn, TABLE, lock=lock)


class ProcessLock:
    """A lock file as the threading-style lock pyrate-limiter's SQLite bucket expects.

    pyrate-limiter's own `use_file_lock` calls `acquire(False)`, which filelock 4 reads as a
    timeout and refuses; this takes `blocking` and `timeout` as `threading.Lock` does. The lock
    is re-entrant in a thread (the limiter holds it around the bucket, which takes it again),
    and excludes other threads and processes alike.
    """

    def __init__(self, path: str) -> None:
        """A lock on `path`, created when first taken."""
        from filelock import FileLock  # noqa: PLC0415

        self._lock = FileLock(path)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:  # noqa: FBT001, FBT002
        """Take the lock; False when not taken within `timeout` (at once, if not `blocking`)."""
        from filelock import Timeout  # noqa: PLC0415

        wait = (-1 if timeout == -1 else timeout) if blocking else 0
        try:
            self._lock.acquire(timeout=wait)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        """Give the lock up (once per `acquire`)."""
        self._lock.release()

    def __enter__(self) -> None:
        """Take the lock, waiting as long as it takes."""
        self.acquire()

    def __exit__(self, *_: object) -> None:
        """Give it up."""
        self.release()


def _postgres_bucket(store: Store, rates: list[Rate]) -> AbstractBucket:
    """A PostgreSQL bucket, once one connection has proved the database answers."""
    try:
        import psycopg  # noqa: PLC0415 - an optional extra: tap-calltouch[postgres]
        from psycopg_pool import ConnectionPool  # noqa: PLC0415
    except ImportError:
        msg = (
            f"{SETTING}: a PostgreSQL store needs psycopg and psycopg-pool: install "
            "tap-calltouch[postgres] (in meltano.yml: pip_url: tap-calltouch[postgres])"
        )
        raise RateStoreError(msg) from None
    from pyrate_limiter import PostgresBucket  # noqa: PLC0415

    psycopg.connect(store.target, connect_timeout=CONNECT_TIMEOUT).close()
    pool = ConnectionPool(
        store.target,
        min_size=1,
        max_size=2,  # the call in turn, and the limiter's clean-up thread
        kwargs={"connect_timeout": CONNECT_TIMEOUT},
        open=False,
        name="calltouch-rate-limit",
    )
    pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    return PostgresBucket(pool, TABLE, rates)
