"""`python -m bench.orders_profile`: what one order costs, in queries and CPU, in one process.

The orders bench (bench.orders) measures throughput and latency with real workers and gunicorn;
on a shared or small machine those wall-clock numbers move with everything else that runs. This
script measures what does not: the SQL statements and the CPU time each step takes, run
in-process on its own PostgreSQL database, one order at a time.

Orders are shaped like bench.orders' (1 to 3 lines of qty 1, items with plenty available, 30
warehouses, the sandbox warehouse missing 2%). Per order it reports:

- release: order_release_due over a batch, divided by the orders it released (the on-commit
  queueing of each fulfillment task included: to Redis when CELERY_BROKER_URL says so);
- fulfill: order_fulfill (the fulfillment task's body: routing every line, then order_settle);
- cancel (service): order_cancel_request on a queued order (won) and on a released one (too late);
- cancel (API): POST /api/v1/orders/{id}/cancel-request through django.test.Client with an API
  key, the whole request (middleware, authentication, throttling, the answer's order).

Queries are counted on one group of orders (CaptureQueriesContext), CPU measured on another
without the query log (its bookkeeping costs CPU too). CPU is this process's
(time.process_time) and its PostgreSQL backend's (from /proc, 10 ms ticks: read it over many
orders). `--profile STEP` prints the cProfile of that step instead of the table.

`--worker-orders N` adds one measurement with a real Celery worker (threads pool, as
bench.orders runs it, on this run's own queue): N orders released by the sweep in this process
and fulfilled by the worker; reported per order: the worker process's CPU and its PostgreSQL
backends' CPU. That is what the in-process numbers leave out (receiving, acknowledging and
tracing each task, threads). Its wall time is shown too, but only means something on an idle
machine.
"""

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench import environment

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fbs_bench_orders_profile"
SHIP = {"name": "B", "address1": "1 St", "city": "Dallas", "state": "TX", "postal_code": "75201"}
STEPS = ("release", "fulfill", "cancel", "cancel_too_late", "api_cancel", "api_cancel_too_late")
TICKS = os.sysconf("SC_CLK_TCK")
# Orders per group whose CPU time is read on its own: the report gives the mean and the best.
CHUNK = 25


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m bench.orders_profile", description=__doc__)
    parser.add_argument("--orders", type=int, default=200, help="orders per CPU-timed group")
    parser.add_argument("--counted", type=int, default=20, help="orders per query-counted group")
    parser.add_argument("--items", type=int, default=5000, help="items in the demo feeds")
    parser.add_argument("--profile", choices=STEPS, help="print this step's cProfile")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--worker-orders", type=int, default=0, help="orders for the worker run")
    parser.add_argument("--worker-threads", type=int, default=8, help="the worker's threads")
    return parser.parse_args()


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _backend_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _process_seconds(pid: int) -> float:
    try:
        return _backend_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def _process_children_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / TICKS


def _postgres_snapshot(database: str) -> tuple[dict[int, float], float]:
    """CPU seconds so far of every other backend on this database, and of the backends that
    have exited (the postmaster reaps them: their time is in its children's time). A worker
    that opens a connection per task leaves its CPU in the second; one that keeps its
    connections, in the first."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        live = {pid: _process_seconds(pid) for (pid,) in cursor.fetchall()}
        cursor.execute("SHOW data_directory")
        data_directory = Path(cursor.fetchone()[0])
    postmaster = int((data_directory / "postmaster.pid").read_text().split()[0])
    return live, _process_children_seconds(postmaster)


def _postgres_seconds(before, after) -> float:
    (live_before, exited_before), (live_after, exited_after) = before, after
    live = sum(v - live_before.get(pid, 0.0) for pid, v in live_after.items())
    return live + exited_after - exited_before


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


class Meter:
    """Runs a step over a group of orders and keeps queries, or CPU, per order."""

    def __init__(self, profile: str | None):
        self.profile = profile
        self.results: dict[str, dict] = {}

    def count(self, name: str, per_order: list, run) -> None:
        """Queries: run(x) for each x, each in its own CaptureQueriesContext."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        counts, samples = [], None
        for x in per_order:
            with CaptureQueriesContext(connection) as captured:
                run(x)
            counts.append(len(captured.captured_queries))
            if samples is None:
                samples = [q["sql"][:160] for q in captured.captured_queries]
        self.results.setdefault(name, {}).update(
            queries_mean=round(statistics.mean(counts), 1),
            queries_min=min(counts),
            queries_max=max(counts),
            first_order_sql=samples,
        )

    def time(self, name: str, per_order: list, run, *, orders: int | None = None) -> None:
        """CPU: run(x) for each x; this process and its PostgreSQL backend, per order."""
        backend = _backend_pid()
        profiler = cProfile.Profile() if self.profile == name else None
        pg_before, cpu_before, wall_before = (
            _backend_seconds(backend),
            time.process_time(),
            time.perf_counter(),
        )
        if profiler:
            profiler.enable()
        chunks = []
        for start in range(0, len(per_order), CHUNK):
            chunk = per_order[start : start + CHUNK]
            chunk_started = time.process_time()
            for x in chunk:
                run(x)
            chunks.append((time.process_time() - chunk_started) / len(chunk))
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu_before
        wall = time.perf_counter() - wall_before
        pg = _backend_seconds(backend) - pg_before
        n = orders or len(per_order)
        self.results.setdefault(name, {}).update(
            orders=n,
            python_cpu_ms=round(1000 * cpu / n, 2),
            # The cheapest group of CHUNK orders: what is left when nothing else on the machine
            # got in the way (CPU time grows on a busy machine too, if less than wall time).
            python_cpu_best_ms=round(1000 * min(chunks) * len(per_order) / n, 2),
            postgres_cpu_ms=round(1000 * pg / n, 2),
            wall_ms=round(1000 * wall / n, 2),
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())


def load_inventory(items: int) -> list:
    from inventory.demo import write_demo_feeds
    from inventory.models import Item
    from inventory.services import feed_import_create, feed_import_run

    folder = Path(tempfile.mkdtemp(prefix="fbs-orders-profile-"))
    for path in write_demo_feeds(folder, warehouses=30, items=items):
        with path.open("rb") as fileobj:
            feed_import_run(
                feed_import=feed_import_create(file_name=path.name, warehouse_code=path.stem),
                fileobj=fileobj,
            )
        path.unlink()
    folder.rmdir()
    return list(Item.objects.filter(available_qty__gte=50).order_by("pk"))


def make_affiliate():
    from affiliates.services import affiliate_create, api_key_create, payment_method_add_card

    affiliate, user = affiliate_create(
        username=f"profile-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex,
        company=f"Profile {uuid.uuid4().hex[:6]}", email="p@example.com",
    )  # fmt: skip
    payment_method_add_card(
        affiliate=affiliate, number="4242424242424242", exp_month=12, exp_year=2039
    )
    _, raw = api_key_create(user=user, name="profile")
    return affiliate, user, raw


def place_orders(affiliate, user, count: int, items, rng) -> list[int]:
    """Paid orders shaped like bench.orders': 1 to 3 lines of qty 1; their window far away."""
    from django.utils import timezone

    from orders.models import Order
    from orders.services import order_place

    ids = []
    for _ in range(count):
        lines = [
            {"line_code": i.line_code, "part_number": i.part_number, "qty": 1}
            for i in rng.sample(items, rng.randint(1, 3))
        ]
        order = order_place(
            affiliate=affiliate, user=user, marketplace="ebay",
            marketplace_order_id=uuid.uuid4().hex, ship_to=SHIP, lines=lines,
        )  # fmt: skip
        assert order.status == "queued", order.status
        ids.append(order.pk)
    Order.objects.filter(pk__in=ids).update(release_at=timezone.now() + timedelta(days=1))
    return ids


def make_due(ids: list[int]) -> None:
    """These orders, and no others, are due for sweep()."""
    from django.utils import timezone

    from orders.models import Order

    Order.objects.filter(pk__in=ids).update(release_at=timezone.now() - timedelta(days=2))


def sweep(_=None) -> None:
    """The release sweep as beat runs it: until nothing is due."""
    from django.utils import timezone

    from orders.services import order_release_due

    while order_release_due(now=timezone.now() - timedelta(days=1)):
        pass


def release(ids: list[int]) -> None:
    make_due(ids)
    sweep()


def main() -> None:
    args = parse_args()
    queue = f"orders-profile-{uuid.uuid4().hex[:6]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("FBS_API_THROTTLE_USER", "100000/minute")
    os.environ.setdefault("FBS_SANDBOX_MISS_RATE", "0.02")
    os.environ.setdefault("EMAIL_URL", "memorymail://")
    environment.configure(args.database_url)
    environment.setup_django()

    from django.conf import settings
    from django.test import Client

    from orders.models import Order, OrderLine
    from orders.services import order_cancel_request, order_fulfill
    from sophio_fbs.celery import app

    step(f"Recreating {args.database_url}; broker {settings.CELERY_BROKER_URL}, queue {queue}")
    environment.recreate_database(args.database_url)
    items = load_inventory(args.items)
    step(f"Inventory: {len(items):,} items with 50+ available")
    rng = random.Random(4)
    affiliate, user, raw = make_affiliate()
    meter = Meter(args.profile)
    n, k = args.orders, args.counted

    try:
        step("Release and fulfillment")
        counted, timed = (place_orders(affiliate, user, m, items, rng) for m in (k, n))
        # One sweep releases a whole group: its queries and CPU are shared by its orders.
        make_due(counted)
        meter.count("release", [None], sweep)
        for key in ("queries_mean", "queries_min", "queries_max"):
            meter.results["release"][key] = round(meter.results["release"][key] / k, 2)
        make_due(timed)
        meter.time("release", [None], sweep, orders=n)
        meter.count("fulfill", counted, lambda pk: order_fulfill(order_id=pk))
        meter.time("fulfill", timed, lambda pk: order_fulfill(order_id=pk))
        lines = OrderLine.objects.filter(order_id__in=counted + timed)
        meter.results["fulfill"]["lines_per_order"] = round(lines.count() / (n + k), 2)
        meter.results["fulfill"]["line_statuses"] = dict(
            Counter(lines.values_list("status", flat=True))
        )
        meter.results["fulfill"]["order_statuses"] = dict(
            Counter(Order.objects.filter(pk__in=counted + timed).values_list("status", flat=True))
        )

        step("Cancel Request (service)")
        counted, timed = (place_orders(affiliate, user, m, items, rng) for m in (k, n))

        def cancel(pk):
            assert order_cancel_request(order=Order(pk=pk), user=user) == "cancelled"

        meter.count("cancel", counted, cancel)
        meter.time("cancel", timed, cancel)

        counted, timed = (place_orders(affiliate, user, m, items, rng) for m in (k, n))
        release(counted + timed)

        def cancel_late(pk):
            assert order_cancel_request(order=Order(pk=pk), user=user) == "too_late"

        meter.count("cancel_too_late", counted, cancel_late)
        meter.time("cancel_too_late", timed, cancel_late)

        step("Cancel Request (API)")
        client = Client(headers={"Authorization": f"Bearer {raw}"})

        def api(expected):
            def post(pk):
                response = client.post(
                    f"/api/v1/orders/{pk}/cancel-request",
                    data=json.dumps({"reason": "bench"}),
                    content_type="application/json",
                )
                assert response.status_code == 200, response.content
                assert response.json()["outcome"] == expected

            return post

        counted, timed = (place_orders(affiliate, user, m, items, rng) for m in (k, n))
        meter.count("api_cancel", counted, api("cancelled"))
        meter.time("api_cancel", timed, api("cancelled"))
        counted, timed = (place_orders(affiliate, user, m, items, rng) for m in (k, n))
        release(counted + timed)
        meter.count("api_cancel_too_late", counted, api("too_late"))
        meter.time("api_cancel_too_late", timed, api("too_late"))
        # The fulfillment tasks the sweeps above queued were never meant to run: drop them.
        _drop_queue(app, queue)
        if args.worker_orders:
            meter.results["worker"] = measure_worker(args, affiliate, user, items, rng, queue)
    finally:
        _drop_queue(app, queue)

    if not args.profile:
        report(meter.results, args)


def _drop_queue(app, queue: str) -> None:
    with app.connection_for_write() as connection, contextlib.suppress(Exception):
        connection.default_channel.queue_delete(queue)


def measure_worker(args, affiliate, user, items, rng, queue: str) -> dict:
    """N orders released here and fulfilled by a real worker: its CPU and its backends' CPU."""
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    from orders.models import Order

    step(f"Worker: {args.worker_orders} orders, 1 worker x {args.worker_threads} threads")
    ids = place_orders(affiliate, user, args.worker_orders, items, rng)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        DEBUG="0",
        LOG_LEVEL="WARNING",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = Path(tempfile.gettempdir()) / f"{queue}-worker.log"
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable, "-m", "celery", "-A", "sophio_fbs", "worker", "-Q", queue,
            "-n", f"{queue}@%h", "--pool", "threads", "--concurrency", str(args.worker_threads),
            "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ],
        cwd=environment.ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not start: see {log}")
            time.sleep(0.2)
        database = connection.settings_dict["NAME"]
        backends_before = _postgres_snapshot(database)
        worker_before = _process_seconds(worker.pid)
        cpu_before, started = time.process_time(), time.perf_counter()
        release(ids)
        while Order.objects.filter(pk__in=ids, status="processing").exists():
            time.sleep(0.05)
        wall = time.perf_counter() - started
        sweep_cpu = time.process_time() - cpu_before
        worker_cpu = _process_seconds(worker.pid) - worker_before
        pg_cpu = _postgres_seconds(backends_before, _postgres_snapshot(database))
        floor = _task_floor(worker, database, ids)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    n = len(ids)
    return {
        "orders": n,
        "worker_cpu_ms": round(1000 * worker_cpu / n, 2),
        "worker_postgres_cpu_ms": round(1000 * pg_cpu / n, 2),
        "sweep_and_polling_cpu_ms": round(1000 * sweep_cpu / n, 2),
        **floor,
        "wall_seconds": round(wall, 2),
        "orders_per_second_this_machine": round(n / wall, 1),
        "final_statuses": dict(
            Counter(Order.objects.filter(pk__in=ids).values_list("status", flat=True))
        ),
    }


def _task_floor(worker, database: str, ids: list[int]) -> dict:
    """What a fulfillment task costs the worker when there is nothing to do (its order has
    settled: one SELECT): receiving, running and acknowledging a task, per task."""
    from orders.tasks import order_fulfill_batch_task
    from sophio_fbs.celery import app

    backends_before = _postgres_snapshot(database)
    worker_before = _process_seconds(worker.pid)
    tasks = ids * max(1, 1000 // len(ids))
    for order_id in tasks:
        order_fulfill_batch_task.delay([order_id])
    # The queue is empty and the worker idle again: every task has run.
    with app.connection_for_write() as broker:
        channel = broker.default_channel
        queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
        while channel.client.llen(queue):
            time.sleep(0.05)
    idle_since = _process_seconds(worker.pid)
    while True:
        time.sleep(0.5)
        now = _process_seconds(worker.pid)
        if now - idle_since < 0.02:
            break
        idle_since = now
    worker_cpu = _process_seconds(worker.pid) - worker_before
    pg_cpu = _postgres_seconds(backends_before, _postgres_snapshot(database))
    return {
        "noop_tasks": len(tasks),
        "noop_task_worker_cpu_ms": round(1000 * worker_cpu / len(tasks), 2),
        "noop_task_postgres_cpu_ms": round(1000 * pg_cpu / len(tasks), 2),
    }


def report(results: dict, args) -> None:
    print()
    print(f"{'step (per order)':20} {'queries':>8} {'min-max':>11} {'py CPU ms':>10} "
          f"{'(best)':>7} {'pg CPU ms':>10} {'wall ms':>8}")  # fmt: skip
    for name in STEPS:
        r = results.get(name)
        if not r:
            continue
        spread = f"{r['queries_min']}-{r['queries_max']}"
        print(
            f"{name:20} {r['queries_mean']:>8} {spread:>11} {r['python_cpu_ms']:>10} "
            f"{r['python_cpu_best_ms']:>7} {r['postgres_cpu_ms']:>10} {r['wall_ms']:>8}"
        )
    release, fulfill = results["release"], results["fulfill"]
    print(
        f"{'release+fulfill':20} {release['queries_mean'] + fulfill['queries_mean']:>8.1f} "
        f"{'':>11} {release['python_cpu_ms'] + fulfill['python_cpu_ms']:>10.2f} "
        f"{release['python_cpu_best_ms'] + fulfill['python_cpu_best_ms']:>7.2f} "
        f"{release['postgres_cpu_ms'] + fulfill['postgres_cpu_ms']:>10.2f} "
        f"{release['wall_ms'] + fulfill['wall_ms']:>8.2f}"
    )
    print(f"\nlines per order {fulfill['lines_per_order']}; lines {fulfill['line_statuses']}; "
          f"orders {fulfill['order_statuses']}")  # fmt: skip
    worker = results.get("worker")
    if worker:
        print(
            f"\nworker run, per order: worker CPU {worker['worker_cpu_ms']} ms, its PostgreSQL "
            f"backends {worker['worker_postgres_cpu_ms']} ms; {worker['orders']} orders in "
            f"{worker['wall_seconds']} s ({worker['final_statuses']}); a task with nothing to "
            f"do: worker {worker['noop_task_worker_cpu_ms']} ms, PostgreSQL "
            f"{worker['noop_task_postgres_cpu_ms']} ms"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        step(f"Numbers in {args.json}")


if __name__ == "__main__":
    main()
