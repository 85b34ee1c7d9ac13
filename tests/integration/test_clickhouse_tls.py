"""target-clickhouse over HTTPS with the certificate checked, as Yandex Managed ClickHouse serves
it on 8443 (its own root CA, not in any default store), and a password with URL characters.

The loader's own URL builder passes `verify=True` to requests as text, which requests reads as
the path of a CA bundle: `secure` with `verify` fails on every server. meltano.yml's
`sqlalchemy_url` is the way that works (docs/loaders.md); these tests hold it, through Meltano,
against chdb served over TLS on loopback with a certificate of its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.integration.conftest import MeltanoProject, meltano_env

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.clickhouse_http import ChdbServer

pytestmark = pytest.mark.integration

# A password of the characters a URL gives meaning to: percent-encoded in sqlalchemy_url.
PASSWORD = "Tls@Pa55/w:#%ord"  # noqa: S105 - a throwaway server's
DATABASE = "calltouch_tls"
MESSAGES = [
    {
        "type": "SCHEMA",
        "stream": "sites",
        "schema": {
            "type": "object",
            "properties": {"siteId": {"type": "integer"}, "name": {"type": ["string", "null"]}},
        },
        "key_properties": ["siteId"],
    },
    {"type": "RECORD", "stream": "sites", "record": {"siteId": 7, "name": "TLS"}},
]


@pytest.fixture
def tls_server(chdb_session: Any, tmp_path: Path) -> Iterator[tuple[ChdbServer, Path]]:
    """chdb over HTTPS on loopback, with a self-signed certificate for 127.0.0.1."""
    from tests.integration.clickhouse_http import ChdbServer  # noqa: PLC0415

    cert, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603 - openssl with our own arguments
        [shutil.which("openssl") or "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    with ChdbServer(chdb_session, certificate=(cert, key)) as server:
        server.session.query(f"DROP DATABASE IF EXISTS {DATABASE}")
        server.session.query(f"CREATE DATABASE {DATABASE}")
        try:
            yield server, cert
        finally:
            server.session.query(f"DROP DATABASE {DATABASE}")


def load(
    project: MeltanoProject, env: dict[str, str], log: Path
) -> subprocess.CompletedProcess[str]:
    """`meltano invoke target-clickhouse` with MESSAGES on stdin."""
    with log.open("w", encoding="utf-8") as sink:
        return subprocess.run(  # noqa: S603 - meltano with our own arguments
            [str(project.meltano), "invoke", "target-clickhouse"],
            input="".join(json.dumps(message) + "\n" for message in MESSAGES),
            cwd=project.root, env=env, stdout=sink, stderr=subprocess.STDOUT,
            text=True, timeout=600, check=False,
        )  # fmt: skip


def tls_env(server: ChdbServer, **extra: str) -> dict[str, str]:
    """The settings a Yandex Managed ClickHouse user sets: the host and port dbt reads too,
    secure, and the loader's URL with the password percent-encoded."""
    url = (
        f"clickhouse+http://loader:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}"
        f"/{DATABASE}?protocol=https"
    )
    return meltano_env(
        TARGET_CLICKHOUSE_HOST="127.0.0.1",
        TARGET_CLICKHOUSE_PORT=str(server.port),
        TARGET_CLICKHOUSE_USERNAME="loader",
        TARGET_CLICKHOUSE_PASSWORD=PASSWORD,
        TARGET_CLICKHOUSE_SECURE="true",
        TARGET_CLICKHOUSE_DATABASE=DATABASE,
        TARGET_CLICKHOUSE_SQLALCHEMY_URL=url,
        **extra,
    )


def test_loads_over_tls_with_the_certificate_checked(
    clickhouse_project: MeltanoProject, tls_server: tuple[ChdbServer, Path], tmp_path: Path
) -> None:
    server, ca = tls_server
    done = load(
        clickhouse_project, tls_env(server, REQUESTS_CA_BUNDLE=str(ca)), tmp_path / "load.log"
    )
    output = (tmp_path / "load.log").read_text(encoding="utf-8")
    assert done.returncode == 0, output[-3000:]
    rows = server.session.query(f"SELECT siteid, name FROM {DATABASE}.sites", "CSV").bytes()  # noqa: S608 - our own constant
    assert rows.decode().split() == ['7,"TLS"']
    assert server.logins == {("loader", PASSWORD)}, "the password arrives as set"
    assert PASSWORD not in output
    assert quote(PASSWORD, safe="") not in output


def test_an_untrusted_certificate_is_refused(
    clickhouse_project: MeltanoProject, tls_server: tuple[ChdbServer, Path], tmp_path: Path
) -> None:
    server, _ = tls_server
    done = load(clickhouse_project, tls_env(server), tmp_path / "load.log")
    output = (tmp_path / "load.log").read_text(encoding="utf-8")
    assert done.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in output, output[-3000:]
    assert server.session.query(f"EXISTS TABLE {DATABASE}.sites", "CSV").bytes().strip() == b"0"
