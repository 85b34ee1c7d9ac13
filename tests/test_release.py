"""A release by tag: the workflow's jobs and pins, its version check, and the changelog."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.conftest import load_script

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
CHANGELOG = ROOT / "CHANGELOG.md"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def load_release_check() -> ModuleType:
    return load_script(ROOT / "scripts" / "release_check.py")


release_check = load_release_check()


def about_version() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tap_calltouch.tap", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    version: str = json.loads(done.stdout)["version"]
    return version


def workflow(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return loaded


def uses_lines(path: Path) -> list[str]:
    """Each `uses:` of a workflow with its comment, as written."""
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text("utf-8").splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
        and not line.split("uses:", 1)[1].strip().startswith("$/")  # this repository's own
    ]


# --- the workflow ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path) -> None:
    lines = uses_lines(path)
    assert lines
    assert [line for line in lines if not PINNED.match(line)] == []


def test_release_runs_on_a_version_tag_only() -> None:
    # PyYAML reads the key `on` as True.
    assert workflow(RELEASE)[True] == {"push": {"tags": ["v*"]}}


def test_release_builds_once_and_publishes_by_trusted_publishing() -> None:
    flow = workflow(RELEASE)
    jobs = flow["jobs"]
    assert flow["permissions"] == {}  # nothing unless a job asks
    assert list(jobs) == ["test", "build", "publish", "github-release"]
    build_uses = [step.get("uses", "") for step in jobs["build"]["steps"]]
    assert any(u.startswith("hynek/build-and-inspect-python-package@") for u in build_uses)
    assert jobs["build"]["permissions"] == {"contents": "read"}
    runs = " ".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "twine check --strict" in runs
    assert "tap-calltouch --about" in runs
    assert "scripts/release_check.py" in runs

    publish = jobs["publish"]
    assert publish["needs"] == ["test", "build"]
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    (step,) = [s for s in publish["steps"] if "pypi-publish" in s.get("uses", "")]
    assert "with" not in step  # no password, no token: trusted publishing
    assert all("build" not in s.get("run", "") for s in publish["steps"])  # built once

    release = jobs["github-release"]
    assert release["needs"] == "publish"
    assert release["permissions"] == {"contents": "write"}
    assert "gh release create" in " ".join(s.get("run", "") for s in release["steps"])
    assert "secrets." not in RELEASE.read_text("utf-8")


def test_release_publishes_only_a_tag_that_passed_every_test_job() -> None:
    """The release runs the test workflow itself, on the tagged commit, and publishes only
    after all of it passed: a tag pushed on a commit CI never saw (or saw fail) is not
    published."""
    tests = workflow(WORKFLOWS / "test.yml")
    assert "workflow_call" in tests[True]
    called = workflow(RELEASE)["jobs"]["test"]
    assert called["uses"] == "$/.github/workflows/test.yml"  # GitHub's form for its own files
    assert called["permissions"] == tests["permissions"]  # a called workflow gets no more
    # Its runs on a tag never cancel each other or the release (a group of its own).
    assert "github.workflow" not in tests["concurrency"]["group"]
    assert workflow(RELEASE)["jobs"]["publish"]["needs"][0] == "test"


def test_dependabot_keeps_the_actions_current_after_a_cooldown() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text("utf-8"))
    (actions,) = [u for u in config["updates"] if u["package-ecosystem"] == "github-actions"]
    assert actions["cooldown"]["default-days"] >= 7
    assert all(update.get("cooldown") for update in config["updates"])


def test_ci_lints_the_workflows_with_zizmor() -> None:
    runs = [
        step.get("run", "") for step in workflow(WORKFLOWS / "test.yml")["jobs"]["zizmor"]["steps"]
    ]
    assert "zizmor --offline .github" in runs


# --- the version check ----------------------------------------------------------------------------

CHANGES = """# Changelog

## [Unreleased]

### Added
- Something new.

## [1.2.0] - 2026-12-01

### Fixed
- A thing.

## [1.1.0] - 2026-11-01

- Older.

[1.2.0]: https://example.invalid/v1.2.0
"""


def fake_dist(folder: Path, version: str, sdist_version: str | None = None) -> Path:
    """A wheel and an sdist carrying their versions where the built ones do."""
    folder.mkdir(exist_ok=True)
    metadata = f"Metadata-Version: 2.4\nName: tap-calltouch\nVersion: {version}\n\n"
    with zipfile.ZipFile(folder / f"tap_calltouch-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"tap_calltouch-{version}.dist-info/METADATA", metadata)
    sdist = sdist_version or version
    info = f"Metadata-Version: 2.4\nName: tap-calltouch\nVersion: {sdist}\n\n".encode()
    with tarfile.open(folder / f"tap_calltouch-{sdist}.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo(f"tap_calltouch-{sdist}/PKG-INFO")
        member.size = len(info)
        tar.addfile(member, io.BytesIO(info))
    return folder


def test_a_matching_tag_gives_its_changelog_section(tmp_path: Path) -> None:
    notes = release_check.check("v1.2.0", fake_dist(tmp_path / "dist", "1.2.0"), CHANGES)
    assert notes == "### Fixed\n- A thing."


@pytest.mark.parametrize(
    ("tag", "wheel", "sdist", "says"),
    [
        ("v1.3.0", "1.2.0", None, "tap_calltouch-1.2.0-py3-none-any.whl is version 1.2.0"),
        ("v1.2.0", "1.2.0", "1.2.1", "is version 1.2.1, the tag v1.2.0 says 1.2.0"),
        ("1.2.0", "1.2.0", None, "not a version tag"),
        ("v1.1.1", "1.1.1", None, "no dated section `## [1.1.1]"),
    ],
    ids=["tag ahead of the code", "sdist differs", "no v", "no changelog entry"],
)
def test_a_release_whose_parts_disagree_is_stopped(
    tmp_path: Path, tag: str, wheel: str, sdist: str | None, says: str
) -> None:
    dist = fake_dist(tmp_path / "dist", wheel, sdist)
    with pytest.raises(release_check.ReleaseError, match=re.escape(says)):
        release_check.check(tag, dist, CHANGES)


# --- the changelog --------------------------------------------------------------------------------


def test_the_changelog_s_first_release_is_the_version_the_tap_reports() -> None:
    text = CHANGELOG.read_text("utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## [Unreleased]"
    match = release_check.SECTION.match(headings[1])
    assert match, headings[1]
    assert match.group("version") == about_version()
    assert release_check.changelog_section(text, about_version())
