"""Storage: models, engines and sessions, migrations, leases."""

from monitor.db.session import DatabaseError, make_engine, make_sessionmaker, transaction

__all__ = ["DatabaseError", "make_engine", "make_sessionmaker", "transaction"]
