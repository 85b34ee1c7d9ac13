"""`meltano config test tap-calltouch`, through Meltano itself, against the emulator.

Meltano runs the tap with its selection and calls the configuration valid at the first RECORD
(or BATCH); otherwise it fails with the last line the tap wrote. The tap must fail, with its
one message, for a rejected token, an unknown site and an `api_url` where nothing listens, and
pass for a good configuration. It runs in the suite's Meltano project (tests/integration).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import FIRST_DAY, TOKEN
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.integration.conftest import MeltanoProject, meltano_env
from tests.test_faults import assert_no_token, closed_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

WRONG_TOKEN = "wrong/Token+of/another-login"  # noqa: S105 - made up, long enough to be masked
VALID = "Plugin configuration is valid"
INVALID = "Plugin configuration is invalid"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    dataset = generate_dataset(seed=3, start=FIRST_DAY, days=3, per_day=2)
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=None) as server:
        yield server


def config_test(project: MeltanoProject, **settings: str) -> subprocess.CompletedProcess[str]:
    good = {
        "TAP_CALLTOUCH_API_TOKEN": TOKEN,
        "TAP_CALLTOUCH_SITE_ID": str(DEFAULT_SITE_ID),
        "TAP_CALLTOUCH_START_DATE": FIRST_DAY.isoformat(),
        "TAP_CALLTOUCH_END_DATE": (FIRST_DAY + dt.timedelta(days=2)).isoformat(),
        "NO_PROXY": "*",  # every call goes to 127.0.0.1 or nowhere
    }
    env = meltano_env(**{**good, **settings})
    return subprocess.run(  # noqa: S603 - meltano with our own arguments
        [str(project.meltano), "config", "test", "tap-calltouch"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_good_configuration_is_valid(meltano_project: MeltanoProject, emulator: Emulator) -> None:
    done = config_test(meltano_project, TAP_CALLTOUCH_API_URL=emulator.url)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert VALID in output
    assert emulator.count(200) >= 1
    assert_no_token(output)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        pytest.param(
            {"TAP_CALLTOUCH_API_TOKEN": WRONG_TOKEN},
            ["Calltouch rejected the credentials (HTTP 403)", "`api_token`"],
            id="rejected-token",
        ),
        pytest.param(
            {"TAP_CALLTOUCH_SITE_ID": "999"},
            ["Calltouch rejected the credentials (HTTP 403)", "`site_id`"],
            id="unknown-site",
        ),
        pytest.param(
            {"TAP_CALLTOUCH_API_URL": "unreachable"},  # a loopback port nothing listens on
            ["failed after 8 attempts", "check the `api_url` setting"],
            id="unreachable-api-url",
        ),
    ],
)
def test_a_wrong_configuration_fails_with_the_taps_message(
    meltano_project: MeltanoProject,
    emulator: Emulator,
    settings: dict[str, str],
    says: list[str],
) -> None:
    """The unreachable case waits out the tap's eight tries (about a minute), as in production."""
    url = emulator.url
    if settings.get("TAP_CALLTOUCH_API_URL") == "unreachable":
        settings = {**settings, "TAP_CALLTOUCH_API_URL": f"http://127.0.0.1:{closed_port()}"}
    done = config_test(meltano_project, **{"TAP_CALLTOUCH_API_URL": url, **settings})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert INVALID in output
    assert VALID not in output
    # Meltano shows the tap's last line: the tap's one message, not a traceback's last line.
    shown = output[output.index(INVALID) :].splitlines()[1]
    for text in says:
        assert text in shown, shown
    assert "Traceback" not in output
    assert_no_token(output)
    assert_no_token(output, token=WRONG_TOKEN)
