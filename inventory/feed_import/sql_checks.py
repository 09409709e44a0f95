"""Checking the COPYed rows in SQL: the rows SQL can vouch for move into fi_valid, the others go
through the Python checks, and a key repeated within a file is rejected."""

from inventory.feed_import.feed import Feed
from inventory.feed_import.fields import (
    COST_MAX,
    DESCRIPTION_MAX,
    LINE_CODE_MAX,
    PART_NUMBER_MAX,
    QTY_MAX,
    check_fields,
    duplicate_reason,
)
from inventory.feed_import.staging import VALID_COLUMNS, stage_rows


def typed_tables(feeds: list["Feed"]) -> dict[str, list[int]]:
    """The typed tables `feeds` were staged into, with the file numbers each one holds."""
    tables: dict[str, list[int]] = {}
    for feed in feeds:
        if feed.staged.typed:
            tables.setdefault(feed.staged.table, []).append(feed.file_no)
    return tables


def staged_keys(feeds: list["Feed"]) -> tuple[str, list]:
    """SQL for (file_no, line, line_code, part_number) of the checked rows of `feeds`, from
    the typed table and fi_valid (only the tables some of them were staged into)."""
    other = [f.file_no for f in feeds if not f.staged.typed]
    parts, params = [], []
    for table, numbers in typed_tables(feeds).items():
        parts.append(
            f"SELECT file_no, line, line_code, part_number FROM {table} WHERE file_no = ANY(%s)"
        )
        params.append(numbers)
    if other:
        parts.append(
            "SELECT file_no, line, line_code, part_number FROM fi_valid WHERE file_no = ANY(%s)"
        )
        params.append(other)
    return " UNION ALL ".join(parts), params


# A row SQL can vouch for: every value already in the form the Python checks would accept as is.
_ROW_OK = f"""
    length(btrim(line_code)) BETWEEN 1 AND {LINE_CODE_MAX}
    AND length(btrim(part_number)) BETWEEN 1 AND {PART_NUMBER_MAX}
    AND length(qty) BETWEEN 1 AND {len(str(QTY_MAX))} AND ltrim(qty, '0123456789') = ''
    AND (length(qty) < {len(str(QTY_MAX))} OR qty COLLATE "C" <= '{QTY_MAX}')
    AND cost ~ '^[0-9]{{1,{len(str(int(COST_MAX)))}}}(\\.[0-9]{{0,2}})?$'
"""
# Only printable ASCII, so that SQL's trimming and upper-casing are Python's.
_ROW_PLAIN = """
    line_code ~ '^[ -~]*$' AND part_number ~ '^[ -~]*$' AND COALESCE(description, '') ~ '^[ -~]*$'
"""


def check_copied(cursor, feeds: list[Feed]) -> None:
    """Move the COPYed rows SQL can vouch for into fi_valid; check the others in Python; reject
    keys repeated within a file."""
    copied = [f for f in feeds if f.staged.copied and not f.error]
    if not copied:
        return
    by_no = {f.file_no: f for f in copied}
    as_text = [f for f in copied if not f.staged.typed]
    for clean in (True, False):
        numbers = [f.file_no for f in as_text if f.staged.clean is clean]
        if not numbers:
            continue
        ok = _ROW_OK if clean else f"{_ROW_OK} AND {_ROW_PLAIN}"
        cursor.execute(
            f"""
            INSERT INTO fi_valid ({VALID_COLUMNS})
            SELECT file_no, line, upper(btrim(line_code)), upper(btrim(part_number)), NULL,
                   qty::integer, cost::numeric(10, 2),
                   left(btrim(COALESCE(description, '')), {DESCRIPTION_MAX})
              FROM fi_raw
             WHERE file_no = ANY(%s) AND {ok}
            """,
            [numbers],
        )
        odd = []
        if cursor.rowcount != sum(by_no[n].report.rows_read for n in numbers):
            cursor.execute(
                "SELECT file_no, count(*) FROM fi_valid WHERE file_no = ANY(%s) GROUP BY 1",
                [numbers],
            )
            vouched = dict(cursor.fetchall())
            odd = [n for n in numbers if vouched.get(n, 0) != by_no[n].report.rows_read]
        if odd:
            cursor.execute(
                f"""
                SELECT file_no, line, COALESCE(line_code, ''), COALESCE(part_number, ''),
                       COALESCE(qty, ''), COALESCE(cost, ''), COALESCE(description, '')
                  FROM fi_raw
                 WHERE file_no = ANY(%s) AND NOT COALESCE({ok}, false)
                 ORDER BY file_no, line
                """,
                [odd],
            )
            good: dict[int, list] = {}
            for file_no, line, *values in cursor.fetchall():
                checked = check_fields(*values)
                if isinstance(checked, str):
                    by_no[file_no].rejected.append((line, checked))
                else:
                    good.setdefault(file_no, []).append((line, checked))
            for file_no, rows in good.items():
                stage_rows(cursor, file_no, rows)

    _reject_repeated(cursor, copied)
    cursor.execute("TRUNCATE fi_raw")


def _reject_repeated(cursor, feeds: list[Feed]) -> None:
    """Reject the rows whose key an earlier good row of the same file already had (as the
    Python reader does while it reads), from the typed table and fi_valid."""
    by_no = {f.file_no: f for f in feeds}
    rows, params = staged_keys(feeds)
    # A key repeated within a file makes two equal 64-bit hashes, so fewer distinct hashes
    # than rows is certain to catch it; sorting integers is several times cheaper than grouping
    # the text keys. A false alarm (a hash collision) only costs the exact query below. (The
    # line code's hash seeds the part number's: no string is built per row.)
    cursor.execute(
        f"""
        SELECT count(*) - count(DISTINCT hashtextextended(
                   part_number, (file_no::bigint << 32) + hashtext(line_code)))
          FROM ({rows}) r
        """,
        params,
    )
    if not cursor.fetchone()[0]:
        return
    repeated = f"""
        SELECT file_no, line, line_code, part_number, first_line FROM (
            SELECT file_no, line, line_code, part_number,
                   min(line) OVER (PARTITION BY file_no, line_code, part_number) AS first_line
              FROM ({rows}) r) d
         WHERE line > first_line
    """
    cursor.execute(repeated, params)
    found = cursor.fetchall()
    for file_no, line, line_code, part_number, first_line in found:
        by_no[file_no].rejected.append((line, duplicate_reason(line_code, part_number, first_line)))
    for table in [*typed_tables(feeds), "fi_valid"]:
        lines = [
            (file_no, line)
            for file_no, line, *_ in found
            if (by_no[file_no].staged.table if by_no[file_no].staged.typed else "fi_valid") == table
        ]
        if lines:
            cursor.execute(
                f"DELETE FROM {table} WHERE (file_no, line) IN "
                f"(SELECT * FROM unnest(%s::integer[], %s::bigint[]))",
                [[n for n, _ in lines], [line for _, line in lines]],
            )


def finish_report(feed: Feed) -> None:
    """The file's rejected rows in line order, as many as a FeedImport keeps."""
    if not feed.staged.copied:
        return  # the Python reader reported them as it read
    feed.rejected.sort()
    feed.report.rows_rejected = len(feed.rejected)
    feed.report.rejected = feed.rejected[: feed.report.max_reported]
