"""What the web service's handlers share: the connectors, the control store and the inbox writer.

Built once at startup (`Service.open`), closed at shutdown. Handlers take it from
`request.app.state.service` and call the engine; nothing here handles HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..control import ConnectionStore, ControlDB, Vault, open_control
from ..control.group_commit import GroupCommitter
from ..control.inbox import AuditEntry, Delivery, Inbox
from ..control.provider_secrets import ProviderSecrets
from ..control.sync_requests import SyncRequests
from ..errors import ConfigError
from ..oauth import OAuthStates, UrlRewrite, sandbox_rewrite
from ..runner import sandbox_environ
from ..spec.loader import LoadedConnector, connector_files, is_enabled, load_connectors, missing_env
from ..webhooks.keys import DEFAULT_KEYS, KeyStore
from ..webhooks.receiver import Receiver
from .settings import ServiceSettings

InboxWrite = Delivery | AuditEntry


@dataclass
class Service:
    settings: ServiceSettings
    connectors: dict[str, LoadedConnector]
    db: ControlDB
    vault: Vault
    writer: GroupCommitter[InboxWrite, bool]
    keys: KeyStore = DEFAULT_KEYS
    receivers: dict[str, Receiver] = field(default_factory=dict)
    _writer_db: ControlDB | None = None
    _env: dict[str, dict[str, str]] = field(default_factory=dict)

    def __repr__(self) -> str:  # its fields hold the environment and the stores: never show them
        return f"Service({len(self.connectors)} connectors, control store {self.db!r})"

    @classmethod
    def open(cls, settings: ServiceSettings, *, keys: KeyStore | None = None) -> Service:
        connectors = load_all(settings.connectors)
        db = open_control(settings.control_url)
        vault = Vault()
        # The inbox writer has its own connection, so reads never wait behind a batch commit.
        writer_db = ControlDB(db.url, durable=True)
        inbox = Inbox(writer_db)
        writer: GroupCommitter[InboxWrite, bool] = GroupCommitter(
            lambda batch: _write(inbox, batch), name="webhook-inbox"
        )
        service = cls(settings, connectors, db, vault, writer, keys or DEFAULT_KEYS, _writer_db=writer_db)
        for name, loaded in connectors.items():  # the process's environment does not change
            service._env[name] = sandbox_environ(loaded) if settings.sandbox_url else dict(os.environ)
        service.receivers = {
            name: Receiver(
                loaded,
                service.env(name),
                connections=service.connections.get,
                accounts=service.connections.by_account,
                keys=service.keys,
            )
            for name, loaded in connectors.items()
            if loaded.spec.webhooks is not None
        }
        return service

    # ------------------------------------------------------------ stores

    @property
    def connections(self) -> ConnectionStore:
        return ConnectionStore(self.db, self.vault)

    @property
    def states(self) -> OAuthStates:
        return OAuthStates(self.db, self.vault)

    @property
    def inbox(self) -> Inbox:
        return Inbox(self.db)

    @property
    def sync_requests(self) -> SyncRequests:
        return SyncRequests(self.db)

    @property
    def provider_secrets(self) -> ProviderSecrets:
        return ProviderSecrets(self.db, self.vault)

    # ------------------------------------------------------------ connectors

    def env(self, name: str) -> dict[str, str]:
        """The environment a connector runs with (the sandbox's values in sandbox mode)."""
        return self._env[name]

    def enabled(self, name: str) -> bool:
        return is_enabled(self.connectors[name].spec, self.env(name))

    def missing_env(self, name: str) -> list[str]:
        return missing_env(self.connectors[name].spec, self.env(name))

    def oauth_rewrite(self, name: str) -> UrlRewrite | None:
        url = self.settings.sandbox_url
        return sandbox_rewrite(url, name) if url else None

    def disabled_message(self, name: str) -> str:
        flag = self.connectors[name].spec.flag
        return f"{name} is disabled: set {flag}=true to enable it"

    def close(self) -> None:
        self.writer.close()
        if self._writer_db is not None:
            self._writer_db.close()
        self.db.close()


def _write(inbox: Inbox, batch: Sequence[InboxWrite]) -> list[bool]:
    deliveries = [item for item in batch if isinstance(item, Delivery)]
    audits = [item for item in batch if isinstance(item, AuditEntry)]
    fresh = iter(inbox.write(deliveries, audits))
    return [next(fresh) if isinstance(item, Delivery) else True for item in batch]


def load_all(folder: Path) -> dict[str, LoadedConnector]:
    """Every connector in the folder, env not required (diagnostics show what is missing)."""
    if not folder.is_dir():
        raise ConfigError(
            f"no connectors folder at {folder}; set MANIFOLD_CONNECTORS or run from the project"
        )
    loaded = load_connectors(connector_files([folder]), check_env=False)
    return {c.spec.name: c for c in loaded}
