"""Real Celery worker and beat processes for tests: the test database, a queue of their own."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )


def process_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=test_database_url(),
        CONN_MAX_AGE="0",
        FBS_VAR_DIR=tempfile.mkdtemp(prefix="fbs-celery-"),
        LOG_LEVEL="WARNING",
        # As in the tests' own process (conftest): a warehouse misses only where a test says so.
        # The sandbox's miss is drawn from the line's key, so at its default 2% a test expecting
        # "fulfilled" would fail whenever the database's ids gave one of its lines an unlucky key.
        FBS_SANDBOX_MISS_RATE="0",
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@contextmanager
def celery_processes(*, workers: int = 1, beat: bool = True, **settings):
    """Start `workers` worker processes (and a beat) with the given FBS_* settings; stop them."""
    queue = f"fbs-test-{uuid.uuid4().hex[:8]}"
    env = process_env(CELERY_TASK_DEFAULT_QUEUE=queue, **settings)
    celery = [sys.executable, "-m", "celery", "-A", "sophio_fbs"]
    processes = []
    logs = []
    try:
        for n in range(workers):
            log = tempfile.NamedTemporaryFile(prefix=f"worker{n}-", suffix=".log", delete=False)  # noqa: SIM115
            logs.append(log.name)
            processes.append(
                subprocess.Popen(
                    [
                        *celery,
                        "worker",
                        "-Q",
                        queue,
                        "--pool",
                        "solo",
                        "-n",
                        f"w{n}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        if beat:
            log = tempfile.NamedTemporaryFile(prefix="beat-", suffix=".log", delete=False)  # noqa: SIM115
            logs.append(log.name)
            schedule = Path(env["FBS_VAR_DIR"]) / "beat-schedule"
            processes.append(
                subprocess.Popen(
                    [
                        *celery,
                        "beat",
                        "-S",
                        "celery.beat:PersistentScheduler",
                        "-s",
                        str(schedule),
                        "--loglevel",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in logs:
            text = Path(name).read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {name}\n{text[-4000:]}")  # noqa: T201


def wait_for(predicate, *, timeout: float = 60, what: str = "condition"):
    """Poll the database until `predicate()` is true: waiting on another process, not a clock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
