"""Credentials encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), keys rotatable.

`MANIFOLD_SECRET_KEY` holds one Fernet key, or several separated by commas: the first
encrypts, all decrypt (rotation: put the new key first, run `rotate`, drop the old one).
Without it, local development generates `state/secret.key` with 0600 permissions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..errors import ConfigError

DEFAULT_KEY_FILE = Path("state/secret.key")


def _load_keys(key_file: Path) -> list[str]:
    configured = os.environ.get("MANIFOLD_SECRET_KEY", "").strip()
    if configured:
        return [k.strip() for k in configured.split(",") if k.strip()]
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return [key_file.read_text().strip()]


class Vault:
    """Encrypts and decrypts credential dicts. Its repr and errors never show keys or values."""

    def __init__(self, keys: list[str] | None = None, *, key_file: Path = DEFAULT_KEY_FILE):
        keys = keys or _load_keys(key_file)
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "MANIFOLD_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated; "
                'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            ) from None

    def encrypt(self, credentials: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(credentials)).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigError(
                "stored credentials cannot be decrypted with MANIFOLD_SECRET_KEY (wrong or rotated-away key)"
            ) from None
        return value

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first (primary) key."""
        return self._fernet.rotate(token.encode()).decode()

    def __repr__(self) -> str:
        return "Vault(***)"
