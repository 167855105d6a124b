"""Planner statistics after bulk writes.

PostgreSQL plans from statistics that autovacuum refreshes once 10% of a table changed, up to a minute later
(and never where autovacuum is off). A bulk import changes more than that at once: until the next ANALYZE, a
table of 100,000 fresh rows still looks empty or unchecked to the planner, and lookups that should follow an
index read the whole table (measured: a 20,000-name duplicate check over 60,000 rows took 20 s instead of
0.02 s). After a bulk write of at least `BULK_ROWS` rows, the writer refreshes the statistics itself, as
pg_restore's documentation asks of anyone who loads data.

SQLite plans without statistics unless ANALYZE was run once, and MariaDB's InnoDB recomputes persistent
statistics by itself (and `ANALYZE TABLE` would commit the caller's transaction there): both are left alone.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Below this many rows written, autovacuum's own pace is good enough.
BULK_ROWS = 1000


def after_bulk_write(session: Session, table: str, rows: int) -> None:
    """Refresh the planner statistics of `table` (a name from our own schema) after writing `rows` rows.

    Runs inside the caller's transaction: ANALYZE counts the rows that transaction inserted."""
    if rows < BULK_ROWS or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text(f"ANALYZE {table}"))
