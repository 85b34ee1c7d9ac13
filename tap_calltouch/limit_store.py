"""Where the per-IP call budget lives: this process alone, a SQLite file, or a PostgreSQL database.

Calltouch allows 5 calls a second per outgoing IP, whoever makes them. Processes that share an IP
(two Meltano jobs on one server, workers behind one NAT) share that budget by naming one store in
`rate_limit_store`: every call of each of them, retries included, first takes a slot from
pyrate-limiter's SQLite or PostgreSQL bucket there. `parse_store` and `store_problems` are pure;
`open_bucket` connects, and fails with one message naming the setting, the password masked.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tap_calltouch.redact import redact_registered, register_secret

if TYPE_CHECKING:
    from pyrate_limiter import AbstractBucket, Rate

SETTING = "rate_limit_store"
TABLE = "calltouch_calls"  # one budget per store: the IP's
SQLITE = "sqlite"
POSTGRES = "postgresql"
_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL store before the run gives up
EXAMPLES = "sqlite:////var/lib/calltouch/limit.db or postgresql://user:password@host/db"


class RateStoreError(RuntimeError):
    """The store named in `rate_limit_store` cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class Store:
    """A parsed `rate_limit_store`: its kind and where it is; `url` with the password masked."""

    kind: str  # SQLITE or POSTGRES
    target: str = dataclasses.field(repr=False)  # the SQLite path or a psycopg conninfo URL
    url: str  # for messages: no password
    password: str | None = dataclasses.field(default=None, repr=False)


def parse_store(url: str) -> Store:
    """The store a URL names; ValueError, with a message naming the setting, when it names none.

    SQLAlchemy's forms: `sqlite:////abs/path.db` (four slashes: an absolute path, since every
    process must name the same file whatever its working directory), `postgresql://...` (also
    `postgres://` and `postgresql+psycopg://`).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == SQLITE:
        path = unquote(parts.path)
        if parts.netloc or parts.query or not path.startswith("//"):
            msg = (
                f"{SETTING}: {masked_url(url)!r} names no absolute file; give "
                "sqlite:////absolute/path.db (four slashes), the same file in every process"
            )
            raise ValueError(msg)
        absolute = str(PurePosixPath(path[1:]))
        if path.endswith("/") or absolute == "/":
            msg = f"{SETTING}: {masked_url(url)!r} names a folder, not a file"
            raise ValueError(msg)
        return Store(SQLITE, absolute, url)
    if scheme in _POSTGRES_SCHEMES:
        try:
            password = parts.password
            host = parts.hostname
        except ValueError as error:
            msg = f"{SETTING}: not a PostgreSQL URL ({error})"
            raise ValueError(msg) from None
        if not host or not parts.path.strip("/"):
            msg = f"{SETTING}: a PostgreSQL store needs a host and a database: postgresql://host/db"
            raise ValueError(msg)
        target = "postgresql" + url[len(parts.scheme) :]
        secret = unquote(password) if password else None
        return Store(POSTGRES, target, masked_url(url), secret)
    msg = f"{SETTING}: {masked_url(url)!r} is neither a SQLite nor a PostgreSQL URL ({EXAMPLES})"
    raise ValueError(msg)


def masked_url(url: str) -> str:
    """The URL with any password replaced by `***`, for messages."""
    parts = urlsplit(url)
    try:
        password = parts.password
    except ValueError:
        return "(an unreadable URL)"
    if not password:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{netloc[2]}").geturl()


def hide_password(config: dict[str, Any]) -> None:
    """Mask the store's password in every log line from now on, whatever else is wrong."""
    url = config.get(SETTING)
    try:
        password = urlsplit(str(url)).password if url else None
    except ValueError:
        return
    if password:
        register_secret(unquote(password))
        register_secret(password)


def store_of(config: dict[str, Any]) -> Store | None:
    """The store a valid config names, None for this process alone; hides its password."""
    url = config.get(SETTING)
    if not url:
        return None
    hide_password(config)
    return parse_store(str(url))


def store_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with `rate_limit_store`, before any connection is tried."""
    url = config.get(SETTING)
    if url is None or url == "":
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
            return _sqlite_bucket(store, rates)
        return _postgres_bucket(store, rates)
    except RateStoreError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the driver raises, one clear message
        reason = " ".join(redact_registered(f"{type(error).__name__}: {error}").split())
        msg = f"{SETTING}: cannot open {store.url}: {reason}"
        raise RateStoreError(msg) from None


def _sqlite_bucket(store: Store, rates: list[Rate]) -> AbstractBucket:
    """A SQLite bucket whose every check-and-take holds a lock file, so processes take turns."""
    from pyrate_limiter import SQLiteBucket  # noqa: PLC0415 - only a run with a store needs it

    folder = PurePosixPath(store.target).parent
    if not Path(folder).is_dir():
        msg = f"{SETTING}: cannot open {store.url}: the folder {folder} does not exist"
        raise RateStoreError(msg)
    lock = ProcessLock(f"{store.target}.lock")
    with lock:  # the first process creates the table while the others wait
        made = SQLiteBucket.init_from_file(rates, table=TABLE, db_path=store.target)
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
