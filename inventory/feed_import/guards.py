"""Whether a checked feed may replace its warehouse's stock: one rule, one pure function.

A feed is a whole snapshot, so a bad one costs stock: a file of rejected rows, a header with no
rows, or an export cut short would empty a warehouse or take most of it out of the catalog.
Such a feed is refused and the warehouse keeps its last good snapshot. Both loader paths (the
PostgreSQL COPY path and the Python reader used on SQLite) count what the feed would do and ask
`feed_guard`; neither writes the rule itself.

Emptying a warehouse, or removing most of it, on purpose is an explicit choice (`allow_empty`:
`import_feeds --allow-empty`, the checkbox on the admin upload). It never lets through a file of
bad rows: those are refused whatever the choice.
"""

from dataclasses import dataclass

from django.conf import settings

from inventory.feed_import.feed import Feed


@dataclass(frozen=True)
class FeedDecision:
    applied: bool
    # A stable code for tests and the API, and the sentence staff read in admin.
    code: str = ""
    reason: str = ""


APPLY = FeedDecision(applied=True)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"


def feed_guard(
    *,
    rows_read: int,
    rows_rejected: int,
    stocked: int,
    removed: int,
    allow_empty: bool = False,
    max_bad_fraction: float | None = None,
    max_drop_fraction: float | None = None,
) -> FeedDecision:
    """Apply the feed, or refuse it with the reason.

    rows_read: data rows in the file (blank lines are not rows); rows_rejected: those of them
    with a bad value; stocked: items the warehouse holds now (qty above 0); removed: how many of
    those the feed would take out of stock (not listed, or listed with qty 0).
    """
    max_bad = settings.FBS_FEED_MAX_BAD_FRACTION if max_bad_fraction is None else max_bad_fraction
    max_drop = (
        settings.FBS_FEED_MAX_DROP_FRACTION if max_drop_fraction is None else max_drop_fraction
    )
    good = rows_read - rows_rejected
    if rows_read == 0:
        if allow_empty:
            return APPLY
        return FeedDecision(
            False,
            "no_rows",
            "The file has a header but no rows: applied, it would empty the warehouse"
            + (f" ({stocked:,} items in stock)" if stocked else "")
            + ". Nothing was changed. To empty the warehouse on purpose, import it again with "
            "'allow empty' (import_feeds --allow-empty, or the checkbox on the upload).",
        )
    if good <= 0:
        return FeedDecision(
            False,
            "all_rejected",
            f"Every one of the {rows_read:,} rows was rejected (see the rejected rows): nothing "
            "was changed.",
        )
    if rows_rejected / rows_read > max_bad:
        return FeedDecision(
            False,
            "too_many_rejected",
            f"{rows_rejected:,} of {rows_read:,} rows were rejected "
            f"({_percent(rows_rejected / rows_read)}, more than the "
            f"{_percent(max_bad)} allowed): nothing was changed. Fix the rejected rows and "
            "import the file again.",
        )
    if stocked and removed / stocked > max_drop and not allow_empty:
        return FeedDecision(
            False,
            "drops_too_much",
            f"Applied, this feed would take {removed:,} of the warehouse's {stocked:,} items in "
            f"stock out of stock ({_percent(removed / stocked)}, more than the "
            f"{_percent(max_drop)} allowed in one import): nothing was changed. If the "
            "warehouse really lost that stock, import it again with 'allow empty' "
            "(import_feeds --allow-empty, or the checkbox on the upload).",
        )
    return APPLY


class FeedsRefused(Exception):
    """Raised inside `apply`, before the first stock row is written, when the guard refuses some
    of the run's feeds: the caller rolls the apply back and applies the others again."""

    def __init__(self, feeds: list[Feed]):
        super().__init__(f"{len(feeds)} feeds refused")
        self.feeds = feeds


def guard_feeds(feeds: list[Feed], held: dict[int, tuple[int, int]]) -> None:
    """Ask `feed_guard` about every feed, with (stocked, removed) of its warehouse
    from `held` (by warehouse id; none held: nothing to lose); raise FeedsRefused naming those it
    refuses."""
    refused = []
    for feed in feeds:
        stocked, removed = held.get(feed.warehouse.pk, (0, 0))
        decision = feed_guard(
            rows_read=feed.report.rows_read,
            rows_rejected=feed.report.rows_rejected,
            stocked=stocked,
            removed=removed,
            allow_empty=feed.feed_import.allow_empty,
        )
        if not decision.applied:
            feed.refused, feed.error = decision.code, decision.reason
            refused.append(feed)
    if refused:
        raise FeedsRefused(refused)
