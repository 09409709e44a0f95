"""One JSON shape for every API error:

    {"error": {"code": "card_declined", "message": "...", "fields": {"number": ["..."]}}}

`fields` appears only for errors about particular fields.

Errors raised inside an API view come here through DRF's EXCEPTION_HANDLER; everything else that
answers an /api/ request with an error (an unknown route, an id of the wrong type, a body Django
refused before the view, a 500) is rewritten into the same shape by ApiErrorEnvelopeMiddleware,
so that no client of the API ever receives an HTML page.
"""

from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from sophio_fbs.errors import DomainError
from sophio_fbs.inputs import is_api_request

# The code and message of an error answered before (or outside) any API view.
STATUS_ERRORS = {
    400: ("bad_request", "The request could not be read."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    406: ("not_acceptable", "Could not satisfy the request Accept header."),
    413: ("request_too_large", "The request body is over the size limit."),
    415: ("unsupported_media_type", "Unsupported media type in request."),
    429: ("throttled", "Request was throttled."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
}
# Headers that describe the body an error had, and so are not kept when it is rewritten; every
# other header is (WWW-Authenticate, Retry-After, Allow, and the security and CSP headers the
# middleware inside the envelope set on the answer).
BODY_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "content-disposition",
        "content-language",
        "etag",
        "last-modified",
    }
)
TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: not_found, invalid, ...")
    message = serializers.CharField(help_text="For people")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for errors about particular fields: what is wrong with each",
    )


class ErrorSerializer(serializers.Serializer):
    """The API's one error shape."""

    error = ErrorBodySerializer()


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(_flatten(v) for v in detail.values())
    return str(detail)


def flat_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """Field errors as the schema documents them, {name: [messages]}: a nested field's name is
    its path, the same as the input checks give (`lines[0].qty`, `ship_to.state`,
    `marketplaces[1]`), however deep DRF nested the errors."""
    if isinstance(detail, dict):
        fields = {}
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            fields |= flat_fields(value, name)
        return fields
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        fields = {}
        for index, item in enumerate(detail):
            fields |= flat_fields(item, f"{prefix}[{index}]")
        return fields
    messages = detail if isinstance(detail, list) else [detail]
    if not messages:
        return {}
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def error_response(*, status_code: int, code: str, message: str, fields=None, headers=None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=status_code, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return error_response(
            status_code=exc.status_code, code=exc.code, message=exc.message, fields=fields
        )
    if isinstance(exc, TOO_LARGE):
        code, message = STATUS_ERRORS[413]
        return error_response(
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, code=code, message=message
        )
    if isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    headers = {
        k: v for k, v in response.headers.items() if k in ("WWW-Authenticate", "Retry-After")
    }
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="invalid",
            message="Some fields are not valid.",
            fields=flat_fields(detail),
        )
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    return error_response(
        status_code=response.status_code,
        code=code,
        message=_flatten(getattr(exc, "detail", str(exc))),
        headers=headers,
    )


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


class ApiErrorEnvelopeMiddleware:
    """Every error answer under /api/ is JSON in the error shape, whatever produced it: Django's
    404 for an unknown route or an id of the wrong type, its 400/413 for a body it refused, the
    500 page, a CSRF refusal, SecurityMiddleware's 400 for a Host not allowed. The first entry
    of MIDDLEWARE (settings.py), so that it sees the answers of every other middleware; it keeps
    their headers (security, CSP, Retry-After, ...) and cookies on the JSON it answers instead.
    Error answers that already are JSON (every API view's) pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_request(request) or _is_json(response):
            return response
        code, message = STATUS_ERRORS.get(
            response.status_code, ("error", "The request could not be completed.")
        )
        envelope = JsonResponse(
            {"error": {"code": code, "message": message}}, status=response.status_code
        )
        for header, value in response.items():
            if header.lower() not in BODY_HEADERS:
                envelope[header] = value
        envelope.cookies = response.cookies
        return envelope
