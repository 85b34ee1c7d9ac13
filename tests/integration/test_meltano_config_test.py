"""`meltano config test tap-calltouch`, how the README tells a user to check a token.

Meltano passes the test at the tap's first RECORD. `sites` writes its records from the config
without a call, so when it synced first a wrong token passed; the first record now comes after
the API accepted the token.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import TOKEN
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.integration.conftest import meltano_env

if TYPE_CHECKING:
    from tests.integration.conftest import MeltanoProject

pytestmark = pytest.mark.integration

FIRST_DAY = dt.date(2025, 3, 3)


@pytest.mark.parametrize(("token", "passes"), [(TOKEN, True), (TOKEN[::-1], False)],
                         ids=["accepted token", "rejected token"])  # fmt: skip
def test_meltano_config_test_checks_the_token(
    meltano_project: MeltanoProject, token: str, *, passes: bool
) -> None:
    requests = generate_dataset(seed=4, start=FIRST_DAY, days=2, per_day=3)
    calls = generate_calls(seed=4, start=FIRST_DAY, days=2, per_day=3)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        env = meltano_env(
            TAP_CALLTOUCH_API_TOKEN=token,
            TAP_CALLTOUCH_SITE_ID=str(DEFAULT_SITE_ID),
            TAP_CALLTOUCH_START_DATE=FIRST_DAY.isoformat(),
            TAP_CALLTOUCH_END_DATE=(FIRST_DAY + dt.timedelta(days=2)).isoformat(),
            TAP_CALLTOUCH_API_URL=emulator.url,
        )
        done = subprocess.run(  # noqa: S603 - Meltano, with our own arguments
            [str(meltano_project.meltano), "config", "test", "tap-calltouch"],
            cwd=meltano_project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == passes, output[-3000:]
    if passes:
        assert "Plugin configuration is valid" in output
    else:
        assert "Calltouch rejected the credentials" in output
        assert token not in output
