import getpass
import socket
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory.models import FeedImport
from inventory.services import RUN_MAX_FILES, feed_import_create, feed_imports_run


def _expand(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The CSV files named (folders give theirs), and the names that are neither file nor folder."""
    files, missing = [], []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv"))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(name)
    return files, missing


def _who() -> str:
    """Who ran the command, for a feed allowed to empty its warehouse."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"import_feeds --allow-empty, run by {user} on {socket.gethostname()}"


class Command(BaseCommand):
    help = (
        "Import warehouse feeds (CSV: line_code,part_number,qty,cost[,description]). Each file is "
        "the whole stock of one warehouse, named by --warehouse or by the file name (WH001.csv). "
        "A feed that would cost stock (no rows, too many bad rows, most of the warehouse gone) is "
        "refused and the warehouse keeps its stock. One line per file; exit status 0 when every "
        "file was applied, 1 when any was not (the last lines say which)."
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
        parser.add_argument(
            "--allow-empty",
            action="store_true",
            help="Let these feeds empty their warehouses, or remove most of their stock, on "
            "purpose (recorded with who ran the command)",
        )

    def handle(self, *args, paths, warehouse, no_progress, force, allow_empty, **opts):
        files, missing = _expand(paths)
        if not files and not missing:
            raise CommandError("No CSV files found.")
        if warehouse and len(files) + len(missing) > 1:
            raise CommandError("--warehouse names the warehouse of one file; several were given.")
        # (file name, what happened) of every file not applied, for the last lines.
        not_applied: list[tuple[str, str]] = []
        for name in missing:
            self.stderr.write(self.style.ERROR(f"{name}: no such file or folder, skipped"))
            not_applied.append((name, "not found"))
        show_bar = not no_progress and sys.stderr.isatty()
        totals = {"rows": 0, "changed": 0, "rejected": 0, "applied": 0}
        bar = None
        if show_bar and files:
            from tqdm import tqdm

            total = sum(path.stat().st_size for path in files)
            bar = tqdm(total=total, unit="B", unit_scale=True, desc="Reading feeds", leave=False)
        who = _who() if allow_empty else ""
        started = time.monotonic()
        # The files are applied together, a few hundred at a time (each one is held open).
        for start in range(0, len(files), RUN_MAX_FILES):
            chunk = files[start : start + RUN_MAX_FILES]
            with ExitStack() as stack:
                runs = []
                for path in chunk:
                    try:
                        fileobj = stack.enter_context(path.open("rb"))
                        size = path.stat().st_size
                    except OSError as exc:
                        # One file we cannot read is that file's outcome, not the run's.
                        self.stderr.write(
                            self.style.ERROR(f"{path.name}: cannot be read ({exc.strerror})")
                        )
                        not_applied.append((path.name, "cannot be read"))
                        continue
                    feed_import = feed_import_create(
                        file_name=path.name,
                        warehouse_code=warehouse or path.stem,
                        bytes_total=size,
                        allow_empty=allow_empty,
                        allow_empty_by=who,
                    )
                    runs.append((feed_import, fileobj))
                results = feed_imports_run(
                    runs, on_progress=bar.update if bar else None, force=force
                )
            for result in results:
                self._summary(result)
                if result.status == FeedImport.Status.APPLIED:
                    totals["applied"] += 1
                else:
                    not_applied.append((result.file_name, result.get_status_display().lower()))
                totals["rows"] += result.rows_read
                totals["changed"] += result.stock_changed
                totals["rejected"] += result.rows_rejected
        if bar:
            bar.close()
        seconds = time.monotonic() - started
        count = len(files) + len(missing)
        if count > 1:
            self.stdout.write(
                f"{count} files, {totals['applied']} applied: {totals['rows']:,} rows read, "
                f"{totals['changed']:,} items changed, {totals['rejected']:,} rows rejected, "
                f"{seconds:.1f} s"
            )
        if not_applied:
            self.stderr.write(
                self.style.ERROR(
                    f"{len(not_applied)} of {count} files not applied: "
                    + ", ".join(f"{name} ({why})" for name, why in not_applied)
                )
            )
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
                f"read, {result.rows_rejected:,} rows rejected; items {result.stock_created:,} "
                f"new, {result.stock_changed:,} changed, {result.stock_removed:,} removed, "
                f"{result.stock_unchanged:,} unchanged; {seconds:.2f} s"
            )
        else:
            self.stderr.write(
                self.style.ERROR(
                    f"{result.file_name}: {result.get_status_display().lower()}, nothing "
                    f"applied: {result.error}"
                )
            )
        out = self.stdout if result.status == FeedImport.Status.APPLIED else self.stderr
        for line, reason in result.rejected_rows[:20]:
            out.write(f"  line {line}: {reason}")
        if result.rows_rejected > 20:
            out.write(f"  ... and {result.rows_rejected - 20:,} more (see admin)")
