"""The venv the measured programs run in: the tap and its own dependencies, nothing else.

Meltano installs an extractor into a venv of its own (`pip_url: -e .` in meltano.yml), so that
is what the tap's start-up costs there. Built once, and again when pyproject.toml changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import subprocess
import sys
from typing import TYPE_CHECKING

from benchmarks.datasets import ROOT, RUN_PYTHON, RUNTIME

if TYPE_CHECKING:
    from collections.abc import Iterator

STAMP = RUNTIME / ".pyproject-sha256"
LOCK = RUNTIME.with_name(RUNTIME.name + ".lock")


@contextlib.contextmanager
def _building() -> Iterator[None]:
    """One check-and-build at a time: two benchmarks started together share the venv."""
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_runtime() -> str:
    """Build `.venv-bench` if it is missing or stale; say what the programs run in."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    with _building():
        if not (RUN_PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted):
            _build()
            STAMP.write_text(wanted)
    return f"programs in {RUNTIME.name} (`pip install -e .` alone, as Meltano installs the tap)"


def _build() -> None:
    print(f"building {RUNTIME.name} (the tap and its dependencies)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(RUNTIME)], check=True)
    pip = [str(RUN_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", str(ROOT)], check=True, cwd=ROOT)
