"""Where one feed import's time goes, on the database a bench run left behind.

    python -m bench.diagnose bench/data/feeds-.../WH100.csv [--warehouse CODE]

Runs the import three times, each in a transaction rolled back at the end, so the database
stays as it was: once plain (timed), once under cProfile (the Python side), once with
auto_explain (the plan and actual time of every statement over 5 ms). A --warehouse code that
does not exist yet makes it a warehouse's first feed, as in a first load. `--set NAME=VALUE`
changes a PostgreSQL setting for the session, to see how plans would change (what-if only: the
bench itself runs on the server's settings).
"""

import argparse
import cProfile
import io
import pstats
import time
from pathlib import Path

from bench import environment


class _Rollback(Exception):
    pass


def _execute(sql: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _run_rolled_back(path: Path, code: str, around=None) -> float:
    from django.db import transaction

    from inventory.services import feed_import_create, feed_import_run

    started = time.perf_counter()
    try:
        with transaction.atomic():
            feed_import = feed_import_create(file_name=path.name, warehouse_code=code)
            with path.open("rb") as handle:
                if around is None:
                    feed_import_run(feed_import=feed_import, fileobj=handle)
                else:
                    around(lambda: feed_import_run(feed_import=feed_import, fileobj=handle))
            seconds = time.perf_counter() - started
            # The stock rows' foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit.
            checked = time.perf_counter()
            _execute("SET CONSTRAINTS ALL IMMEDIATE")
            print(f"  deferred foreign-key checks (run at commit): "
                  f"{time.perf_counter() - checked:.2f} s")  # fmt: skip
            print(f"  {feed_import.status}: {feed_import.rows_read:,} rows, "
                  f"{feed_import.stock_rows_written:,} stock rows written, "
                  f"{feed_import.items_changed:,} items changed")  # fmt: skip
            raise _Rollback
    except _Rollback:
        pass
    return seconds


def _profiled(run) -> None:
    profile = cProfile.Profile()
    profile.runcall(run)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
    print(out.getvalue())


def _explained(run) -> None:
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("auto_explain.log_min_duration", "5"),
            ("auto_explain.log_analyze", "on"),
            ("auto_explain.log_buffers", "on"),
            ("auto_explain.log_level", "notice"),
            ("client_min_messages", "notice"),
        ):
            cursor.execute("SELECT set_config(%s, %s, false)", [setting, value])
    raw.notices = []
    try:
        run()
    finally:
        with raw.cursor() as cursor:
            cursor.execute("SELECT set_config('auto_explain.log_min_duration', '-1', false)")
    for notice in raw.notices:
        print(notice.strip(), end="\n\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnose")
    parser.add_argument("path", type=Path)
    parser.add_argument("--warehouse", help="warehouse code (default: from the file name)")
    parser.add_argument("--database-url", default=environment.DEFAULT_DATABASE_URL)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    environment.configure(args.database_url)
    environment.setup_django()
    for setting in args.set:
        name, value = setting.split("=", 1)
        _execute("SELECT set_config(%s, %s, false)", [name, value])
        print(f"SET {name} = {value} (this session only)")
    code = args.warehouse or args.path.stem

    print(f"Plain run of {args.path.name} as {code}:")
    print(f"  {_run_rolled_back(args.path, code):.2f} s\n")
    print("Under cProfile:")
    _run_rolled_back(args.path, code, around=_profiled)
    print("Under auto_explain (statements over 5 ms):")
    _run_rolled_back(args.path, code, around=_explained)


if __name__ == "__main__":
    main()
