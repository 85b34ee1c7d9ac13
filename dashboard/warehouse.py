"""Where the dashboard reads the models from, and the SQL it asks of them.

A DuckDB file is opened read-only for one page's queries and closed right after, so the
dashboard never holds the lock a `meltano run` needs to write the next load. PostgreSQL is
reached with the loader's own settings (TARGET_POSTGRES_*, from the environment or .env), and
ClickHouse from a clickhouse:// URL over HTTP, every query with `readonly = 1`. The SQL runs
unchanged on all three: `?` placeholders, turned into `%s` for psycopg and clickhouse-connect.

When there is nothing to show yet (no file, no models, no rows, a load writing the file right
now), `NotLoaded` says so, and what to run, instead of a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator, Mapping, Sequence

    import duckdb
    import psycopg
    from clickhouse_connect.driver.client import Client

SCHEMA = "analytics"  # the dbt models' schema
DAILY = f"{SCHEMA}.leads_daily"
LEADS = f"{SCHEMA}.leads"
DATABASE_VARIABLE = "CALLTOUCH_DASHBOARD_DATABASE"  # set by ./scripts/dashboard
POSTGRES = "postgres"  # the --database value that means the loader's PostgreSQL settings
PG_PREFIX = "TARGET_POSTGRES_"
ALL_SITES = "All sites"


class NotLoaded(Exception):  # noqa: N818 - a state of the data, not an error of the program
    """Nothing to show yet: `message` says why, `command` what to run."""

    def __init__(self, message: str, command: str) -> None:
        """Keep the two parts apart, so the page can show the command as code."""
        super().__init__(message)
        self.message = message
        self.command = command


class Connection(Protocol):
    """What the page asks of a database: rows of a query."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of `sql`, with `?` placeholders."""
        ...


@dataclasses.dataclass(frozen=True)
class Database:
    """A DuckDB file, or a PostgreSQL database given by libpq settings."""

    duckdb_path: Path | None = None
    postgres: Mapping[str, str] | None = None
    clickhouse_url: str | None = None  # clickhouse://user:password@host:8123 (clickhouses:// TLS)
    root: Path | None = None  # the repository: a file inside it is named relative to it

    @property
    def label(self) -> str:
        """What the page says it reads, without any password."""
        if self.duckdb_path is not None:
            path = self.duckdb_path
            if self.root is not None and path.is_relative_to(self.root):
                path = path.relative_to(self.root)
            return f"DuckDB {path}"
        if self.clickhouse_url is not None:
            parts = urlsplit(self.clickhouse_url)
            return f"ClickHouse {parts.username or 'default'}@{parts.hostname}:{parts.port or ''}"
        settings = self.postgres or {}
        where = f"{settings.get('host', 'localhost')}:{settings.get('port', '5432')}"
        return f"PostgreSQL {settings.get('user', '')}@{where}/{settings.get('dbname', '')}"

    def stamp(self) -> float:
        """Changes when the data may have: the file's modification time (PostgreSQL: 0)."""
        if self.duckdb_path is not None and self.duckdb_path.exists():
            return self.duckdb_path.stat().st_mtime
        return 0.0


def database_from(spec: str, env: Mapping[str, str], root: Path) -> Database:
    """`--database`: a DuckDB path, a postgresql:// or clickhouse:// URL, or `postgres`."""
    if spec == POSTGRES:
        return Database(postgres=postgres_settings(env, read_dotenv(root / ".env")))
    if spec.startswith(("postgresql://", "postgres://")):
        return Database(postgres={"conninfo": spec})
    if spec.startswith(("clickhouse://", "clickhouses://")):
        return Database(clickhouse_url=spec)
    path = Path(spec)
    return Database(duckdb_path=path if path.is_absolute() else root / path, root=root)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (as `meltano config set` writes it); {} without one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, equals, value = line.strip().removeprefix("export ").partition("=")
        if not equals or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":  # noqa: PLR2004
            value = value[1:-1]
        values[key.strip()] = value
    return values


def postgres_settings(env: Mapping[str, str], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The libpq settings from target-postgres's TARGET_POSTGRES_*: the environment, then .env.

    `sqlalchemy_url` overrides the rest, as it does for the loader.
    """

    def setting(name: str, default: str = "") -> str:
        key = PG_PREFIX + name.upper()
        return env.get(key) or dotenv.get(key) or default

    if url := setting("sqlalchemy_url"):
        scheme, _, rest = url.partition("://")
        return {"conninfo": f"{scheme.split('+')[0]}://{rest}"}
    settings = {
        "host": setting("host", "localhost"),
        "port": setting("port", "5432"),
        "user": setting("user"),
        "password": setting("password"),
        "dbname": setting("database", "calltouch"),
    }
    return {name: value for name, value in settings.items() if value}


# --- connections -------------------------------------------------------------------------------


class _DuckDB:
    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = self.connection.execute(sql, list(params)).fetchall()
        return result


class _Postgres:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = self.connection.execute(
            sql.replace("?", "%s"), tuple(params)
        ).fetchall()
        return result


class _ClickHouse:
    def __init__(self, client: Client) -> None:
        self.client = client

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result = self.client.query(sql.replace("?", "%s"), parameters=tuple(params))
        return [tuple(row) for row in result.result_rows]


@contextlib.contextmanager
def connect(database: Database) -> Iterator[Connection]:
    """A connection for one page's queries, closed after; `NotLoaded` when there is none."""
    if database.duckdb_path is not None:
        with _open_duckdb(database.duckdb_path) as connection:
            yield connection
    elif database.clickhouse_url is not None:
        with _open_clickhouse(database) as connection:
            yield connection
    else:
        with _open_postgres(database) as connection:
            yield connection


@contextlib.contextmanager
def _open_duckdb(path: Path) -> Iterator[Connection]:
    import duckdb  # noqa: PLC0415 - only the dashboard's venv has it

    if not path.exists():
        msg = f"No DuckDB file at {path} yet: nothing has been loaded."
        raise NotLoaded(msg, "./scripts/demo    # or: meltano run calltouch-to-duckdb")
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        msg = f"A load is writing {path.name} right now; reload this page when it has finished."
        raise NotLoaded(msg, "") from None
    try:
        yield _DuckDB(connection)
    finally:
        connection.close()


@contextlib.contextmanager
def _open_postgres(database: Database) -> Iterator[Connection]:
    import psycopg  # noqa: PLC0415 - only the dashboard's venv has it

    settings = dict(database.postgres or {})
    conninfo = psycopg.conninfo.make_conninfo(
        settings.pop("conninfo", ""), **settings, connect_timeout="10"
    )
    try:
        connection = psycopg.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        msg = f"Cannot reach {database.label}: {reason}"
        raise NotLoaded(
            msg, "TARGET_POSTGRES_HOST=... TARGET_POSTGRES_USER=... ./scripts/dashboard --postgres"
        ) from None
    try:
        yield _Postgres(connection)
    finally:
        connection.close()


@contextlib.contextmanager
def _open_clickhouse(database: Database) -> Iterator[Connection]:
    import clickhouse_connect  # noqa: PLC0415 - only the dashboard's venv has it
    from clickhouse_connect.driver.exceptions import (  # noqa: PLC0415
        ClickHouseError,
    )

    parts = urlsplit(database.clickhouse_url or "")
    secure = parts.scheme == "clickhouses"
    try:
        client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if secure else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            secure=secure,
            connect_timeout=10,
            # Reads only, whatever the user may do (a user already read-only keeps its own).
            settings={"readonly": 1},
        )
    except ClickHouseError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        msg = f"Cannot reach {database.label}: {redact(reason, parts.password)}"
        raise NotLoaded(
            msg, "./scripts/dashboard --database clickhouse://user:PASSWORD@host:8123"
        ) from None
    try:
        yield _ClickHouse(client)
    finally:
        client.close()


def redact(text: str, secret: str | None) -> str:
    """`text` without `secret` (an error may quote the URL)."""
    return text.replace(secret, "***") if secret else text


# --- what is there -----------------------------------------------------------------------------


def columns(connection: Connection, table: str) -> set[str]:
    """The columns of `schema.table`; empty when the table is missing."""
    schema, name = table.split(".")
    rows = connection.rows(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name = ?",
        (schema, name),
    )
    return {str(column) for (column,) in rows}


@dataclasses.dataclass(frozen=True)
class Shape:
    """What the loaded models hold: the columns of leads, and whether sites have names."""

    leads_columns: frozenset[str]
    has_site_name: bool


def check_loaded(connection: Connection, database: Database) -> Shape:
    """The models are there and hold rows, or `NotLoaded` says what to run."""
    job = (
        "calltouch-to-duckdb"
        if database.duckdb_path is not None
        else "calltouch-to-clickhouse"
        if database.clickhouse_url is not None
        else "calltouch-to-postgres"
    )
    daily, leads = columns(connection, DAILY), columns(connection, LEADS)
    if not daily or not leads:
        msg = (
            f"{database.label} has no dbt models ({DAILY}, {LEADS}) yet: "
            "the load ran without dbt, or not at all."
        )
        raise NotLoaded(msg, f"meltano run {job}    # the load, then dbt run and dbt test")
    ((rows,),) = connection.rows(f"SELECT count(*) FROM {DAILY}")  # noqa: S608 - constants
    if not rows:
        msg = f"{DAILY} is empty: the load found no calls or requests in its dates."
        raise NotLoaded(msg, f"meltano run {job}    # with an earlier start_date")
    return Shape(frozenset(leads), "site_name" in daily)


# --- the filters and the queries ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Filters:
    """The page's choices: a day range, one site or all, some sources or all."""

    first_day: dt.date
    last_day: dt.date
    site_id: int | None = None
    sources: tuple[str, ...] = ()

    def where(self, *, source: str = "source") -> tuple[str, list[Any]]:
        """A WHERE clause over `created_date_local`, `site_id` and `source`, and its params."""
        clauses = ["created_date_local BETWEEN ? AND ?"]
        params: list[Any] = [self.first_day, self.last_day]
        if self.site_id is not None:
            clauses.append("site_id = ?")
            params.append(self.site_id)
        if self.sources:
            clauses.append(f"{source} IN ({', '.join('?' for _ in self.sources)})")
            params.extend(self.sources)
        return " AND ".join(clauses), params


@dataclasses.dataclass(frozen=True)
class Site:
    """A site as the filter lists it."""

    site_id: int
    label: str


def sites(connection: Connection, shape: Shape) -> list[Site]:
    """Every site in `leads_daily`, labelled by its name when the models carry one."""
    name = "max(site_name)" if shape.has_site_name else "NULL"
    rows = connection.rows(
        f"SELECT site_id, {name} FROM {DAILY} GROUP BY site_id ORDER BY site_id"  # noqa: S608
    )
    return site_labels([(int(site_id), site_name) for site_id, site_name in rows])


def site_labels(rows: Sequence[tuple[int, str | None]]) -> list[Site]:
    """A site's name, or 'site ID' without one; the id added where two names are alike."""
    names = [name for _, name in rows if name]
    labels = []
    for site_id, name in rows:
        if not name:
            labels.append(Site(site_id, f"site {site_id}"))
        elif names.count(name) > 1:
            labels.append(Site(site_id, f"{name} ({site_id})"))
        else:
            labels.append(Site(site_id, name))
    return labels


def day_range(connection: Connection) -> tuple[dt.date, dt.date]:
    """The first and last account-local day in `leads_daily`."""
    ((first, last),) = connection.rows(
        f"SELECT min(created_date_local), max(created_date_local) FROM {DAILY}"  # noqa: S608
    )
    return first, last


def sources(connection: Connection) -> list[str]:
    """Every source, the one with most leads first."""
    rows = connection.rows(
        f"SELECT source, sum(leads) FROM {DAILY} GROUP BY source ORDER BY 2 DESC, 1"  # noqa: S608
    )
    return [str(source) for source, _ in rows]


FIGURES = (
    "sum(leads), sum(calls), sum(requests), sum(target_leads), sum(deals), "
    "coalesce(sum(revenue), 0)"
)


@dataclasses.dataclass(frozen=True)
class Totals:
    """The period's figures."""

    leads: int
    calls: int
    requests: int
    target_leads: int
    deals: int
    revenue: Any  # Decimal: exact, as the models hold it


def _totals(row: Sequence[Any]) -> Totals:
    leads, calls, requests, target_leads, deals, revenue = row
    return Totals(
        leads=int(leads or 0),
        calls=int(calls or 0),
        requests=int(requests or 0),
        target_leads=int(target_leads or 0),
        deals=int(deals or 0),
        revenue=revenue,
    )


def totals(connection: Connection, filters: Filters) -> Totals:
    """Leads, calls, requests, target leads, deals and revenue of the chosen period."""
    where, params = filters.where()
    ((*row,),) = connection.rows(f"SELECT {FIGURES} FROM {DAILY} WHERE {where}", params)  # noqa: S608
    return _totals(row)


GROUPINGS = {  # what a breakdown may group by: leads_daily's dimensions
    "day": "created_date_local",
    "source": "source",
    "campaign": "campaign",
}


def breakdown(
    connection: Connection, filters: Filters, by: Sequence[str]
) -> list[tuple[tuple[Any, ...], Totals]]:
    """The same figures per `by` (names of GROUPINGS), most leads first, then by key."""
    keys = ", ".join(GROUPINGS[name] for name in by)
    where, params = filters.where()
    rows = connection.rows(
        f"SELECT {keys}, {FIGURES} FROM {DAILY} WHERE {where}"  # noqa: S608
        f" GROUP BY {keys} ORDER BY sum(leads) DESC, {keys}",
        params,
    )
    return [(tuple(row[: len(by)]), _totals(row[len(by) :])) for row in rows]


LATEST_COLUMNS = (
    "created_at",
    "lead_type",
    "source",
    "campaign",
    "keyword",
    "city",
    "manager",
    "deals",
    "revenue",
)


def latest_leads(
    connection: Connection, filters: Filters, shape: Shape, limit: int = 50
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The newest leads of the selection, from `leads`: column names and rows."""
    where, params = filters.where(source="coalesce(source, '(not set)')")
    wanted = [column for column in LATEST_COLUMNS if column in shape.leads_columns]
    rows = connection.rows(
        f"SELECT {', '.join(wanted)} FROM {LEADS} WHERE {where}"  # noqa: S608
        f" ORDER BY created_at DESC, lead_key LIMIT {int(limit)}",
        params,
    )
    return wanted, rows


def database_spec(env: Mapping[str, str] | None = None) -> str:
    """The --database ./scripts/dashboard passed on, or the demo's file."""
    return (env if env is not None else os.environ).get(DATABASE_VARIABLE) or "demo.duckdb"
