"""Each form of a PostgreSQL `rate_limit_store` libpq reads opens the store on a real server,
and a wrong password, in any of them, fails naming the store by place and never the password."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pyrate_limiter import Rate, RateItem

from tap_calltouch.limit_store import RateStoreError, open_bucket, parse_store
from tests.test_store_secrets import FORMS, assert_hidden

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import Postgres

pytestmark = pytest.mark.integration

ROLE = "calltouch_limits"
PASSWORD = "Zq9/s3cret PW@x#?&='\\ю"  # noqa: S105 - made up: every character a URI or word escapes
ACCEPTED = [
    "userinfo",
    "userinfo-every-byte",
    "query-password",
    "query-host-and-db",
    "words-quoted",
    "words-escaped",
]


@pytest.fixture(scope="module")
def role(postgres: Postgres) -> Iterator[int]:
    """A login role whose password has every character that needs escaping; the server's port."""
    quoted = PASSWORD.replace("'", "''")
    with postgres.connect() as connection:
        connection.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{quoted}'")
        connection.execute(f"GRANT ALL ON SCHEMA public TO {ROLE}")
        # Its own schema, first on its search_path ("$user"): the limiter's tables other tests
        # made in `public` under another owner are not its to alter.
        connection.execute(f"CREATE SCHEMA AUTHORIZATION {ROLE}")
    yield postgres.port
    with postgres.connect() as connection:
        connection.execute(f"DROP OWNED BY {ROLE}")
        connection.execute(f"DROP ROLE {ROLE}")


def store_text(form: str, password: str, port: int) -> str:
    """The form, naming the role and the test database (the forms name `calltouch`/`limits`)."""
    text = FORMS[form](password, port).replace("limits", "calltouch")
    if not text.lower().startswith("postgres"):
        return f"{text} user={ROLE}"
    if "//calltouch:" in text:
        return text.replace("//calltouch:", f"//{ROLE}:", 1)
    return f"{text}&user={ROLE}"


@pytest.mark.parametrize("form", ACCEPTED)
def test_each_form_libpq_reads_opens_the_store(role: int, form: str) -> None:
    store = parse_store(store_text(form, PASSWORD, role))
    assert store.shown == f"postgresql://127.0.0.1:{role}/calltouch"
    bucket = open_bucket(store, [Rate(1, 250)])
    stamp = 10_000 * (1 + ACCEPTED.index(form))  # apart from the other forms' slots
    assert bucket.put(RateItem("slot", stamp)) is True  # a slot taken in the server's table
    assert bucket.put(RateItem("slot", stamp + 1)) is False  # and counted there


@pytest.mark.parametrize("form", ACCEPTED)
def test_a_wrong_password_in_each_form_fails_without_showing_it(role: int, form: str) -> None:
    wrong = f"{PASSWORD}-wrong"
    store = parse_store(store_text(form, wrong, role))
    with pytest.raises(RateStoreError) as info:
        open_bucket(store, [Rate(1, 250)])
    message = str(info.value)
    assert message.startswith(f"rate_limit_store: cannot open postgresql://127.0.0.1:{role}/")
    assert "password authentication failed" in message
    assert_hidden(wrong, message)
    assert_hidden(PASSWORD, message)
