"""Throttles on guessing: failed log-ins (django-axes) and failed API keys (a DRF throttle), both
counted per client address, both answered 429 with Retry-After.

One function says which address a request comes from, for axes, the API throttles and the audit
log alike: REMOTE_ADDR, unless FBS_TRUSTED_PROXIES says how many proxies of ours stand in front
and so which X-Forwarded-For entry is the client's. Without that setting, X-Forwarded-For is the
client's own word and is ignored: a guesser could otherwise send a new address with every try.
"""

import contextlib
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
    """The client's IP address, always a valid one (or None when even REMOTE_ADDR is not one).

    axes' ip_address and auditlog's remote_addr are inet columns on PostgreSQL: a value that is
    not an address ("1.2.3.4:5678", "unknown") would turn a log-in or a change into a 500.
    """
    remote_addr = ip_or_none(request.META.get("REMOTE_ADDR"))
    proxies = getattr(settings, "FBS_TRUSTED_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    # Each of our proxies appends the address it was reached from; the client's is the one our
    # first proxy saw, `proxies` entries from the right. Anything left of it is the client's say.
    # Fewer entries than proxies: the request did not come through all of ours, and the left-most
    # entry may be the client's own; the connection's address is the only one known to be true.
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote_addr
    return ip_or_none(hops[-proxies]) or remote_addr


def ip_or_none(value: str | None) -> str | None:
    """value as an IP address in its canonical form, or None if it is not one.

    Takes what proxies write besides a bare address: a port ("1.2.3.4:5678", "[2001:db8::1]:443")
    and brackets around IPv6. An IPv6 zone ("fe80::1%eth0") is dropped: it names an interface of
    the proxy, not the client, and PostgreSQL's inet does not take it.
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("["):
        text, bracket, _port = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port; IPv6 has at least two colons
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(text.partition("%")[0])
    return str(address)


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
    """Failed API-key authentications per client address (rate `api_key_failure`), in fixed
    windows of the rate's period: at most `num_requests` keys from one address are checked per
    window; every other try in it gets 429 with Retry-After, the seconds left in the window.

    Reserve, then check: allow_request counts the try before its key is looked at, with one
    atomic increment of a counter per address and window (cache.add, then cache.incr: atomic on
    Redis, and on LocMem under its lock), and refuses it if the count it gets back is over the
    rate. So requests in flight together cannot all slip through: each gets its own count, and
    only the first `num_requests` are checked. A right key gives its count back
    (record_success), so only wrong keys use up the rate. Once an address is over the rate no
    key from it is checked at all, right or wrong: a throttled guesser learns nothing.

    Fixed windows, not DRF's sliding history (a read-modify-write of one list, which concurrent
    requests overwrite): a guesser can fit two windows' worth into one period across a window's
    end, and no more.
    """

    scope = "api_key_failure"

    def __init__(self):
        super().__init__()
        self.key = None

    def get_ident(self, request):
        return client_address(request)

    def get_cache_key(self, request, view):
        window = int(self.now // self.duration)
        ident = self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        return f"{ident}_{window}"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.now = self.timer()
        self.key = self.get_cache_key(request, view)
        return self._count_one() <= self.num_requests

    def _count_one(self) -> int:
        # The counter lives as long as a window, so it is gone by the time its window is over;
        # the window is in the key, so a later window never sees it anyway.
        for _ in range(2):
            self.cache.add(self.key, 0, self.duration)
            try:
                return self.cache.incr(self.key)
            except ValueError:
                # Expired between add and incr: at the very end of its window. Once more.
                continue
        return self.num_requests + 1  # the cache keeps losing it: do not check the key

    def record_success(self, request) -> None:
        """The key was right: give back the count its try took."""
        if self.key is None:
            return
        with contextlib.suppress(ValueError):  # the window is over and its counter gone
            self.cache.decr(self.key)

    def wait(self) -> int:
        # Whole seconds, rounded up (Retry-After is an integer), and at least 1: DRF leaves the
        # header out for a wait of 0.
        window_end = (int(self.now // self.duration) + 1) * self.duration
        return max(1, math.ceil(window_end - self.now))
