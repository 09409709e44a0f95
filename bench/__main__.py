"""`python -m bench [--items N --warehouses N ...]`: every inventory measurement, one run.

Order matters: the COPY floor and the first load run on an empty database, the re-imports on
what the first load wrote, the catalog and the feed on the loaded master inventory, and the
import-export run that creates (and deletes) items last.
"""

import argparse
import os
import time

from bench import environment

FULL_ITEMS = 1_100_000
FULL_WAREHOUSES = 250


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--items", type=int, default=FULL_ITEMS)
    parser.add_argument("--warehouses", type=int, default=FULL_WAREHOUSES)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--database-url", default=environment.DEFAULT_DATABASE_URL)
    parser.add_argument("--ie-rows", type=int, default=100_000, help="rows for (e), stock only")
    parser.add_argument(
        "--ie-one-item-in",
        type=int,
        default=28,
        help="(e), the first load's work: every row of one item in this many (28: 104,000 rows)",
    )
    parser.add_argument("--changed", type=float, default=0.05, help="share changed in (d)")
    parser.add_argument("--calls", type=int, default=200, help="calls per catalog query")
    parser.add_argument("--depth", type=int, default=500_000, help="browse depth in rows")
    return parser.parse_args()


class Steps:
    """Prints each step with the time since the start, so a long run can be followed."""

    def __init__(self):
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {message}", flush=True)


def main() -> None:
    args = parse_args()
    environment.configure(args.database_url)
    environment.setup_django()

    from affiliates.models import Affiliate
    from bench import catalog, cpu, export, feeds, import_export_stock, imports, pgstats, report

    step = Steps()
    step(f"Feeds: {args.items:,} items over {args.warehouses} warehouses")
    paths, generating = feeds.ensure_feeds(
        items=args.items, warehouses=args.warehouses, seed=args.seed
    )
    rows_per_file = {path: feeds.count_rows(path) for path in paths}
    total_rows = sum(rows_per_file.values())
    step(f"  {len(paths)} files, {total_rows:,} rows (generated in {generating:.0f} s)")

    step(f"Recreating and migrating {args.database_url}")
    environment.recreate_database(args.database_url)
    affiliate = Affiliate.objects.create(
        name="Bench affiliate", contact_email="bench@example.com", min_stock=2
    )
    results = {
        "args": vars(args),
        "machine": environment.machine_details(),
        "feeds": {"files": len(paths), "rows": total_rows, "generate_seconds": generating},
    }

    def measure(key: str, label: str, function, *args, **kwargs) -> dict:
        step(label)
        with cpu.cpu_usage() as usage:
            results[key] = function(*args, **kwargs)
        results[key]["cpu"] = usage
        return results[key]

    folder = paths[0].parent
    measure("floor", "(a) COPY floor", imports.measure_copy_floor, paths)
    measure(
        "first_load",
        "(b) import_feeds, first load",
        imports.measure_first_load,
        folder,
        expected_rows=total_rows,
    )
    results["after_first_load"] = {"tables": pgstats.dead_tuples()}
    step("  VACUUM (ANALYZE), as autovacuum would (it is off on the bench server)")
    results["after_first_load"]["vacuum_analyze_seconds"] = pgstats.vacuum_analyze()

    measure(
        "reimport_unchanged_forced",
        "(c) re-import, nothing changed, every row compared (--force)",
        imports.measure_reimport_unchanged,
        folder,
        force=True,
    )
    measure(
        "reimport_unchanged",
        "(c) re-import, nothing changed (identical files recognised)",
        imports.measure_reimport_unchanged,
        folder,
    )

    largest = max(paths, key=rows_per_file.get)
    changed_path = feeds.DATA_DIR / "changed" / f"{folder.name}-{largest.name}"
    changed = feeds.write_changed_copy(largest, changed_path, fraction=args.changed, seed=args.seed)
    measure(
        "one_warehouse",
        f"(d) one warehouse: {largest.stem}, {changed:,} of {rows_per_file[largest]:,} changed",
        imports.measure_one_warehouse,
        changed_path,
        warehouse_code=largest.stem,
        rows=rows_per_file[largest],
        changed=changed,
    )

    sample, sample_rows = feeds.sample_csv(paths, rows=args.ie_rows)
    measure(
        "ie",
        f"(e) django-import-export, {sample_rows:,} rows",
        import_export_stock.measure_import_export,
        sample,
        rows=sample_rows,
    )
    measure(
        "catalog",
        f"Catalog: {args.calls} calls per query",
        catalog.measure_catalog,
        affiliate,
        calls=args.calls,
        depth=args.depth,
        seed=args.seed,
    )
    measure("export", "Affiliate feed export, in a fresh process", export.measure_export, affiliate)

    # Last: it creates and deletes tens of thousands of items, which the catalog must not see.
    sample_files, sample_rows, sample_items = feeds.sample_feeds(
        paths, one_item_in=args.ie_one_item_in
    )
    measure(
        "ie_first_load",
        f"(e) django-import-export, the first load's work: {sample_rows:,} rows of "
        f"{sample_items:,} items in {len(sample_files)} files",
        import_export_stock.measure_import_export_first_load,
        import_export_stock.with_new_line_codes(sample_files),
        rows=sample_rows,
    )
    results["ie_first_load"]["items"] = sample_items

    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = report.save(results)
    step(f"Done. Details (plans, top SQL): {path.relative_to(environment.ROOT)}")
    print()
    print(report.table(results))


if __name__ == "__main__":
    main()
