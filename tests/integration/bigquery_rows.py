"""What z3-target-bigquery would send BigQuery for a tap's output, without BigQuery.

Run with the loader's own Python (its venv): `python bigquery_rows.py CONFIG_JSON < messages`.
The loader's own classes do the work: the sink class its target picks for the config, built
with the calls that need Google stubbed (the client, creating tables, the waits for their
consistency); each RECORD takes the steps the SDK's target takes (metadata, `preprocess_record`,
`process_record` into the sink's gzip buffer), read back from that buffer. Prints one JSON line
per sink: its stream, the load job's schema (`SchemaField.to_api_repr()`), and its NDJSON rows.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import types
from typing import Any
from unittest import mock

from target_bigquery import core
from target_bigquery.target import TargetBigQuery


def main() -> None:
    config = json.loads(sys.argv[1])
    core.bigquery_client_factory = lambda _credentials: mock.MagicMock()
    core.BigQueryTable.create_table = lambda *_args, **_kwargs: None
    core.time = types.SimpleNamespace(strftime=time.strftime, sleep=lambda _seconds: None)
    target = TargetBigQuery(config=config)
    sink_class = target.get_sink_class()
    sinks: dict[str, Any] = {}
    done: list[Any] = []
    for line in sys.stdin:
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            if message["stream"] in sinks:
                done.append(sinks[message["stream"]])
            sinks[message["stream"]] = sink_class(
                target, message["stream"], message["schema"], message.get("key_properties")
            )
        elif message["type"] == "RECORD":
            sink = sinks[message["stream"]]
            record = dict(message["record"])
            context = sink._get_context(record)
            sink._add_sdc_metadata_to_record(record, message, context)
            sink._validate_and_parse(record)
            sink.process_record(sink.preprocess_record(record, context), context)
    for sink in [*done, *sinks.values()]:
        rows = gzip.decompress(sink.buffer.getvalue()).decode().splitlines()
        fields = [field.to_api_repr() for field in sink.job_config["schema"]]
        sys.stdout.write(
            json.dumps({"stream": sink.stream_name, "fields": fields, "rows": rows}) + "\n"
        )


if __name__ == "__main__":
    main()
