"""The benchmark command's shape: its sections, their options and its modules' size."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.run import DEFAULT_SECTIONS, SECTIONS, parse_args
from benchmarks.scenarios import SCENARIOS

ROOT = Path(__file__).parent.parent
MAX_MODULE_LINES = 400


def test_every_section_is_a_scenario_once_and_profile_only_when_asked() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(names) == len(set(names))
    assert parse_args([]).sections == list(DEFAULT_SECTIONS)
    assert "profile" in SECTIONS
    assert "profile" not in DEFAULT_SECTIONS
    assert parse_args(["--only", "calls-cpu, cpu"]).sections == ["calls-cpu", "cpu"]


def test_the_readme_lists_the_sections_of_the_command() -> None:
    text = (ROOT / "benchmarks" / "README.md").read_text("utf-8")
    listed = text[text.index("- `--only`") : text.index("- Every tap run")]
    assert set(re.findall(r"`([a-z-]+)`", listed)) - {"--only"} == set(SECTIONS)


def test_no_benchmark_module_is_over_the_limit() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text("utf-8").splitlines())
        for path in (ROOT / "benchmarks").rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_the_script_runs_from_the_repository_root() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--only", "nothing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2  # argparse refused the section, after every import worked
    assert "unknown section(s) nothing" in done.stderr
