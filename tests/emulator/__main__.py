"""Run the emulator in the foreground: `python -m tests.emulator --port 0 --days 30 ...`.

It serves both journals: requests (`--per-day`) and calls (`--calls-per-day`, 0 for none).

Prints one line, `EMULATOR_URL=http://127.0.0.1:PORT`, once it serves, and runs until
SIGTERM or SIGINT, so a benchmark or a demo can start it as a child process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time

from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, DEFAULT_TZ, generate_dataset
from tests.emulator.server import Emulator


def main(argv: list[str] | None = None) -> None:
    """Generate the dataset, serve it, print the URL, wait for a signal."""
    args = _parser().parse_args(argv)
    start = args.start or dt.date.today() - dt.timedelta(days=args.days)  # noqa: DTZ011 - local "today" is meant
    began = time.perf_counter()
    dataset = generate_dataset(
        seed=args.seed,
        start=start,
        days=args.days,
        per_day=args.per_day,
        tz=args.tz,
        site_id=args.site_id,
    )
    calls = generate_calls(
        seed=args.seed,
        start=start,
        days=args.days,
        per_day=args.calls_per_day,
        tz=args.tz,
        site_id=args.site_id,
    )
    print(  # noqa: T201 - a human-readable note; stdout carries only the URL line
        f"{len(dataset)} requests and {len(calls)} calls from {start} for {args.days} days in "
        f"{time.perf_counter() - began:.2f} s",
        file=sys.stderr,
    )
    emulator = Emulator(
        dataset=dataset,
        token=args.token,
        site_id=args.site_id,
        tz=args.tz,
        rate_limit=args.rate_limit or None,
        retry_after=args.retry_after,
        latency=args.latency,
        points_budget=args.points_budget,
        max_response_records=args.max_response_records,
        calls=calls,
        empty_page_total=args.empty_page_total,
    )
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # the server thread inherits the mask
    emulator.start(args.port)
    try:
        print(f"EMULATOR_URL={emulator.url}", flush=True)  # noqa: T201 - the parent reads this line
        signal.sigwait(signals)
    finally:
        emulator.stop()


def _parser() -> argparse.ArgumentParser:
    """The command line: dataset shape, then server behaviour."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=320)
    parser.add_argument("--calls-per-day", type=int, default=300, help="calls journal volume")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--start", type=dt.date.fromisoformat, help="first day; default today - days"
    )
    parser.add_argument("--tz", default=DEFAULT_TZ)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--site-id", type=int, default=DEFAULT_SITE_ID)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--rate-limit", type=int, default=5, help="calls per second; 0 for none")
    parser.add_argument("--retry-after", type=float, help="send Retry-After with 429s")
    parser.add_argument("--points-budget", type=int, help="successful calls before 403 points")
    parser.add_argument("--max-response-records", type=int, help="larger answers are 504s")
    parser.add_argument(
        "--empty-page-total", type=int, choices=(0, 1), default=0, help="pageTotal of no calls"
    )
    return parser


if __name__ == "__main__":
    main()
