"""One row of a warehouse feed: the columns, the limits, and each value checked and cleaned.

Every path that stages a feed (the Python reader, and the rows PostgreSQL's checks cannot vouch
for) asks `check_fields`, so every reason a row is rejected reads the same.
"""

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from inventory.errors import FeedRejectedError
from inventory.models import Item, normalise_part_number

REQUIRED_COLUMNS = ("line_code", "part_number", "qty", "cost")
OPTIONAL_COLUMNS = ("description",)

LINE_CODE_MAX = Item._meta.get_field("line_code").max_length
PART_NUMBER_MAX = Item._meta.get_field("part_number").max_length
DESCRIPTION_MAX = Item._meta.get_field("description").max_length
# Far above any real warehouse count, far below the 32-bit column limit.
QTY_MAX = 10_000_000
# Ten million dollars: above any part's cost, and low enough that its price at any markup
# settings allow (under 10, sophio_fbs/settings.py) fits Item.price's 8 integer digits. (At
# 99,999,999.99 a stocked row's price overflowed the column and failed the whole import run.)
COST_MAX = Decimal("9999999.99")
CENT = Decimal("0.01")

# What a field may not hold: C0 controls but tab and line breaks (a quoted field may span lines),
# DEL, C1 controls (in a text file they are always a decoding accident), and lone surrogates,
# which stand for the bytes the file's encoding could not decode (errors="surrogateescape").
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class FeedRow:
    line_code: str
    part_number: str
    part_number_norm: str
    qty: int
    cost: Decimal
    description: str


@dataclass
class FeedReport:
    rows_read: int = 0
    rows_rejected: int = 0
    # (line number, reason), the first FeedImport.MAX_REPORTED_REJECTS of them.
    rejected: list[tuple[int, str]] = field(default_factory=list)
    max_reported: int = 1000

    def reject(self, line: int, reason: str) -> None:
        self.rows_rejected += 1
        if len(self.rejected) < self.max_reported:
            self.rejected.append((line, reason))


def check_header(header: list[str]) -> list[str]:
    """The header's column names; raises FeedRejectedError when it is not the feed's header. Empty
    names at the end (a header ending in a comma, as some exports write every line) are not
    columns: the caller knows them by the header being longer than what is returned."""
    columns = [c.strip().lower() for c in header]
    while len(columns) > 1 and not columns[-1]:
        columns.pop()
    if any(_BAD_CHARS.search(c) for c in columns):
        raise FeedRejectedError(
            "The header line holds control characters or bytes that are not text: "
            "the file is not a CSV text file."
        )
    allowed = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in allowed]
    if missing or unknown or len(set(columns)) != len(columns):
        details = []
        if missing:
            details.append("missing " + ", ".join(missing))
        if unknown:
            details.append("unknown " + ", ".join(repr(c) for c in unknown[:5]))
        if len(set(columns)) != len(columns):
            details.append("a column appears twice")
        raise FeedRejectedError(
            "The first line must be the header line_code,part_number,qty,cost "
            f"(and optionally description): {'; '.join(details)}."
        )
    return columns


def _parse_qty(value: str) -> int | str:
    value = value.strip()
    if value.isascii() and value.isdigit():
        if len(value.lstrip("0")) > len(str(QTY_MAX)):
            return f"qty {value[:20]} is too large"  # and int() would refuse 4,300 digits
        qty = int(value)
        return qty if qty <= QTY_MAX else f"qty {value} is too large"
    if value.startswith("-") and value[1:].strip().isdigit():
        return f"qty {value} is negative"
    if not value:
        return "qty is missing"
    return f"qty {value[:20]!r} is not a whole number"


def _parse_cost(value: str) -> Decimal | str:
    value = value.strip().lstrip("$")
    try:
        cost = Decimal(value)
    except InvalidOperation:
        return f"cost {value[:20]!r} is not a number" if value else "cost is missing"
    if not cost.is_finite():
        return f"cost {value[:20]!r} is not a number"
    if cost < 0:
        return f"cost {value} is negative"
    if cost > COST_MAX:
        return f"cost {value} is too large"
    return cost.quantize(CENT, rounding=ROUND_HALF_UP)


def bad_characters(value: str, encoding: str = "UTF-8") -> str | None:
    """Why a field cannot be stored: a byte the encoding could not decode or a control character
    (None when it is text)."""
    found = _BAD_CHARS.search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        byte = ord(char) - 0xDC00 if ord(char) >= 0xDC80 else None
        shown = f" (byte 0x{byte:02X})" if byte is not None else ""
        return f"bytes that are not {encoding} text{shown}"
    if char == "\x00":
        return "a NUL byte (U+0000)"
    return f"a control character (U+{ord(char):04X})"


def check_fields(
    line_code: str,
    part_number: str,
    qty: str,
    cost: str,
    description: str,
    *,
    encoding: str = "UTF-8",
) -> FeedRow | str:
    """One row's values checked and cleaned: a FeedRow, or the reason it is rejected."""
    for name, value in (
        ("line code", line_code),
        ("part number", part_number),
        ("qty", qty),
        ("cost", cost),
        ("description", description),
    ):
        bad = bad_characters(value, encoding)
        if bad:
            return f"{name} holds {bad}"
    line_code = line_code.strip().upper()
    part_number = part_number.strip().upper()
    if not part_number:
        return "part number is missing"
    if not line_code:
        return "line code is missing"
    if len(line_code) > LINE_CODE_MAX:
        return f"line code is longer than {LINE_CODE_MAX} characters"
    if len(part_number) > PART_NUMBER_MAX:
        return f"part number is longer than {PART_NUMBER_MAX} characters"
    parsed_qty = _parse_qty(qty)
    if isinstance(parsed_qty, str):
        return parsed_qty
    parsed_cost = _parse_cost(cost)
    if isinstance(parsed_cost, str):
        return parsed_cost
    return FeedRow(
        line_code,
        part_number,
        normalise_part_number(part_number),
        parsed_qty,
        parsed_cost,
        description.strip()[:DESCRIPTION_MAX],
    )


def duplicate_reason(line_code: str, part_number: str, first_line: int) -> str:
    return f"{line_code} {part_number} already appears on line {first_line}"
