"""What no request may carry, refused in one place with a 400 that names the field.

PostgreSQL cannot store a NUL character in text (it raises, and the request became a 500), a
lone surrogate cannot be encoded for the database at all, and the other C0 control characters
are never part of a name, an address or a part number: a string holding one of them is refused
wherever it arrives, in the query string, a form field, a URL segment or any string (key or value)
of a JSON body. Tab, line feed and carriage return stay allowed (a textarea sends them).

Also refused here, because the JSON parser would otherwise fail deep inside: bodies nested deeper
than MAX_JSON_DEPTH, numbers that are not finite, and bodies over DATA_UPLOAD_MAX_MEMORY_SIZE
(413, as Django's own form parser answers for forms).

The pages get the same rule from InvalidInputMiddleware; the API from the parsers below (set as
DRF's DEFAULT_PARSER_CLASSES) and the middleware for its query strings. What comes in the request's
head gets it from RequestHeadMiddleware, before any other middleware reads it: a header holding
such a character is refused (HTTP allows none in a field value, and axes stores User-Agent and
Accept), and a cookie holding one is treated as absent (a session key with a NUL went into the
session table's query; dropping the cookie gives the browser a fresh session instead of a 400 on
every page until it is cleared).
"""

import json
import math
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# NUL and the other C0 controls but tab, LF and CR; DEL; lone UTF-16 surrogates (JSON can
# spell them as "\ud800", and no database encoding can hold them).
INVALID_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
INVALID_MESSAGE = "Contains a character that is not allowed (a NUL or another control character)."
NOT_FINITE_MESSAGE = "Must be a finite number."

# Our bodies are at most four levels deep (an order: body > lines > line > field); 32 leaves
# room for any client and stays far below Python's recursion limit.
MAX_JSON_DEPTH = 32
DEPTH_MESSAGE = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."

API_PREFIX = "/api/"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def has_invalid_characters(value: str) -> bool:
    return INVALID_CHARACTERS.search(value) is not None


def invalid_field(data, path: str = "") -> tuple[str, str] | None:
    """The dotted name of a string in `data` (keys included) that may not be stored, or of a
    number that is not finite, with what is wrong; None when all is well. Walks without
    recursion, and refuses (ParseError) data nested deeper than MAX_JSON_DEPTH."""
    stack = [(path, data, 0)]
    while stack:
        name, value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ParseError(DEPTH_MESSAGE)
        if isinstance(value, str):
            if has_invalid_characters(value):
                return name or "body", INVALID_MESSAGE
        elif isinstance(value, float):
            if not math.isfinite(value):
                return name or "body", NOT_FINITE_MESSAGE
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{name}.{key}" if name else str(key)
                if isinstance(key, str) and has_invalid_characters(key):
                    return INVALID_CHARACTERS.sub("?", child), INVALID_MESSAGE
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((f"{name}[{index}]" if name else f"[{index}]", item, depth + 1))
    return None


def _querydict_invalid_field(querydict) -> str | None:
    for key, values in querydict.lists():
        if has_invalid_characters(key):
            return INVALID_CHARACTERS.sub("?", key)
        for value in values:
            if isinstance(value, str) and has_invalid_characters(value):
                return key
    return None


def _raise_invalid(field: str, message: str = INVALID_MESSAGE):
    raise ValidationError({field: [message]})


# --- The API's parsers ------------------------------------------------------------------------


def _read_limited(stream) -> bytes:
    """The whole body, or RequestDataTooBig (a 413) once it passes the stated limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if stream is None:
        return b""
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    return body


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows.")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded: size, depth, finite numbers and storable strings."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        body = _read_limited(stream)
        try:
            data = json.loads(body.decode(encoding), parse_constant=_no_constant)
        except RecursionError:
            raise ParseError(DEPTH_MESSAGE) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        problem = invalid_field(data)
        if problem is not None:
            _raise_invalid(*problem)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        field = _querydict_invalid_field(data)
        if field is not None:
            _raise_invalid(field)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        field = _querydict_invalid_field(result.data)
        if field is None:
            field = next(
                (
                    key
                    for key, upload in result.files.items()
                    if has_invalid_characters(upload.name or "")
                ),
                None,
            )
        if field is not None:
            _raise_invalid(field)
        return result


# --- Pages and query strings ------------------------------------------------------------------


def invalid_input_response(request, field: str):
    message = INVALID_MESSAGE
    if is_api_request(request):
        return JsonResponse(
            {
                "error": {
                    "code": "invalid",
                    "message": "Some fields are not valid.",
                    "fields": {field: [message]},
                }
            },
            status=400,
        )
    html = render_to_string(
        "400.html", {"field": field, "message": message, "request_path": request.path}
    )
    return HttpResponseBadRequest(html)


class InvalidInputMiddleware:
    """Refuses, before any view runs, a query string, URL segment or form field (of a form
    Django has parsed, or a URL-encoded one) that holds a character that may not be stored.

    The API's bodies are left to its parsers, which check them the same way once the view reads
    them (after its own size limits: the claims API refuses a large upload before reading it).
    A page's form is checked here if CsrfViewMiddleware (which comes first) has read it, or if
    it is small enough to read (see _page_form_to_read)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        field = _querydict_invalid_field(request.GET)
        if field is None:
            field = next(
                (
                    name
                    for name, value in view_kwargs.items()
                    if isinstance(value, str) and has_invalid_characters(value)
                ),
                None,
            )
        form_to_check = request.method in ("POST", "PUT", "PATCH") and (
            "_post" in request.__dict__ or self._page_form_to_read(request)
        )
        if field is None and form_to_check:
            field = _querydict_invalid_field(request.POST)
        if field is not None:
            return invalid_input_response(request, field)
        return None

    @staticmethod
    def _page_form_to_read(request) -> bool:
        """A page's form not read yet: URL-encoded, or multipart within the size of a form
        without files. A larger multipart body is an upload, left for the view to refuse by
        size before anything reads it (claims/views.py); its text fields still go through the
        form's fields, which refuse a NUL."""
        if is_api_request(request) or request.content_type not in FORM_CONTENT_TYPES:
            return False
        if request.content_type == "application/x-www-form-urlencoded":
            return True
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return limit is None or length <= limit


class RequestHeadMiddleware:
    """Checks the request's head before any other middleware reads it: a cookie whose name or
    value holds a character that may not be stored is dropped from request.COOKIES (so the
    session, CSRF and messages middleware see no such cookie); any other header holding one is
    a 400 naming the header. Authorization is left to the API's authentication, which stores
    nothing of it (it compares a hash) and counts every wrong key, whatever it holds, towards
    the wrong-key throttle; Idempotency-Key to the orders API, which refuses such a key with its
    own documented code (idempotency_key_invalid). Before SessionMiddleware, inside
    ApiErrorEnvelopeMiddleware."""

    UNCHECKED = frozenset({"Cookie", "Authorization", "Idempotency-Key"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, value in request.headers.items():
            if (
                name not in self.UNCHECKED
                and isinstance(value, str)
                and has_invalid_characters(value)
            ):
                return invalid_input_response(request, INVALID_CHARACTERS.sub("?", name))
        cookies = request.COOKIES
        for name in [n for n, v in cookies.items() if has_invalid_characters(n + v)]:
            del cookies[name]
        return self.get_response(request)
