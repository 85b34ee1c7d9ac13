"""A local emulator of the Calltouch requests-journal API, for tests, the demo and benchmarks.

`dataset` makes deterministic request records and edits them between runs; `server` serves
them on 127.0.0.1 as the API does, with its limits and injectable faults.
"""

from tests.emulator.dataset import (
    add_order,
    add_requests,
    add_tag,
    find_request,
    generate_dataset,
)
from tests.emulator.server import API_PATH, Call, Emulator

__all__ = [
    "API_PATH",
    "Call",
    "Emulator",
    "add_order",
    "add_requests",
    "add_tag",
    "find_request",
    "generate_dataset",
]
