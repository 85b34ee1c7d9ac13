"""A `rate_limit_store` password, in any place libpq reads one from, is never shown.

Stores of every form libpq accepts (credentials in the URI, `?password=`, `?sslpassword=`,
key=value words quoted or escaped, percent-encoded whole or in part, SQLAlchemy's schemes), and
the ones a person gets wrong (a password pasted unencoded, a SQLite URL with a password, a
scheme that is neither), each with a random password, through the paths that fail: the
setting refused, a PostgreSQL store on a loopback port nothing listens on, the command's
stderr. The password must appear in no message, log record or exception, in no form a reader
could decode it from.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import subprocess
import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Conninfo

from tap_calltouch import conninfo, redact
from tap_calltouch.limit_store import describe, parse_store
from tests.conftest import TOKEN, run_tap
from tests.emulator.dataset import generate_dataset
from tests.emulator.server import Emulator
from tests.test_faults import closed_port
from tests.test_limit_store import config_for
from tests.test_process import ENV, TAP

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

# Letters, digits and every character a URI or a key=value string treats specially.
ALPHABET = "aZ09юЖ€ @:/?#&=%+'\"\\,;[]!$*()~._-\t"
PASSWORDS = st.text(ALPHABET, min_size=8, max_size=20).filter(
    lambda text: sum(char.isalnum() for char in text) >= 4 and text.strip() == text
)


LIBPQ_PARAMETERS = {option.keyword.decode() for option in Conninfo.get_defaults()}


def encoded(password: str) -> str:
    return quote(password, safe="")


def every_byte_encoded(password: str) -> str:
    return "".join(f"%{byte:02x}" for byte in password.encode())


def quoted_word(password: str) -> str:
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


def escaped_word(password: str) -> str:
    return "".join(f"\\{char}" if char in " \t\\'" else char for char in password)


FORMS: dict[str, Callable[[str, int], str]] = {
    "userinfo": lambda pw, port: f"postgresql://calltouch:{encoded(pw)}@127.0.0.1:{port}/limits",
    "userinfo-every-byte": lambda pw, port: (
        f"postgres://calltouch:{every_byte_encoded(pw)}@127.0.0.1:{port}/limits"
    ),
    "userinfo-pasted": lambda pw, port: f"postgresql://calltouch:{pw}@127.0.0.1:{port}/limits",
    "query-password": lambda pw, port: (
        f"postgresql://calltouch@127.0.0.1:{port}/limits?password={encoded(pw)}&sslmode=disable"
    ),
    "query-password-pasted": lambda pw, port: (
        f"postgresql://calltouch@127.0.0.1:{port}/limits?sslmode=disable&password={pw}"
    ),
    "query-sslpassword": lambda pw, port: (
        f"postgresql+psycopg://127.0.0.1:{port}/limits?sslmode=disable&sslpassword={encoded(pw)}"
    ),
    "query-host-and-db": lambda pw, port: (
        f"POSTGRESQL://?host=127.0.0.1&port={port}&dbname=limits&password={encoded(pw)}"
    ),
    "words-quoted": lambda pw, port: (
        f"host=127.0.0.1 port={port} password={quoted_word(pw)} dbname=limits"
    ),
    "words-escaped": lambda pw, port: (
        f"dbname = limits password = {escaped_word(pw)} host=127.0.0.1 port={port}"
    ),
    "words-sslpassword": lambda pw, port: (
        f"host=127.0.0.1 port={port} dbname=limits sslpassword={quoted_word(pw)}"
    ),
    "words-pasted": lambda pw, port: f"host=127.0.0.1 port={port} password={pw} dbname=limits",
    "no-database": lambda pw, port: f"postgresql://calltouch:{encoded(pw)}@127.0.0.1:{port}",
    "bad-port": lambda pw, port: f"postgresql://calltouch:{encoded(pw)}@127.0.0.1:x{port}/limits",
    "bad-ipv6": lambda pw, port: f"postgresql://calltouch:{encoded(pw)}@[::1:{port}/limits",
    "bad-escape": lambda pw, port: f"postgresql://127.0.0.1:{port}/limits?password=%zz{pw}",
    "other-scheme": lambda pw, port: f"mysql://calltouch:{encoded(pw)}@127.0.0.1:{port}/limits",
    "sqlite-query": lambda pw, _: f"sqlite:////tmp/calltouch-limit.db?password={encoded(pw)}",
    "sqlite-userinfo": lambda pw, _: f"sqlite://calltouch:{encoded(pw)}@/tmp/limit.db",
    "sqlcipher": lambda pw, _: f"sqlite+pysqlcipher://:{encoded(pw)}@/tmp/limit.db",
}


def readable_forms(password: str) -> set[str]:
    """The password as a reader could get it back: plain, percent- or form-encoded, JSON."""
    forms = {
        password,
        encoded(password),
        quote(password),
        quote_plus(password),
        every_byte_encoded(password),
        every_byte_encoded(password).upper(),
        quoted_word(password),
        escaped_word(password),
    }
    return forms | {json.dumps(form)[1:-1] for form in forms} | {repr(form)[1:-1] for form in forms}


def assert_hidden(password: str, text: str) -> None:
    shown = [form for form in readable_forms(password) if form in text]
    assert not shown, f"{shown} in {text!r}"


@contextlib.contextmanager
def own_registry() -> Iterator[None]:
    """Each example masks only what it registers itself (the registry is one per process)."""
    saved = (set(redact._secrets), redact._ordered)
    try:
        yield
    finally:
        redact._secrets, redact._ordered = saved


class Records(logging.Handler):
    """Every log record of every logger, as a handler would write it, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def every_record() -> Iterator[Records]:
    records = Records()
    loggers = [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        for logger, level in levels.items():
            logger.removeHandler(records)
            logger.setLevel(level)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    dataset = generate_dataset(seed=3, start=dt.date(2026, 10, 1), days=2, per_day=3)
    with Emulator(dataset=dataset, token=TOKEN) as server:
        yield server


def everything_said(action: Callable[[], object]) -> tuple[str, BaseException | None]:
    """What `action` says: its log records, its exception (with traceback and `errors`)."""
    error: BaseException | None = None
    with every_record() as records:
        try:
            action()
        except Exception as raised:  # noqa: BLE001 - whatever it is, its text is checked
            error = raised
    said = list(records.lines)
    if error is not None:
        said += [repr(error), *traceback.format_exception(error)]
        said += [str(line) for line in getattr(error, "errors", None) or []]
    return "\n".join(said), error


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(form=st.sampled_from(sorted(FORMS)), password=PASSWORDS)
@example(form="query-password", password="Zq9-s3cret-PW")  # noqa: S106 - the issue's report
@example(form="words-quoted", password="Zq9 s3cret PW")  # noqa: S106 - made up
def test_no_store_password_is_shown_when_the_store_fails(
    emulator: Emulator, form: str, password: str
) -> None:
    """Building the tap, then running it: refused at validation or failing to connect, the
    run fails before any call, and neither says the password."""
    store = FORMS[form](password, closed_port())
    before = emulator.count()
    with own_registry():
        said, error = everything_said(lambda: run_tap(config_for(emulator, store)))
    assert error is not None, "a store that cannot be used must stop the run"
    assert "rate_limit_store" in said
    assert emulator.count() == before
    assert_hidden(password, said)


@settings(max_examples=100, deadline=None)
@given(form=st.sampled_from(sorted(FORMS)), password=PASSWORDS)
def test_a_store_is_named_by_place_alone(form: str, password: str) -> None:
    """Whatever names the store, a message names it by scheme, host, port and database."""
    store = FORMS[form](password, 5432)
    with own_registry():
        try:
            shown = parse_store(store).shown
        except ValueError as error:
            shown = str(error)
        else:
            assert shown == "postgresql://127.0.0.1:5432/limits"
    assert_hidden(password, shown)


@settings(max_examples=200, deadline=None)
@given(form=st.sampled_from(sorted(FORMS)), password=PASSWORDS)
def test_what_libpq_reads_is_what_the_store_reads(form: str, password: str) -> None:
    """Every string the store takes, libpq reads the same (else it might connect elsewhere,
    or take a password's piece for a host), and each secret libpq reads is found."""
    text = FORMS[form](password, 5432)
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower().startswith("postgres"):
        text = f"postgresql://{rest}"
    try:
        ours = conninfo.parse(text)
    except conninfo.ConninfoError:
        ours = None
    try:
        theirs = conninfo_to_dict(text)
    except Exception:  # noqa: BLE001 - libpq refuses it: so must the store, or connecting will
        theirs = None
    if ours is not None and set(ours) <= LIBPQ_PARAMETERS:
        assert ours == theirs
    if theirs is not None:
        assert {theirs[key] for key in theirs if "password" in key} <= conninfo.secrets(text)


@pytest.mark.parametrize(
    "value",
    [
        ["postgresql://calltouch@127.0.0.1/limits?password=Zq9-s3cret-PW"],
        {"url": "host=127.0.0.1 dbname=limits password='Zq9-s3cret-PW'"},
    ],
    ids=["list", "object"],
)
def test_a_store_the_schema_refuses_is_quoted_masked(emulator: Emulator, value: object) -> None:
    """A value that is not a string fails the schema, whose message quotes it: its secrets are
    registered before validation, so the quote is masked."""
    with own_registry():
        said, error = everything_said(lambda: run_tap(config_for(emulator, value)))  # type: ignore[arg-type]
    assert error is not None
    assert "rate_limit_store" in said
    assert_hidden("Zq9-s3cret-PW", said)


def test_a_store_s_description_names_each_host_and_its_port() -> None:
    params = {"host": "db1,db2,::1", "port": "5433,,6000", "dbname": "limits", "password": "x"}
    assert describe("postgresql", params) == "postgresql://db1:5433,db2,[::1]:6000/limits"


# --- the command, as Meltano and Dagster read it -------------------------------------------------


def run_command(
    tmp_path: Path, config: dict[str, Any], level: str | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = {key: value for key, value in ENV.items() if key != "TAP_CALLTOUCH_LOGLEVEL"}
    env |= {"TAP_CALLTOUCH_LOGLEVEL": level} if level else {}
    return subprocess.run(  # noqa: S603 - our own executable, arguments we wrote
        [TAP, "--config", str(path)], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize(("form", "level"), [("query-password", None), ("words-quoted", "DEBUG")])
def test_the_command_never_prints_the_store_s_password(
    emulator: Emulator, tmp_path: Path, form: str, level: str | None
) -> None:
    """As Meltano logs it, and at DEBUG, where the failure keeps its traceback."""
    password = "Zq9/s3cret PW@x"  # noqa: S105 - made up
    store = f"{FORMS[form](password, closed_port())}\n"  # as a file or variable may end
    done = run_command(tmp_path, config_for(emulator, store), level)
    assert done.returncode == 1
    assert "rate_limit_store: cannot open postgresql://127.0.0.1:" in done.stderr
    assert ("Traceback" in done.stderr) == (level == "DEBUG")
    assert_hidden(password, done.stdout + done.stderr)


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(form=st.sampled_from(sorted(FORMS)), password=PASSWORDS)
def test_the_command_never_prints_a_random_store_password(
    emulator: Emulator, tmp_path: Path, form: str, password: str
) -> None:
    done = run_command(tmp_path, config_for(emulator, FORMS[form](password, closed_port())))
    assert done.returncode == 1
    assert "rate_limit_store" in done.stderr
    assert_hidden(password, done.stdout + done.stderr)


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        (["postgresql://calltouch:pw42x@127.0.0.1/limits"], "pw42x"),
        ({"host": "127.0.0.1", "dbname": "limits", "password": "pw42x"}, "pw42x"),
        (7_305_912, "7305912"),
    ],
    ids=["list-short-password", "object-short-password", "number"],
)
def test_a_store_the_schema_refuses_is_not_quoted(
    emulator: Emulator, value: object, secret: str
) -> None:
    """A password too short to be masked everywhere, or a value of no string type at all, is
    the value of a secret setting: the schema's message names the setting, never the value."""
    with own_registry():
        said, error = everything_said(lambda: run_tap(config_for(emulator, value)))  # type: ignore[arg-type]
    assert error is not None
    assert "rate_limit_store" in said
    assert secret not in said
