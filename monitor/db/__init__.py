"""Storage: models, engines and sessions, migrations, leases."""

from monitor.db.session import Database, DatabaseError, make_engine, make_sessionmaker, transaction

__all__ = ["Database", "DatabaseError", "make_engine", "make_sessionmaker", "transaction"]
