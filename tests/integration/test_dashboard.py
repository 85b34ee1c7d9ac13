"""The leads dashboard (dashboard/app.py) over a DuckDB file Meltano, target-duckdb and dbt built.

A module fixture runs `tap-calltouch target-duckdb dbt-duckdb:run` once (no state saved, so the
other tests' bookmarks stay untouched) against an emulated agency account: two named sites, one
traffic source renamed to Cyrillic. Streamlit's AppTest, in .venv-dashboard, opens the page as
it starts and with a site, days and sources chosen: every figure it shows (the totals, the
sources and campaigns tables, both charts' data) must equal sums computed here with SQL over
`analytics.leads`, not the `leads_daily` the page reads; and the same with the models copied
into PostgreSQL, read through target-postgres's settings. With no file, no models, no rows, or a
load writing the file, the page says so and what to run. Then ./scripts/dashboard serves the
page once and a real headless Chromium (Debian's, driven by Playwright) loads it: the totals and
the Cyrillic source are on it, a screenshot is saved in the test's temporary folder, and while
the page is still served, a writer can open the file (as the next load must).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from tests.conftest import TOKEN
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites
from tests.integration.conftest import (
    ROOT,
    apt_install,
    exclusive,
    free_port,
    meltano_env,
    run_logged,
)
from tests.integration.figures import timed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import MeltanoProject, Postgres

pytestmark = pytest.mark.integration

DASHBOARD_VENV = ROOT / ".venv-dashboard"
PYTHON = DASHBOARD_VENV / "bin" / "python"
CHROMIUM = "/usr/bin/chromium"  # Debian's; DASHBOARD_CHROMIUM names another (e.g. Google Chrome)
FIRST_DAY = dt.date(2025, 4, 7)
DAYS = 14
ZONE = "Europe/Moscow"
SITE_NAMES = ("Окна Тест", "Двери Тест")
RENAMED = {"avito.ru": "Авито"}  # a source with a Cyrillic name, as custom sources often are
CENT = Decimal("0.01")
NOT_SET = "(not set)"
MONEY = re.compile(r"^(\d{1,3}(?:,\d{3})*)(\.\d\d)? ₽$")  # '1,234,567.89 ₽': no float noise


# --- the fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """.venv-dashboard as ./scripts/dashboard makes it, plus Playwright and pandas' stubs."""
    logs = tmp_path_factory.mktemp("dashboard-venv")
    with (
        exclusive(DASHBOARD_VENV),
        timed("dashboard: ./scripts/dashboard --setup, requirements-test.txt"),
    ):
        run_logged([str(ROOT / "scripts" / "dashboard"), "--setup"], logs / "setup.log")
        requirements = ROOT / "dashboard" / "requirements-test.txt"
        pip = [str(PYTHON), "-m", "pip", "install", "--progress-bar", "off"]
        run_logged([*pip, "-r", str(requirements)], logs / "pip.log")
    return PYTHON


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed with apt-get (as root) when missing; or DASHBOARD_CHROMIUM."""
    if named := os.environ.get("DASHBOARD_CHROMIUM"):
        found = shutil.which(named)
        assert found, f"DASHBOARD_CHROMIUM={named} is not an executable"
        return found
    if shutil.which(CHROMIUM) is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium`, or run as root")
        apt_install("chromium", check=True, present=lambda: shutil.which(CHROMIUM) is not None)
    return CHROMIUM


def agency_sites() -> list[Site]:
    """Two sites of two weeks each; `avito.ru` renamed in calls and requests alike."""
    sites = generate_sites(
        len(SITE_NAMES),
        seed=18,
        start=FIRST_DAY,
        days=DAYS,
        requests_per_day=20,
        calls_per_day=30,
        zones=(ZONE,),
    )
    for site in sites:
        for call in site.calls:
            call["source"] = RENAMED.get(call["source"], call["source"])
        for request in site.requests:
            if request["session"] is not None:
                source = request["session"]["source"]
                request["session"]["source"] = RENAMED.get(source, source)
    return sites


@pytest.fixture(scope="module")
def leads_file(meltano_project: MeltanoProject, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the raw tables and the dbt models of the two sites."""
    folder = tmp_path_factory.mktemp("dashboard-duckdb")
    path = folder / "leads.duckdb"
    sites = agency_sites()
    configured = [
        {"site_id": str(site.site_id), "name": name}
        for site, name in zip(sites, SITE_NAMES, strict=True)
    ]
    with Emulator(sites=sites, tokens={TOKEN: {site.site_id for site in sites}}) as emulator:
        env = meltano_env(
            TAP_CALLTOUCH_API_URL=emulator.url,
            TAP_CALLTOUCH_API_TOKEN=TOKEN,
            TAP_CALLTOUCH_SITES=json.dumps(configured, ensure_ascii=False),
            TAP_CALLTOUCH_START_DATE=FIRST_DAY.isoformat(),
            TAP_CALLTOUCH_END_DATE=(FIRST_DAY + dt.timedelta(days=DAYS + 1)).isoformat(),
            TAP_CALLTOUCH_TIMEZONE=ZONE,
            TARGET_DUCKDB_PATH=str(path),
            DBT_DUCKDB_PATH=str(path),
        )
        command = ["--environment=dev", "run", "--no-state-update", "--full-refresh"]
        with timed("dashboard: meltano run tap-calltouch target-duckdb dbt-duckdb:run"):
            meltano_project.run(
                [*command, "tap-calltouch", "target-duckdb", "dbt-duckdb:run"],
                folder / "run.log",
                env,
            )
    return path


PG_TYPES = {"VARCHAR": "text", "HUGEINT": "numeric", "TIMESTAMP": "timestamp"}


def copy_models_to_postgres(leads_file: Path, postgres: Postgres) -> str:
    """The built models, row for row, in a database of their own; returns its name.

    So the page's PostgreSQL path (psycopg, `%s` placeholders, numeric sums) is read over the
    same figures as the DuckDB file, without a second load.
    """
    database = "dashboard"
    with postgres.connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database} ENCODING 'UTF8'")
    target = dataclasses.replace(postgres, database=database)
    with duckdb.connect(str(leads_file), read_only=True) as source, target.connect() as sink:
        sink.execute("CREATE SCHEMA analytics")
        for table in ("leads", "leads_daily"):
            described = source.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'analytics' AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            columns = ", ".join(f"{name} {PG_TYPES.get(kind, kind)}" for name, kind in described)
            sink.execute(f"CREATE TABLE analytics.{table} ({columns})")
            rows = source.execute(f"SELECT * FROM analytics.{table}").fetchall()  # noqa: S608
            marks = ", ".join(["%s"] * len(described))
            with sink.cursor() as cursor:
                cursor.executemany(f"INSERT INTO analytics.{table} VALUES ({marks})", rows)  # noqa: S608
    return database


# --- what the page must show, from analytics.leads ---------------------------------------------


class Expected:
    """Sums over `analytics.leads` (one row per call and request) for a selection."""

    def __init__(self, path: Path) -> None:
        """Read the file once, read-only."""
        with duckdb.connect(str(path), read_only=True) as connection:
            self.leads = connection.execute(
                "SELECT site_id, created_date_local, coalesce(source, ?), coalesce(campaign, ?),"
                " lead_type, is_target, deals, revenue, created_at FROM analytics.leads",
                [NOT_SET, NOT_SET],
            ).fetchall()
            daily = connection.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'analytics' AND table_name = 'leads_daily'"
            ).fetchall()
        self.named = ("site_name",) in daily  # the models carry site names (issue 15)
        self.site_ids = sorted({row[0] for row in self.leads})

    def label(self, site_id: int) -> str:
        """The site's name as configured when the models carry names; its id when not."""
        return SITE_NAMES[self.site_ids.index(site_id)] if self.named else f"site {site_id}"

    def rows(self, choices: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The leads the choices select."""
        first, last = (dt.date.fromisoformat(day) for day in choices.get("days") or ("", ""))
        site = choices.get("site_id")
        sources = set(choices.get("sources") or ())
        return [
            row
            for row in self.leads
            if (site is None or row[0] == site)
            and first <= row[1] <= last
            and (not sources or row[2] in sources)
        ]

    @staticmethod
    def newest(rows: list[tuple[Any, ...]]) -> dt.datetime:
        """The latest creation time among some leads."""
        newest: dt.datetime = max(row[8] for row in rows)
        return newest

    @staticmethod
    def figures(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        """Leads, calls, requests, target leads, deals, revenue of some leads."""
        return {
            "Leads": len(rows),
            "Calls": sum(row[4] == "call" for row in rows),
            "Requests": sum(row[4] == "request" for row in rows),
            "Target leads": sum(bool(row[5]) for row in rows),
            "Deals": sum(row[6] for row in rows),
            "Revenue": sum((row[7] for row in rows), Decimal(0)),
        }

    def grouped(self, rows: list[tuple[Any, ...]], columns: tuple[int, ...]) -> dict[Any, Any]:
        """The figures per key (columns of `leads`' rows)."""
        groups: dict[Any, list[tuple[Any, ...]]] = {}
        for row in rows:
            groups.setdefault(tuple(row[column] for column in columns), []).append(row)
        return {key: self.figures(members) for key, members in groups.items()}


def kopecks(value: Decimal) -> Decimal:
    """An amount to the kopeck, half a kopeck up, as money is rounded for people."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def shown_money(text: str) -> Decimal:
    """'1,234,567.89 ₽' -> Decimal('1234567.89'); fails on anything else."""
    match = MONEY.match(text)
    assert match, f"not money as people read it: {text!r}"
    return Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))


def check_totals(metrics: dict[str, str], expected: dict[str, Any]) -> None:
    """The six metrics, thousands separated, equal to the sums."""
    for label in ("Leads", "Calls", "Requests", "Target leads", "Deals"):
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", metrics[label]), metrics[label]
        assert int(metrics[label].replace(",", "")) == expected[label], label
    assert shown_money(metrics["Revenue"]) == kopecks(expected["Revenue"])


def check_table(records: list[dict[str, Any]], keys: list[str], expected: dict[Any, Any]) -> None:
    """A sources or campaigns table: one row per key, each figure equal to the sums."""
    assert len(records) == len(expected)
    for record in records:
        figures = expected[tuple(record[key] for key in keys)]
        for label in ("Leads", "Calls", "Requests", "Deals"):
            assert record[label] == figures[label], (record, label)
        assert Decimal(record["Revenue"]) == figures["Revenue"]
        assert record["Target share"] == pytest.approx(figures["Target leads"] / figures["Leads"])
        per_lead = kopecks(figures["Revenue"] / figures["Leads"])
        assert Decimal(record["Revenue per lead"]) == per_lead
    leads = [record["Leads"] for record in records]
    assert leads == sorted(leads, reverse=True), "most leads first"


def check_view(view: dict[str, Any], choices: dict[str, Any], expected: Expected) -> None:
    """Totals, tables and charts of one view against `analytics.leads`."""
    assert view["exceptions"] == []
    rows = expected.rows(choices)
    check_totals(view["metrics"], expected.figures(rows))
    check_table(view["tables"]["sources"], ["Source"], expected.grouped(rows, (2,)))
    check_table(view["tables"]["campaigns"], ["Source", "Campaign"], expected.grouped(rows, (2, 3)))
    by_day_source = expected.grouped(rows, (1, 2))
    leads_chart, kinds_chart = view["charts"]
    assert {(bar["day"], bar["source"]): bar["leads"] for bar in leads_chart} == {
        (day.isoformat(), source): figures["Leads"]
        for (day, source), figures in by_day_source.items()
    }
    by_day = expected.grouped(rows, (1,))
    assert {(point["day"], point["kind"]): point["leads"] for point in kinds_chart} == {
        (day.isoformat(), kind): figures[kind.capitalize()]
        for (day,), figures in by_day.items()
        for kind in ("calls", "requests")
    }
    latest = view["tables"]["latest"]
    assert 0 < len(latest) <= 50
    assert {record["Type"] for record in latest} <= {"call", "request"}
    newest = max(str(record["Created (UTC)"]) for record in latest)
    assert newest == str(expected.newest(rows)), "the newest lead of the selection first"


# --- AppTest -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probed(
    dashboard_python: Path,
    leads_file: Path,
    postgres: Postgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]], Expected]:
    """One AppTest process: the page's views of the built file, of the same models in
    PostgreSQL (through the loader's TARGET_POSTGRES_* settings), and of files not ready yet."""
    expected = Expected(leads_file)
    first, last = min(row[1] for row in expected.leads), max(row[1] for row in expected.leads)
    second = expected.site_ids[1]
    chosen = {
        "site": expected.label(second),
        "site_id": second,
        "days": [
            (first + dt.timedelta(days=2)).isoformat(),
            (last - dt.timedelta(days=3)).isoformat(),
        ],
        "sources": [RENAMED["avito.ru"], "yandex"],
    }
    views = [{}, chosen]  # as it opens; then one site, fewer days, two sources
    folder = tmp_path_factory.mktemp("dashboard-not-ready")
    raw_only, empty, locked = (
        folder / "raw.duckdb",
        folder / "empty.duckdb",
        folder / "locked.duckdb",
    )
    with duckdb.connect(str(raw_only)) as connection:
        connection.execute("CREATE SCHEMA calltouch; CREATE TABLE calltouch.requests (id BIGINT)")
    with duckdb.connect(str(empty)) as connection:
        connection.execute(f"ATTACH '{leads_file}' AS built (READ_ONLY); CREATE SCHEMA analytics")
        for table in ("leads", "leads_daily"):
            connection.execute(
                f"CREATE TABLE analytics.{table} AS SELECT * FROM built.analytics.{table} LIMIT 0"  # noqa: S608
            )
    shutil.copyfile(leads_file, locked)
    loader = postgres.loader_env()
    settings = {
        name: loader[name]
        for name in loader
        if name.startswith("TARGET_POSTGRES_") and not name.endswith("_DATABASE")
    }
    settings["TARGET_POSTGRES_DATABASE"] = copy_models_to_postgres(leads_file, postgres)
    runs = [
        {"database": str(leads_file), "views": views},
        {"database": "postgres", "env": settings, "views": views},
        *(
            {"database": str(path), "views": [{}]}
            for path in (folder / "none.duckdb", raw_only, empty, locked)
        ),
    ]
    with duckdb.connect(str(locked)), timed("dashboard: AppTest, 8 views"):  # a load, writing
        done = subprocess.run(  # noqa: S603 - the dashboard venv's Python, our helper
            [str(dashboard_python), "-m", "tests.dashboard.apptest"],
            input=json.dumps(runs),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-4000:]
    assert postgres.password not in done.stdout + done.stderr
    results = json.loads(done.stdout)
    return results, views, expected


def test_dashboard_figures_equal_the_models(
    probed: tuple[list[list[dict[str, Any]]], list[dict[str, Any]], Expected],
) -> None:
    results, views, expected = probed
    opened, chosen = results[0]
    days = [min(row[1] for row in expected.leads), max(row[1] for row in expected.leads)]
    assert opened["days"] == [day.isoformat() for day in days], "the page opens on every day"
    check_view(opened, {"days": opened["days"]}, expected)
    check_view(chosen, views[1], expected)
    sites = [expected.label(site_id) for site_id in expected.site_ids]
    assert opened["site_options"] == ["All sites", *sites]
    assert RENAMED["avito.ru"] in opened["source_options"]
    assert chosen["captions"][0].startswith(views[1]["site"])
    assert opened["captions"][0].startswith(f"{len(sites)} sites: {', '.join(sites)} · ")
    assert set(chosen["source_options"]) == {row[2] for row in expected.leads}
    # The choice narrowed the figures: fewer leads than the whole, but some.
    assert 0 < expected.figures(expected.rows(views[1]))["Leads"] < len(expected.leads)


def test_dashboard_reads_postgres_with_the_loaders_settings(
    probed: tuple[list[list[dict[str, Any]]], list[dict[str, Any]], Expected],
) -> None:
    results, views, expected = probed
    for view, choices in zip(results[1], views, strict=True):
        check_view(view, choices or {"days": view["days"]}, expected)
        assert view["captions"][-1].startswith("Reading PostgreSQL postgres@127.0.0.1:")
    assert [view["metrics"] for view in results[1]] == [view["metrics"] for view in results[0]]


def test_dashboard_says_what_to_run_when_nothing_is_loaded(
    probed: tuple[list[list[dict[str, Any]]], list[dict[str, Any]], Expected],
) -> None:
    results, _, _ = probed
    missing, raw_only, empty, locked = (views[0] for views in results[2:])
    for view in (missing, raw_only, empty, locked):
        assert view["exceptions"] == [], "a message, not a traceback"
        assert view["metrics"] == {}
        assert len(view["info"]) == 1
    assert "No DuckDB file" in missing["info"][0]
    assert "./scripts/demo" in missing["code"][0]
    assert "no dbt models" in raw_only["info"][0]
    assert raw_only["code"][0].startswith("meltano run calltouch-to-duckdb")
    assert "is empty" in empty["info"][0]
    assert "writing" in locked["info"][0]
    assert locked["code"] == []


# --- a real browser ----------------------------------------------------------------------------


@contextlib.contextmanager
def served(database: Path, log: Path) -> Iterator[str]:
    """./scripts/dashboard on a free port until the block ends; yields the page's URL."""
    port = free_port()
    with log.open("w", encoding="utf-8") as sink:
        server = subprocess.Popen(  # noqa: S603 - our script, our arguments
            [str(ROOT / "scripts" / "dashboard"), "--port", str(port), "--database", str(database)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one below
        )
    try:
        url = f"http://localhost:{port}/"
        deadline = time.monotonic() + 60
        while not healthy(url):
            assert server.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the dashboard did not answer in 60 s"
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def healthy(url: str) -> bool:
    """Streamlit's health check answers 200."""
    try:
        with urllib.request.urlopen(f"{url}_stcore/health", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def test_dashboard_in_chromium(
    dashboard_python: Path, chromium: str, leads_file: Path, tmp_path: Path
) -> None:
    expected = Expected(leads_file)
    figures = expected.figures(expected.leads)
    screenshot = tmp_path / "dashboard.png"
    with served(leads_file, tmp_path / "server.log") as url, timed("dashboard: Chromium"):
        done = subprocess.run(  # noqa: S603 - the dashboard venv's Python, our helper
            [
                *(str(dashboard_python), "-m", "tests.dashboard.browser", url),
                *(str(screenshot), str(tmp_path / "chromium-profile"), chromium),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=240,
            check=False,
        )
        # The page is drawn and still served: the next load can have the file to itself.
        with duckdb.connect(str(leads_file)) as writer:
            writer.execute("CREATE TABLE analytics.scratch AS SELECT 1 AS one")
            writer.execute("DROP TABLE analytics.scratch")
    assert done.returncode == 0, done.stderr[-4000:]
    text = json.loads(done.stdout)["text"]
    lines = {line.strip() for line in text.splitlines()}
    for label in ("Leads", "Calls", "Requests", "Target leads", "Deals"):
        assert f"{figures[label]:,}" in lines, label
    revenue = kopecks(figures["Revenue"])
    whole = revenue == revenue.to_integral_value()
    assert (f"{int(revenue):,} ₽" if whole else f"{revenue:,.2f} ₽") in lines
    assert RENAMED["avito.ru"] in lines, "the Cyrillic source, in the sources table"
    assert expected.named, "the models carry each site's name (`site_name`)"
    assert f"{len(SITE_NAMES)} sites: {', '.join(SITE_NAMES)}" in text, (
        "the sites by name, in the header"
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000, "a page drawn, not a blank one"
