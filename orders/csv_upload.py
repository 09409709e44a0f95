"""Many orders from one CSV file: read and check the file, group its rows into orders, and place
each order on its own with orders.services.order_place (one refused order stops no other).

The file is checked whole before anything is placed: a file that is not UTF-8 CSV text with the
expected header, too big, or with too many orders places nothing.
"""

import csv
import io
from dataclasses import dataclass, field

from affiliates.models import Marketplace
from orders import services
from orders.errors import OrderRefusedError
from orders.models import Order
from sophio_fbs.errors import DomainError
from sophio_fbs.spreadsheets import spreadsheet_safe_row

COLUMNS = (
    "marketplace",
    "marketplace_order_id",
    "ship_name",
    "ship_address1",
    "ship_address2",
    "ship_city",
    "ship_state",
    "ship_postal_code",
    "ship_country",
    "line_code",
    "part_number",
    "qty",
)
# Columns that describe the order, not the line: the same on every row of one order.
ORDER_COLUMNS = COLUMNS[:9]
# 5 MB holds about 40,000 rows, far more than 1,000 orders need; the cap keeps one upload (placed
# in the request) within a web worker's time.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ORDERS = 1000

TEMPLATE_ROWS = (
    ("ebay", "12-34567-89012", "Jane Buyer", "100 Main St", "Apt 4", "Austin", "TX", "78701",
     "US", "ACD", "BP-1001", "1"),
    ("ebay", "12-34567-89012", "", "", "", "", "", "", "", "ACD", "OF-22", "2"),
    ("amazon", "114-1234567-7654321", "John Smith", "5 Oak Ave", "", "Denver", "CO", "80202",
     "US", "MOT", "FL-820S", "1"),
)  # fmt: skip

_MARKETPLACES = {value: value for value in Marketplace.values} | {
    label.lower(): value for value, label in Marketplace.choices
}


class UploadError(Exception):
    """The file as a whole cannot be used: nothing was placed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class UploadedOrder:
    """One order of the file: its rows, and after placing, the order or why it was refused."""

    marketplace_order_id: str
    marketplace: str = ""
    marketplace_raw: str = ""
    # The order's first row: where its order columns are read from.
    first_row: dict = field(default_factory=dict)
    ship_to: dict = field(default_factory=dict)
    lines: list[dict] = field(default_factory=list)
    # The file row of each line (the header is row 1), to point at rows in problems.
    line_rows: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    order: Order | None = None

    @property
    def rows_label(self) -> str:
        if not self.rows:
            return ""
        first, last = self.rows[0], self.rows[-1]
        if first == last:
            return f"row {first}"
        if self.rows == list(range(first, last + 1)):
            return f"rows {first} to {last}"
        return "rows " + ", ".join(str(r) for r in self.rows)


@dataclass
class UploadResult:
    orders: list[UploadedOrder]

    @property
    def placed(self) -> list[UploadedOrder]:
        return [o for o in self.orders if o.order is not None]

    @property
    def refused(self) -> list[UploadedOrder]:
        return [o for o in self.orders if o.order is None]


def template_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    # Our own example rows, but through the rule every CSV we hand out follows.
    writer.writerow(spreadsheet_safe_row(COLUMNS))
    writer.writerows(spreadsheet_safe_row(row) for row in TEMPLATE_ROWS)
    return out.getvalue()


def _read_text(upload) -> str:
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"The file is {size / 1024 / 1024:.1f} MB; an upload can be at most 5 MB. "
            "Split it into smaller files."
        )
    upload.seek(0)
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError("The file is over 5 MB. Split it into smaller files.")
    if not data.strip():
        raise UploadError("The file is empty.")
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UploadError(
            "This is a spreadsheet workbook (Excel), not a CSV file. In your spreadsheet program "
            "choose File, Save As, “CSV UTF-8 (comma delimited)” and upload that file."
        )
    if b"\x00" in data:
        raise UploadError(
            "This is not a CSV text file (it contains binary data). Upload a CSV saved as UTF-8, "
            "like the template."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(
            "The file is not UTF-8 text (a character at byte "
            f"{exc.start:,} cannot be read). Save it as “CSV UTF-8” and upload it again."
        ) from exc


def _check_header(header: list[str]) -> list[str]:
    names = [name.strip().lower() for name in header]
    if not set(names) & set(COLUMNS):
        first = ",".join(header)
        if len(header) == 1 and ";" in first:
            raise UploadError(
                "The file's columns are separated by semicolons; save it as “CSV UTF-8 (comma "
                "delimited)” and upload it again."
            )
        raise UploadError(
            f"The first row must be the template's header ({','.join(COLUMNS)}); this file "
            f"starts with “{first[:80]}”. Download the template and keep its first row."
        )
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n or "(empty)" for n in names if n not in COLUMNS]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        if repeated:
            parts.append("repeated " + ", ".join(repeated))
        raise UploadError(
            f"The header row does not match the template: {'; '.join(parts)}. The columns are "
            + ",".join(COLUMNS)
            + "."
        )
    return names


def read_orders(upload) -> list[UploadedOrder]:
    """The file's orders, rows with the same marketplace_order_id together, in file order.
    Raises UploadError when the file as a whole cannot be used."""
    text = _read_text(upload)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise UploadError("The file is empty.")
        names = _check_header(header)
        orders: dict[str, UploadedOrder] = {}
        # Rows without a marketplace order number cannot join an order: each is refused alone.
        loose: list[UploadedOrder] = []
        for raw in reader:
            row_number = reader.line_num
            if not any(cell.strip() for cell in raw):
                continue  # blank rows are ignored
            too_long = len(raw) > len(names)
            row = dict(zip(names, (cell.strip() for cell in raw), strict=False))
            row = {column: row.get(column, "") for column in COLUMNS}
            key = row["marketplace_order_id"]
            if not key:
                loose.append(
                    UploadedOrder(
                        marketplace_order_id="",
                        rows=[row_number],
                        problems=[f"Row {row_number}: the marketplace_order_id is empty."],
                    )
                )
                continue
            uploaded = orders.get(key)
            if uploaded is None:
                if len(orders) >= MAX_ORDERS:
                    raise UploadError(
                        f"The file has more than {MAX_ORDERS:,} orders; an upload can have at "
                        f"most {MAX_ORDERS:,}. Split it into smaller files."
                    )
                uploaded = orders[key] = UploadedOrder(marketplace_order_id=key)
                uploaded.marketplace = _MARKETPLACES.get(row["marketplace"].lower(), "")
                uploaded.marketplace_raw = row["marketplace"]
                uploaded.ship_to = {c.removeprefix("ship_"): row[c] for c in ORDER_COLUMNS[2:]}
                uploaded.first_row = row
            else:
                _check_same_order(uploaded, row, row_number)
            uploaded.rows.append(row_number)
            if too_long:
                uploaded.problems.append(
                    f"Row {row_number} has {len(raw)} values; the header has {len(names)}."
                )
            uploaded.lines.append(
                {
                    "line_code": row["line_code"],
                    "part_number": row["part_number"],
                    "qty": row["qty"],
                }
            )
            uploaded.line_rows.append(row_number)
    except csv.Error as exc:
        raise UploadError(f"Row {reader.line_num} cannot be read as CSV: {exc}.") from exc
    result = [*orders.values(), *loose]
    if not result:
        raise UploadError("The file has no orders: only the header.")
    for uploaded in orders.values():
        if not uploaded.marketplace and uploaded.marketplace_raw:
            uploaded.problems.append(
                f"Row {uploaded.rows[0]}: marketplace “{uploaded.marketplace_raw}” is not one of "
                + ", ".join(Marketplace.values)
                + "."
            )
    return result


def _check_same_order(uploaded: UploadedOrder, row: dict, row_number: int) -> None:
    """Later rows of an order may leave the order columns empty; filled, they must agree."""
    for column in ORDER_COLUMNS:
        value, first = row[column], uploaded.first_row[column]
        if value and value.casefold() != first.casefold():
            uploaded.problems.append(
                f"Row {row_number}: {column} “{value}” is not the same as on row "
                f"{uploaded.rows[0]} (“{first}”); every row of one order must agree."
            )


def _problem_text(uploaded: UploadedOrder, problem: dict) -> str:
    line = problem.get("line")
    if line and 1 <= line <= len(uploaded.line_rows):
        return f"Row {uploaded.line_rows[line - 1]}: {problem['message']}"
    if problem.get("field") and uploaded.rows:
        return f"Row {uploaded.rows[0]}: {problem['message']}"
    return problem["message"]


def place_orders(*, affiliate, user, orders: list[UploadedOrder]) -> UploadResult:
    """Place each order of the file on its own; what one order's refusal says stays with it."""
    for uploaded in orders:
        if uploaded.problems:
            continue
        try:
            uploaded.order = services.order_place(
                affiliate=affiliate,
                user=user,
                marketplace=uploaded.marketplace,
                marketplace_order_id=uploaded.marketplace_order_id,
                ship_to=uploaded.ship_to,
                lines=uploaded.lines,
            )
        except OrderRefusedError as exc:
            uploaded.problems = [_problem_text(uploaded, p) for p in exc.problems] or [exc.message]
        except DomainError as exc:
            uploaded.problems = [exc.message]
    return UploadResult(orders=orders)
