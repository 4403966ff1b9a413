"""The control store: connections and their encrypted credentials, kept apart from the warehouse.

SQLite in `state/control.db` by default (WAL, busy timeout: safe for the CLI, the web
service and Dagster at once); Postgres when `MANIFOLD_CONTROL_URL` points at one.
"""

from .connections import ConnectionRecord, ConnectionStore
from .crypto import Vault
from .db import ControlDB, control_url, open_control

__all__ = ["ConnectionRecord", "ConnectionStore", "ControlDB", "Vault", "control_url", "open_control"]
