"""Postgres: a warehouse many processes can write at once (psycopg 3).

    postgresql://user:password@host:5432/db?schema=analytics    (postgres:// too)

Tables live in one schema (the URL's `schema`, else `public`; created when missing).
A load is one transaction: each batch is COPY'd as CSV (see `postgres_arrow`), merged
with `INSERT ... ON CONFLICT (key) DO UPDATE` through a temp staging table (appended
with COPY straight into the table), and the stream's state is upserted last, so rows
and state commit or roll back together. A merged table gets its PRIMARY KEY from the
first merge into it: append tables keep duplicates, so the key cannot come earlier.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import orjson
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ..errors import ConfigError, WarehouseError
from ..models import VERSION_COLUMN
from ..redact import Redactor, redact_url
from .base import Batch, LoadCounts, RunRecord, StateKey, merge_rows
from .postgres_arrow import JSONB, copy_csv, pg_type

STATE_TABLE = "_manifold_state"
RUNS_TABLE = "_manifold_runs"
STAGE_TABLE = "_manifold_stage"
DEFAULT_SCHEMA = "public"
CONNECT_TIMEOUT = 10

_SYSTEM_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {{schema}}.{STATE_TABLE} (connector text, stream text, connection_id text,"
    " state jsonb NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (connector, stream, connection_id))",
    f"CREATE TABLE IF NOT EXISTS {{schema}}.{RUNS_TABLE} (run_id text, connector text, stream text,"
    " connection_id text, started_at timestamptz, finished_at timestamptz, status text, error text,"
    " stats jsonb, PRIMARY KEY (run_id, stream))",
)
_COLUMNS = (
    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
    " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
)
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n), pg_attribute a"
    " WHERE i.indrelid = to_regclass(%s) AND i.indisprimary"
    " AND a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n"
)


def split_schema(url: str) -> tuple[str, str | None]:
    """`postgresql://h/db?schema=s&sslmode=require` -> (`postgresql://h/db?sslmode=require`, `s`).

    libpq refuses query parameters it does not know, so `schema` is taken out.
    """
    base, _, query = url.partition("?")
    params = [p for p in query.split("&") if p]
    schema = next((unquote(p.split("=", 1)[1]) for p in params if p.startswith("schema=")), None)
    kept = [p for p in params if not p.startswith("schema=")]
    return base + ("?" + "&".join(kept) if kept else ""), schema or None


class PostgresDestination:
    """Loads Arrow batches into one Postgres schema: COPY, then upsert on the key or append."""

    def __init__(self, url: str, *, schema: str | None = None):
        conninfo, url_schema = split_schema(url)
        self.schema = schema or url_schema or DEFAULT_SCHEMA
        self.url = redact_url(f"{conninfo}{'&' if '?' in conninfo else '?'}schema={quote(self.schema)}")
        self._redact = Redactor(filter(None, [conninfo_password(conninfo)]))
        self._lock = threading.Lock()
        self._columns: dict[str, dict[str, str]] = {}  # table -> column -> Postgres type
        self._keys: dict[str, tuple[str, ...]] = {}  # merged tables -> their primary key
        self._con = self._connect(conninfo)
        with self._lock, self._transaction("preparing the schema"), self._con.cursor() as cur:
            self._lock_ddl(cur)
            self._create_schema(cur)
            for statement in _SYSTEM_TABLES:
                cur.execute(sql.SQL(statement).format(schema=sql.Identifier(self.schema)))
        # Unqualified names (the demo's counts, Dagster's checks, tests) mean this schema.
        self._con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def __repr__(self) -> str:
        return f"PostgresDestination({self.url!r})"

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The underlying connection (autocommit; `search_path` is the schema), for read queries."""
        return self._con

    # ------------------------------------------------------------ plumbing

    def _connect(self, conninfo: str) -> psycopg.Connection[Any]:
        options: dict[str, Any] = {"autocommit": True, "application_name": "manifold"}
        try:
            if "connect_timeout" not in conninfo_to_dict(conninfo):
                options["connect_timeout"] = CONNECT_TIMEOUT
            return psycopg.connect(conninfo, **options)
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot connect to the Postgres warehouse {self.url}: {self._redact(str(exc)).strip()}"
            ) from None

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[None]:
        """One transaction; on any failure it rolls back and the catalog caches are forgotten."""
        try:
            with self._con.transaction():
                yield
        except BaseException as exc:
            self._columns.clear()
            self._keys.clear()
            if isinstance(exc, psycopg.Error):
                message = self._redact(str(exc)).strip()
                raise WarehouseError(f"Postgres warehouse {self.url}: {doing} failed: {message}") from None
            raise

    def _lock_ddl(self, cur: psycopg.Cursor[Any]) -> None:
        """Serialise DDL on this schema across processes (released at commit)."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"manifold ddl {self.schema}"])

    def _create_schema(self, cur: psycopg.Cursor[Any]) -> None:
        # Looked up first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when it exists.
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema])
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))

    def _name(self, table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(table))

    def _regclass(self, table: str) -> str:
        return self._name(table).as_string(self._con)

    def _table_columns(self, cur: psycopg.Cursor[Any], table: str) -> dict[str, str]:
        cur.execute(_COLUMNS, [self._regclass(table)])
        return {name: kind for name, kind in cur.fetchall()}

    # ------------------------------------------------------------ tables

    def ensure_table(self, name: str, schema: pa.Schema) -> None:
        types = {f.name: pg_type(f) for f in schema}  # an unmappable type fails before any DDL
        with self._lock, self._transaction(f"creating table {name}"), self._con.cursor() as cur:
            self._lock_ddl(cur)
            existing = self._table_columns(cur, name)
            if not existing:
                self._create_table(cur, name, schema, types)
            for column in [f.name for f in schema if existing and f.name not in existing]:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        self._name(name), sql.Identifier(column), sql.SQL(types[column])
                    )
                )
            self._columns[name] = {**types, **existing}

    def _create_table(
        self, cur: psycopg.Cursor[Any], name: str, schema: pa.Schema, types: dict[str, str]
    ) -> None:
        columns = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(f.name), sql.SQL(types[f.name]), sql.SQL("" if f.nullable else " NOT NULL")
            )
            for f in schema
        ]
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(self._name(name), sql.SQL(", ").join(columns)))

    def _known_columns(self, cur: psycopg.Cursor[Any], batch: Batch) -> dict[str, str]:
        columns = self._columns.get(batch.table) or self._table_columns(cur, batch.table)
        if not columns:
            raise WarehouseError(
                f"table {self.schema}.{batch.table} does not exist: ensure_table comes first"
            )
        missing = [c for c in batch.rows.column_names if c not in columns]
        if missing:
            raise WarehouseError(f"table {self.schema}.{batch.table} has no column {', '.join(missing)}")
        self._columns[batch.table] = columns
        return columns

    def _ensure_key(self, cur: psycopg.Cursor[Any], table: str, key: list[str]) -> None:
        """The first merge into a table gives it its PRIMARY KEY; later ones check it is the same."""
        if self._keys.get(table) == tuple(key):
            return
        self._lock_ddl(cur)
        cur.execute(_PRIMARY_KEY, [self._regclass(table)])
        current = tuple(row[0] for row in cur.fetchall())
        if not current:
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    self._name(table), sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
        elif set(current) != set(key):
            raise WarehouseError(
                f"table {self.schema}.{table} has primary key ({', '.join(current)}) "
                f"but rows are merged on ({', '.join(key)})"
            )
        self._keys[table] = tuple(key)

    # ------------------------------------------------------------ loads

    def get_state(self, key: StateKey) -> dict[str, Any]:
        with self._lock, self._transaction("reading state"), self._con.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT state FROM {} WHERE connector = %s AND stream = %s AND connection_id = %s"
                ).format(self._name(STATE_TABLE)),
                [key.connector, key.stream, key.connection_id],
            )
            row = cur.fetchone()
        return dict(row[0]) if row else {}

    def commit(self, batches: list[Batch], key: StateKey, state: dict[str, Any]) -> LoadCounts:
        counts = LoadCounts()
        doing = f"loading {key.connector}.{key.stream} ({key.connection_id})"
        with self._lock, self._transaction(doing), self._con.cursor() as cur:
            for batch in batches:
                if batch.clear is not None:
                    conditions = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in batch.clear]
                    clause = (
                        sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
                    )
                    cur.execute(
                        sql.SQL("DELETE FROM {}").format(self._name(batch.table)) + clause,
                        list(batch.clear.values()),
                    )
                if batch.rows.num_rows:
                    counts.add(self._load(cur, batch))
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT (connector, stream, connection_id)"
                    " DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at"
                ).format(self._name(STATE_TABLE)),
                [
                    key.connector,
                    key.stream,
                    key.connection_id,
                    orjson.dumps(state).decode(),
                    datetime.now(UTC),
                ],
            )
        return counts

    def _load(self, cur: psycopg.Cursor[Any], batch: Batch) -> LoadCounts:
        columns = self._known_columns(cur, batch)
        json_columns = frozenset(c for c in batch.rows.column_names if columns[c] == JSONB)
        if batch.disposition == "append":
            self._copy(cur, self._name(batch.table), batch.rows, json_columns)
            return LoadCounts(inserted=batch.rows.num_rows)
        rows = merge_rows(batch)
        if batch.columns is not None:  # a patch: the upsert sets only these columns
            rows = rows.select(batch.columns)
        self._ensure_key(cur, batch.table, batch.key)
        stage = sql.Identifier(STAGE_TABLE)
        names = sql.SQL(", ").join(map(sql.Identifier, rows.column_names))
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                stage, names, self._name(batch.table)
            )
        )
        self._copy(cur, stage, rows, json_columns)
        cur.execute(self._merge_sql(batch.table, rows.column_names, batch.key, batch.versioned))
        inserted, updated = cur.fetchone() or (0, 0)
        cur.execute(sql.SQL("DROP TABLE {}").format(stage))
        return LoadCounts(inserted=inserted, updated=updated, stale=rows.num_rows - inserted - updated)

    def _copy(
        self, cur: psycopg.Cursor[Any], target: sql.Composable, rows: pa.Table, json_columns: frozenset[str]
    ) -> None:
        names = sql.SQL(", ").join(map(sql.Identifier, rows.column_names))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, names)) as copy:
            copy.write(memoryview(copy_csv(rows, json_columns)))

    def _merge_sql(
        self, table: str, columns: list[str], key: list[str], versioned: bool = False
    ) -> sql.Composed:
        """Upsert from the stage; counts inserted vs updated rows (`xmax = 0`: a fresh insert).

        Rows go in key order, so concurrent merges of the same keys lock them in the same
        order (and wait for each other instead of deadlocking). Versioned: a row whose stored
        `_version` is newer is left alone (and not counted)."""
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        changing = [c for c in columns if c not in key] or key[:1]
        sets = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in changing)
        newer: sql.Composable = sql.SQL("")
        if versioned and VERSION_COLUMN in columns:
            newer = sql.SQL(
                " WHERE target.{v} IS NULL OR EXCLUDED.{v} IS NULL OR target.{v} <= EXCLUDED.{v}"
            ).format(v=sql.Identifier(VERSION_COLUMN))
        return sql.SQL(
            "WITH written AS (INSERT INTO {target} AS target ({names}) SELECT {names} FROM {stage} ORDER BY {key}"
            " ON CONFLICT ({key}) DO UPDATE SET {sets}{newer} RETURNING (xmax = 0) AS inserted)"
            " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
        ).format(
            newer=newer,
            target=self._name(table),
            names=names,
            stage=sql.Identifier(STAGE_TABLE),
            key=sql.SQL(", ").join(map(sql.Identifier, key)),
            sets=sets,
        )

    def rows(
        self,
        table: str,
        columns: list[str],
        where: dict[str, Any],
        *,
        synced_after: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock, self._con.cursor() as cur:
            if not self._table_columns(cur, table):
                return []
            conditions: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in where]
            params: list[Any] = list(where.values())
            if synced_after is not None:
                conditions.append(sql.SQL("_synced_at > %s"))
                params.append(synced_after)
            clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
            tail = sql.SQL(" LIMIT {}").format(sql.Literal(int(limit))) if limit is not None else sql.SQL("")
            query = sql.SQL("SELECT {} FROM {}{}{}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), self._name(table), clause, tail
            )
            cur.execute(query, params)
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]

    def record_run(self, run: RunRecord) -> None:
        columns = ("connector", "connection_id", "started_at", "finished_at", "status", "error", "stats")
        with self._lock, self._transaction(f"recording run {run.run_id}"), self._con.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
                    " ON CONFLICT (run_id, stream) DO UPDATE SET {}"
                ).format(
                    self._name(RUNS_TABLE),
                    sql.SQL(", ").join(
                        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns
                    ),
                ),
                run.row(),
            )

    def close(self) -> None:
        with self._lock:
            self._con.close()


def conninfo_password(conninfo: str) -> str | None:
    """The password a connection string carries (to keep it out of messages), if any."""
    try:
        password = conninfo_to_dict(conninfo).get("password")
    except psycopg.Error:
        return None
    return str(password) if password else None
