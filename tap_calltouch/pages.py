"""Page consistency: whether the pages of one window add up to one read of it.

Pages of a window that changes while it is read (today's calls arriving push calls down a
page; a removed call pulls one up past a page already read) could double or hide a call. A
`PageCheck` skips calls already emitted in the window and tells whether the read was whole:
every page reported the same `recordsTotal`, and that many distinct calls came. A window whose
read was not is read once more (`read_again`), emitting only the calls not seen yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_calltouch.windows import Part

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Record

    from tap_calltouch.journal import JournalStream


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


def read_again(journal: JournalStream, part: Part, pages: PageCheck) -> Iterator[Record]:
    """Read a window whose pages disagreed once more, yielding only records not yet seen.

    Calls arriving while a window is paged push records down a page (seen twice, emitted
    once); a call removed pulls one up past a page already read (missed): a second read
    finds it. No budget applies: the run has begun the window, and reads it to its end.
    """
    window = Part(part.window, part.site)
    journal.logger.warning(
        "Window %s changed while its pages were read (%s); reading it again", window, pages
    )
    again = pages.again()
    first = Part(part.window, part.site, 1)
    for page, answers in journal.fetch_in_order([first]):
        if page.site.site_id in journal.site_failures:
            return  # the site stopped during the re-read: the window stays incomplete
        yield from again.fresh(journal.shaped(page, answers), answers[0].records_total)
    if not again.steady:
        journal.logger.warning(
            "Window %s was still changing on the second read (%s); the next run's "
            "look-back reads it again",
            window,
            again,
        )
