"""Read what a loader wrote, the same way for PostgreSQL and DuckDB.

target-postgres keeps the tap's column names (`"requestId"`, quoted) and stores objects as
JSONB and arrays as JSONB[]; target-duckdb lower-cases them (`requestid`) and stores both as
JSON text. Rows come back here as dicts keyed by lower-case column names, JSON decoded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

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
