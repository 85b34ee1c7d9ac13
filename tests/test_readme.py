"""The README's settings table is the tap's own `--about` output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_settings_table_matches_about() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_calltouch.tap", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = about[about.index("| Setting |") : about.index("\nA full list")].strip()
    text = README.read_text("utf-8")
    documented = text[text.index("<!-- settings:start -->") : text.index("<!-- settings:end -->")]
    assert table in documented, "refresh README: tap-calltouch --about --format=markdown"
