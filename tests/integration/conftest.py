"""Real services for the end-to-end tests: Meltano with its plugins, and a PostgreSQL server.

Meltano goes into .venv-meltano (from scripts/meltano-requirements.txt, shared with
./scripts/demo, reused while that file is unchanged). Its plugins (the tap from this checkout, two
loaders, two dbt utilities; target-clickhouse and dbt-clickhouse when a test asks) are installed
once into a Meltano project kept in .venv-meltano/plugins, reused while meltano.yml and the tap's
pyproject.toml are unchanged; each pytest process works in a copy of its own (meltano.yml,
transform/, its own system database and dbt target folders) whose plugin folders are links to
those venvs. PostgreSQL is a cluster of its own per pytest process, in a temporary folder on a
free loopback port, run as the `postgres` user when the tests run as root, and stopped
afterwards; when its binaries are missing and apt-get can install them (as root), this installs
the `postgresql` package first. Every install holds a file lock, so the processes of
`pytest -n` (pytest-xdist) install each thing once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from filelock import FileLock

from tests.integration.figures import timed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

ROOT = Path(__file__).resolve().parents[2]
MELTANO_VENV = ROOT / ".venv-meltano"
REQUIREMENTS = ROOT / "scripts" / "meltano-requirements.txt"
LOADERS = ("target-postgres", "target-duckdb")
UTILITIES = ("dbt-postgres", "dbt-duckdb")
# The installed plugins every process's project links to (under .venv-meltano: a new Meltano
# starts them afresh), and the plugin folders linked.
PLUGINS = MELTANO_VENV / "plugins"
PLUGIN_FOLDERS = ("extractors", "loaders", "utilities")
PG_PASSWORD = "it-Пароль/secret"  # noqa: S105 - a throwaway cluster's password; Cyrillic on purpose
PG_DATABASE = "calltouch"


def exclusive(guarded: Path | str) -> FileLock:
    """A lock on `guarded` (a venv, a package manager) held across processes: the workers of
    `pytest -n`, or two test runs in one checkout, install each thing once."""
    folder = Path(tempfile.gettempdir()) / "tap-calltouch-locks"
    folder.mkdir(exist_ok=True)
    name = hashlib.sha256(str(guarded).encode()).hexdigest()[:16]
    return FileLock(folder / f"{name}.lock")


# --- Meltano -----------------------------------------------------------------------------------


def run_logged(command: list[str], log: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command with its output in `log`; fail the test with the log's tail if it fails."""
    with log.open("w", encoding="utf-8") as sink:
        done = subprocess.run(  # noqa: S603 - meltano, pip and venv with our own arguments
            command, stdout=sink, stderr=subprocess.STDOUT, text=True, check=False, **kwargs
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:])
        pytest.fail(f"{' '.join(command)} exited {done.returncode}; log {log}:\n{tail}")
    return done


def pinned_venv(venv: Path, requirements: Path, command: str, logs: Path) -> Path:
    """`venv/bin/command`, installed from `requirements` once and reused while they are the same.

    A changed or half-built venv is built afresh (with what was installed under it); one
    process builds it while the others wait for the lock.
    """
    program = venv / "bin" / command
    stamp = venv / "requirements.txt"
    with exclusive(venv):
        if program.exists() and stamp.exists() and stamp.read_bytes() == requirements.read_bytes():
            return program
        with timed(f"install {command} into {venv.name} (pip)"):
            shutil.rmtree(venv, ignore_errors=True)
            run_logged([sys.executable, "-m", "venv", str(venv)], logs / "venv.log")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off"]
            run_logged([*pip, "--upgrade", "pip"], logs / "pip.log")
            run_logged([*pip, "-r", str(requirements)], logs / "requirements.log")
            shutil.copyfile(requirements, stamp)
    return program


@pytest.fixture(scope="session")
def meltano_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Meltano from PyPI in .venv-meltano (the plugins under it go with an old one)."""
    return pinned_venv(MELTANO_VENV, REQUIREMENTS, "meltano", tmp_path_factory.mktemp("meltano"))


def meltano_env(**extra: str) -> dict[str, str]:
    """This process's environment without any tap, loader or Meltano settings, plus `extra`."""
    prefixes = ("TAP_CALLTOUCH_", "TARGET_", "MELTANO_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "true"
    env.update(extra)
    return env


@dataclasses.dataclass(frozen=True)
class MeltanoProject:
    """A temporary copy of this repository's Meltano project with its plugins installed."""

    root: Path
    meltano: Path

    def run(self, args: list[str], log: Path, env: dict[str, str]) -> str:
        """`meltano ARGS` in the project; returns the output, fails the test on an error."""
        run_logged([str(self.meltano), *args], log, cwd=self.root, env=env, timeout=900)
        return log.read_text(encoding="utf-8")


def project_manifest(loader_python: str | None = None) -> str:
    """meltano.yml with the tap installed from this checkout and, given one, the Python
    target-clickhouse gets instead of the `python: '3.11'` it names."""
    text = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    assert text.count("pip_url: -e .\n") == 1, "the tap's pip_url is no longer `-e .`"
    text = text.replace("pip_url: -e .\n", f"pip_url: -e {ROOT}\n")
    if loader_python is None:
        return text
    assert "python: '3.11'" in text, "target-clickhouse no longer asks for Python 3.11"
    return text.replace("python: '3.11'", f"python: {loader_python}")


def install_plugins(
    meltano: Path, manifest: str, plugins: Mapping[str, tuple[str, ...]], logs: Path
) -> None:
    """`meltano install` PLUGINS (type: names) into the shared project, unless installed there
    from this very manifest and the tap's pyproject.toml."""
    key = hashlib.sha256(
        manifest.encode() + (ROOT / "pyproject.toml").read_bytes() + repr(plugins).encode()
    ).hexdigest()
    stamp = PLUGINS / ".installed" / key
    env = meltano_env()
    with exclusive(PLUGINS):
        if stamp.exists():
            return
        PLUGINS.mkdir(exist_ok=True)
        (PLUGINS / "meltano.yml").write_text(manifest, encoding="utf-8")
        project = MeltanoProject(PLUGINS, meltano)
        names = " ".join(name for group in plugins.values() for name in group)
        with timed(f"meltano install {names}"):
            for kind, group in plugins.items():
                project.run(["install", "--plugin-type", kind, *group], logs / f"{kind}.log", env)
        stamp.parent.mkdir(exist_ok=True)
        stamp.touch()


@pytest.fixture(scope="session")
def meltano_project(meltano_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    """meltano.yml and transform/ in a temporary folder of this process, with the tap from this
    checkout, the loaders and the dbt utilities installed (in the shared project, linked)."""
    manifest = project_manifest()
    plugins = {"extractor": ("tap-calltouch",), "loader": LOADERS, "utility": UTILITIES}
    install_plugins(meltano_bin, manifest, plugins, tmp_path_factory.mktemp("meltano-install"))
    root = tmp_path_factory.mktemp("meltano-project")
    (root / "meltano.yml").write_text(manifest, encoding="utf-8")
    shutil.copytree(
        ROOT / "transform",
        root / "transform",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    (root / ".meltano").mkdir()
    for folder in PLUGIN_FOLDERS:
        (root / ".meltano" / folder).symlink_to(PLUGINS / ".meltano" / folder)
    return MeltanoProject(root, meltano_bin)


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's newest /usr/lib/postgresql."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    found = list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        return None
    return max(found, key=lambda path: int(path.parts[-3].split(".")[0])).parent


def install_postgres() -> None:
    """`apt-get install -y postgresql`, as root, when the server's binaries are missing."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            "PostgreSQL's initdb/pg_ctl are missing: install the server "
            "(Debian: `apt-get install -y postgresql`) or run ./scripts/test as root"
        )
    apt_install("postgresql", check=True, present=lambda: postgres_bin_dir() is not None)


def apt_install(package: str, *, check: bool, present: Callable[[], bool]) -> None:
    """`apt-get update` then `apt-get install -y` one Debian package, quietly, as root, unless
    `present()` says another process installed it meanwhile."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt_get = shutil.which("apt-get") or "apt-get"
    with exclusive(apt_get):
        if present():
            return
        with timed(f"apt-get install {package}"):
            subprocess.run([apt_get, "update"], check=check, env=env, capture_output=True)  # noqa: S603
            subprocess.run(  # noqa: S603
                [apt_get, "install", "-y", "--no-install-recommends", package],
                check=check,
                env=env,
                capture_output=True,
            )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclasses.dataclass(frozen=True)
class Postgres:
    """A running throwaway server, and how a loader reaches it."""

    port: int
    user: str = "postgres"
    password: str = PG_PASSWORD
    database: str = PG_DATABASE

    def connect(self) -> psycopg.Connection[Any]:
        """A connection to the test database."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            autocommit=True,
        )

    def loader_env(self) -> dict[str, str]:
        """target-postgres and dbt-postgres settings as Meltano environment variables."""
        return {
            "TARGET_POSTGRES_HOST": "127.0.0.1",
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
            "DBT_POSTGRES_HOST": "127.0.0.1",
            "DBT_POSTGRES_PORT": str(self.port),
            "DBT_POSTGRES_USER": self.user,
            "DBT_POSTGRES_PASSWORD": self.password,
            "DBT_POSTGRES_DBNAME": self.database,
        }


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster of its own, in a temporary folder, on a free loopback port."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        install_postgres()
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None, "apt-get installed postgresql, but no pg_ctl was found"
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else None  # the server refuses to run as root
    home = Path(tempfile.mkdtemp(prefix="tap-calltouch-pg-"))
    data, log, pwfile = home / "data", home / "server.log", home / "password"
    pwfile.write_text(PG_PASSWORD + "\n", encoding="utf-8")
    if as_root:
        shutil.chown(home, "postgres")
        shutil.chown(pwfile, "postgres")
    port = free_port()
    server_options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={home} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = str(bin_dir / "pg_ctl")

    def as_server_user(*command: str, check: bool = True) -> None:
        subprocess.run(command, cwd=home, user=user, check=check, capture_output=True)  # noqa: S603

    with timed("initdb + start PostgreSQL"):
        as_server_user(
            *(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "scram-sha-256"),
            *("--pwfile", str(pwfile), "-E", "UTF8", "--locale=C", "--no-sync"),
        )
        as_server_user(pg_ctl, "-D", str(data), "-l", str(log), "-o", server_options, "-w", "start")
    server = Postgres(port)
    # A run ended with SIGTERM (a CI timeout, `timeout pytest`) still stops the server below.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=server.user,
            password=server.password,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(f"CREATE DATABASE {PG_DATABASE} ENCODING 'UTF8'")
        yield server
    finally:
        as_server_user(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(home, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous_handler)


def _interrupt(_signum: int, _frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt, on which pytest still runs fixture teardowns."""
    raise KeyboardInterrupt


# --- ClickHouse --------------------------------------------------------------------------------

CH_DATABASE = "calltouch"
# target-clickhouse writes the password into a URL unquoted: letters, digits, - and _ only.
CH_PASSWORD = "it-secret-Pa55"  # noqa: S105 - a throwaway server's
# A real server instead of chdb (CI's clickhouse/clickhouse-server service container):
# http://user:password@host:port
CH_URL_VARIABLE = "CLICKHOUSE_TEST_URL"
# Yandex Managed ClickHouse's zone: the loader writes UTC wall clocks into DateTime columns read
# in the server's zone, which the dbt models must undo.
CH_SERVER_ZONE = "Europe/Moscow"


@dataclasses.dataclass(frozen=True)
class ClickHouse:
    """A ClickHouse server's HTTP interface, and how the loader and dbt reach it."""

    port: int
    host: str = "127.0.0.1"
    username: str = "default"
    password: str = ""

    def client(self) -> Any:
        """A clickhouse-connect client, as dbt-clickhouse connects."""
        urllib3 = logging.getLogger("urllib3")
        level = urllib3.level
        import clickhouse_connect  # noqa: PLC0415

        # Its import sets urllib3's logger to WARNING for the whole process; the unit tests
        # that read urllib3's DEBUG lines run in this process after it.
        urllib3.setLevel(level)
        return clickhouse_connect.get_client(
            host=self.host, port=self.port, username=self.username, password=self.password
        )

    def loader_env(self, database: str = CH_DATABASE) -> dict[str, str]:
        """target-clickhouse's settings as Meltano names them; dbt-clickhouse reads the same."""
        return {
            "TARGET_CLICKHOUSE_HOST": self.host,
            "TARGET_CLICKHOUSE_PORT": str(self.port),
            "TARGET_CLICKHOUSE_USERNAME": self.username,
            "TARGET_CLICKHOUSE_PASSWORD": self.password,
            "TARGET_CLICKHOUSE_DATABASE": database,
        }


@pytest.fixture(scope="session")
def chdb_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The process's one chdb engine (a second data path in one process is refused)."""
    import chdb.session  # noqa: PLC0415 - only the ClickHouse tests need chdb

    session = chdb.session.Session(str(tmp_path_factory.mktemp("chdb")))
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def clickhouse(request: pytest.FixtureRequest) -> Iterator[ClickHouse]:
    """The server CLICKHOUSE_TEST_URL names, else chdb served on a loopback port."""
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415

    url = os.environ.get(CH_URL_VARIABLE)
    if url:
        parts = urlsplit(url)
        yield ClickHouse(
            port=parts.port or 8123,
            host=parts.hostname or "127.0.0.1",
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
        )
        return
    from tests.integration.clickhouse_http import ChdbServer  # noqa: PLC0415

    session = request.getfixturevalue("chdb_session")
    with ChdbServer(session, timezone=CH_SERVER_ZONE) as server:
        # chdb checks no password; one is set so the tests can look for it in every log.
        yield ClickHouse(port=server.port, password=CH_PASSWORD)


def python_for_loader() -> str:
    """A Python 3.10 or 3.11 for target-clickhouse (it wants < 3.12): on PATH, or Debian's."""
    for name in ("python3.11", "python3.10"):
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            "target-clickhouse needs Python 3.11 (or 3.10) on PATH: install it "
            "(Debian 12: `apt-get install -y python3.11-venv`) or run ./scripts/test as root"
        )
    apt_install("python3.11-venv", check=False, present=lambda: bool(shutil.which("python3.11")))
    found = shutil.which("python3.11")
    if not found:
        pytest.fail(
            "target-clickhouse needs Python 3.11 (or 3.10), and apt-get could not install "
            "python3.11-venv here: install one (e.g. actions/setup-python) and put it on PATH"
        )
    return found


@pytest.fixture(scope="session")
def clickhouse_project(
    meltano_project: MeltanoProject, tmp_path_factory: pytest.TempPathFactory
) -> MeltanoProject:
    """This process's Meltano project with target-clickhouse (in a Python 3.11 venv, from
    whichever Python 3.11 this machine has) and dbt-clickhouse installed too."""
    manifest = project_manifest(python_for_loader())
    plugins = {"loader": ("target-clickhouse",), "utility": ("dbt-clickhouse",)}
    logs = tmp_path_factory.mktemp("clickhouse-install")
    install_plugins(meltano_project.meltano, manifest, plugins, logs)
    (meltano_project.root / "meltano.yml").write_text(manifest, encoding="utf-8")
    return meltano_project
