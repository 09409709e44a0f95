"""The process environment of a run: the bench database, Django settings, machine details."""

import hashlib
import os
import platform
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fbs_bench"


def configure(database_url: str) -> None:
    """Point Django at the bench database, as production runs it: DEBUG off (no query log),
    a local-memory cache for import progress, an in-memory Celery broker (tasks an import queues
    are sent, as to Redis, and never run), warnings-only logging. Run before django.setup()."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "sophio_fbs.settings"
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("CACHE_URL", "locmemcache://")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def setup_django() -> None:
    import django

    django.setup()


def _database_parts(database_url: str) -> tuple[list[str], str]:
    url = urlparse(database_url)
    name = url.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"Refusing to drop {name!r}: the bench database name must contain 'bench'."
        )
    args = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
    args += ["-U", url.username or "postgres"]
    return args, name


def recreate_database(database_url: str) -> None:
    """Drop and create the bench database, then migrate it (in this process)."""
    args, name = _database_parts(database_url)
    subprocess.run(["dropdb", *args, "--if-exists", "--force", name], check=True)  # noqa: S603, S607
    subprocess.run(["createdb", *args, name], check=True)  # noqa: S603, S607
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def _git(*args: str) -> str:
    result = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()


def _inventory_fingerprint() -> dict[str, str]:
    """Short hashes of the inventory code measured: the working tree may differ from HEAD."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in sorted((ROOT / "inventory").glob("*.py"))
    }


def machine_details() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
        settings = {}
        for name in (
            "shared_buffers",
            "work_mem",
            "maintenance_work_mem",
            "effective_cache_size",
            "max_wal_size",
            "synchronous_commit",
            "autovacuum",
        ):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory": _memory_total(),
        "cpu": _cpu_model(),
        "postgresql": pg_version,
        "postgresql_settings": settings,
        "python": platform.python_version(),
        # Anything else busy on the machine shows here (the bench wants it idle).
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "inventory_changed_vs_head": _git("status", "--short", "--", "inventory"),
        "inventory_sha256": _inventory_fingerprint(),
    }
