"""Run the job `calltouch-to-duckdb` and show what landed; called by scripts/demo.

The job is `tap-calltouch target-duckdb dbt-duckdb:run dbt-duckdb:test`: the load, then the dbt
models of transform/ (`analytics.leads`, `analytics.leads_daily`) and their tests.

Against the bundled emulator (a made-up, realistic account, started here as a child process on
a free loopback port) unless a real account is configured: an api_token and a site_id, from
TAP_CALLTOUCH_API_TOKEN / TAP_CALLTOUCH_SITE_ID in the environment or .env, or `meltano config`.
Each run prints the tap's and dbt's progress, then rows per table, the date range, the top
sources from `leads_daily`, the DuckDB file and the query to paste; a second run says how much
less it fetched, since Meltano kept the bookmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(Path(sys.executable).with_name("meltano"))
STREAMS = (
    "sites",
    "requests",
    "orders",
    "comments",
    "map_visits",
    "request_tags",
    "calls",
    "call_orders",
    "call_comments",
    "call_map_visits",
    "call_tags",
)
JOURNALS = ("requests", "calls")
SCHEMA = "calltouch"
MODELS = "analytics"  # the dbt models' schema
JOB = "calltouch-to-duckdb"
HISTORY = ROOT / ".meltano" / "demo-history.json"
LOGS = ROOT / ".meltano" / "logs" / "demo"

# The emulated account: 45 days up to yesterday, two sites (as an agency lists them in `sites`),
# each with about 75 requests and 100 calls a day, every optional block.
DEMO_DAYS = 45
DEMO_PER_DAY = 75  # per site
DEMO_CALLS_PER_DAY = 100
DEMO_TOKEN = "demo-token"  # noqa: S105 - the emulator's made-up token
DEMO_SITES = ({"site_id": "12345", "name": "Окна Демо"}, {"site_id": "12346", "name": "Двери Демо"})

# Each site's three top sources, the site by its name (the `sites` stream, through dbt).
EXAMPLE_QUERY = f"""\
SELECT site_name, source, sum(calls) AS calls, sum(requests) AS requests, sum(leads) AS leads,
       sum(target_leads) AS target_leads, sum(deals) AS deals, sum(revenue) AS revenue
FROM {MODELS}.leads_daily
GROUP BY site_name, source
QUALIFY row_number() OVER (PARTITION BY site_name ORDER BY sum(leads) DESC) <= 3
ORDER BY site_name, leads DESC"""  # noqa: S608 - constants only

FAILED = {"Extractor failed": "tap-calltouch", "Loader failed": "target-duckdb"}
DBT_PROGRESS = re.compile(r"OK created|Done\. PASS=|FAIL|ERROR|Completed with")
TAP_PROGRESS = re.compile(r"^(Syncing|Window|Made|max_api_calls)")
SUMMARY = re.compile(r"Made (\d+) API call\(s\) for (\d+) window\(s\); (\d+) (\w+) emitted")
PLAN = re.compile(
    r"Syncing (\w+): \d+ window\(s\)(?: of \d+ site\(s\))? of up to \d+ day\(s\): (\S+)"
)


@dataclasses.dataclass
class Target:
    """Where this run reads from and writes to."""

    label: str
    environment: str  # the Meltano environment: its own config, DuckDB file and state
    duckdb_file: Path

    @property
    def state_id(self) -> str:
        """Meltano's state id for this environment's pipeline."""
        return f"{self.environment}:tap-calltouch-to-target-duckdb"


@dataclasses.dataclass
class Journal:
    """What the tap said about one journal in one run."""

    calls: int = 0
    windows: int = 0
    emitted: int = 0
    days: str = ""


@dataclasses.dataclass
class RunReport:
    """What the tap said about one run."""

    ok: bool
    seconds: float
    log: Path
    journals: dict[str, Journal] = dataclasses.field(default_factory=dict)
    failed: set[str] = dataclasses.field(default_factory=set)

    @property
    def calls(self) -> int:
        """API calls made, both journals together."""
        return sum(journal.calls for journal in self.journals.values())

    def journal(self, name: str) -> Journal:
        """The figures of one journal, created on first mention."""
        return self.journals.setdefault(name, Journal())


def main() -> int:
    """Pick the account, run the pipeline, print the summary; 1 when the run failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reset", action="store_true", help="forget state and DuckDB file first")
    args = parser.parse_args()

    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env["MELTANO_CLI_DISABLE_VERSION_CHECK"] = "true"
    emulator: subprocess.Popen[str] | None = None
    try:
        config = meltano_json(["--environment=dev", "config", "print", "tap-calltouch"], env)
        if config.get("api_token") and (config.get("site_id") or config.get("sites")):
            target = real_target(config, env)
        else:
            emulator, target = start_emulator(env)
        if args.reset:
            reset(target, env)
        before_rows = row_counts(target.duckdb_file)
        before_state = bookmark(target, env)
        report = run_pipeline(target, env)
        if not report.ok:
            return 1
        after_state = bookmark(target, env)
        explain_run(target, report, before_state, after_state)
        summarize(target, before_rows)
        name_dashboard(target)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    finally:
        if emulator is not None:
            stop(emulator)
    return 0


# --- which account -----------------------------------------------------------------------------


def real_target(config: dict[str, Any], env: dict[str, str]) -> Target:
    """Your account, in the `dev` environment, into warehouse.duckdb.

    `config` is the tap's config as Meltano resolves it (environment, .env, meltano.yml).
    """
    step("Using your Calltouch account (api_token and site_id are configured)")
    if not config.get("start_date"):
        start = dt.date.today() - dt.timedelta(days=30)  # noqa: DTZ011 - the user's local today
        env["TAP_CALLTOUCH_START_DATE"] = start.isoformat()
        say(f"start_date is not set: syncing from {start} (set TAP_CALLTOUCH_START_DATE to change)")
    return Target("your Calltouch account", "dev", ROOT / "warehouse.duckdb")


def start_emulator(env: dict[str, str]) -> tuple[subprocess.Popen[str], Target]:
    """Start `python -m tests.emulator` on a free port and point the tap at it."""
    step(
        "No Calltouch token configured: starting the bundled emulator "
        f"({DEMO_DAYS} days of a made-up agency account: {len(DEMO_SITES)} sites, each with "
        f"about {DEMO_PER_DAY} requests and {DEMO_CALLS_PER_DAY} calls a day)"
    )
    first_day = dt.date.today() - dt.timedelta(days=DEMO_DAYS)  # noqa: DTZ011 - as the emulator
    command = [
        sys.executable,
        "-m",
        "tests.emulator",
        *("--port", "0", "--days", str(DEMO_DAYS), "--per-day", str(DEMO_PER_DAY)),
        *("--calls-per-day", str(DEMO_CALLS_PER_DAY)),
        *("--start", first_day.isoformat(), "--seed", "1"),
        *("--token", DEMO_TOKEN, "--site-id", DEMO_SITES[0]["site_id"]),
        *("--sites", str(len(DEMO_SITES))),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
    line = process.stdout.readline()  # the first line says where it serves
    if not line.startswith("EMULATOR_URL="):
        stop(process)
        msg = f"the emulator did not start (it said {line!r})"
        raise SystemExit(msg)
    url = line.strip().removeprefix("EMULATOR_URL=")
    say(f"emulator serving at {url} (pid {process.pid}); stopped when the demo ends")
    served = [process.stdout.readline() for _ in range(2 + len(DEMO_SITES))]  # sites, token, each
    sites = zoned_sites(DEMO_SITES, served)
    say(", ".join(f"site {site['site_id']} in {site['timezone']}" for site in sites))
    # A proxy set for PyPI (the first run installs Meltano) would get the calls to 127.0.0.1
    # too, and refuse them: the emulator is reached directly, whatever the shell says.
    for name in ("no_proxy", "NO_PROXY"):
        env[name] = ",".join(filter(None, ["127.0.0.1,localhost", env.get(name)]))
    env |= {
        "TAP_CALLTOUCH_API_URL": url,
        "TAP_CALLTOUCH_API_TOKEN": DEMO_TOKEN,
        "TAP_CALLTOUCH_SITES": json.dumps(sites, ensure_ascii=False),  # an agency's list
        "TAP_CALLTOUCH_START_DATE": first_day.isoformat(),
        "TAP_CALLTOUCH_TIMEZONE": "Europe/Moscow",
    }
    return process, Target("the emulator", "demo", ROOT / "demo.duckdb")


def zoned_sites(sites: tuple[dict[str, str], ...], served: list[str]) -> list[dict[str, str]]:
    """The demo's sites, each with the zone the emulator serves it in (its `EMULATOR_SITE` line).

    Each site keeps its own local time, as an agency's regional cabinets do: a site read in
    another site's zone would load every record hours off.
    """
    zones = dict(SERVED_SITE.findall("\n".join(served)))
    missing = [site["site_id"] for site in sites if site["site_id"] not in zones]
    if missing:
        msg = f"the emulator did not say the zone of site(s) {', '.join(missing)}"
        raise SystemExit(msg)
    return [{**site, "timezone": zones[site["site_id"]]} for site in sites]


SERVED_SITE = re.compile(r"^EMULATOR_SITE=(\d+) TZ=(\S+)", re.MULTILINE)


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the emulator and wait for it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reset(target: Target, env: dict[str, str]) -> None:
    """Forget this environment's bookmark and delete its DuckDB file."""
    step(f"--reset: clearing state {target.state_id} and {target.duckdb_file.name}")
    meltano(
        [f"--environment={target.environment}", "state", "clear", "--force", target.state_id], env
    )
    target.duckdb_file.unlink(missing_ok=True)
    history = load_history()
    history.pop(target.environment, None)
    HISTORY.write_text(json.dumps(history))


# --- the run -----------------------------------------------------------------------------------


def run_pipeline(target: Target, env: dict[str, str]) -> RunReport:
    """`meltano run calltouch-to-duckdb`, its progress on screen, its whole log on disk."""
    step(
        f"meltano --environment={target.environment} run {JOB} (from {target.label}): "
        "tap-calltouch target-duckdb dbt-duckdb:run dbt-duckdb:test"
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}.log"
    command = [
        MELTANO,
        "--log-format=json",
        f"--environment={target.environment}",
        *("run", JOB),
    ]
    began = time.monotonic()
    report = RunReport(ok=False, seconds=0.0, log=log)
    plugin_lines: dict[str, list[str]] = {
        "tap-calltouch": [],
        "target-duckdb": [],
        "dbt-duckdb": [],
    }
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
        for line in process.stdout:
            sink.write(line)
            show(line, report, plugin_lines)
        code = process.wait()
    report.seconds = time.monotonic() - began
    report.ok = code == 0
    if not report.ok:
        failed = report.failed or set(plugin_lines)
        for name in sorted(failed):
            print(f"\n{name} failed; its last words:", file=sys.stderr)
            for text in plugin_lines[name][-8:]:
                print(f"    {text}", file=sys.stderr)
        print(f"\nWhole log: {log}", file=sys.stderr)
    return report


def show(line: str, report: RunReport, plugin_lines: dict[str, list[str]]) -> None:
    """Print the lines a person wants to see while it works; note the tap's figures."""
    try:
        event = json.loads(line)
    except ValueError:
        print(f"    {line.rstrip()}")
        return
    text = str(event.get("event", ""))
    name = event.get("name")
    level = event.get("level", "info")
    if name in plugin_lines:
        plugin_lines[name].append(text)
    if text in FAILED:
        report.failed.add(FAILED[text])
    if name == "tap-calltouch" and event.get("type") != "discovery":
        if summary := SUMMARY.search(text):
            journal = report.journal(summary.group(4))
            journal.calls, journal.windows, journal.emitted = map(int, summary.groups()[:3])
        if plan := PLAN.search(text):
            report.journal(plan.group(1)).days = plan.group(2)
        if TAP_PROGRESS.match(text) or "WARNING" in text or "ERROR" in text:
            print(f"    tap      {text}", flush=True)
    elif name in {"target-duckdb", "dbt-duckdb"}:
        show_loader_or_dbt(name, text)
    elif name is None and level in {"warning", "error", "critical"} and "No state" not in text:
        print(f"    meltano  {level}: {text}", flush=True)


def show_loader_or_dbt(name: str, text: str) -> None:
    """target-duckdb's batch loads, and dbt's models, test tally and errors."""
    if name == "target-duckdb" and text.startswith("Loading "):
        print(f"    duckdb   {text.replace(chr(34), '')}", flush=True)
    elif name == "dbt-duckdb" and DBT_PROGRESS.search(text):
        print(f"    dbt      {' '.join(text.split())}", flush=True)


def explain_run(target: Target, report: RunReport, before: str | None, after: str | None) -> None:
    """Say whether the run was full or incremental, and what it cost."""
    history = load_history()
    previous = history.get(target.environment)
    step(f"Run finished in {report.seconds:.0f} s")
    for name, journal in report.journals.items():
        say(
            f"{journal.emitted} {name} from {journal.windows} window(s) ({journal.days}), "
            f"{journal.calls} API call(s)"
        )
    if before is None:
        say("full run: Meltano had no bookmark for this pipeline yet")
        say(f"bookmark saved: {after}  (state id {target.state_id})")
        say("run ./scripts/demo again: the next run starts from this bookmark")
    else:
        say(f"incremental run: Meltano's saved bookmark was {before},")
        days = ", ".join(f"{name} {j.days}" for name, j in report.journals.items())
        say(f"so the tap read only {days}: each bookmark's day less lookback_days,")
        say("the look-back that catches deals, comments and tags added to older leads")
        if previous:
            say(
                f"API calls: {report.calls} now, against {previous['calls']} "
                f"for {previous['leads']} leads on the first, full run"
            )
        say(f"bookmark now: {after}")
    if before is None or not previous:
        leads = sum(journal.emitted for journal in report.journals.values())
        history[target.environment] = {"calls": report.calls, "leads": leads}
        HISTORY.write_text(json.dumps(history))


def load_history() -> dict[str, Any]:
    """The first run's figures per environment, to compare a later run with."""
    try:
        loaded: dict[str, Any] = json.loads(HISTORY.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def bookmark(target: Target, env: dict[str, str]) -> str | None:
    """The requests bookmark in Meltano's state store (the newest site's), or None at first."""
    state = meltano_json(
        [f"--environment={target.environment}", "state", "get", target.state_id], env
    )
    requests = state.get("singer_state", {}).get("bookmarks", {}).get("requests", {})
    # One site: the stream's own bookmark; several: one per site, the newest of them here.
    values = [
        entry.get("replication_key_value") for entry in [requests, *requests.get("partitions", [])]
    ]
    newest = max(filter(None, values), default=None)
    return str(newest) if newest else None


# --- what landed -------------------------------------------------------------------------------


def row_counts(path: Path) -> dict[str, int]:
    """Rows per stream table, or {} when the file or a table is missing."""
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [SCHEMA],
            ).fetchall()
        }
        counts: dict[str, int] = {}
        for stream in STREAMS:
            if stream in tables:
                row = con.execute(f"SELECT count(*) FROM {SCHEMA}.{stream}").fetchone()  # noqa: S608
                counts[stream] = int(row[0]) if row else 0
        return counts


def summarize(target: Target, before: dict[str, int]) -> None:
    """Rows per table, the date range, the file, and a query to paste."""
    counts = row_counts(target.duckdb_file)
    step(f"What landed in DuckDB ({target.duckdb_file})")
    for stream in STREAMS:
        now = counts.get(stream, 0)
        change = f"  ({now - before[stream]:+d} this run)" if stream in before else ""
        print(f"    {SCHEMA}.{stream:<16} {now:>8,} rows{change}")
    with duckdb.connect(str(target.duckdb_file), read_only=True) as con:
        print()
        for journal in JOURNALS:
            span = con.execute(f"SELECT min(date), max(date) FROM {SCHEMA}.{journal}").fetchone()  # noqa: S608
            if span and span[0]:
                first, last = (f"{value:%Y-%m-%d %H:%M}" for value in span)
                print(f"    {journal:<8} created {first} .. {last} UTC")
        leads = con.execute(f"SELECT count(*) FROM {MODELS}.leads").fetchone()  # noqa: S608
        days = con.execute(
            f"SELECT min(created_date_local), max(created_date_local) FROM {MODELS}.leads_daily"  # noqa: S608
        ).fetchone()
        sites = con.execute(f"SELECT count(*) FROM {MODELS}.sites").fetchone()  # noqa: S608
        print(
            f"\n    dbt built {MODELS}.leads ({leads[0] if leads else 0:,} leads: one per call and "
            f"per request), {MODELS}.leads_daily and {MODELS}.sites "
            f"({sites[0] if sites else 0} site(s), each with its name and zone)"
        )
        if days and days[0]:
            print(
                f"\n    Top sources per site, {days[0]} .. {days[1]} (each site's own days), "
                "from leads_daily:\n"
            )
        for line in str(con.sql(EXAMPLE_QUERY)).splitlines():
            print(f"    {line}")
    relative = target.duckdb_file.relative_to(ROOT)
    query = " ".join(EXAMPLE_QUERY.split())
    print(
        f"\n    Paste this to query it yourself (models in schema {MODELS}, raw tables in "
        f"{SCHEMA}):\n"
    )
    code = f"import duckdb; con = duckdb.connect('{relative}', read_only=True); "
    code += f'con.sql(\\"{query}\\").show()'
    print(f'    .venv-meltano/bin/python -c "{code}"')
    print(f"\n    or with the duckdb CLI: duckdb -readonly {relative}")


def name_dashboard(target: Target) -> None:
    """The last word: the same figures as charts, for the people who read them."""
    relative = target.duckdb_file.relative_to(ROOT)
    step("See it as a dashboard: leads per day, sources, campaigns, revenue, per site")
    say(f"./scripts/dashboard --database {relative}    # then open http://localhost:8501")


# --- helpers -----------------------------------------------------------------------------------


def meltano(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a quiet Meltano command in the project; its output is returned, not shown."""
    return subprocess.run(
        [MELTANO, "--log-level=warning", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def meltano_json(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """A Meltano command's JSON output as a dict; {} when it fails or says nothing."""
    done = meltano(args, env)
    if done.returncode != 0:
        return {}
    try:
        loaded = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def step(text: str) -> None:
    """A heading."""
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def say(text: str) -> None:
    """An indented line."""
    print(f"    {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
