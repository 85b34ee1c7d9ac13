"""Run the emulator in the foreground: `python -m tests.emulator --port 0 --days 30 ...`.

It serves both journals: requests (`--per-day`) and calls (`--calls-per-day`, 0 for none),
for one site (`--site-id`, `--token`) or, with `--sites N`, for N sites with ids from
`--site-id` on, in varied zones (unless `--tz`), shared in runs among `--tokens K` tokens
named `<token>-1` .. `<token>-K` (just `<token>` when K is 1). Volumes and budget are per site.

Once it serves it prints, first, `EMULATOR_URL=http://127.0.0.1:PORT`, then what it serves:

    EMULATOR_SITES=12345,12346,12347
    EMULATOR_TOKEN=<token> SITES=12345,12346
    EMULATOR_SITE=12345 TZ=Europe/Moscow REQUESTS=300 CALLS=900

(one TOKEN line per token, one SITE line per site), and runs until SIGTERM or SIGINT, so a
benchmark or a demo can start it as a child process.
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
from tests.emulator.sites import ZONES, Site, generate_sites, tokens_for


def main(argv: list[str] | None = None) -> None:
    """Generate the dataset, serve it, print the URL and what it serves, wait for a signal."""
    args = _parser().parse_args(argv)
    if args.sites < 1 or args.tokens < 1:
        msg = "--sites and --tokens must be at least 1"
        raise SystemExit(msg)
    start = args.start or dt.date.today() - dt.timedelta(days=args.days)  # noqa: DTZ011 - local "today" is meant
    began = time.perf_counter()
    sites, tokens = _sites(args, start)
    print(  # noqa: T201 - a human-readable note; stdout carries only the lines for programs
        f"{sum(len(site.requests) for site in sites)} requests and "
        f"{sum(len(site.calls) for site in sites)} calls on {len(sites)} site(s) from {start} "
        f"for {args.days} days in {time.perf_counter() - began:.2f} s",
        file=sys.stderr,
    )
    emulator = Emulator(
        sites=sites,
        tokens=tokens,
        rate_limit=args.rate_limit or None,
        retry_after=args.retry_after,
        latency=args.latency,
        max_response_records=args.max_response_records,
        empty_page_total=args.empty_page_total,
    )
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # the server thread inherits the mask
    emulator.start(args.port)
    try:
        print(f"EMULATOR_URL={emulator.url}", flush=True)  # noqa: T201 - the parent reads this line
        print(_served(sites, tokens), flush=True)  # noqa: T201 - after it, for who reads on
        signal.sigwait(signals)
    finally:
        emulator.stop()


def _sites(args: argparse.Namespace, start: dt.date) -> tuple[list[Site], dict[str, set[int]]]:
    """The sites to serve and which token serves which; one site is made as it always was."""
    if args.sites == 1:
        tz = args.tz or DEFAULT_TZ
        shape = {"seed": args.seed, "start": start, "days": args.days, "tz": tz}
        site = Site(
            args.site_id,
            generate_dataset(**shape, per_day=args.per_day, site_id=args.site_id),
            generate_calls(**shape, per_day=args.calls_per_day, site_id=args.site_id),
            tz,
            args.points_budget,
        )
        sites = [site]
    else:
        sites = generate_sites(
            args.sites,
            seed=args.seed,
            start=start,
            days=args.days,
            requests_per_day=args.per_day,
            calls_per_day=args.calls_per_day,
            zones=(args.tz,) if args.tz else ZONES,
            first_site_id=args.site_id,
            points_budget=args.points_budget,
        )
    names = (
        [args.token]
        if args.tokens == 1
        else [f"{args.token}-{k}" for k in range(1, args.tokens + 1)]
    )
    return sites, tokens_for(sites, names)


def _served(sites: list[Site], tokens: dict[str, set[int]]) -> str:
    """The lines after the URL: every site id, each token's sites, each site's zone and size."""
    lines = [f"EMULATOR_SITES={','.join(str(site.site_id) for site in sites)}"]
    lines += [
        f"EMULATOR_TOKEN={token} SITES={','.join(str(i) for i in sorted(ids))}"
        for token, ids in tokens.items()
    ]
    lines += [
        f"EMULATOR_SITE={site.site_id} TZ={site.tz} "
        f"REQUESTS={len(site.requests)} CALLS={len(site.calls)}"
        for site in sites
    ]
    return "\n".join(lines)


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
    parser.add_argument("--tz", help=f"default {DEFAULT_TZ}; with --sites, zones in turn")
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--site-id", type=int, default=DEFAULT_SITE_ID, help="the first site's")
    parser.add_argument("--sites", type=int, default=1, help="how many sites to serve")
    parser.add_argument("--tokens", type=int, default=1, help="how many tokens share them")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--rate-limit", type=int, default=5, help="calls per second; 0 for none")
    parser.add_argument("--retry-after", type=float, help="send Retry-After with 429s")
    parser.add_argument(
        "--points-budget", type=int, help="successful calls a site, then 403 points"
    )
    parser.add_argument("--max-response-records", type=int, help="larger answers are 504s")
    parser.add_argument(
        "--empty-page-total", type=int, choices=(0, 1), default=0, help="pageTotal of no calls"
    )
    return parser


if __name__ == "__main__":
    main()
