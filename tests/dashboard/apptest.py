"""Run dashboard/app.py in Streamlit's AppTest and print what each view shows, as JSON.

    .venv-dashboard/bin/python -m tests.dashboard.apptest < RUNS.json

RUNS.json is a list of {"database": a --database value, "env": {variables to set first},
"views": [choices, ...]}; each choices
is {"site": a site label or null, "days": [first, last] (ISO) or null, "sources": [...]}, set on
the page's widgets before a rerun ({} is the page as it opens). For each view this prints its
metrics, captions, messages, widget options, tables (exact values, not the formatted text) and
the two charts' data, read from the elements Streamlit sent, for the test to compare with SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TABLES = ("sources", "campaigns", "latest")


def main() -> None:
    """Each run's views, in order, on stdout."""
    runs = json.load(sys.stdin)
    results = []
    for run in runs:
        os.environ.update(run.get("env", {}))
        os.environ["CALLTOUCH_DASHBOARD_DATABASE"] = run["database"]
        app = AppTest.from_file(str(APP), default_timeout=120)
        views = []
        for choices in run["views"]:
            choose(app, choices)
            app.run()
            views.append(view(app))
        results.append(views)
    json.dump(results, sys.stdout, ensure_ascii=False, default=str)


def choose(app: AppTest, choices: dict[str, Any]) -> None:
    """Set the sidebar's widgets as `choices` says."""
    if choices.get("site"):
        app.selectbox(key="site").select(choices["site"])
    if choices.get("days"):
        first, last = (dt.date.fromisoformat(day) for day in choices["days"])
        app.date_input(key="days").set_value((first, last))
    if "sources" in choices:
        app.multiselect(key="sources").set_value(choices["sources"])


def view(app: AppTest) -> dict[str, Any]:
    """What the page shows now."""
    shown: dict[str, Any] = {
        "exceptions": [error.value for error in app.exception],
        "info": [message.value for message in app.info],
        "code": [block.value for block in app.code],
        "metrics": {metric.label: metric.value for metric in app.metric},
        "captions": [caption.value for caption in app.caption],
    }
    if not app.metric:
        return shown
    shown["site_options"] = list(app.selectbox(key="site").options)
    shown["source_options"] = list(app.multiselect(key="sources").options)
    days = app.date_input(key="days").value
    shown["days"] = [day.isoformat() for day in days] if isinstance(days, tuple) else [str(days)]
    frames = [*(table.value for table in app.table), *(grid.value for grid in app.dataframe)]
    shown["tables"] = {name: records(frame) for name, frame in zip(TABLES, frames, strict=False)}
    shown["charts"] = [
        records(chart_data(element.proto))
        for element in app.main
        if type(element).__name__ == "UnknownElement" and hasattr(element.proto, "datasets")
    ]
    return shown


def chart_data(proto: Any) -> Any:
    """The frame a Vega-Lite chart was drawn from (Arrow IPC in its one dataset)."""
    (dataset,) = proto.datasets
    return convert_arrow_bytes_to_pandas_df(dataset.data.data)


def records(frame: Any) -> list[dict[str, Any]]:
    """Rows as dicts; Decimals and dates as text, to compare exactly."""
    return [
        {str(key): value for key, value in row.items()}
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


if __name__ == "__main__":
    main()
