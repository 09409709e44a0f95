"""The OpenAPI schema says every answer an operation can give, not only the ones its view names.

drf-spectacular documents what each view declares; the answers given by the layers around every
view are added here, once, for all operations (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]):

- 400 for any operation: a query string (or body) with a character that may not be stored is
  refused before the view (sophio_fbs/inputs.py), and DRF refuses a body it cannot parse;
- 401 without a valid key, 403 for an account that is not an affiliate's, 406 for an Accept
  header the operation cannot satisfy, 429 when throttled;
- 404 for operations with an id in the path;
- 413 and 415 for operations that read a body (over DATA_UPLOAD_MAX_MEMORY_SIZE, or not JSON or
  a form);
- the next page of every cursor-paged list as an OpenAPI link from `next_cursor` to `cursor`.

An answer a view documents itself (with its own description or `problems`) is left as it is.
405 cannot be an operation's answer (it is the answer for a method no operation has); it is in
components.responses, and the API's description says so.
"""

ERROR_SCHEMA = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}

ERROR_COMPONENT = {
    "type": "object",
    "description": (
        'The API\'s one error shape: {"error": {"code": ..., "message": ..., "fields": {...}}}.'
    ),
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs"},
                "message": {"type": "string", "description": "For people"},
                "fields": {
                    "type": "object",
                    "description": "Only for errors about particular fields: what is wrong with "
                    "each",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request",
        "schema": {"type": "integer"},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": 'Bearer realm="api"', "schema": {"type": "string"}}
}

ALWAYS = {
    "400": "The request is not valid: `fields` names what to fix",
    "401": "No API key, or a key that is not valid or was revoked",
    "403": "The account is not an affiliate's",
    "406": "The Accept header asks for a format this operation cannot send",
    "429": "Too many requests: wait for Retry-After seconds",
}
WITH_ID = {"404": "No such object among the affiliate's own"}
WITH_BODY = {
    "413": "The body is over the size limit",
    "415": "The body is not in a format this operation reads",
}
HEADERS = {"401": WWW_AUTHENTICATE, "429": RETRY_AFTER}

METHOD_NOT_ALLOWED = {
    "description": "The path has no operation for this method; Allow lists those it has",
    "headers": {"Allow": {"schema": {"type": "string"}}},
    "content": {"application/json": {"schema": ERROR_REF}},
}

HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def _error_response(code: str, description: str) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
    if code in HEADERS:
        response["headers"] = HEADERS[code]
    return response


def _is_cursor_page(operation: dict, components: dict) -> bool:
    if not any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
        return False
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    page = components.get(ref.rsplit("/", 1)[-1], {})
    return "next_cursor" in page.get("properties", {})


def postprocess(result, generator, request, public):
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ERROR_COMPONENT
    components.setdefault("responses", {})["MethodNotAllowed"] = METHOD_NOT_ALLOWED

    for path, item in result.get("paths", {}).items():
        has_id = "{" in path
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            wanted = dict(ALWAYS)
            if has_id:
                wanted |= WITH_ID
            if "requestBody" in operation:
                wanted |= WITH_BODY
            for code, description in wanted.items():
                if code not in responses:
                    responses[code] = _error_response(code, description)
                elif code in HEADERS:
                    responses[code].setdefault("headers", HEADERS[code])
            if _is_cursor_page(operation, schemas):
                responses["200"]["links"] = {
                    "next_page": {
                        "operationId": operation["operationId"],
                        "parameters": {"cursor": "$response.body#/next_cursor"},
                        "description": "The next page; there is none when next_cursor is null",
                    }
                }
    return result
