"""The floor: fetch the same windows, parse with orjson, cut the child rows, print Singer lines.

No SDK, no validation, no state handling beyond one STATE per window: what the work costs in
plain Python. Run: `python benchmarks/bare_loop.py --config FILE` (the tap's config file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import requests

from tap_calltouch.settings import api_params

PATH = "/calls-service/RestAPI/requests/"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")


def windows(config: dict[str, Any]) -> list[tuple[dt.date, dt.date]]:
    first = dt.date.fromisoformat(str(config["start_date"])[:10])
    end = config.get("end_date")
    last = dt.date.fromisoformat(str(end)[:10]) if end else dt.datetime.now(dt.timezone.utc).date()
    step = dt.timedelta(days=int(config.get("window_days", 7)))
    out = []
    while first <= last:
        out.append((first, min(first + step - dt.timedelta(days=1), last)))
        first = out[-1][1] + dt.timedelta(days=1)
    return out


def child_rows(request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    request_id = request["requestId"]
    rows = [("orders", {**order, "requestId": request_id}) for order in request.get("orders") or []]
    rows += [("comments", {**c, "requestId": request_id}) for c in request.get("comments") or []]
    visits: dict[Any, dict[str, Any]] = {}
    for visit in request.get("mapVisits") or []:
        visits.setdefault(visit.get("sessionId"), {**visit, "requestId": request_id})
    rows += [("map_visits", visit) for visit in visits.values()]
    tags: dict[str, dict[str, Any]] = {}
    for tag in request.get("RequestTags") or []:
        for names in tag.get("names") or []:
            for name in filter(None, (part.strip() for part in names.split(","))):
                row = {"requestId": request_id, "name": name, "type": tag.get("type")}
                tags.setdefault(name, {**row, "category": tag.get("category")})
    rows += [("request_tags", tag) for tag in tags.values()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    config = orjson.loads(parser.parse_args().config.read_bytes())
    url = str(config.get("api_url", "https://api.calltouch.ru")).rstrip("/") + PATH
    params = {**api_params(config), "clientApiId": config["api_token"]}
    gap = 1.0 / float(config.get("requests_per_second", 5))
    out = sys.stdout.buffer
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
            for stream, row in child_rows(request):
                message = {"type": "RECORD", "stream": stream, "record": row}
                out.write(orjson.dumps(message) + b"\n")
        state = {"bookmarks": {"requests": {"window": str(last)}}}
        out.write(orjson.dumps({"type": "STATE", "value": state}) + b"\n")
    out.flush()


if __name__ == "__main__":
    main()
