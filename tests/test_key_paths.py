"""Every key of a record as Calltouch sends it reaches the tap's output.

The emulator serves its own records and the captured real ones (`tests/captured.py`) as they
are; the tap syncs every stream; then each key path of each served record (`session.sessionDate`,
`customFields[].value`, ...) must be found in the RECORD the tap wrote for it: as a declared
column, or inside a value of no fixed type kept as JSON text, or in the `_undeclared` column
where the tap keeps the keys its SCHEMA does not declare (`kept_undeclared`). Keys the vendor
calls obsolete (`schemas.OBSOLETE_FIELDS`) are dropped by design.
"""

from __future__ import annotations

import json
from collections import defaultdict
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tap_calltouch.projection import UNDECLARED, field_name
from tap_calltouch.schemas import OBSOLETE_FIELDS
from tests.captured import CAPTURED, Account, Served, account, captured_files, vary
from tests.conftest import TOKEN, run_tap
from tests.emulator.accounts import CLIENT_API_ID
from tests.emulator.server import Emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

Path_ = tuple[str | int, ...]
ID_OF = {"requests": "requestId", "calls": "callId"}


def kept_undeclared(emitted: dict[str, Any], path: Path_) -> bool:
    """Whether the tap kept a key its SCHEMA does not declare, in its `_undeclared` column.

    That column holds each undeclared field by its path (`orders[0].discount`), and with it
    everything beneath.
    """
    kept = emitted.get(UNDECLARED) or {}
    text = path_text(path)
    return any(text == key or text.startswith((f"{key}.", f"{key}[")) for key in kept)


def key_paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path to a key of `value`, with list positions as integers."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from key_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from key_paths(item, (*prefix, index))


def reached(served: Any, emitted: Any, path: Path_) -> bool:
    """Whether `path` of the served record leads to a key of the emitted one.

    A value the tap keeps as JSON text (a custom field's object, a tag of no fixed type) holds
    every path beneath it when the text is that value.
    """
    for step in path:
        if isinstance(emitted, str) and isinstance(served, (dict, list)):
            return json.loads(emitted) == served
        if isinstance(step, int):
            if not isinstance(emitted, list) or step >= len(emitted):
                return False
        elif not isinstance(emitted, dict) or step not in emitted:
            return False
        served, emitted = served[step], emitted[step]
    if isinstance(emitted, str) and isinstance(served, (dict, list)):
        return json.loads(emitted) == served
    return True


def path_text(path: Path_) -> str:
    """`customFields[0].value` for ("customFields", 0, "value"), as the tap names paths."""
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)[1:]


def abstract(path: Path_) -> str:
    """`customFields[].value` for ("customFields", 0, "value")."""
    return "".join("[]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")


def lost_paths(
    served: list[Served], records: dict[str, list[dict[str, Any]]]
) -> dict[str, set[str]]:
    """Each journal's key paths (`origin: requests.session.sessionDate`) found in no output."""
    emitted = {
        (journal, record["siteId"], record[ID_OF[journal]]): record
        for journal in ID_OF
        for record in records[journal]
    }
    lost: dict[str, set[str]] = defaultdict(set)
    for item in served:
        key = (item.journal, item.site_id, int(item.record[ID_OF[item.journal]]))
        out = emitted.get(key)
        if out is None:
            lost[item.origin].add(f"{item.journal}: record {key[2]} not emitted")
            continue
        for path in key_paths(item.record):
            if field_name(path_text(path)) in OBSOLETE_FIELDS:  # the vendor: ignore them
                continue
            if not reached(item.record, out, path) and not kept_undeclared(out, path):
                lost[item.origin].add(f"{item.journal}.{abstract(path)}")
    return dict(lost)


def sync(
    served_account: Account,
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The tap's records of every stream, and the answers the emulator gave it, parsed."""
    tokens = {TOKEN: set(served_account.sites)}
    with Emulator(sites=served_account.sites.values(), tokens=tokens, rate_limit=None) as api:
        result = run_tap(served_account.config(api.url, TOKEN), streams=None)
        answers = [  # asked again, as the tap asked: the same data gives the same answers
            requests.get(
                api.url + call.path, {**call.params, CLIENT_API_ID: TOKEN}, timeout=30
            ).json()
            for call in list(api.calls)  # each replay is logged too
            if call.status == HTTPStatus.OK
        ]
    return result.records, answers


def served_records(answers: list[Any], served_account: Account) -> list[Served]:
    """The records of the emulator's answers, each once, as `Served`."""
    origins = {
        (item.journal, item.site_id, int(item.record[ID_OF[item.journal]])): item.origin
        for item in served_account.served
    }
    found: dict[tuple[str, int, int], Served] = {}
    for answer in answers:
        records = answer["records"] if isinstance(answer, dict) else answer
        for record in records:
            journal = "calls" if "callId" in record else "requests"
            key = (journal, int(record["siteId"]), int(record[ID_OF[journal]]))
            found.setdefault(key, Served(journal, origins[key], key[1], record))
    return list(found.values())


def test_every_key_of_the_emulators_records_reaches_the_output() -> None:
    """What the emulator serves the tap, modelled on the captured records, all in the output."""
    served = account(captured=False)
    vary(served)  # values of every type where none is fixed, items without their ids
    records, answers = sync(served)
    given = served_records(answers, served)
    assert {item.journal for item in given} == {"requests", "calls"}
    assert len(given) == len(served.served)  # every record the account holds was served
    lost = lost_paths(given, records)
    assert lost == {}, lost


@pytest.mark.skipif(
    not captured_files(), reason=f"no captured answers in {CAPTURED} (the shared reference)"
)
def test_every_key_of_the_captured_records_reaches_the_output() -> None:
    served = account(emulated=False)
    origins = {item.origin for item in served.served}
    assert origins == {path.name for path in captured_files()}  # every file, none skipped
    lost = lost_paths(served.served, sync(served)[0])  # the paths of the files, as captured
    assert lost == {}, lost


def test_a_dropped_key_is_found_lost() -> None:
    """The check itself: an emitted record without a served key, or with another text."""
    served = {"session": {"sessionDate": "16/09/2023 11:38:22"}, "customFields": [{"v": {"a": 1}}]}
    emitted = {"session": {"source": None}, "customFields": [{"v": '{"a":1}'}]}
    paths = {abstract(p): reached(served, emitted, p) for p in key_paths(served)}
    assert paths == {
        "session": True,
        "session.sessionDate": False,
        "customFields": True,
        "customFields[].v": True,
        "customFields[].v.a": True,
    }
    assert not reached(served, {"customFields": [{"v": '{"a":2}'}]}, ("customFields", 0, "v"))


def test_a_key_kept_in_undeclared_is_found_there() -> None:
    emitted = {"_undeclared": {"session.sessionDate": "x", "orders[1]": {"a": 1}}}
    assert kept_undeclared(emitted, ("session", "sessionDate"))
    assert kept_undeclared(emitted, ("orders", 1, "a"))
    assert not kept_undeclared(emitted, ("orders", 0, "a"))
    assert not kept_undeclared(emitted, ("session", "sessionDateStr"))
