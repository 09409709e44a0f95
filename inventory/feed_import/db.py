"""What every stage of a feed import shares on the database: table names, temporary tables,
statistics and PostgreSQL settings changed for a block of statements."""

from django.db import connection

from inventory.models import Item, Stock, Warehouse

ITEM = Item._meta.db_table
STOCK = Stock._meta.db_table
WAREHOUSE = Warehouse._meta.db_table


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def create_temp(cursor, name: str, columns: str) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    suffix = " ON COMMIT DROP" if is_postgres() else ""
    cursor.execute(f"CREATE TEMP TABLE {name} ({columns}){suffix}")


def create_temp_as(cursor, name: str, query: str, params=()) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    suffix = " ON COMMIT DROP" if is_postgres() else ""
    # Always with parameters, so that '%%' means '%' on every database.
    cursor.execute(f"CREATE TEMP TABLE {name}{suffix} AS {query}", list(params))


def drop_temp(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


# ANALYZE's sample of a staging table, a tenth of the default (3,000 rows instead of 30,000): the
# planner needs their number and rough key counts, and the full sample of millions of rows costs a
# third of a second.
STAGING_STATISTICS_TARGET = 10


def analyze(cursor, *names: str) -> None:
    if is_postgres():
        for name in names:
            cursor.execute(f"ANALYZE {name}")


def analyze_staging(cursor, *names: str) -> None:
    with pg_settings(cursor, {"default_statistics_target": str(STAGING_STATISTICS_TARGET)}):
        analyze(cursor, *names)


class pg_settings:
    """PostgreSQL settings changed for a block of the run's statements, then put back."""

    def __init__(self, cursor, values: dict[str, str]):
        self.cursor = cursor
        self.values = values if is_postgres() else {}

    def __enter__(self):
        self.saved = {}
        for name, value in self.values.items():
            self.cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)",
                                [name, name, value])  # fmt: skip
            self.saved[name] = self.cursor.fetchone()[0]
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            for name, value in self.saved.items():
                self.cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        return False
