"""Check a release before it is published, and print its notes.

    python scripts/release_check.py v0.2.0 dist/ > notes.md

The tag, the version inside every built distribution and a dated CHANGELOG.md section must
agree; otherwise this names what differs and exits 1, and nothing is published. On success it
prints that section's text, the notes of the GitHub release.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(r"v(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)")
SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})\s*$")


class ReleaseError(Exception):
    """The release must not go out; the message says why."""


def tag_version(tag: str) -> str:
    """The version a tag names: `v1.2.3` (or `v1.2.3rc1`) is 1.2.3."""
    match = TAG.fullmatch(tag)
    if not match:
        message = f"tag {tag!r} is not a version tag like v1.2.3"
        raise ReleaseError(message)
    return match.group(1)


def built_version(path: Path) -> str:
    """The version recorded inside a wheel (METADATA) or an sdist (PKG-INFO)."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            text = wheel.read(name).decode("utf-8")
    else:
        with tarfile.open(path) as sdist:
            (member,) = [m for m in sdist.getmembers() if m.name.count("/") == 1
                         and m.name.endswith("/PKG-INFO")]  # fmt: skip
            extracted = sdist.extractfile(member)
            if extracted is None:
                message = f"{path.name}: PKG-INFO is not a file"
                raise ReleaseError(message)
            text = extracted.read().decode("utf-8")
    return str(HeaderParser().parsestr(text)["Version"])


def changelog_section(changelog: str, version: str) -> str:
    """The text of the dated section of `version`, without its heading."""
    lines = changelog.splitlines()
    starts = [i for i, line in enumerate(lines) if SECTION.match(line)]
    for start in starts:
        match = SECTION.match(lines[start])
        if match and match.group("version") == version:
            end = next((i for i in starts if i > start), len(lines))
            body = "\n".join(lines[start + 1 : end])
            body = re.sub(r"^\[[^\]]+\]: .*$", "", body, flags=re.MULTILINE).strip()
            if not body:
                message = f"CHANGELOG.md: the section of {version} is empty"
                raise ReleaseError(message)
            return body
    message = f"CHANGELOG.md has no dated section `## [{version}] - YYYY-MM-DD`"
    raise ReleaseError(message)


def check(tag: str, dist: Path, changelog: str) -> str:
    """The release notes of `tag`, once the built files and the changelog agree with it."""
    version = tag_version(tag)
    built = sorted(dist.glob("*.whl")) + sorted(dist.glob("*.tar.gz"))
    if not any(p.suffix == ".whl" for p in built) or not any(p.suffix == ".gz" for p in built):
        message = f"{dist}: expected one wheel and one sdist, found {[p.name for p in built]}"
        raise ReleaseError(message)
    for path in built:
        found = built_version(path)
        if found != version:
            message = f"{path.name} is version {found}, the tag {tag} says {version}"
            raise ReleaseError(message)
    return changelog_section(changelog, version)


def main(argv: list[str]) -> int:
    """Print the notes of a release that may go out, or why it may not."""
    if len(argv) != 2:  # noqa: PLR2004 - a tag and a folder
        print(__doc__, file=sys.stderr)
        return 2
    tag, dist = argv
    try:
        print(check(tag, Path(dist), (ROOT / "CHANGELOG.md").read_text("utf-8")))
    except ReleaseError as error:
        print(f"release check failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
