"""What each push has sent: per source row, the provider's remote id and the input last pushed.

A row whose rendered input hashes the same as its last successful push is not sent again; a row
that failed keeps its remote id (if any), its error and its attempt count, and is tried again on
the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .db import ControlDB, now_utc

MarkState = Literal["pushed", "failed"]


@dataclass(frozen=True)
class PushMark:
    row_key: str
    state: MarkState
    remote_id: str | None
    input_hash: str | None
    attempts: int = 0
    last_error: str | None = None
    pushed_at: str | None = None


class PushMarks:
    """The marks of one push towards one connection."""

    def __init__(self, db: ControlDB, connector: str, push: str, connection_id: str):
        self.db = db
        self.scope = [connector, push, connection_id]

    def all(self) -> dict[str, PushMark]:
        rows = self.db.query(
            "SELECT row_key, state, remote_id, input_hash, attempts, last_error, pushed_at FROM push_marks"
            " WHERE connector = ? AND push = ? AND connection_id = ?",
            self.scope,
        )
        return {r["row_key"]: PushMark(**r) for r in rows}

    def pushed(self, done: Sequence[tuple[str, str, str]]) -> None:
        """(row key, remote id, input hash) of rows the provider took."""
        now = now_utc()
        with self.db.transaction():
            for row_key, remote_id, input_hash in done:
                self.db.execute(
                    "INSERT INTO push_marks (connector, push, connection_id, row_key, remote_id, input_hash,"
                    " state, attempts, last_error, pushed_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'pushed', 0, NULL, ?, ?)"
                    " ON CONFLICT (connector, push, connection_id, row_key) DO UPDATE SET"
                    " remote_id = excluded.remote_id, input_hash = excluded.input_hash, state = 'pushed',"
                    " attempts = 0, last_error = NULL, pushed_at = excluded.pushed_at, updated_at = excluded.updated_at",
                    [*self.scope, row_key, remote_id, input_hash, now, now],
                )

    def failed(self, failures: Sequence[tuple[str, str]]) -> None:
        """(row key, error) of rows that did not go through; a remote id already known is kept."""
        now = now_utc()
        with self.db.transaction():
            for row_key, error in failures:
                self.db.execute(
                    "INSERT INTO push_marks (connector, push, connection_id, row_key, state, attempts,"
                    " last_error, updated_at) VALUES (?, ?, ?, ?, 'failed', 1, ?, ?)"
                    " ON CONFLICT (connector, push, connection_id, row_key) DO UPDATE SET state = 'failed',"
                    " attempts = push_marks.attempts + 1, last_error = excluded.last_error,"
                    " updated_at = excluded.updated_at",
                    [*self.scope, row_key, error[:2000], now],
                )


def push_summary(db: ControlDB) -> list[dict[str, Any]]:
    """Per push and connection: rows pushed, rows failing, the last push and the last error."""
    rows = db.query(
        "SELECT connector, push, connection_id, state, COUNT(*) AS n, MAX(pushed_at) AS last"
        " FROM push_marks GROUP BY connector, push, connection_id, state"
    )
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["connector"], row["push"], row["connection_id"])
        entry = out.setdefault(
            key,
            {
                "connector": key[0],
                "push": key[1],
                "connection_id": key[2],
                "pushed": 0,
                "failed": 0,
                "last_pushed_at": None,
                "last_error": None,
            },
        )
        entry[row["state"]] = int(row["n"])
        entry["last_pushed_at"] = max(filter(None, [entry["last_pushed_at"], row["last"]]), default=None)
    for row in db.query(
        "SELECT connector, push, connection_id, last_error FROM push_marks"
        " WHERE last_error IS NOT NULL ORDER BY updated_at"
    ):
        key = (row["connector"], row["push"], row["connection_id"])
        if key in out:
            out[key]["last_error"] = row["last_error"]
    return [out[k] for k in sorted(out)]
