"""`python -m bench.claims_export`: Finance's export of 100,000 claims (issue 5).

Creates N claims (bulk_create: affiliates, voided orders and lines, claims in every status, 1 in
50 with a supplier name a spreadsheet would run as a formula) in a PostgreSQL database whose name
contains "bench", then measures, in the same run, each in a fresh process:

  (a) stream      the project's export: claims.exports.claims_csv over the admin's queryset
                  (what "Download CSV (streamed)" sends), consumed chunk by chunk;
  (b) ie_csv      django-import-export's default admin export of the same rows:
                  ClaimAdmin.get_export_data(CSV) = ClaimResource.export() into a tablib
                  Dataset, then the CSV format's export_data, as the admin's Export button does;
  (c) ie_xlsx     the same for XLSX (for reference; not part of the target).

Time is wall-clock from the first query to the last byte; memory is the process's peak resident
set (VmHWM in /proc/self/status), also shown above the baseline of a process that has only
loaded Django and connected. Prints a table and writes JSON to bench/results/.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench import environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fbs_bench_claims"
MODES = ("stream", "ie_csv", "ie_xlsx")
BATCH = 5000


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m bench.claims_export", description=__doc__)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--affiliates", type=int, default=50)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--skip-xlsx", action="store_true", help="leave out (c)")
    parser.add_argument(
        "--reuse-data", action="store_true", help="keep the claims of the last run if as many"
    )
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    return parser.parse_args()


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Data -----------------------------------------------------------------------------------


def seed(count: int, affiliates: int, rng: random.Random) -> None:
    from django.utils import timezone

    from affiliates.models import Affiliate
    from claims.models import Claim
    from inventory.models import Item, normalise_part_number
    from orders.models import Order, OrderLine

    members = Affiliate.objects.bulk_create(
        Affiliate(
            name=f"Bench affiliate {n:03d}",
            contact_email=f"bench{n}@example.com",
            min_stock=rng.choice((2, 3, 3, 4)),
        )
        for n in range(affiliates)
    )
    items = Item.objects.bulk_create(
        Item(
            line_code=f"L{n % 50:02d}",
            part_number=f"P-{n:05d}",
            part_number_norm=normalise_part_number(f"P-{n:05d}"),
            price=Decimal("24.00"),
        )
        for n in range(1000)
    )
    now = timezone.now()
    statuses = [
        (Claim.Status.APPROVED, 40),
        (Claim.Status.PAID, 30),
        (Claim.Status.IN_REVIEW, 12),
        (Claim.Status.NEEDS_INFO, 3),
        (Claim.Status.DENIED, 15),
    ]
    population = [s for s, weight in statuses for _ in range(weight)]
    suppliers = ["Main Street Motors", "Northside Auto", "Quick Parts Depot", "Corner Garage"]
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        orders = Order.objects.bulk_create(
            Order(
                affiliate=members[(start + n) % affiliates],
                marketplace="ebay",
                marketplace_order_id=f"B-{start + n}",
                ship_name="Bench Buyer",
                ship_address1="1 Main St",
                ship_city="Dallas",
                ship_state="TX",
                ship_postal_code="75201",
                status=Order.Status.VOIDED,
                total=Decimal("24.00"),
                min_stock_at_placement=3,
                card_on_file_at_placement=True,
            )
            for n in range(size)
        )
        lines = OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                item=items[(start + n) % len(items)],
                line_code=items[(start + n) % len(items)].line_code,
                part_number=items[(start + n) % len(items)].part_number,
                qty=1,
                unit_price=Decimal("24.00"),
                line_total=Decimal("24.00"),
                status=OrderLine.Status.VOIDED,
                voided_at=now,
                decided_at=now,
            )
            for n, order in enumerate(orders)
        )
        claims = []
        for order, line in zip(orders, lines, strict=True):
            status = rng.choice(population)
            filed = now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440))
            amount = Decimal(rng.randint(500, 25_000)) / 100
            decided = status not in Claim.UNDECIDED
            approved = status in (Claim.Status.APPROVED, Claim.Status.PAID)
            supplier = rng.choice(suppliers)
            if rng.random() < 0.02:
                supplier = '=HYPERLINK("http://example.com","' + supplier + '")'
            claims.append(
                Claim(
                    affiliate_id=order.affiliate_id,
                    order=order,
                    line=line,
                    supplier_name=supplier,
                    purchased_on=filed.date(),
                    amount=amount,
                    status=status,
                    auto_approved=approved and amount <= 100 and rng.random() < 0.6,
                    reasons=[] if approved else [{"code": "min_stock_below_3", "text": "..."}],
                    approved_amount=amount if approved else None,
                    decided_at=filed + timedelta(days=rng.randint(0, 40)) if decided else None,
                    created_at=filed,
                    due_at=filed + timedelta(days=30),
                    paid_at=filed + timedelta(days=35) if status == Claim.Status.PAID else None,
                    receipt_sha256=f"{rng.getrandbits(256):064x}",
                    receipt_content_type="image/png",
                )
            )
        Claim.objects.bulk_create(claims)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE claims_claim")


# --- One export in this process ----------------------------------------------------------------


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _admin_and_request():
    from django.contrib import admin
    from django.test import RequestFactory

    from affiliates.models import User
    from claims.models import Claim

    request = RequestFactory().get("/admin/claims/claim/export/")
    request.user = User(username="bench", is_staff=True, is_superuser=True, is_active=True)
    return admin.site._registry[Claim], request


def worker(mode: str) -> None:
    environment.setup_django()
    from django.db import connection
    from import_export.formats.base_formats import CSV, XLSX

    from claims.exports import claims_csv

    model_admin, request = _admin_and_request()
    connection.ensure_connection()
    baseline = _vm_hwm_mib()
    started = time.perf_counter()
    queryset = model_admin.get_export_queryset(request)
    if mode == "stream":
        size = rows = 0
        for chunk in claims_csv(queryset):
            size += len(chunk.encode())
            rows += chunk.count("\n")
        rows -= 1  # the header
    else:
        file_format = CSV() if mode == "ie_csv" else XLSX()
        data = model_admin.get_export_data(file_format, request, queryset, encoding=None)
        size = len(data.encode() if isinstance(data, str) else data)
        rows = data.count("\n") - 1 if isinstance(data, str) else None
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "mode": mode,
                "seconds": seconds,
                "rows": rows,
                "bytes": size,
                "baseline_mib": baseline,
                "peak_mib": _vm_hwm_mib(),
            }
        )
    )


def _claims_there() -> int:
    from django.db import DatabaseError

    from claims.models import Claim

    try:
        return Claim.objects.count()
    except DatabaseError:
        return -1


def measure(mode: str, database_url: str) -> dict:
    completed = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "bench.claims_export",
            "--worker",
            mode,
            "--database-url",
            database_url,
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode:
        raise SystemExit(f"export {mode} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    environment.configure(args.database_url)
    if args.worker:
        worker(args.worker)
        return
    environment.setup_django()
    seeding = None
    if not (args.reuse_data and _claims_there() == args.claims):
        step(f"Recreating and migrating {args.database_url}")
        environment.recreate_database(args.database_url)
        step(f"Creating {args.claims:,} claims with bulk_create")
        started = time.perf_counter()
        seed(args.claims, args.affiliates, random.Random(2016))
        seeding = time.perf_counter() - started
        step(f"  done in {seeding:.1f} s")

    results = {}
    for mode in MODES:
        if mode == "ie_xlsx" and args.skip_xlsx:
            continue
        step(f"Export {mode} in a fresh process")
        results[mode] = measure(mode, args.database_url)
        step(f"  {results[mode]['seconds']:.2f} s, peak {results[mode]['peak_mib']:.0f} MiB")

    stream, default = results["stream"], results["ie_csv"]
    comparison = {
        "speedup_vs_ie_csv": default["seconds"] / stream["seconds"],
        "peak_memory_ratio": stream["peak_mib"] / default["peak_mib"],
        "memory_above_baseline_ratio": (stream["peak_mib"] - stream["baseline_mib"])
        / max(0.001, default["peak_mib"] - default["baseline_mib"]),
    }
    # Two readings of "a fifth of the memory": the whole process's peak (both processes carry
    # the same ~75 MiB of Django, the apps and their libraries before exporting anything), and
    # what the export itself adds to that baseline.
    comparison["target_met_process_peak"] = (
        comparison["speedup_vs_ie_csv"] >= 10 and comparison["peak_memory_ratio"] <= 0.2
    )
    comparison["target_met_export_memory"] = (
        comparison["speedup_vs_ie_csv"] >= 10 and comparison["memory_above_baseline_ratio"] <= 0.2
    )
    print()
    print(f"Export of {args.claims:,} claims (PostgreSQL, fresh process each)")
    header = ("export", "seconds", "rows/s", "MB out", "peak MiB", "+base MiB")
    print("{:<10} {:>9} {:>10} {:>8} {:>9} {:>10}".format(*header))
    for mode, r in results.items():
        print(
            f"{mode:<10} {r['seconds']:>9.2f} {args.claims / r['seconds']:>10,.0f} "
            f"{r['bytes'] / 1e6:>8.1f} {r['peak_mib']:>9.0f} "
            f"{r['peak_mib'] - r['baseline_mib']:>10.0f}"
        )
    verdict = {True: "met", False: "NOT met"}
    print(
        f"stream vs ie_csv: {comparison['speedup_vs_ie_csv']:.1f}x faster (target >= 10x); "
        f"memory the export adds {comparison['memory_above_baseline_ratio']:.2f} of it "
        f"(target <= 0.20: {verdict[comparison['target_met_export_memory']]}); whole-process "
        f"peak {comparison['peak_memory_ratio']:.2f} of it "
        f"(target <= 0.20: {verdict[comparison['target_met_process_peak']]})"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"claims-export-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "claims": args.claims,
                "seed_seconds": seeding,
                "results": results,
                "comparison": comparison,
                "machine": environment.machine_details(),
            },
            indent=2,
            default=str,
        )
    )
    print(f"Wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
