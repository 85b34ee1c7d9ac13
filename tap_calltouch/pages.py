"""Page consistency: whether the pages of one window add up to one read of it.

Pages of a window that changes while it is read (today's calls arriving push calls down a
page; a removed call pulls one up past a page already read) could double or hide a call. A
`PageCheck` skips calls already emitted in the window and tells whether the read was whole:
every page reported the same `recordsTotal`, and that many distinct calls came. A window whose
read was not is read once more (`JournalStream._read_again`), emitting only the calls not seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Record


class PageCheck:
    """What one read of a paged window saw: the keys emitted and the totals pages reported.

    The window was read consistently when every page reported the same `recordsTotal` and
    that many distinct records arrived.
    """

    def __init__(self, key: str, seen: set[Any] | None = None) -> None:
        """Track records by `key`; `seen` carries the keys of an earlier read."""
        self.key = key
        self.seen: set[Any] = set() if seen is None else seen
        self.totals: set[int | None] = set()
        self.count = 0

    def fresh(self, records: Iterable[Record], total: int | None) -> Iterator[Record]:
        """The records not emitted yet; notes the page's `recordsTotal`."""
        self.totals.add(total)
        seen, key = self.seen, self.key
        for record in records:
            value = record.get(key)
            self.count += 1
            if value is None or value not in seen:
                seen.add(value)
                yield record

    @property
    def steady(self) -> bool:
        """Every page reported the same total."""
        return len(self.totals) == 1

    @property
    def consistent(self) -> bool:
        """Every page reported the same total, and that many distinct records came."""
        return self.steady and self.totals == {len(self.seen)}

    def again(self) -> PageCheck:
        """A check for a second read, which emits only what this one did not."""
        return PageCheck(self.key, self.seen)

    def __str__(self) -> str:
        """The totals and the distinct records, for a log line."""
        totals = ", ".join(str(total) for total in sorted(self.totals, key=str))
        return f"recordsTotal {totals}; {len(self.seen)} distinct of {self.count} read"
