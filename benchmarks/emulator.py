"""The project's API emulator with a call log the benchmark can read from another process.

`python -m benchmarks.emulator --days 30 ...` (from the repository root) serves like
`python -m tests.emulator` (both journals: `--per-day` requests, `--calls-per-day` calls), prints
`EMULATOR_URL=... REQUESTS=n CALLS=n`, then answers commands on stdin, one per line, with one
JSON line on stdout: `stats` (calls, statuses, body sizes, arrival times), `reset` (forget the
calls so far) and `latency SECONDS` (answer each later call that much later, so one dataset
serves fast and slow runs). It stops when stdin closes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from tests.emulator import Emulator, generate_dataset
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class CountingEmulator(Emulator):
    """Also records how many body bytes each answer carried."""

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(**kwargs)
        self.bodies: list[tuple[int, int]] = []  # (status, body bytes) per answer sent
        self._size_lock = threading.Lock()

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status: list[int] = []

        def noting_start(code: str, headers: Any, *rest: Any) -> Any:  # noqa: ANN401
            status.append(int(code.split(maxsplit=1)[0]))
            return start_response(code, headers, *rest)

        return self._counted(super()._wsgi(environ, noting_start), status)

    def _counted(self, body: Iterable[bytes], status: list[int]) -> Iterator[bytes]:
        size = 0
        try:
            for chunk in body:
                size += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        with self._size_lock:
            self.bodies.append((status[0] if status else 0, size))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            arrivals = sorted((call.time, call.status) for call in self.calls)
            statuses = Counter(str(call.status) for call in self.calls)
        times = [time for time, _ in arrivals]
        with self._size_lock:
            bodies = list(self.bodies)
        return {
            "calls": len(times),
            "statuses": dict(statuses),
            "first": times[0] if times else None,
            "last": times[-1] if times else None,
            "peak_rate": self.peak_rate(),
            "body_bytes": [size for status, size in bodies if status == 200],
            "arrivals": [[round(time - times[0], 4), status] for time, status in arrivals],
        }

    def reset(self) -> None:
        self.reset_log()
        with self._size_lock:
            self.bodies.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=320)
    parser.add_argument("--calls-per-day", type=int, default=0, help="the calls journal; 0: none")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--site-id", type=int, default=DEFAULT_SITE_ID)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=5, help="calls per second; 0: none")
    args = parser.parse_args()
    dataset = generate_dataset(
        seed=args.seed, start=args.start, days=args.days, per_day=args.per_day
    )
    calls = generate_calls(
        seed=args.seed,
        start=args.start,
        days=args.days,
        per_day=args.calls_per_day,
        site_id=args.site_id,
    )
    # Tens of thousands of records would make each full collection pause every thread for a
    # few hundred ms: calls arriving meanwhile are logged (and rate-limited) late, in a bunch.
    gc.freeze()
    emulator = CountingEmulator(
        dataset=dataset,
        calls=calls,
        token=args.token,
        site_id=args.site_id,
        rate_limit=args.rate_limit or None,
        latency=args.latency,
    )
    emulator.start()
    print(f"EMULATOR_URL={emulator.url} REQUESTS={len(dataset)} CALLS={len(calls)}", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                sys.stdout.write(orjson.dumps(emulator.stats()).decode() + "\n")
            elif command == "reset":
                emulator.reset()
                sys.stdout.write("{}\n")
            elif command.startswith("latency "):
                emulator.latency = float(command.split()[1])
                sys.stdout.write("{}\n")
            else:
                sys.stdout.write(orjson.dumps({"error": f"unknown command {command!r}"}).decode())
                sys.stdout.write("\n")
            sys.stdout.flush()
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
