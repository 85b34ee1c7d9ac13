"""meltano.yml and the Meltano Hub definition declare exactly the settings the tap has.

The truth is `tap-calltouch --about --format=json`: a setting added to, renamed in or removed
from the tap, or one whose type or secrecy changes, fails here until both files follow. The Hub
definition must also pass the Hub's own JSON schemas (a copy in ../shared/reference).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT7

from tap_calltouch.streams import STREAM_TYPES

ROOT = Path(__file__).resolve().parent.parent
MELTANO_YML = ROOT / "meltano.yml"
HUB_FILE = ROOT / "plugins" / "extractors" / "tap-calltouch" / "tap-calltouch.yml"
HUB_SCHEMAS = ROOT.parent / "shared" / "reference" / "meltano-hub-schemas"
RAW_MAIN = "https://raw.githubusercontent.com/tap-calltouch/tap-calltouch/main/"
ISSUE_CAPABILITIES = {"catalog", "discover", "state", "about", "stream-maps"}
JSON_TYPE_TO_KIND = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}
PYPI_PACKAGES = {
    "target-duckdb": "target-duckdb",
    "target-postgres": "meltanolabs-target-postgres",
    "target-jsonl": "target-jsonl",
    "target-bigquery": "z3-target-bigquery",
    "target-clickhouse": "shaped-target-clickhouse",
}
SENSITIVE_LOADER_SETTINGS = {"password", "token", "sqlalchemy_url", "credentials_json"}


@cache
def about() -> dict[str, Any]:
    """The tap's own description of itself, as Meltano and the hub read it."""
    done = subprocess.run(
        [sys.executable, "-m", "tap_calltouch.tap", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def tap_settings() -> dict[str, dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = about()["settings"]["properties"]
    return properties


def expected_kind(name: str, prop: dict[str, Any]) -> str:
    """The Meltano kind a setting of this JSON type should be declared with."""
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    (json_type,) = [t for t in types if t != "null"]
    if json_type == "string" and name.endswith("_date"):
        return "date_iso8601"
    if json_type == "string" and "enum" in prop:
        return "options"
    return JSON_TYPE_TO_KIND[json_type]


def meltano_extractor() -> dict[str, Any]:
    project = yaml.safe_load(MELTANO_YML.read_text(encoding="utf-8"))
    (extractor,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-calltouch"]
    loaded: dict[str, Any] = extractor
    return loaded


def hub_definition() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(HUB_FILE.read_text(encoding="utf-8"))
    return loaded


DEFINITIONS = {"meltano.yml": meltano_extractor, "hub definition": hub_definition}


@pytest.fixture(params=sorted(DEFINITIONS))
def definition(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = DEFINITIONS[request.param]()
    return loaded


def test_every_tap_setting_is_declared_once_and_nothing_else(definition: dict[str, Any]) -> None:
    names = [setting["name"] for setting in definition["settings"]]
    assert len(names) == len(set(names)), "a setting is declared twice"
    assert set(names) == set(tap_settings())


def test_each_setting_has_the_tap_s_kind_label_description_and_secrecy(
    definition: dict[str, Any],
) -> None:
    properties = tap_settings()
    for setting in definition["settings"]:
        name = setting["name"]
        prop = properties[name]
        assert setting.get("kind") == expected_kind(name, prop), name
        assert str(setting.get("label", "")).strip(), f"{name}: no label"
        assert str(setting.get("description", "")).strip(), f"{name}: no description"
        assert bool(setting.get("sensitive")) == bool(prop.get("secret")), name
        if setting["kind"] == "options":
            values = [option["value"] for option in setting["options"]]
            assert values == [v for v in prop["enum"] if v is not None], name
        # Defaults belong to the tap: a `value` here would override the tap's own default.
        assert "value" not in setting, f"{name}: declares a default; leave it to the tap"


def test_required_settings_are_the_group_validation(definition: dict[str, Any]) -> None:
    """One site by `site_id` with `api_token`, or several in `sites`; `start_date` either way."""
    required = set(about()["settings"]["required"])
    groups = [set(group) for group in definition["settings_group_validation"]]
    assert all(required <= group for group in groups)
    assert [sorted(group - required) for group in groups] == [["api_token", "site_id"], ["sites"]]


def test_capabilities_are_the_tap_s_own(definition: dict[str, Any]) -> None:
    declared = set(definition["capabilities"])
    assert declared >= ISSUE_CAPABILITIES
    assert declared <= set(about()["capabilities"])


def test_every_stream_is_selected(definition: dict[str, Any]) -> None:
    names = [vars(stream_type)["name"] for stream_type in STREAM_TYPES]
    assert definition["select"] == [f"{name}.*" for name in names]


def test_meltano_yml_installs_the_local_package() -> None:
    extractor = meltano_extractor()
    assert extractor["namespace"] == "tap_calltouch"
    assert extractor["pip_url"] == "-e ."
    assert extractor["executable"] == about()["name"]


def test_hub_definition_installs_the_published_package() -> None:
    hub = hub_definition()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert hub["name"] == hub["executable"] == about()["name"]
    assert hub["variant"] == HUB_FILE.stem
    assert hub["namespace"] == "tap_calltouch"
    assert hub["pip_url"] == "tap-calltouch"
    assert f'name = "{hub["pip_url"]}"' in pyproject
    assert f'Repository = "{hub["repo"]}"' in pyproject


def test_loaders_install_from_pypi_with_inline_settings() -> None:
    project = yaml.safe_load(MELTANO_YML.read_text(encoding="utf-8"))
    loaders = {loader["name"]: loader for loader in project["plugins"]["loaders"]}
    assert set(loaders) == set(PYPI_PACKAGES)
    for name, loader in loaders.items():
        assert re.split(r"[=~<>! ]", loader["pip_url"])[0] == PYPI_PACKAGES[name]
        assert loader["namespace"] == name.replace("-", "_")
        for setting in loader["settings"]:
            for key in ("kind", "label", "description"):
                assert setting.get(key), f"{name}.{setting['name']}: no {key}"
            secret = setting["name"] in SENSITIVE_LOADER_SETTINGS
            assert bool(setting.get("sensitive")) == secret, f"{name}.{setting['name']}"
    assert loaders["target-postgres"]["config"]["load_method"] == "upsert"
    jobs = {job["name"]: job["tasks"] for job in project["jobs"]}
    assert jobs["calltouch-to-duckdb"] == [
        "tap-calltouch target-duckdb dbt-duckdb:run dbt-duckdb:test"
    ]
    assert jobs["calltouch-to-postgres"] == [
        "tap-calltouch target-postgres dbt-postgres:run dbt-postgres:test"
    ]
    assert jobs["calltouch-to-clickhouse"] == [
        "tap-calltouch target-clickhouse dbt-clickhouse:run dbt-clickhouse:test"
    ]
    assert any(schedule["interval"] == "@daily" for schedule in project["schedules"])
    assert project["send_anonymous_usage_stats"] is False


def test_clickhouse_loader_and_dbt_profile_read_the_same_variables() -> None:
    """target-clickhouse's connection settings, as Meltano names them in the environment
    (TARGET_CLICKHOUSE_HOST, ...), are what the dbt-clickhouse profile reads; the loader is
    pinned, in a Python 3.11 venv, and writes ReplacingMergeTree tables the models read FINAL."""
    project = yaml.safe_load(MELTANO_YML.read_text(encoding="utf-8"))
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-clickhouse")
    assert re.fullmatch(r"shaped-target-clickhouse==[\d.]+ setuptools<81", loader["pip_url"])
    assert loader["python"] == "3.11"
    assert loader["config"]["engine_type"] == "ReplacingMergeTree"
    assert loader["config"]["database"] == "calltouch"
    names = {setting["name"] for setting in loader["settings"]}
    profile = (ROOT / "transform" / "profiles" / "clickhouse" / "profiles.yml").read_text(
        encoding="utf-8"
    )
    for name in ("host", "port", "username", "password", "secure", "verify"):
        assert name in names
        assert f"env_var('TARGET_CLICKHOUSE_{name.upper()}'" in profile, name
    sources = (ROOT / "transform" / "models" / "staging" / "_calltouch__sources.yml").read_text(
        encoding="utf-8"
    )
    assert "env_var('TARGET_CLICKHOUSE_DATABASE'" in sources
    utility = next(p for p in project["plugins"]["utilities"] if p["name"] == "dbt-clickhouse")
    assert "dbt-clickhouse~=" in utility["pip_url"]


# --- the Hub's own schemas -----------------------------------------------------------------------


def hub_registry() -> referencing.Registry[Any]:
    """Every Hub schema file under its own path, so `$ref`s resolve relative to each file.

    Each file's `$id` is a bare relative name that would re-anchor its `$ref`s elsewhere; the
    Hub resolves them by path, so the file's location is its id here.
    """
    resources = []
    for path in sorted(HUB_SCHEMAS.rglob("*.schema.json")):
        contents = json.loads(path.read_text("utf-8"))
        contents.pop("$id", None)
        resources.append((path.as_uri(), DRAFT7.create_resource(contents)))
    return referencing.Registry().with_resources(resources)


def hub_errors(document: dict[str, Any]) -> list[str]:
    """What the Hub's extractor schema finds wrong in a definition, one line per error."""
    if not HUB_SCHEMAS.is_dir():
        pytest.skip(f"the Hub's schemas are not here: {HUB_SCHEMAS} (../shared is absent)")
    main = HUB_SCHEMAS / "plugin_definitions" / "extractors.schema.json"
    validator = jsonschema.Draft7Validator({"$ref": main.as_uri()}, registry=hub_registry())
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_hub_definition_passes_the_hub_schema() -> None:
    assert hub_errors(hub_definition()) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.pop("quality"), "'quality' is a required property"),
        (lambda d: d.update(maintenance_status="maintained"), "'maintained' is not one of"),
        (lambda d: d["capabilities"].append("log"), "'log' is not one of"),
        (lambda d: d["settings"][0].update(secret=True), "'secret' was unexpected"),
        (lambda d: d.update(logo="x.svg"), "'logo' was unexpected"),
    ],
    ids=["no quality", "bad status", "bad capability", "bad setting key", "unknown key"],
)
def test_the_hub_schema_check_finds_what_the_hub_refuses(change: Any, says: str) -> None:
    """The schemas are really applied, `$ref`s into common/ included."""
    broken = hub_definition()
    change(broken)
    assert any(says in error for error in hub_errors(broken))


def test_hub_definition_has_what_a_hub_page_shows() -> None:
    hub = hub_definition()
    for key in ("label", "description", "domain_url", "docs", "repo", "quality", "keywords"):
        assert hub.get(key), f"no {key}"
    assert hub["maintenance_status"] == "active"
    assert {"api", "meltano_sdk", "calltouch"} <= set(hub["keywords"])
    assert hub["domain_url"].startswith("https://")
    assert hub["supported_python_versions"] == about()["supported_python_versions"]
    assert hub["log_parser"] == "singer-sdk"  # the SDK's structured logs


def test_hub_logo_is_a_file_of_this_repository() -> None:
    logo_url = hub_definition()["logo_url"]
    assert logo_url.startswith(RAW_MAIN), logo_url
    logo = ROOT / logo_url.removeprefix(RAW_MAIN)
    assert logo.is_file(), f"{logo} is not committed"
    assert logo.suffix == ".svg"
    root = ET.fromstring(logo.read_text("utf-8"))  # noqa: S314 - our own file
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_hub_capabilities_are_the_tap_s_own() -> None:
    assert set(hub_definition()["capabilities"]) == set(about()["capabilities"])
