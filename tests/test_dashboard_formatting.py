"""The dashboard's pure parts: numbers for people, where it reads from, the filters' SQL.

These need nothing of the dashboard's venv; the page itself is tested in
tests/integration/test_dashboard.py (AppTest and a real Chromium).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from dashboard import formatting as fmt
from dashboard import warehouse as wh

if TYPE_CHECKING:
    from pathlib import Path

AMOUNTS = st.decimals(min_value=0, max_value=10**12, places=4, allow_nan=False)


@given(st.integers(min_value=0, max_value=10**15))
def test_counts_read_back_and_group_thousands(value: int) -> None:
    shown = fmt.count(value)
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", shown)
    assert int(shown.replace(",", "")) == value


@given(AMOUNTS)
def test_money_is_the_amount_to_the_kopeck_without_float_noise(value: Decimal) -> None:
    shown = fmt.money(value)
    match = re.fullmatch(r"(\d{1,3}(?:,\d{3})*)(\.\d\d)? ₽", shown)
    assert match, shown
    kopecks = value.quantize(fmt.KOPECK, rounding=ROUND_HALF_UP)  # half a kopeck rounds up
    assert Decimal(match.group(1).replace(",", "") + (match.group(2) or "")) == kopecks
    assert (match.group(2) is None) == (kopecks % 1 == 0)


@given(AMOUNTS, st.integers(min_value=0, max_value=10**6))
def test_revenue_per_lead_is_exact(revenue: Decimal, leads: int) -> None:
    per_lead = fmt.per_lead(revenue, leads)
    if leads == 0:
        assert per_lead is None
    else:
        assert per_lead is not None
        assert abs(per_lead * leads - revenue) <= fmt.KOPECK * leads / 2


def test_shares() -> None:
    assert fmt.share(3, 8) == "37.5%"
    assert fmt.share(0, 0) == fmt.NOTHING


def test_postgres_settings_are_the_loaders_environment_first_then_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# meltano config set writes these\n"
        "TARGET_POSTGRES_PASSWORD='Пароль с пробелом'\n"
        'TARGET_POSTGRES_USER="from_dotenv"\n'
        "TARGET_POSTGRES_HOST=db.local\n",
        encoding="utf-8",
    )
    env = {"TARGET_POSTGRES_USER": "from_env", "TARGET_POSTGRES_PORT": "6543"}
    database = wh.database_from(wh.POSTGRES, env, tmp_path)
    assert database.postgres == {
        "host": "db.local",
        "port": "6543",
        "user": "from_env",
        "password": "Пароль с пробелом",
        "dbname": "calltouch",
    }
    assert "Пароль" not in database.label
    assert database.label == "PostgreSQL from_env@db.local:6543/calltouch"


def test_sqlalchemy_url_overrides_and_loses_its_driver() -> None:
    env = {"TARGET_POSTGRES_SQLALCHEMY_URL": "postgresql+psycopg://u:p@h:5/d"}
    assert wh.postgres_settings(env, {}) == {"conninfo": "postgresql://u:p@h:5/d"}


def test_duckdb_paths_are_read_from_the_repository(tmp_path: Path) -> None:
    demo = wh.database_from("demo.duckdb", {}, tmp_path)
    assert (demo.duckdb_path, demo.label) == (tmp_path / "demo.duckdb", "DuckDB demo.duckdb")
    other = tmp_path.parent / "x.duckdb"
    elsewhere = wh.database_from(str(other), {}, tmp_path)
    assert (elsewhere.duckdb_path, elsewhere.label) == (other, f"DuckDB {other}")
    assert wh.database_spec({}) == "demo.duckdb"
    assert wh.database_spec({wh.DATABASE_VARIABLE: "w.duckdb"}) == "w.duckdb"


def test_clickhouse_urls_name_the_server_without_the_password(tmp_path: Path) -> None:
    database = wh.database_from("clickhouse://bi:S3cret@ch.local:8123", {}, tmp_path)
    assert (database.clickhouse_url, database.duckdb_path, database.postgres) == (
        "clickhouse://bi:S3cret@ch.local:8123",
        None,
        None,
    )
    assert database.label == "ClickHouse bi@ch.local:8123"
    tls = wh.database_from("clickhouses://ch.example:8443", {}, tmp_path)
    assert tls.label == "ClickHouse default@ch.example:8443"


def test_sites_by_name_and_by_id_where_names_are_missing_or_alike() -> None:
    labels = wh.site_labels([(1, "Окна"), (2, None), (3, "Двери"), (4, "Двери")])
    assert [site.label for site in labels] == ["Окна", "site 2", "Двери (3)", "Двери (4)"]


def test_filters_bind_every_choice_as_a_parameter() -> None:
    first, last = dt.date(2025, 1, 1), dt.date(2025, 1, 31)
    assert wh.Filters(first, last).where() == ("created_date_local BETWEEN ? AND ?", [first, last])
    where, params = wh.Filters(first, last, 7, ("яндекс", "x'); --")).where()
    assert where == "created_date_local BETWEEN ? AND ? AND site_id = ? AND source IN (?, ?)"
    assert params == [first, last, 7, "яндекс", "x'); --"]
