"""Fleet counts kept by the database: a changed /metrics scrape no longer counts the tokens table

`fleet_deltas` receives, from triggers on `tokens`, what each insert, delete and update of `is_valid`,
`expires_at`, `data_access_expires_at` or `source` changes in the fleet counts: the total, the tokens per
source, and the valid tokens per ten minutes of each horizon (`bucket` = FLOOR(horizon / 600)); a scrape
sums the buckets and counts in `tokens` only the one bucket each expiry window ends in. The triggers only
append, so concurrent writers never wait on a counter row; an update that changes none of those columns
inserts nothing (a WHEN clause on SQLite and PostgreSQL, an IF on MariaDB). The daemon folds the deltas into
`fleet_counts` (monitor.metrics.fleet.compact), filled here from the existing rows.

A later migration that rebuilds `tokens` on SQLite (batch_alter_table copies it into a new table) drops
these triggers with the old table: it must create them again (tests/metrics/test_fleet_counts.py, run at
head, fails otherwise). PostgreSQL counts inserts and deletes per statement (transition tables: a chunk of
1,000 imported tokens appends a handful of rows), updates per row. SQLite and MariaDB count per row.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TRACKED = ("is_valid", "expires_at", "data_access_expires_at", "source")
HORIZONS = (("expires_at", "expires_at"), ("data_access", "data_access_expires_at"))
COLUMNS = "INSERT INTO fleet_deltas (kind, name, bucket, delta) "


def bucket(dialect: str, x: str) -> str:
    """FLOOR(x / 600) in IEEE doubles, as monitor.metrics.fleet computes it (SQLite's FLOOR is optional)."""
    if dialect == "sqlite":
        q = f"({x} / 600.0)"
        return f"(CAST({q} AS INTEGER) - ({q} < CAST({q} AS INTEGER)))"
    return f"FLOOR({x} / 600)"


def parts(dialect: str, p: str, frm: str, sign: str, total: bool) -> list[str]:
    """SELECTs of (kind, name, bucket, delta): what the row(s) `p`-prefixed (OLD., NEW.) or in `frm`
    count for, with `sign`."""
    where = "WHERE" if frm or dialect not in ("mysql", "mariadb") else "FROM DUAL WHERE"
    zero = "CAST(0 AS DOUBLE PRECISION)" if dialect == "postgresql" else "0"
    cols = "AS kind, {} AS name, {} AS bucket, " + sign + " AS delta" + frm
    empty = "''"
    out = [f"SELECT 'total' {cols.format(empty, zero)}"] if total else []
    out.append(f"SELECT 'source' {cols.format(p + 'source', zero)} {where} {p}source IS NOT NULL")
    for kind, column in HORIZONS:
        b = bucket(dialect, p + column)
        out.append(
            f"SELECT '{kind}' {cols.format(empty, b)} {where} {p}is_valid IS TRUE AND {p}{column} IS NOT NULL"
        )
    return out


def grouped(selects: list[str]) -> str:
    union = " UNION ALL ".join(selects)
    return (
        f"{COLUMNS}SELECT kind, name, bucket, SUM(delta) FROM ({union}) AS d"
        " GROUP BY kind, name, bucket HAVING SUM(delta) <> 0"
    )


def update_rows(dialect: str) -> str:
    """The INSERT an update of a tracked column runs: the old row's counts out, the new row's in."""
    return grouped(parts(dialect, "OLD.", "", "-1", False) + parts(dialect, "NEW.", "", "1", False))


def changed(dialect: str) -> str:
    op_ = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    return " OR ".join(f"OLD.{c} {op_} NEW.{c}" for c in TRACKED)


def sqlite_ddl() -> list[str]:
    ins = " UNION ALL ".join(parts("sqlite", "NEW.", "", "1", True))
    dele = " UNION ALL ".join(parts("sqlite", "OLD.", "", "-1", True))
    return [
        f"CREATE TRIGGER fleet_tokens_insert AFTER INSERT ON tokens BEGIN {COLUMNS}{ins}; END",
        f"CREATE TRIGGER fleet_tokens_delete AFTER DELETE ON tokens BEGIN {COLUMNS}{dele}; END",
        f"CREATE TRIGGER fleet_tokens_update AFTER UPDATE OF {', '.join(TRACKED)} ON tokens"
        f" WHEN {changed('sqlite')} BEGIN {update_rows('sqlite')}; END",
    ]


def postgresql_ddl() -> list[str]:
    ddl = []
    for event, table, sign in (("INSERT", "NEW", "1"), ("DELETE", "OLD", "-1")):
        rows = grouped(parts("postgresql", "", f" FROM fleet_{table.lower()}_rows", sign, True))
        ddl += [
            f"CREATE FUNCTION fleet_tokens_{event.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN {rows}; RETURN NULL; END $$",
            f"CREATE TRIGGER fleet_tokens_{event.lower()} AFTER {event} ON tokens"
            f" REFERENCING {table} TABLE AS fleet_{table.lower()}_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION fleet_tokens_{event.lower()}()",
        ]
    ddl += [
        "CREATE FUNCTION fleet_tokens_update() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {update_rows('postgresql')}; RETURN NULL; END $$",
        f"CREATE TRIGGER fleet_tokens_update AFTER UPDATE OF {', '.join(TRACKED)} ON tokens"
        f" FOR EACH ROW WHEN ({changed('postgresql')}) EXECUTE FUNCTION fleet_tokens_update()",
    ]
    return ddl


def mysql_ddl() -> list[str]:
    ins = " UNION ALL ".join(parts("mysql", "NEW.", "", "1", True))
    dele = " UNION ALL ".join(parts("mysql", "OLD.", "", "-1", True))
    same = " AND ".join(f"OLD.{c} <=> NEW.{c}" for c in TRACKED)
    return [
        f"CREATE TRIGGER fleet_tokens_insert AFTER INSERT ON tokens FOR EACH ROW {COLUMNS}{ins}",
        f"CREATE TRIGGER fleet_tokens_delete AFTER DELETE ON tokens FOR EACH ROW {COLUMNS}{dele}",
        "CREATE TRIGGER fleet_tokens_update AFTER UPDATE ON tokens FOR EACH ROW"
        f" BEGIN IF NOT ({same}) THEN {update_rows('mysql')}; END IF; END",
    ]


def fill(dialect: str) -> list[str]:
    """fleet_counts from the rows already stored."""
    into = "INSERT INTO fleet_counts (kind, name, bucket, tokens) "
    zero = "CAST(0 AS DOUBLE PRECISION)" if dialect == "postgresql" else "0"
    out = [
        f"{into}SELECT 'total', '', {zero}, COUNT(*) FROM tokens HAVING COUNT(*) > 0",
        f"{into}SELECT 'source', source, {zero}, COUNT(*) FROM tokens"
        " WHERE source IS NOT NULL GROUP BY source",
    ]
    for kind, column in HORIZONS:
        b = bucket(dialect, column)
        out.append(
            f"{into}SELECT '{kind}', '', b, COUNT(*) FROM (SELECT {b} AS b FROM tokens"
            f" WHERE is_valid IS TRUE AND {column} IS NOT NULL) AS h GROUP BY b"
        )
    return out


DDL = {"sqlite": sqlite_ddl, "postgresql": postgresql_ddl, "mysql": mysql_ddl, "mariadb": mysql_ddl}


def upgrade() -> None:
    op.create_table(
        "fleet_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("bucket", sa.Double(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_deltas")),
    )
    op.create_table(
        "fleet_counts",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("bucket", sa.Double(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "bucket", name=op.f("pk_fleet_counts")),
    )
    dialect = op.get_bind().dialect.name
    for statement in fill(dialect) + DDL[dialect]():
        op.execute(sa.text(statement))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for event in ("insert", "delete", "update"):
        op.execute(
            sa.text(
                f"DROP TRIGGER IF EXISTS fleet_tokens_{event}"
                + (" ON tokens" if dialect == "postgresql" else "")
            )
        )
        if dialect == "postgresql":
            op.execute(sa.text(f"DROP FUNCTION IF EXISTS fleet_tokens_{event}()"))
    op.drop_table("fleet_counts")
    op.drop_table("fleet_deltas")
