"""What every command and the daemon share: the config, the database, the vault, the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.config.load import Config
from monitor.config.secret_values import all_secrets
from monitor.crypto import Vault
from monitor.db.migrate import ensure_current
from monitor.db.session import make_engine, make_sessionmaker
from monitor.state import Horizons

__all__ = ["Context", "all_secrets"]


@dataclass
class Context:
    config: Config
    clock: Callable[[], float] = field(default=time.time)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.config.database.url, pool_size=self.config.database.pool_size)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @cached_property
    def vault(self) -> Vault:
        return Vault(self.config.security.key_files)

    @cached_property
    def horizons(self) -> Horizons:
        return Horizons.from_alerts(self.config.alerts)

    def now(self) -> float:
        return self.clock()

    def require_schema(self) -> None:
        """Refuse to work on a database that is not migrated to head."""
        ensure_current(self.engine)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
