"""Read what a loader wrote, the same way for PostgreSQL, DuckDB and ClickHouse.

target-postgres keeps the tap's column names (`"requestId"`, quoted) and stores objects as
JSONB and arrays as JSONB[]; target-duckdb lower-cases them (`requestid`) and stores both as
JSON text. Rows come back here as dicts keyed by lower-case column names, JSON decoded.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
from singer_sdk import typing as th

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg

SCHEMA = "calltouch"
PRIMARY_KEYS = {
    "requests": ("requestId",),
    "orders": ("orderId",),
    "comments": ("commentId",),
    "map_visits": ("requestId", "sessionId"),
    "request_tags": ("requestId", "name"),
    "calls": ("callId",),
    "call_orders": ("callId", "orderId"),
    "call_comments": ("commentId",),
    "call_map_visits": ("callId", "sessionId"),
    "call_tags": ("callId", "name"),
}
STREAMS = tuple(PRIMARY_KEYS)


class Warehouse(Protocol):
    """What the end-to-end test asks of a loaded database."""

    def tables(self) -> set[str]:
        """Tables in the calltouch schema."""
        ...

    def keys(self, table: str) -> list[tuple[Any, ...]]:
        """Every row's primary key, duplicates included."""
        ...

    def duplicates(self, table: str) -> list[tuple[Any, ...]]:
        """Primary keys that appear more than once."""
        ...

    def row(self, table: str, **key: Any) -> dict[str, Any]:
        """The one row with this key (tap column names), by lower-case column name."""
        ...

    def column_types(self, table: str) -> dict[str, str]:
        """Each column's type, as the database names it."""
        ...

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query both databases read alike (the dbt models' snake_case columns)."""
        ...

    def stored_time(self, when: dt.datetime) -> dt.datetime:
        """A time as the loader stores it (ClickHouse's DateTime: whole seconds)."""
        ...


class PostgresWarehouse:
    """A database target-postgres loaded."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        """Query through `connection`."""
        self.connection = connection

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query."""
        return self._all(sql)

    def stored_time(self, when: dt.datetime) -> dt.datetime:
        """Times keep their microseconds."""
        return when

    def tables(self) -> set[str]:
        """Tables in the calltouch schema."""
        rows = self._all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (SCHEMA,)
        )
        return {name for (name,) in rows}

    def keys(self, table: str) -> list[tuple[Any, ...]]:
        """Every row's primary key, duplicates included."""
        columns = ", ".join(f'"{column}"' for column in PRIMARY_KEYS[table])
        return self._all(f"SELECT {columns} FROM {SCHEMA}.{table}")  # noqa: S608

    def duplicates(self, table: str) -> list[tuple[Any, ...]]:
        """Primary keys that appear more than once."""
        columns = ", ".join(f'"{column}"' for column in PRIMARY_KEYS[table])
        return self._all(
            f"SELECT {columns} FROM {SCHEMA}.{table} GROUP BY {columns} HAVING count(*) > 1"  # noqa: S608
        )

    def column_types(self, table: str) -> dict[str, str]:
        """Each column's type as PostgreSQL names it (jsonb, ARRAY, bigint, ...)."""
        rows = self._all(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (SCHEMA, table),
        )
        return {str(name): str(data_type) for name, data_type in rows}

    def row(self, table: str, **key: Any) -> dict[str, Any]:
        """The one row with this key; JSONB and JSONB[] arrive decoded."""
        where = " AND ".join(f'"{column}" = %s' for column in key)
        cursor = self.connection.execute(
            f"SELECT * FROM {SCHEMA}.{table} WHERE {where}",  # noqa: S608
            tuple(key.values()),
        )
        rows = cursor.fetchall()
        assert len(rows) == 1, f"{table} {key}: {len(rows)} rows"
        names = [column.name.lower() for column in cursor.description or []]
        return dict(zip(names, rows[0], strict=True))


class DuckDBWarehouse:
    """A file target-duckdb loaded."""

    def __init__(self, path: Path) -> None:
        """Open the file read-only."""
        self.connection = duckdb.connect(str(path), read_only=True)

    def close(self) -> None:
        """Release the file."""
        self.connection.close()

    def _all(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params or []).fetchall()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query."""
        return self._all(sql)

    def stored_time(self, when: dt.datetime) -> dt.datetime:
        """Times keep their microseconds."""
        return when

    def tables(self) -> set[str]:
        """Tables in the calltouch schema."""
        rows = self._all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [SCHEMA]
        )
        return {name for (name,) in rows}

    def keys(self, table: str) -> list[tuple[Any, ...]]:
        """Every row's primary key, duplicates included."""
        columns = ", ".join(column.lower() for column in PRIMARY_KEYS[table])
        return self._all(f"SELECT {columns} FROM {SCHEMA}.{table}")  # noqa: S608

    def duplicates(self, table: str) -> list[tuple[Any, ...]]:
        """Primary keys that appear more than once."""
        columns = ", ".join(column.lower() for column in PRIMARY_KEYS[table])
        return self._all(
            f"SELECT {columns} FROM {SCHEMA}.{table} GROUP BY {columns} HAVING count(*) > 1"  # noqa: S608
        )

    def column_types(self, table: str) -> dict[str, str]:
        """Each column's type as DuckDB names it (JSON, BIGINT, BOOLEAN, ...), by lower name."""
        rows = self._all(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [SCHEMA, table],
        )
        return {str(name): str(data_type) for name, data_type in rows}

    def row(self, table: str, **key: Any) -> dict[str, Any]:
        """The one row with this key; JSON columns decoded."""
        json_columns = {
            name
            for (name,) in self._all(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? AND data_type = 'JSON'",
                [SCHEMA, table],
            )
        }
        where = " AND ".join(f"{column.lower()} = ?" for column in key)
        cursor = self.connection.execute(
            f"SELECT * FROM {SCHEMA}.{table} WHERE {where}",  # noqa: S608
            list(key.values()),
        )
        rows = cursor.fetchall()
        assert len(rows) == 1, f"{table} {key}: {len(rows)} rows"
        names = [column[0] for column in cursor.description or []]
        return {
            name: json.loads(value) if name in json_columns and value is not None else value
            for name, value in zip(names, rows[0], strict=True)
        }


def json_columns() -> set[str]:
    """Lower-case names of the tap's object and array properties: JSON text in ClickHouse."""
    from tap_calltouch import schemas  # noqa: PLC0415

    names = set()
    for value in vars(schemas).values():
        if isinstance(value, th.PropertiesList):
            for name, prop in value.to_dict()["properties"].items():
                kinds = prop.get("type", [])
                kinds = [kinds] if isinstance(kinds, str) else kinds
                if {"object", "array"} & set(kinds) or "anyOf" in prop:
                    names.add(name.lower())
    return names


class ClickHouseWarehouse:
    """A database target-clickhouse loaded, read over HTTP as dbt-clickhouse reads it.

    Raw tables are read FINAL (once per key, as docs/loaders.md says to), times as the UTC
    wall clock the loader wrote, JSON text decoded.
    """

    def __init__(self, client: Any, database: str = SCHEMA) -> None:
        """Query through a clickhouse-connect `client`; raw tables are in `database`."""
        self.client = client
        self.database = database
        self.json = json_columns()

    def _all(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.client.query(sql, parameters=params).result_rows]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query, as an analyst's plain query reads them."""
        return self._all(sql)

    def stored_time(self, when: dt.datetime) -> dt.datetime:
        """target-clickhouse's DateTime columns hold whole seconds."""
        return when.replace(microsecond=0)

    def tables(self) -> set[str]:
        """Tables in the raw database."""
        rows = self._all(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": self.database}
        )
        return {name for (name,) in rows}

    def keys(self, table: str) -> list[tuple[Any, ...]]:
        """Every key, once per key (FINAL)."""
        columns = ", ".join(column.lower() for column in PRIMARY_KEYS[table])
        return self._all(f"SELECT {columns} FROM {self.database}.{table} FINAL")  # noqa: S608

    def raw_rows(self, table: str) -> int:
        """Rows as stored, without FINAL: each load's until a merge."""
        ((count,),) = self._all(f"SELECT count() FROM {self.database}.{table}")  # noqa: S608
        return int(count)

    def duplicates(self, table: str) -> list[tuple[Any, ...]]:
        """Keys that appear more than once when read FINAL."""
        columns = ", ".join(column.lower() for column in PRIMARY_KEYS[table])
        return self._all(
            f"SELECT {columns} FROM {self.database}.{table} FINAL"  # noqa: S608
            f" GROUP BY {columns} HAVING count() > 1"
        )

    def column_types(self, table: str) -> dict[str, str]:
        """Each column's type as ClickHouse names it (Int64, String, Nullable(DateTime), ...)."""
        rows = self._all(
            "SELECT name, type FROM system.columns WHERE database = {db:String}"
            " AND table = {table:String}",
            {"db": self.database, "table": table},
        )
        return {str(name): str(kind) for name, kind in rows}

    def row(self, table: str, **key: Any) -> dict[str, Any]:
        """The one row with this key: times as naive UTC, JSON text decoded."""
        types = self.column_types(table)
        columns = ", ".join(
            f"toString({name}) AS {name}" if "DateTime" in kind else name
            for name, kind in types.items()
        )
        where = " AND ".join(f"{column.lower()} = {{k{i}:String}}" for i, column in enumerate(key))
        rows = self.client.query(
            f"SELECT {columns} FROM {self.database}.{table} FINAL WHERE {where}",  # noqa: S608
            parameters={f"k{i}": str(value) for i, value in enumerate(key.values())},
        )
        assert len(rows.result_rows) == 1, f"{table} {key}: {len(rows.result_rows)} rows"
        row = dict(zip(rows.column_names, rows.result_rows[0], strict=True))
        for name, kind in types.items():
            if "DateTime" in kind and row[name] is not None:
                row[name] = dt.datetime.fromisoformat(row[name])
            elif name in self.json and row[name] == "":
                row[name] = None
            elif name in self.json and kind == "String":
                row[name] = json.loads(row[name])
        return row
