"""`python -m bench.orders`: release throughput and Cancel Request latency (issue 4).

(1) Release throughput: N paid orders become due at once; the release sweep (as beat runs it)
hands them to two Celery worker processes on Redis, which fulfill them through the sandbox
warehouse connector. Measured from "due" to "no order left processing", in orders per second.

(2) Cancel Request latency: 20 client threads, one affiliate each, send
POST /api/v1/orders/{id}/cancel-request to gunicorn on loopback while the sweep releases other
orders of theirs and the workers fulfill them. p50 and p95 per request, outcomes counted. Run
twice: back to back (a closed loop: each client sends its next request the moment it has an
answer, so the latency is the clients over the throughput) and with --think seconds between a
client's requests (20 affiliates at work at once, each reading the answer before the next).

Afterwards the released orders are checked in the database: released, settled and charged once
each, every filled line accepted once and never voided.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

from bench import environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fbs_bench_orders"
BROKER_URL = "redis://127.0.0.1:6379/13"
PORT = 8765
SHIP = {"name": "B", "address1": "1 St", "city": "Dallas", "state": "TX", "postal_code": "75201"}


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m bench.orders", description=__doc__)
    parser.add_argument("--orders", type=int, default=2000, help="orders released at once")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--cancels", type=int, default=50, help="cancel requests per client")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn processes")
    parser.add_argument(
        "--web-threads", type=int, default=1, help="threads per gunicorn process (gthread if > 1)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.5,
        help="seconds a client waits between its requests in the second Cancel Request run "
        "(the first sends them back to back)",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    return parser.parse_args()


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def child_env(database_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=BROKER_URL,
        DEBUG="0",
        SECRET_KEY=os.environ["SECRET_KEY"],
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        CACHE_URL="redis://127.0.0.1:6379/12",
        # One user sends a cancel every few ms here; the default 1,200/minute would throttle it.
        FBS_API_THROTTLE_USER="100000/minute",
        FBS_SANDBOX_MISS_RATE="0.02",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_workers(args, env) -> list[subprocess.Popen]:
    processes = []
    for n in range(args.workers):
        log = Path(tempfile.gettempdir()) / f"bench-worker{n}.log"
        processes.append(
            subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "sophio_fbs",
                    "worker",
                    "-Q",
                    env["CELERY_TASK_DEFAULT_QUEUE"],
                    "-n",
                    f"bench{n}@%h",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(args.concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "INFO",
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {n} did not start: see {log}")
            time.sleep(0.2)
    return processes


def stop(processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def make_affiliates(count: int):
    from affiliates.services import affiliate_create, api_key_create, payment_method_add_card

    made = []
    for n in range(count):
        affiliate, user = affiliate_create(
            username=f"bench{n}-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex,
            company=f"Bench {n} {uuid.uuid4().hex[:6]}", email=f"b{n}@example.com",
        )  # fmt: skip
        payment_method_add_card(
            affiliate=affiliate, number="4242424242424242", exp_month=12, exp_year=2039
        )
        _, raw = api_key_create(user=user, name="bench")
        made.append((affiliate, user, raw))
    return made


def place_orders(affiliate, user, count: int, items, rng) -> list[int]:
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
        ids.append(order.pk)
    return ids


def measure_release(args, env, affiliate, user, items, rng) -> dict:
    from django.db.models import Count
    from django.utils import timezone

    from orders.models import Order
    from orders.services import order_release_due

    step(f"Placing {args.orders:,} paid orders")
    ids = place_orders(affiliate, user, args.orders, items, rng)
    Order.objects.filter(pk__in=ids).update(release_at=timezone.now() + timedelta(days=1))
    workers = start_workers(args, env)
    try:
        step(f"Releasing them to {args.workers} workers x {args.concurrency} threads")
        started = time.perf_counter()
        Order.objects.filter(pk__in=ids).update(release_at=timezone.now())
        released = 0
        while batch := order_release_due():
            released += len(batch)
        swept = time.perf_counter() - started
        while Order.objects.filter(pk__in=ids, status="processing").exists():
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        stop(workers)
    statuses = dict(Order.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")))
    return {
        "exactly_once": exactly_once(ids),
        "orders": len(ids),
        "released": released,
        "sweep_seconds": swept,
        "seconds": elapsed,
        "orders_per_second": len(ids) / elapsed,
        "final_statuses": statuses,
        "workers": args.workers,
        "threads_per_worker": args.concurrency,
    }


def exactly_once(ids: list[int]) -> dict:
    """What must have happened once to each order, counted in the database: every number is a
    count of orders or lines that broke the rule (0 is right)."""
    from django.db.models import Count

    from orders.models import Order, OrderEvent, OrderLine, SourcingAttempt
    from payments.models import LedgerEntry

    def more_than_once(rows, key):
        return rows.values(key).annotate(n=Count("id")).filter(n__gt=1).count()

    events = OrderEvent.objects.filter(order__in=ids)
    lines = OrderLine.objects.filter(order__in=ids)
    ledger = LedgerEntry.objects.filter(order__in=ids)
    accepted = SourcingAttempt.objects.filter(line__order__in=ids, outcome="accepted")
    filled = lines.filter(status__in=["fulfilled", "shipped"])
    return {
        "orders_released_twice": more_than_once(events.filter(kind="released"), "order"),
        "orders_settled_twice": more_than_once(events.filter(kind="settled"), "order"),
        "orders_not_settled": Order.objects.filter(pk__in=ids)
        .exclude(events__kind="settled")
        .count(),
        "orders_charged_twice": more_than_once(ledger.filter(kind="charge"), "order"),
        "lines_accepted_twice": more_than_once(accepted, "line"),
        "filled_lines_without_an_acceptance": filled.exclude(attempts__outcome="accepted").count(),
        # (no special orders here: a line once voided stays voided)
        "filled_lines_also_voided": filled.filter(voided_at__isnull=False).count(),
        "void_refunds_not_matching_voided_lines": abs(
            ledger.filter(kind="void").count() - lines.filter(status="voided").count()
        ),
    }


def measure_cancel(args, env, affiliates, items, rng, *, think: float) -> dict:
    from django.utils import timezone

    from orders.models import Order
    from orders.services import order_release_due

    step(f"Placing {args.clients} x {args.cancels} orders to cancel, and as many to release")
    to_cancel, to_release = {}, []
    for affiliate, user, raw in affiliates:
        to_cancel[raw] = place_orders(affiliate, user, args.cancels, items, rng)
        to_release += place_orders(affiliate, user, args.cancels, items, rng)
    # The ones to cancel stay in their window, except a tenth that fall due while the clients
    # run (those are the races the sweep can win); the others come due during the run.
    now = timezone.now()
    Order.objects.filter(pk__in=[i for ids in to_cancel.values() for i in ids]).update(
        release_at=now + timedelta(hours=1)
    )
    for n, order_id in enumerate(to_release):
        Order.objects.filter(pk=order_id).update(release_at=now + timedelta(seconds=n * 0.01))
    web_log = Path(tempfile.gettempdir()) / "bench-gunicorn.log"
    web = subprocess.Popen(  # noqa: S603
        [
            sys.executable, "-m", "gunicorn", "sophio_fbs.wsgi", "--bind", f"127.0.0.1:{PORT}",
            "--workers", str(args.web_workers), "--access-logfile", "-",
            *(["--worker-class", "gthread", "--threads", str(args.web_threads)]
              if args.web_threads > 1 else []),
        ],
        cwd=ROOT, env=env, stdout=web_log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    workers = start_workers(args, env)
    stop_sweep = threading.Event()

    def sweep():
        from django.db import connection

        while not stop_sweep.is_set():
            order_release_due()
            stop_sweep.wait(0.2)
        connection.close()

    latencies, outcomes, errors, timeline = [], {}, [], []
    lock = threading.Lock()

    def warm_up(raw: str, order_id: int):
        for _ in range(2):
            request = urllib.request.Request(
                f"http://127.0.0.1:{PORT}/api/v1/orders/{order_id}",
                headers={"Authorization": f"Bearer {raw}"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                response.read()

    def client(raw: str, ids: list[int]):
        for order_id in ids:
            if think:
                # An affiliate reads the answer before the next Cancel Request.
                time.sleep(think)
            request = urllib.request.Request(
                f"http://127.0.0.1:{PORT}/api/v1/orders/{order_id}/cancel-request",
                data=b'{"reason": "bench"}',
                headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
                method="POST",
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    body = json.loads(response.read())
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    timeline.append((started, elapsed, body["outcome"]))
                    outcomes[body["outcome"]] = outcomes.get(body["outcome"], 0) + 1
            except Exception as exc:
                with lock:
                    errors.append(repr(exc)[:200])

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/v1/me", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # 401: it is up and answering
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start: see {web_log}") from None
                time.sleep(0.2)
        # Warm-up, not measured: every client reads one of its orders twice, at once, so that
        # each gunicorn worker has its database connection and has served the API before the
        # timing starts.
        warm = [
            threading.Thread(target=warm_up, args=(raw, ids[-1])) for raw, ids in to_cancel.items()
        ]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        sweeper = threading.Thread(target=sweep)
        sweeper.start()
        # A tenth of each client's orders fall due now: cancel and release race for those.
        for ids in to_cancel.values():
            Order.objects.filter(pk__in=ids[: max(1, len(ids) // 10)]).update(
                release_at=timezone.now()
            )
        step(f"{args.clients} clients sending {args.clients * args.cancels:,} Cancel Requests")
        threads = [
            threading.Thread(target=client, args=(raw, ids)) for raw, ids in to_cancel.items()
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        stop_sweep.set()
        sweeper.join()
    finally:
        stop_sweep.set()
        stop([web, *workers])
    latencies.sort()
    cancelled_ids = [i for ids in to_cancel.values() for i in ids]
    both = Order.objects.filter(pk__in=cancelled_ids, status="cancelled", released_at__isnull=False)
    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_samples": errors[:5],
        "outcomes": outcomes,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "max_ms": 1000 * latencies[-1] if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        # Each request: seconds after the first was sent, its latency in ms, its outcome.
        "requests_timeline": [
            (round(t - min(timeline)[0], 3), round(1000 * e, 1), o) for t, e, o in sorted(timeline)
        ]
        if timeline
        else [],
        "seconds": elapsed,
        "requests_per_second": len(latencies) / elapsed,
        "released_during_run": Order.objects.filter(
            pk__in=to_release, released_at__isnull=False
        ).count(),
        "cancelled_and_released": both.count(),
        "clients": args.clients,
        "think_seconds": think,
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
    }


def main() -> None:
    args = parse_args()
    environment.configure(args.database_url)
    # This process runs the release sweep: it must queue to the workers' broker and queue.
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    os.environ["CELERY_BROKER_URL"] = BROKER_URL
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    environment.setup_django()
    step(f"Recreating {args.database_url}")
    environment.recreate_database(args.database_url)

    from inventory.demo import write_demo_feeds
    from inventory.models import Item
    from inventory.services import feed_import_create, feed_import_run

    folder = ROOT / "bench" / "data" / "orders-feeds"
    for path in write_demo_feeds(folder, warehouses=30, items=20_000):
        with path.open("rb") as fileobj:
            feed_import_run(
                feed_import=feed_import_create(file_name=path.name, warehouse_code=path.stem),
                fileobj=fileobj,
            )
    items = list(Item.objects.filter(available_qty__gte=200))
    step(f"Inventory: {len(items):,} items with 200+ available to order from")
    rng = random.Random(4)
    env = child_env(args.database_url, CELERY_TASK_DEFAULT_QUEUE=queue)
    affiliates = make_affiliates(args.clients)

    release = measure_release(args, env, affiliates[0][0], affiliates[0][1], items, rng)
    step(f"Release: {release['orders_per_second']:.0f} orders/s ({release['seconds']:.1f} s)")
    cancels = []
    for think in (0.0, args.think):
        cancel = measure_cancel(args, env, affiliates, items, rng, think=think)
        cancels.append(cancel)
        step(
            f"Cancel Request, {think:.1f} s between a client's requests: p50 "
            f"{cancel['p50_ms']:.1f} ms, p95 {cancel['p95_ms']:.1f} ms, "
            f"{cancel['requests_per_second']:.0f} requests/s, {cancel['errors']} errors, "
            f"outcomes {cancel['outcomes']}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"orders-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"machine": environment.machine_details(), "release": release, "cancel": cancels},
            indent=2,
            default=str,
        )
    )
    step(f"Results in {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
