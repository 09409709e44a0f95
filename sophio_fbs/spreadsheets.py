"""No spreadsheet formula leaves in our exports (OWASP, "CSV Injection").

Excel, LibreOffice and Google Sheets run a cell as a formula when its text starts with `=`, `+`,
`-` or `@`; a leading tab, carriage return or line feed can hide such a start, and so can spaces
and invisible characters before it (a spreadsheet or an import step may trim them). The
full-width and other compatibility forms of the four signs (U+FF1D and the like, which East Asian
input methods type) count too: an input step may fold them into the ASCII signs, and escaping
them costs nothing. `spreadsheet_safe` is the one rule every CSV and XLSX export applies:

- a text cell that could be read as a formula gets one leading apostrophe, which spreadsheets
  take as "this is text" (OWASP's advice), and which a program can take off again;
- numbers are never touched: int, Decimal and float values, and text that is a plain number
  ("-5.00", "+3", "1,250.00", "-1e3"), which a spreadsheet reads as that number, never as code;
- a text that itself starts with apostrophes before such a start gets one more, so the rule reads
  back without doubt: `spreadsheet_unescape` gives back exactly the original text.

XLSX: openpyxl stores a str that starts with "=" as a formula; once escaped, none does.
"""

import re
import unicodedata
from collections.abc import Iterable

# The signs a spreadsheet starts a formula with, compared after NFKC, which folds the full-width
# and other compatibility forms (U+FF1D, U+FE66, U+207C, ...) into these four.
FORMULA_SIGNS = frozenset("=+-@")
# OWASP lists tab and carriage return; a line feed starts a new line in the cell the same way.
FORMULA_CONTROL_STARTS = frozenset("\t\r\n")
# Unicode categories that show nothing before the first visible character: spaces (Zs), line and
# paragraph separators (Zl, Zp), controls (Cc) and format characters such as U+200B and U+FEFF.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
# A plain number, ASCII only: an optional sign, digits with "." or "," separators, an optional
# exponent. Nothing else (no operator after the sign, no letter but the exponent's e, no
# parenthesis) can be in it, so a spreadsheet reads it as a number or as text, never as code.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)*[.,]?\d*|[.,]\d+)(?:[eE][+-]?\d+)?", re.ASCII)
ESCAPE = "'"


def is_plain_number(text: str) -> bool:
    return _PLAIN_NUMBER.fullmatch(text) is not None


def _first_visible(text: str) -> str:
    for char in text:
        if char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            continue
        return char
    return ""


def could_run_as_formula(text: str) -> bool:
    """Whether a spreadsheet could take this text cell for a formula (apostrophes aside)."""
    if not text or text[0].isalnum():
        return False  # the common case, decided on the first character
    if text[0] in FORMULA_CONTROL_STARTS:
        return True
    if is_plain_number(text):
        return False
    first = _first_visible(text)
    return bool(first) and unicodedata.normalize("NFKC", first)[:1] in FORMULA_SIGNS


def _needs_escape(text: str) -> bool:
    # Apostrophes already at the start are looked through: "'=1" must become "''=1", or reading
    # it back would take its own apostrophe for ours.
    return could_run_as_formula(text.lstrip(ESCAPE))


def spreadsheet_safe(value):
    """The value as an export writes it: text that could run as a formula escaped, the rest
    (numbers, dates, None, plain-number text, ordinary text) unchanged."""
    if isinstance(value, str) and value and not value[0].isalnum() and _needs_escape(value):
        return ESCAPE + value
    return value


def spreadsheet_safe_row(row: Iterable) -> list:
    return [spreadsheet_safe(value) for value in row]


def spreadsheet_unescape(cell: str) -> str:
    """The original text of an exported text cell: the inverse of `spreadsheet_safe`."""
    if cell.startswith(ESCAPE) and _needs_escape(cell[1:]):
        return cell[1:]
    return cell


class SpreadsheetSafeResource:
    """Mix into every django-import-export resource, before the Resource class: each exported
    cell (fields, dehydrate methods, headers) goes through `spreadsheet_safe`, in every format.

    import-export's own IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT is no substitute: it deletes a
    leading "=" (changing the text) and ignores "+", "-", "@", tab and CR.
    """

    def export_resource(self, instance, selected_fields=None, **kwargs):
        return spreadsheet_safe_row(super().export_resource(instance, selected_fields, **kwargs))

    def get_export_headers(self, selected_fields=None):
        return spreadsheet_safe_row(super().get_export_headers(selected_fields))
