"""The SDK's standard tap tests, against the emulator."""

from __future__ import annotations

import atexit
import datetime as dt

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, TOKEN
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator

# The suite takes its config when the class is built, so the emulator starts with the module.
_EMULATOR = Emulator(
    dataset=generate_dataset(seed=11, start=FIRST_DAY, days=5, per_day=20),
    calls=generate_calls(seed=11, start=FIRST_DAY, days=5, per_day=20),
    token=TOKEN,
    rate_limit=None,  # pacing is not this suite's subject; the tap's calls go 2 ms apart here
)
_URL = _EMULATOR.start()
atexit.register(_EMULATOR.stop)

SAMPLE_CONFIG = {
    "api_token": TOKEN,
    "site_id": str(DEFAULT_SITE_ID),
    "start_date": FIRST_DAY.isoformat(),
    "end_date": (FIRST_DAY + dt.timedelta(days=4)).isoformat(),
    "api_url": _URL,
    "window_days": 2,
    "calls_window_days": 2,
    "page_size": 25,
}

TestTapCalltouch = get_tap_test_class(
    tap_class=TapCalltouch,
    config=SAMPLE_CONFIG,
    suite_config=SuiteConfig(ignore_no_records_for_streams=[]),
)
