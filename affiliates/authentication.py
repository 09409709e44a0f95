from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from affiliates.services import api_key_use
from affiliates.throttling import ApiKeyFailureThrottle
from sophio_fbs.audit import audit_actor_set


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` with a key from the Settings page."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        # A key is being tried: it is counted as a failure first, and an address over its rate of
        # wrong keys gets 429, whatever it sent. A right key gives its count back below.
        throttle = ApiKeyFailureThrottle()
        if not throttle.allow_request(request, None):
            raise exceptions.Throttled(wait=throttle.wait())
        key = None
        if len(header) == 2:
            try:
                key = api_key_use(header[1].decode())
            except UnicodeError:
                key = None
        if key is None:
            if len(header) != 2:
                raise exceptions.AuthenticationFailed("Send the API key as 'Bearer <key>'.")
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        throttle.record_success(request)
        # What this request changes is audited as done by the key's user.
        audit_actor_set(key.user)
        return key.user, key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with this challenge) rather than 403 when no key is sent.
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema how API keys are sent."""

    target_class = "affiliates.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key from Settings."}
