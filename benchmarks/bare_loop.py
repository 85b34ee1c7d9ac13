"""The floor: fetch the same windows, parse with orjson, cut the child rows, print Singer lines.

No SDK, no validation, no state handling beyond one STATE per window: what the work costs in
plain Python. Run: `python benchmarks/bare_loop.py --config FILE` (the tap's config file) for
the requests journal, and with `--journal calls` for the calls journal: every page of every
window (`calls_window_days`, `page_size`), one after the other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import orjson
import requests

from tap_calltouch.settings import api_params, call_params

PATH = "/calls-service/RestAPI/requests/"
CALLS_PATH = "/calls-service/RestAPI/{site_id}/calls-diary/calls"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")
CALL_STREAMS = ("calls", "call_orders", "call_comments", "call_map_visits", "call_tags")


def windows(config: dict[str, Any], key: str = "window_days") -> list[tuple[dt.date, dt.date]]:
    first = dt.date.fromisoformat(str(config["start_date"])[:10])
    end = config.get("end_date")
    last = dt.date.fromisoformat(str(end)[:10]) if end else dt.datetime.now(dt.timezone.utc).date()
    step = dt.timedelta(days=int(config.get(key, 7)))
    out = []
    while first <= last:
        out.append((first, min(first + step - dt.timedelta(days=1), last)))
        first = out[-1][1] + dt.timedelta(days=1)
    return out


def child_rows(
    parent: dict[str, Any], key: str, streams: tuple[str, ...], tags: str
) -> list[tuple[str, dict[str, Any]]]:
    """The four child streams' rows of a request (key `requestId`) or a call (`callId`)."""
    parent_id = parent[key]
    orders, comments, visits_stream, tags_stream = streams[1:]
    rows = [(orders, {**order, key: parent_id}) for order in parent.get("orders") or []]
    rows += [(comments, {**c, key: parent_id}) for c in parent.get("comments") or []]
    visits: dict[Any, dict[str, Any]] = {}
    for visit in parent.get("mapVisits") or []:
        visits.setdefault(visit.get("sessionId"), {**visit, key: parent_id})
    rows += [(visits_stream, visit) for visit in visits.values()]
    found: dict[str, dict[str, Any]] = {}
    for tag in parent.get(tags) or []:
        for names in tag.get("names") or []:
            for name in filter(None, (part.strip() for part in names.split(","))):
                row = {key: parent_id, "name": name, "type": tag.get("type")}
                found.setdefault(name, {**row, "category": tag.get("category")})
    rows += [(tags_stream, tag) for tag in found.values()]
    return rows


def local_to_utc(value: str, zone: ZoneInfo) -> str:
    """`dd/mm/yyyy hh:mm:ss` in the account's zone as ISO UTC (sliced: strptime is slow)."""
    year, month, day = int(value[6:10]), int(value[3:5]), int(value[0:2])
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    local = dt.datetime(year, month, day, hour, minute, second, tzinfo=zone)
    return local.astimezone(dt.timezone.utc).isoformat()


def get(session: requests.Session, url: str, params: dict[str, str], gap: float) -> bytes:
    """One call, at most one per `gap` seconds; a 429 waits out the rate-limit second."""
    global _last_call  # noqa: PLW0603 - one pace for the whole process
    time.sleep(max(0.0, _last_call + gap - time.monotonic()))
    _last_call = time.monotonic()
    response = session.get(url, params=params, timeout=300)
    while response.status_code == 429:  # too fast: wait out the rate-limit second
        time.sleep(1.0)
        response = session.get(url, params=params, timeout=300)
    response.raise_for_status()
    return response.content


_last_call = 0.0


def buffered_stdout() -> BinaryIO:
    """Stdout through a 64 KB buffer, as the tap writes RECORDs, whatever PYTHONUNBUFFERED says.

    Unbuffered (`-u`, `PYTHONUNBUFFERED=1`), `sys.stdout.buffer` would make a system call per
    line, and the floor would pay for I/O the tap does not.
    """
    return open(sys.stdout.fileno(), "wb", buffering=64 * 1024, closefd=False)


def calls_main(config: dict[str, Any]) -> None:
    """The calls journal: each window page by page; page 1 tells how many pages there are."""
    base = str(config.get("api_url", "https://api.calltouch.ru")).rstrip("/")
    url = base + CALLS_PATH.format(site_id=config["site_id"])
    params = {**call_params(config), "clientApiId": config["api_token"]}
    gap = 1.1 / float(config.get("requests_per_second", 5))  # the tap's pace: no 429s
    zone = ZoneInfo(config.get("timezone") or "Europe/Moscow")
    out = buffered_stdout()
    for stream in CALL_STREAMS:
        out.write(orjson.dumps({"type": "SCHEMA", "stream": stream, "schema": {}}) + b"\n")
    session = requests.Session()
    for first, last in windows(config, "calls_window_days"):
        window = {"dateFrom": first.strftime("%d/%m/%Y"), "dateTo": last.strftime("%d/%m/%Y")}
        page, page_total = 1, 1
        while page <= page_total:
            answer = orjson.loads(get(session, url, {**params, **window, "page": str(page)}, gap))
            page_total = answer["pageTotal"]
            for call in answer["records"]:
                call["date"] = local_to_utc(call["date"], zone)
                message = {"type": "RECORD", "stream": "calls", "record": call}
                out.write(orjson.dumps(message) + b"\n")
                for stream, row in child_rows(call, "callId", CALL_STREAMS, "callTags"):
                    message = {"type": "RECORD", "stream": stream, "record": row}
                    out.write(orjson.dumps(message) + b"\n")
            page += 1
        state = {"bookmarks": {"calls": {"window": str(last)}}}
        out.write(orjson.dumps({"type": "STATE", "value": state}) + b"\n")
    out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--journal", choices=("requests", "calls"), default="requests")
    args = parser.parse_args()
    config = orjson.loads(args.config.read_bytes())
    if args.journal == "calls":
        calls_main(config)
        return
    url = str(config.get("api_url", "https://api.calltouch.ru")).rstrip("/") + PATH
    params = {**api_params(config), "siteId": config["site_id"], "clientApiId": config["api_token"]}
    gap = 1.0 / float(config.get("requests_per_second", 5))
    out = buffered_stdout()
    for stream in STREAMS:
        out.write(orjson.dumps({"type": "SCHEMA", "stream": stream, "schema": {}}) + b"\n")
    session = requests.Session()
    last_call = 0.0
    for first, last in windows(config):
        time.sleep(max(0.0, last_call + gap - time.monotonic()))
        last_call = time.monotonic()
        window = {"dateFrom": first.strftime("%m/%d/%Y"), "dateTo": last.strftime("%m/%d/%Y")}
        response = session.get(url, params={**params, **window}, timeout=300)
        while response.status_code == 429:  # too fast: wait out the rate-limit second
            time.sleep(1.0)
            response = session.get(url, params={**params, **window}, timeout=300)
        response.raise_for_status()
        for request in orjson.loads(response.content):
            request["date"] = (EPOCH + dt.timedelta(milliseconds=request["date"])).isoformat()
            message = {"type": "RECORD", "stream": "requests", "record": request}
            out.write(orjson.dumps(message) + b"\n")
            for stream, row in child_rows(request, "requestId", STREAMS, "RequestTags"):
                message = {"type": "RECORD", "stream": stream, "record": row}
                out.write(orjson.dumps(message) + b"\n")
        state = {"bookmarks": {"requests": {"window": str(last)}}}
        out.write(orjson.dumps({"type": "STATE", "value": state}) + b"\n")
    out.flush()


if __name__ == "__main__":
    main()
