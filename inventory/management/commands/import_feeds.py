import sys
import time
from contextlib import ExitStack
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory.models import FeedImport
from inventory.services import RUN_MAX_FILES, feed_import_create, feed_imports_run


def _expand(paths: list[str]) -> list[Path]:
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv"))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{name}: no such file or folder.")
    return files


class Command(BaseCommand):
    help = (
        "Import warehouse feeds (CSV: line_code,part_number,qty,cost[,description]). Each file is "
        "the whole stock of one warehouse, named by --warehouse or by the file name (WH001.csv). "
        "Exit status 1 when any file was rejected whole."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="CSV files or folders")
        parser.add_argument("--warehouse", help="Warehouse code (only with a single file)")
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar, even on a terminal"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Compare every row even when a file is identical to the last one applied",
        )

    def handle(self, *args, paths, warehouse, no_progress, force, **opts):
        files = _expand(paths)
        if not files:
            raise CommandError("No CSV files found.")
        if warehouse and len(files) > 1:
            raise CommandError("--warehouse names the warehouse of one file; several were given.")
        show_bar = not no_progress and sys.stderr.isatty()
        failed = 0
        totals = {"rows": 0, "changed": 0, "rejected": 0}
        bar = None
        if show_bar:
            from tqdm import tqdm

            total = sum(path.stat().st_size for path in files)
            bar = tqdm(total=total, unit="B", unit_scale=True, desc="Reading feeds", leave=False)
        started = time.monotonic()
        # The files are applied together, a few hundred at a time (each one is held open).
        for start in range(0, len(files), RUN_MAX_FILES):
            chunk = files[start : start + RUN_MAX_FILES]
            with ExitStack() as stack:
                runs = [
                    (
                        feed_import_create(
                            file_name=path.name,
                            warehouse_code=warehouse or path.stem,
                            bytes_total=path.stat().st_size,
                        ),
                        stack.enter_context(path.open("rb")),
                    )
                    for path in chunk
                ]
                results = feed_imports_run(
                    runs, on_progress=bar.update if bar else None, force=force
                )
            for result in results:
                self._summary(result)
                if result.status != FeedImport.Status.APPLIED:
                    failed += 1
                totals["rows"] += result.rows_read
                totals["changed"] += result.items_changed
                totals["rejected"] += result.rows_rejected
        if bar:
            bar.close()
        totals["seconds"] = time.monotonic() - started
        if len(files) > 1:
            self.stdout.write(
                f"{len(files)} files, {len(files) - failed} applied: {totals['rows']:,} rows read, "
                f"{totals['changed']:,} items changed, {totals['rejected']:,} rows rejected, "
                f"{totals['seconds']:.1f} s"
            )
        if failed:
            sys.exit(1)

    def _summary(self, result: FeedImport) -> None:
        seconds = result.duration_seconds or 0
        if result.status == FeedImport.Status.APPLIED:
            if result.same_as_id:
                self.stdout.write(
                    f"{result.file_name}: identical to the last feed of {result.warehouse} "
                    f"(import {result.same_as_id}): nothing to change, {seconds:.2f} s"
                )
                return
            self.stdout.write(
                f"{result.file_name}: applied to {result.warehouse}: {result.rows_read:,} rows "
                f"read, {result.items_changed:,} items changed, {result.rows_rejected:,} rows "
                f"rejected, {seconds:.2f} s"
            )
            for line, reason in result.rejected_rows[:20]:
                self.stdout.write(f"  line {line}: {reason}")
            if result.rows_rejected > 20:
                self.stdout.write(f"  ... and {result.rows_rejected - 20:,} more (see admin)")
        else:
            self.stderr.write(
                self.style.ERROR(
                    f"{result.file_name}: {result.get_status_display().lower()}, nothing "
                    f"applied: {result.error}"
                )
            )
