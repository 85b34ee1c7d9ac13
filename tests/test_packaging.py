"""What the package declares: every distribution its code imports, and the checks of a commit."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "tap_calltouch"
#: Standard modules that read data a distribution provides where the system has none.
STDLIB_DATA = {"zoneinfo": "tzdata"}


def imported_modules() -> set[str]:
    """The top-level modules the package imports, under TYPE_CHECKING too."""
    names: set[str] = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - {"__future__", PACKAGE.name}


def declared() -> set[str]:
    """The distributions the installed package requires, whatever the markers say."""
    requires = importlib.metadata.requires("tap-calltouch") or []
    return {canonicalize_name(Requirement(line).name) for line in requires}


def providers(module: str) -> list[str]:
    """The distributions that install a top-level module."""
    found = importlib.metadata.packages_distributions().get(module)
    if found:
        return found
    # Python 3.10 knows only distributions that list their modules in top_level.txt.
    return [
        dist.metadata["Name"]
        for dist in importlib.metadata.distributions()
        if any(path.parts[0] in {module, f"{module}.py"} for path in dist.files or ())
    ]


def test_every_distribution_the_code_imports_is_declared() -> None:
    modules = imported_modules()
    needed = {
        canonicalize_name(dist)
        for module in modules - set(sys.stdlib_module_names)
        for dist in providers(module)
    }
    needed |= {canonicalize_name(STDLIB_DATA[m]) for m in modules & STDLIB_DATA.keys()}
    assert "python-backoff" in needed  # `import backoff` is found under its distribution's name
    assert needed - declared() == set()


def test_every_declared_distribution_has_a_lower_bound() -> None:
    requires = importlib.metadata.requires("tap-calltouch") or []
    for requirement in map(Requirement, requires):
        assert any(spec.operator in {">=", "~=", "=="} for spec in requirement.specifier), (
            requirement
        )


def script_checks() -> list[list[str]]:
    """The lint and type checks ./scripts/test runs before pytest, as argument lists."""
    lines = (ROOT / "scripts" / "test").read_text("utf-8").splitlines()
    tools = r"\.venv/bin/(ruff|mypy|zizmor)\b"
    checks = [shlex.split(line) for line in lines if re.match(tools, line)]
    assert len(checks) >= 4, checks
    assert any(check[0].endswith("zizmor") for check in checks), "workflows go unlinted"
    return checks


def test_pre_commit_runs_the_checks_of_the_test_script() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text("utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    entries = [shlex.split(hook["entry"]) for hook in hooks]
    for check in script_checks():
        # ruff and zizmor take the staged files in place of `.` or `.github`; mypy reads its
        # files from pyproject.
        command = check[:-1] if check[-1] in {".", ".github"} else check
        assert command in entries, f"{shlex.join(check)} is not a pre-commit hook"
    for hook, entry in zip(hooks, entries, strict=True):
        assert hook["language"] == "system", hook  # the venv's tools, nothing fetched
        assert entry[0].startswith(".venv/bin/"), hook
        if entry[0].endswith("mypy"):
            assert hook["pass_filenames"] is False, hook  # the whole program, not a file


# Makes the running Python one past its end of life for singer-sdk's check, then runs the CLI.
PAST_END_OF_LIFE = """
import datetime, sys
from singer_sdk.helpers import _compat
_compat._PYTHON_EOL_DATES[sys.version_info[:2]] = datetime.date(2000, 1, 1)
from tap_calltouch.tap import TapCalltouch
TapCalltouch.cli()
"""


def test_a_python_past_its_end_of_life_warns_without_stopping_the_tap(tmp_path: Path) -> None:
    # singer-sdk warns at every tap it builds on such a Python (3.10 since 2026-10); with
    # warnings as errors (-W error, PYTHONWARNINGS=error) that warning must not end the run.
    config = tmp_path / "config.json"
    config.write_text('{"api_token": "t", "site_id": "1", "start_date": "2025-03-01"}')
    argv = [sys.executable, "-W", "error", "-c", PAST_END_OF_LIFE, "--config", str(config)]
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [*argv, "--discover"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reached its end of life" in done.stderr  # still said
    assert "Traceback" not in done.stderr
    assert '"streams"' in done.stdout
