"""`python -m loadtest.login_probe`: log-in latency on its own, after `make loadtest`.

Uses the database and the users the last load run left (fbs_bench_load, loadtest/data/users.json)
and gunicorn set up as in the load run (3 processes x 4 threads), with nothing else running:
50 affiliates log in, started 10 a second as locust starts them, first on freshly started web
processes, then again on warm ones, then 2 a second. Each log-in is timed in three parts: the
login page, the POST (its redirect not followed) and the dashboard it redirects to.
"""

import http.cookiejar
import json
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from loadtest.run import DATA, DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent
PORT = 8767
BASE = f"http://127.0.0.1:{PORT}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _login(user: dict) -> tuple[float, float, float, int]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    started = time.perf_counter()
    html = opener.open(f"{BASE}/login/").read().decode()
    page = time.perf_counter() - started
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = {"username": user["username"], "password": user["password"]}
    data = urllib.parse.urlencode(form | {"csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(
        f"{BASE}/login/", data=data, headers={"Referer": f"{BASE}/login/"}
    )
    started = time.perf_counter()
    try:
        opener.open(request)
        status = 200
    except urllib.error.HTTPError as exc:  # the 302 to the dashboard, not followed
        status = exc.code
    post = time.perf_counter() - started
    started = time.perf_counter()
    opener.open(f"{BASE}/").read()
    return page, post, time.perf_counter() - started, status


def _burst(label: str, users: list[dict], per_second: float) -> None:
    results, threads = [], []
    for user in users:
        thread = threading.Thread(target=lambda u=user: results.append(_login(u)))
        thread.start()
        threads.append(thread)
        time.sleep(1 / per_second)
    for thread in threads:
        thread.join()
    parts = ["GET /login/", "POST /login/ (no redirect)", "GET / (dashboard)"]
    for i, name in enumerate(parts):
        ms = sorted(r[i] * 1000 for r in results)
        p95 = ms[max(0, int(0.95 * len(ms)) - 1)]
        print(f"{label:24s} {name:28s} p50 {statistics.median(ms):6.0f} ms  p95 {p95:6.0f} ms")
    print(f"{label:24s} statuses {sorted({r[3] for r in results})}")


def main() -> None:
    users = json.loads((DATA / "users.json").read_text())["affiliates"]
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": DATABASE_URL,
        "DJANGO_SETTINGS_MODULE": "sophio_fbs.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CACHE_URL": "redis://127.0.0.1:6379/11",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/10",
        "STATIC_ROOT": tempfile.mkdtemp(prefix="fbs-static-"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run(  # noqa: S603
        [*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    # No lockouts left from earlier runs.
    subprocess.run([*manage, "axes_reset"], cwd=ROOT, env=env, check=True)  # noqa: S603
    web = subprocess.Popen(  # noqa: S603
        [
            sys.executable, "-m", "gunicorn", "sophio_fbs.wsgi", "--bind", f"127.0.0.1:{PORT}",
            "--workers", "3", "--threads", "4", "--worker-class", "gthread",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(5)  # as the load run waits before its first users
        _burst("cold, 10 a second", users, 10)
        _burst("warm, 10 a second", users, 10)
        _burst("warm, 2 a second", users, 2)
    finally:
        web.terminate()
        web.wait()


if __name__ == "__main__":
    main()
