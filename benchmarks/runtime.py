"""The venv the measured programs run in: the tap and its own dependencies, nothing else.

Meltano installs an extractor into a venv of its own (`pip_url: -e .` in meltano.yml), so that
is what the tap's start-up costs there. Built once, and again when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

from benchmarks.datasets import ROOT, RUN_PYTHON, RUNTIME

STAMP = RUNTIME / ".pyproject-sha256"


def ensure_runtime() -> str:
    """Build `.venv-bench` if it is missing or stale; say what the programs run in."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not (RUN_PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted):
        print(f"building {RUNTIME.name} (the tap and its dependencies)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(RUNTIME)], check=True)
        pip = [str(RUN_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-e", str(ROOT)], check=True, cwd=ROOT)
        STAMP.write_text(wanted)
    return f"programs in {RUNTIME.name} (`pip install -e .` alone, as Meltano installs the tap)"
