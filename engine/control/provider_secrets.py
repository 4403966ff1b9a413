"""Secrets a provider hands us at run time (Notion's webhook verification_token), kept encrypted."""

from __future__ import annotations

from .crypto import Vault
from .db import ControlDB, now_utc


class ProviderSecrets:
    """Named values in the `oauth_keys` table, encrypted with the vault like credentials."""

    def __init__(self, db: ControlDB, vault: Vault):
        self.db = db
        self.vault = vault

    def put(self, name: str, value: str) -> None:
        secret = self.vault.encrypt({"value": value})
        with self.db.transaction():
            self.db.execute("DELETE FROM oauth_keys WHERE name = ?", [name])
            self.db.execute(
                "INSERT INTO oauth_keys (name, secret, created_at) VALUES (?, ?, ?)",
                [name, secret, now_utc()],
            )

    def get(self, name: str) -> str | None:
        rows = self.db.query("SELECT secret FROM oauth_keys WHERE name = ?", [name])
        return str(self.vault.decrypt(rows[0]["secret"])["value"]) if rows else None

    def __repr__(self) -> str:
        return "ProviderSecrets(***)"
