"""The control store: migrations, connections with encrypted credentials, health, key rotation.

Runs on SQLite (the default) and on the Postgres at 127.0.0.1:5432 (a fresh schema per test).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from engine.control import ConnectionRecord, ConnectionStore, ControlDB, Vault
from engine.control.migrations import MIGRATIONS
from engine.errors import ConfigError

from .conftest import POSTGRES_URL, postgres_admin

TOKEN = "ya29.a0AfB_byC-PLANTED-SECRET-TOKEN-4f9c"


def _pg_schema_url() -> Iterator[str]:
    schema = f"ctl_{uuid.uuid4().hex[:8]}"
    admin = postgres_admin()
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlDB]:
    if request.param == "sqlite":
        database = ControlDB(f"sqlite:///{tmp_path}/control.db")
        yield database
        database.close()
        return
    for url in _pg_schema_url():
        database = ControlDB(url)
        yield database
        database.close()


@pytest.fixture
def store(db: ControlDB) -> ConnectionStore:
    return ConnectionStore(db, Vault([Fernet.generate_key().decode()]))


def test_migrations_are_versioned_and_applied_once(db: ControlDB) -> None:
    versions = [r["version"] for r in db.query("SELECT version FROM manifold_migrations ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]
    assert db.migrate() == []


def test_save_get_list_and_health(store: ConnectionStore) -> None:
    record = ConnectionRecord(
        "google_calendar",
        "maya",
        owner_id="user_42",
        account_id="maya@acme-studio.example",
        config={"calendar_ids": ["primary"]},
        credentials={"access_token": TOKEN, "refresh_token": "1//0g-refresh"},
        scopes=["https://www.googleapis.com/auth/calendar.readonly"],
        connected=True,
        token_expires_at=(datetime.now(UTC) + timedelta(minutes=2)).isoformat(),
    )
    store.save(record)
    loaded = store.get("google_calendar", "maya")
    assert loaded is not None and loaded.credentials["access_token"] == TOKEN and loaded.connected
    assert loaded.token_status(datetime.now(UTC)) == "expiring soon"
    assert [c.id for c in store.list("google_calendar")] == ["maya"]
    store.mark_error("google_calendar", "maya", "invalid_grant: token revoked", disconnect=True)
    broken = store.get("google_calendar", "maya")
    assert broken is not None and not broken.connected and broken.last_error_at
    store.mark_synced("google_calendar", "maya")
    synced = store.get("google_calendar", "maya")
    assert synced is not None and synced.last_error is None and synced.last_sync_at
    assert store.delete("google_calendar", "maya") and store.get("google_calendar", "maya") is None


def test_credentials_are_encrypted_at_rest_and_never_in_reprs(store: ConnectionStore) -> None:
    store.save(ConnectionRecord("gmail", "maya", credentials={"access_token": TOKEN}))
    raw = store.db.query("SELECT credentials FROM connections")[0]["credentials"]
    assert TOKEN not in raw
    record = store.get("gmail", "maya")
    assert TOKEN not in repr(record) and TOKEN not in str(record) and TOKEN not in repr(store.vault)


def test_key_rotation_re_encrypts_everything(db: ControlDB) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ConnectionStore(db, Vault([old])).save(
        ConnectionRecord("gmail", "maya", credentials={"access_token": TOKEN})
    )
    rotating = ConnectionStore(db, Vault([new, old]))
    assert rotating.rotate_key() == 1
    only_new = ConnectionStore(db, Vault([new]))
    record = only_new.get("gmail", "maya")
    assert record is not None and record.credentials["access_token"] == TOKEN
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        ConnectionStore(db, Vault([old])).get("gmail", "maya")


def test_local_key_file_is_generated_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MANIFOLD_SECRET_KEY", raising=False)
    key_file = tmp_path / "state" / "secret.key"
    first = Vault(key_file=key_file).encrypt({"a": 1})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Vault(key_file=key_file).decrypt(first) == {"a": 1}


def test_bad_secret_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANIFOLD_SECRET_KEY", "not-a-key")
    with pytest.raises(ConfigError, match="Fernet keys"):
        Vault()


def test_sqlite_store_is_safe_for_several_writers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/control.db"
    key = Fernet.generate_key().decode()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            store = ConnectionStore(ControlDB(url), Vault([key]))
            for i in range(20):
                store.save(ConnectionRecord("stripe", f"w{n}-{i}", credentials={"k": i}))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sqlite3.connect(tmp_path / "control.db").execute(
        "SELECT count(*) FROM connections"
    ).fetchone() == (80,)
    assert sqlite3.connect(tmp_path / "control.db").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_unsupported_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not supported"):
        ControlDB("mysql://x")


def test_cli_lists_connections_without_credentials_and_disconnects(tmp_path: Path) -> None:
    import subprocess
    import sys

    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path}/control.db"
    store = ConnectionStore(ControlDB(url), Vault([key]))
    store.save(
        ConnectionRecord(
            "gmail",
            "maya",
            account_id="maya@acme.example",
            credentials={"access_token": TOKEN},
            connected=True,
        )
    )
    env = {**os.environ, "MANIFOLD_CONTROL_URL": url, "MANIFOLD_SECRET_KEY": key, "COLUMNS": "200"}
    root = Path(__file__).resolve().parent.parent
    listed = subprocess.run(
        [sys.executable, "-m", "engine.cli", "connections"], env=env, cwd=root, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert "maya@acme.example" in listed.stdout and TOKEN not in listed.stdout + listed.stderr
    gone = subprocess.run(
        [sys.executable, "-m", "engine.cli", "disconnect", "gmail", "--connection", "maya"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert gone.returncode == 0, gone.stderr
    record = store.get("gmail", "maya")
    assert record is not None and not record.connected and record.credentials == {}
