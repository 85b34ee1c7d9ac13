"""The README stays short, and every page and heading it or docs/ links to exists.

Anchors follow GitHub's rule for heading ids: the heading's text without its Markdown, lower
case, with everything but letters, digits, spaces, hyphens and underscores dropped, spaces made
hyphens, and a repeated id numbered `-1`, `-2`, ...
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_LINK_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
HTML_TAG = re.compile(r"<[^>]+>")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, where links and headings count."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's id for a heading's text."""
    text = INLINE_LINK_TEXT.sub(r"\1", heading)
    text = CODE_SPAN.sub(lambda match: match.group(2), text)
    text = HTML_TAG.sub("", text)
    text = "".join(ch for ch in text.lower() if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading id of a Markdown file, repeated ones numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text("utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The link and image targets of a Markdown file, outside code."""
    targets = []
    for line in prose_lines(path.read_text("utf-8")):
        targets += LINK.findall(CODE_SPAN.sub("", line))
    return targets


def broken_links(path: Path) -> list[str]:
    """The relative links of a file whose file or heading does not exist."""
    broken = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and (linked.suffix != ".md" or unquote(anchor) not in anchors(linked)):
            broken.append(f"{target} (no such heading)")
    return broken


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: path.name)
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_readme_stays_short() -> None:
    lines = len(README.read_text("utf-8").splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines: move detail into docs/"


def test_every_page_is_linked_from_the_readme() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in links(README)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)
    }
    assert PAGES
    assert [page.name for page in PAGES if page.resolve() not in linked] == []


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_page_says_first_what_it_answers(path: Path) -> None:
    lines = path.read_text("utf-8").splitlines()
    assert lines[0].startswith("# ")
    assert lines[2].startswith("This page answers:")


def test_github_heading_ids() -> None:
    """Ids as GitHub gives them, for the kinds of heading these pages have."""
    assert slug("Reports: `leads` and `leads_daily` (dbt)") == "reports-leads-and-leads_daily-dbt"
    assert slug("3. Run it, then schedule it") == "3-run-it-then-schedule-it"
    assert slug("Dashboard: `./scripts/dashboard`") == "dashboard-scriptsdashboard"
    assert slug("duckdb pinned to 1.2.2") == "duckdb-pinned-to-122"
    assert slug("Deployment: from cron to Dagster") == "deployment-from-cron-to-dagster"
    assert slug("Сайты и [зоны](x.md)") == "сайты-и-зоны"


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Same\n\n## Same\n", "utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```bash\n# .env\n```\n\n"
        "[ok](other.md#same-1) [ok](#title) [ok](https://example.com/#x) `[code](gone.md)`\n"
        "[gone](gone.md) [no heading](other.md#same-2) [no heading](#env) ![gone](pic.png)\n",
        "utf-8",
    )
    assert broken_links(page) == [
        "gone.md (no such file)",
        "other.md#same-2 (no such heading)",
        "#env (no such heading)",
        "pic.png (no such file)",
    ]
