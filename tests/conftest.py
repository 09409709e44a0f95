"""Test set-up: which services a test needs, and what happens when they are missing.

Tests marked `postgres`, `redis` or `browser` need PostgreSQL (DATABASE_URL), Redis
(CELERY_BROKER_URL) or Debian's Chromium. Where one is missing they are skipped with the reason;
with FBS_REQUIRE_SERVICES=1 (CI) the run stops instead, so CI never passes by skipping.
"""

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in the test thread; the Django ORM calls made there by
# the test itself are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
REQUIRE_SERVICES = os.environ.get("FBS_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def _postgres_missing() -> str | None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://... (running on SQLite)"
    return None


def _redis_missing() -> str | None:
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return "needs Redis: set CELERY_BROKER_URL=redis://... (running on the file-system broker)"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"needs Redis, but {url} does not answer ({exc})"
    return None


def _browser_missing() -> str | None:
    if not shutil.which(CHROMIUM):
        return f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


CHECKS = {
    "postgres": _postgres_missing,
    "redis": _redis_missing,
    "celery": lambda: _postgres_missing() or _redis_missing(),
    "browser": _browser_missing,
}


def pytest_collection_modifyitems(config, items):
    reasons = {}
    for marker, check in CHECKS.items():
        if any(item.get_closest_marker(marker) for item in items):
            reasons[marker] = check()
    missing = {marker: reason for marker, reason in reasons.items() if reason}
    if missing and REQUIRE_SERVICES:
        raise pytest.UsageError("FBS_REQUIRE_SERVICES is set but: " + "; ".join(missing.values()))
    for item in items:
        for marker, reason in missing.items():
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def celery_sent(request, monkeypatch):
    """Tasks queued during a test are recorded here instead of reaching a broker, so no test
    leaves work behind for the real worker of another. Tests marked `celery` use the real one."""
    sent = []
    if request.node.get_closest_marker("celery"):
        yield sent
        return
    from celery.app.task import Task

    def record(self, args=None, kwargs=None, **options):
        if self.name == "sophio_fbs.mail.send_email_task":
            # An email is sent at once, as a worker would send it: tests read mailoutbox.
            return self.run(*(args or ()), **(kwargs or {}))
        sent.append((self.name, tuple(args or ()), dict(kwargs or {})))
        return None

    monkeypatch.setattr(Task, "apply_async", record)
    yield sent


@pytest.fixture(autouse=True)
def _fast_passwords_and_clean_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The sandbox warehouse misses 2% of lines by default; a test that wants misses says so.
    settings.FBS_SANDBOX_MISS_RATE = 0
    from django.core.cache import cache

    # Throttle counters live in the cache; each test starts with none.
    cache.clear()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright cannot download its own browser here: drive Debian's Chromium.
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ],
    }


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
