"""Benchmark: three shard processes of one agency on one `rate_limit_store`, the API at 1 s a call.

    .venv/bin/python -m benchmarks.shards                       # 3 shards of 45 sites, SQLite
    .venv/bin/python -m benchmarks.shards --shards 4 --latency 0.5
    .venv/bin/python -m benchmarks.shards --store postgresql://user:pw@127.0.0.1:5432/db

The emulator serves the sites from this process and allows 5 calls a second over all clients
(the per-IP limit, as processes behind one IP meet it); each shard is the tap as its own
process, all started together. Prints the figures and exits 1 when a goal is missed: >= 4.3
calls/s over the shards together, no 429, at most 5 calls in any second, every run exit 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import tempfile
from pathlib import Path

from benchmarks.datasets import TAP
from benchmarks.runtime import ensure_runtime
from tests.emulator.server import Emulator
from tests.emulator.sites import generate_sites

TOKEN = "agency-token"  # noqa: S105 - the emulator's made-up token
FIRST_DAY = dt.date(2025, 3, 1)
DAYS = 14
WINDOW_DAYS = 7  # two windows per journal per site


def main() -> int:
    """Run the shards at once and print what they reached together."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=45)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--store", help="rate_limit_store (default: a SQLite file of its own)")
    args = parser.parse_args()
    ensure_runtime()
    sites = generate_sites(
        args.sites, seed=3, start=FIRST_DAY, days=DAYS, requests_per_day=2, calls_per_day=5
    )
    tokens = {TOKEN: {site.site_id for site in sites}}
    emulator = Emulator(
        sites=sites, tokens=tokens, latency=args.latency, rate_limit=5, rate_limit_per="all"
    )
    with emulator, tempfile.TemporaryDirectory() as work:
        store = args.store or f"sqlite:///{Path(work) / 'limit.db'}"
        runs = []
        for number in range(1, args.shards + 1):
            config = {
                "api_token": TOKEN,
                "sites": [{"site_id": str(s.site_id)} for s in sites],
                "start_date": FIRST_DAY.isoformat(),
                "end_date": (FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
                "window_days": WINDOW_DAYS,
                "calls_window_days": WINDOW_DAYS,
                "api_url": emulator.url,
                "shard": f"{number}/{args.shards}",
                "rate_limit_store": store,
            }
            config_file = Path(work) / f"config-{number}.json"
            config_file.write_text(json.dumps(config))
            runs.append(
                subprocess.Popen(
                    [str(TAP), "--config", str(config_file)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        errors = [run.communicate()[1] for run in runs]
        codes = [run.returncode for run in runs]
        arrivals = sorted(call.time for call in emulator.calls)
        peak, throttled = emulator.peak_rate(), emulator.count(429)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    rate = (len(arrivals) - 1) / span if span else 0.0
    goals = {
        "calls/s together >= 4.3": rate >= 4.3,
        "no 429": throttled == 0,
        "<= 5 calls in any second": peak <= 5,
        "every shard exit 0": codes == [0] * args.shards,
    }
    kind = store.split(":", 1)[0]
    print(
        f"{args.shards} shards of {args.sites} sites on one {kind} store, {args.latency:g} s/call"
    )
    print(f"{len(arrivals)} calls in {span:.1f} s: {rate:.2f} calls/s; exits {codes}")
    print(f"peak {peak} calls in 1 s, {throttled} x 429")
    for goal, met in goals.items():
        print(f"  {'PASS' if met else 'FAIL'}  {goal}")
    for code, error in zip(codes, errors, strict=True):
        if code:
            print(error[-2000:])
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
