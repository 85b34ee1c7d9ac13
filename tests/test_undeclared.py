"""Fields Calltouch adds that the schema does not declare reach the output, and are named.

Calltouch adds fields over time (`customFields` appeared in call records between 2023 and
2024); dropped, they would be gone for good by the time the schema declares them. Each is kept
in the record's `_undeclared` column with its path, and named once per stream and run.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import FIRST_DAY, TOKEN
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import generate_dataset
from tests.emulator.server import Emulator
from tests.test_messages import run_cli, settings

if TYPE_CHECKING:
    from pathlib import Path

NEW_REQUEST_FIELDS = {"leadScore": 87, "utmPartner": {"id": "p-1", "tier": "gold"}}
NEW_ORDER_FIELD = "discountPercent"
NEW_CALL_FIELD = "aiSummary"


@pytest.fixture
def server() -> Any:
    requests = generate_dataset(seed=5, start=FIRST_DAY, days=3, per_day=4)
    calls = generate_calls(seed=5, start=FIRST_DAY, days=3, per_day=4)
    with_orders = [record for record in requests if record["orders"]]
    assert len(with_orders) >= 2
    for number, record in enumerate(with_orders[:2]):
        record.update(NEW_REQUEST_FIELDS)
        record["orders"][0][NEW_ORDER_FIELD] = 10 + number
    calls[0][NEW_CALL_FIELD] = "Клиент спросил о доставке"
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        yield emulator


def records_of(stdout: str, stream: str) -> list[dict[str, Any]]:
    messages = [json.loads(line) for line in stdout.splitlines()]
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_undeclared_fields_arrive_with_every_value_and_are_named_once(
    tmp_path: Path, server: Emulator
) -> None:
    done = run_cli(tmp_path, settings(server.url))
    assert done.returncode == 0, done.stderr[-3000:]

    requests = records_of(done.stdout, "requests")
    kept = [record["_undeclared"] for record in requests if "_undeclared" in record]
    assert len(kept) == 2
    for number, undeclared in enumerate(sorted(kept, key=lambda u: u["orders[0].discountPercent"])):
        assert undeclared == {
            "leadScore": 87,
            "utmPartner": {"id": "p-1", "tier": "gold"},
            "orders[0].discountPercent": 10 + number,
            "order.discountPercent": 10 + number,  # `order`: the request's deal, one of `orders`
        }
    for record in requests:  # the declared columns hold nothing undeclared
        assert "leadScore" not in record
        assert all(NEW_ORDER_FIELD not in order for order in record["orders"])
    assert all(NEW_ORDER_FIELD not in row for row in records_of(done.stdout, "orders"))
    (call,) = [r for r in records_of(done.stdout, "calls") if "_undeclared" in r]
    assert call["_undeclared"] == {NEW_CALL_FIELD: "Клиент спросил о доставке"}

    warnings = [line for line in done.stderr.splitlines() if "does not declare" in line]
    assert len(warnings) == 2, warnings  # once per stream, though two requests carry them
    (request_warning,) = [w for w in warnings if "requests:" in w]
    for name in ("leadScore", "utmPartner", "orders[].discountPercent", "order.discountPercent"):
        assert request_warning.count(name) == 1
    assert any(NEW_CALL_FIELD in w and "calls:" in w for w in warnings)
    summaries = [line for line in done.stderr.splitlines() if "API call(s) for" in line]
    assert any(
        re.search(
            r"kept in `_undeclared`: leadScore, order\.discountPercent, "
            r"orders\[\]\.discountPercent, utmPartner",
            s,
        )
        for s in summaries
    ), summaries
    assert any(f"kept in `_undeclared`: {NEW_CALL_FIELD}" in s for s in summaries)


def test_a_run_of_declared_fields_only_says_nothing_of_them(tmp_path: Path) -> None:
    requests = generate_dataset(seed=5, start=FIRST_DAY, days=3, per_day=4)
    calls = generate_calls(seed=5, start=FIRST_DAY, days=3, per_day=4)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        done = run_cli(tmp_path, settings(emulator.url))
    assert done.returncode == 0, done.stderr[-3000:]
    records = records_of(done.stdout, "requests") + records_of(done.stdout, "calls")
    assert records
    assert all("_undeclared" not in record for record in records)  # obsolete ones dropped too
    assert "does not declare" not in done.stderr


def test_a_catalog_that_deselects_the_column_is_told_the_fields_are_dropped(
    tmp_path: Path, server: Emulator
) -> None:
    discovered = run_cli(tmp_path, settings(server.url), "--discover")
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        entry["metadata"][0]["metadata"]["selected"] = entry["tap_stream_id"] == "requests"
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", "_undeclared"]:
                item["metadata"]["selected"] = False
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    done = run_cli(tmp_path, settings(server.url), "--catalog", str(tmp_path / "catalog.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert records_of(done.stdout, "requests")
    assert all("_undeclared" not in r for r in records_of(done.stdout, "requests"))
    (warning,) = [w for w in done.stderr.splitlines() if "requests: the API sent" in w]
    assert "leadScore" in warning
    assert "DROPPED" in warning
    assert "kept in" not in done.stderr
