"""Throttles on guessing: failed log-ins (django-axes) and failed API keys (a DRF throttle), both
counted per client address, both answered 429 with Retry-After.

One function says which address a request comes from, for axes, the API throttles and the audit
log alike: REMOTE_ADDR, unless FBS_TRUSTED_PROXIES says how many proxies of ours stand in front
and so which X-Forwarded-For entry is the client's. Without that setting, X-Forwarded-For is the
client's own word and is ignored: a guesser could otherwise send a new address with every try.
"""

import ipaddress
import math

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle


def client_address(request) -> str | None:
    remote_addr = request.META.get("REMOTE_ADDR")
    proxies = getattr(settings, "FBS_TRUSTED_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    # Each of our proxies appends the address it was reached from; the client's is the one our
    # first proxy saw, `proxies` entries from the right. Anything left of it is the client's say.
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    address = hops[-min(proxies, len(hops))] if hops else remote_addr
    # The entry can still be the client's word (fewer proxies on the way than configured), and
    # it is stored in an inet column and compared with one: only an address is taken.
    return address if _is_address(address) else remote_addr


def _is_address(value: str | None) -> bool:
    try:
        address = ipaddress.ip_address(value or "")
    except ValueError:
        return False
    # PostgreSQL's inet takes no zone ("fe80::1%eth0"), which Python accepts.
    return getattr(address, "scope_id", None) is None


# --- Log-ins (django-axes) -------------------------------------------------------------------


class LoginAttemptHandler(AxesDatabaseHandler):
    """axes' database handler, plus a lock on the client address as a whole.

    axes locks one (username, address) pair after AXES_FAILURE_LIMIT wrong passwords; someone
    trying one password against many usernames never trips that. So an address is also locked
    once its failures over every username within the cool-off reach FBS_LOGIN_FAILURES_PER_ADDRESS,
    a higher number, so an office behind one address is not locked out by a few typos.
    """

    def get_failures(self, request, credentials=None) -> int:
        # axes compares this count with AXES_FAILURE_LIMIT both when it records a failure and
        # when it checks a new try: an address over its own limit counts as at the limit.
        failures = super().get_failures(request, credentials)
        address = getattr(request, "axes_ip_address", None)
        if not address:
            return failures
        from_address = AccessAttempt.objects.filter(
            ip_address=address, attempt_time__gte=get_cool_off_threshold(request)
        ).aggregate(total=Sum("failures_since_start"))["total"]
        if (from_address or 0) >= settings.FBS_LOGIN_FAILURES_PER_ADDRESS:
            return max(failures, get_failure_limit(request, credentials))
        return failures


def lockout_response(request, original_response=None, credentials=None):
    """The lockout page, 429 with Retry-After. Every refused try counts as a failure and starts
    the cool-off again (axes' AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so the wait is the
    whole cool-off from now."""
    seconds = math.ceil(get_cool_off(request).total_seconds())
    response = render(
        request,
        settings.AXES_LOCKOUT_TEMPLATE,
        {"retry_minutes": math.ceil(seconds / 60)},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


# --- API keys (DRF) --------------------------------------------------------------------------


class ApiKeyFailureThrottle(SimpleRateThrottle):
    """Failed API-key authentications per client address (rate `api_key_failure`).

    Unlike DRF's own throttles, a request is not counted for being made: allow_request only reads
    the history, and ApiKeyAuthentication records a try with record_failure when its key is
    wrong. It is asked before the key is looked at, so once an address is over the rate no key
    from it is checked at all, right or wrong: a throttled guesser learns nothing.
    """

    scope = "api_key_failure"

    def get_ident(self, request):
        return client_address(request)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request) -> None:
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self._load(request)
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return True

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        self._load(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
