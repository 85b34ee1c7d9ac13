"""A local emulator of the Calltouch requests and calls journals, for tests, demo and benchmarks.

`dataset` and `calls_dataset` make deterministic request and call records and edit them between
runs; `server` serves them on 127.0.0.1 as the API does, with its rate limit, injectable faults
and call log (on the werkzeug server in `serving`); `requests_journal` and `calls_journal` each
serve one journal (its parameters and answers, under the interface in `journal`), `responses`
the errors, gateway pages and faults both share; `accounts` decides which token reads which
site and counts their points; `sites` describes the sites one emulator serves (one, or an
agency's many under a few tokens) and generates n of them.
"""

from tests.emulator.calls_dataset import (
    add_call_comment,
    add_call_order,
    add_call_tag,
    add_calls,
    find_call,
    generate_calls,
    new_calls,
)
from tests.emulator.calls_journal import calls_path
from tests.emulator.dataset import (
    add_order,
    add_requests,
    add_tag,
    find_request,
    generate_dataset,
)
from tests.emulator.server import API_PATH, Call, Emulator, PageServed
from tests.emulator.sites import ZONES, Site, generate_sites, tokens_for

__all__ = [
    "API_PATH",
    "ZONES",
    "Call",
    "Emulator",
    "PageServed",
    "Site",
    "add_call_comment",
    "add_call_order",
    "add_call_tag",
    "add_calls",
    "add_order",
    "add_requests",
    "add_tag",
    "calls_path",
    "find_call",
    "find_request",
    "generate_calls",
    "generate_dataset",
    "generate_sites",
    "new_calls",
    "tokens_for",
]
