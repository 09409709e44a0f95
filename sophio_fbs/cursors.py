"""The page cursors of keyset-paged lists: a short base64 (URL-safe, unpadded) JSON list.

A cursor comes back from the client, so whatever it decodes to is checked before it reaches a
query: the right number of values, each of the right type, strings the database can take (no NUL,
control character or lone surrogate: has_invalid_characters) and whole numbers within a bigint
column's range. Anything else is CursorInvalidError, which every caller answers as a 400 (the
API) or the first page (the catalog page), never a 500.
"""

import base64
import binascii
import json

from sophio_fbs.inputs import has_invalid_characters

# Our cursors are under 150 characters (two strings of at most 50 and an id); a longer one is
# not ours, and is refused before it is decoded (no deep nesting or huge number gets parsed).
CURSOR_MAX_LENGTH = 512
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
INVALID_MESSAGE = "The page cursor is not valid."


class CursorInvalidError(ValueError):
    def __init__(self, message: str = INVALID_MESSAGE):
        super().__init__(message)


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _valid(value, kind) -> bool:
    if kind is int:
        # bool is an int in Python, and is never one of our ids.
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and BIGINT_MIN <= value <= BIGINT_MAX
        )
    if kind is str:
        return isinstance(value, str) and not has_invalid_characters(value)
    raise TypeError(f"No cursor value of type {kind!r}.")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list:
    """The cursor's values, one per entry of `kinds` (str or int) and each of that type and
    storable; CursorInvalidError otherwise."""
    if not isinstance(cursor, str) or len(cursor) > CURSOR_MAX_LENGTH:
        raise CursorInvalidError
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise CursorInvalidError from exc
    if not isinstance(values, list) or len(values) != len(kinds):
        raise CursorInvalidError
    if not all(_valid(value, kind) for value, kind in zip(values, kinds, strict=True)):
        raise CursorInvalidError
    return values
