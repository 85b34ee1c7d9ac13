"""BigQuery: every record the tap emits loads under the table the configured loader makes of it.

No BigQuery here (it needs a Google project and credentials): z3-target-bigquery, as
meltano.yml pins and configures it, runs offline in a venv of its own (.venv-bigquery, reused
while the pin is unchanged) and says what it would send (`bigquery_rows.py`): the load job's
schema, translated from each SCHEMA by its own code, and each row as its NDJSON line. Each row
is then checked against BigQuery's documented typing rules (`tests/bigquery_rules.py`). The
sync fills every block: custom fields and tags with values of every type, visits, deals,
comments, ad blocks, items without their ids, and the captured real records where present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.bigquery_rules import row_problems, schema_problems
from tests.captured import account, vary
from tests.conftest import TOKEN, run_tap
from tests.emulator.server import Emulator
from tests.integration.conftest import ROOT, exclusive, run_logged
from tests.integration.figures import timed

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

VENV = ROOT / ".venv-bigquery"
ROWS = ROOT / "tests" / "integration" / "bigquery_rows.py"


def loader() -> dict[str, Any]:
    """target-bigquery as meltano.yml declares it."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    plugins = project["plugins"]["loaders"]
    found: dict[str, Any] = next(p for p in plugins if p["name"] == "target-bigquery")
    return found


@pytest.fixture(scope="session")
def bigquery_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a venv holding the loader as meltano.yml pins it, on the Python it names."""
    plugin = loader()
    wanted = f"{plugin.get('python', '3')} {plugin['pip_url']}"
    python = VENV / "bin" / "python"
    stamp = VENV / "pip_url.txt"
    with exclusive(VENV):
        if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
            return python
        base = shutil.which(f"python{plugin.get('python', '3')}")
        if base is None:
            pytest.fail(
                f"target-bigquery needs Python {plugin.get('python')} (meltano.yml): not found"
            )
        logs = tmp_path_factory.mktemp("bigquery-venv")
        with timed("install target-bigquery into .venv-bigquery (pip)"):
            shutil.rmtree(VENV, ignore_errors=True)
            run_logged([base, "-m", "venv", str(VENV)], logs / "venv.log")
            pip = [str(python), "-m", "pip", "install", "--progress-bar", "off"]
            run_logged([*pip, *plugin["pip_url"].split()], logs / "pip.log")
            stamp.write_text(wanted, encoding="utf-8")
    return python


def test_every_record_loads_under_the_schema_the_loader_translates(
    bigquery_python: Path, tmp_path: Path
) -> None:
    config = dict(loader()["config"])
    # The path this test covers: the one meltano.yml configures.
    assert config["method"] == "batch_job"
    assert config["denormalized"] is True
    assert config["schema_resolver_version"] == 2
    served = account()
    vary(served)
    with Emulator(sites=served.sites.values(), tokens={TOKEN: set(served.sites)}) as api:
        result = run_tap(served.config(api.url, TOKEN), streams=None)
    messages = tmp_path / "messages.jsonl"
    messages.write_text("".join(json.dumps(m) + "\n" for m in result.messages), "utf-8")

    with messages.open("rb") as stdin:
        done = subprocess.run(  # noqa: S603 - the loader's Python with our own script
            [str(bigquery_python), str(ROWS), json.dumps({**config, "project": "offline"})],
            stdin=stdin,
            capture_output=True,
            check=False,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    sinks = [json.loads(line) for line in done.stdout.decode().splitlines()]

    problems: list[str] = []
    rows: Counter[str] = Counter()
    for sink in sinks:
        stream = sink["stream"]
        problems.extend(schema_problems(sink["fields"], f"{stream}: "))
        for line in sink["rows"]:
            problems.extend(row_problems(sink["fields"], json.loads(line), f"{stream}: "))
        rows[stream] += len(sink["rows"])
    assert problems == [], f"{len(problems)} problem(s), first: {problems[:10]}"
    assert rows == Counter({s: len(r) for s, r in result.records.items()})  # every record
    assert all(rows[stream] for stream in result.records), rows  # every stream had some
