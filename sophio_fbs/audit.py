"""The audit log of security-relevant changes (django-auditlog; issue 11, item 9).

What is tracked, field by field, is AUDITLOG_INCLUDE_TRACKING_MODELS in settings. Entries are
written from model signals (save, delete, m2m changes), so every path that saves through the ORM
is covered: pages, API, admin, commands. QuerySet.update() sends no signal: the services that
change a tracked field save row by row instead (affiliates.services, the default payment method).

Who did it: the person logged in (session), or the user of the API key that authenticated the
request (DRF authenticates inside the view, after the middleware has looked at request.user, so
ApiKeyAuthentication names the actor itself). Commands and tasks have no actor.
"""

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware

from affiliates.throttling import client_address


class AuditMiddleware(AuditlogMiddleware):
    """auditlog's middleware, with the client address as the throttles see it: auditlog's own
    takes the first X-Forwarded-For entry, which is whatever the client chose to send."""

    @staticmethod
    def _get_remote_addr(request):
        return client_address(request)

    @staticmethod
    def _get_remote_port(request):
        return None


def audit_actor_set(user) -> None:
    """Name the actor of this request's audit entries from now on."""
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    context["actor"] = user
