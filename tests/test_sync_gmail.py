"""Gmail end to end against the sandbox: connect over OAuth, a first sync of the most recent N
messages, later syncs from users.history.list, a too-old history id -> a full resync, Pub/Sub
push deliveries verified by their OIDC token queueing a sync, and send_message."""

from __future__ import annotations

import base64
import json
import os
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.control import ConnectionStore, ControlDB, Vault
from engine.control.inbox import Inbox
from engine.control.sync_requests import SyncRequests
from engine.destinations import StateKey
from engine.destinations.duckdb import DuckDBDestination
from engine.oauth import OAuthStates, authorize_url, complete, sandbox_rewrite
from engine.oauth.spec import OAuth2AuthCode
from engine.runner import load_for_run, sandbox_environ
from engine.spec.loader import load_connector
from engine.webhooks.apply import EventApplier, drain
from engine.webhooks.keys import KeyStore
from engine.webhooks.receiver import Incoming, Receiver

from .conftest import Workspace
from .test_oauth_support import callback_server
from .test_webhook_support import jwk_of, rsa_key, sign_rs256_jwt

MAILBOX = "maya@acme-studio.example"
AUDIENCE = "https://manifold.example.com/webhooks/gmail"
PUSH_ACCOUNT = "gmail-push@acme-studio.iam.gserviceaccount.com"
GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v1/certs"
KID = "pubsub-kid-1"
A1, A2, A3 = "18f2e1d0c9b8a701", "18f3002a3b4c5d03", "18f31c2d3e4f5a06"
B2, B3, C1 = "18f30b7c8d9e0f04", "18f3262b3c4d5e08", "18f3115e6f708105"
D1, D2 = "18f3258a9b0c1d07", "18f3271c2d3e4f09"


def connect(space: Workspace, url: str, env: dict[str, str]) -> str:
    """`manifold connect gmail` against the sandbox: the user's browser follows the authorize URL."""
    process = space.popen("connect", "gmail", "--connection", "maya", "--sandbox-url", url, "--timeout", "30",
                          env=env)  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect Gmail (maya)")
        authorize = process.stdout.readline().strip()
        assert "access_type=offline" in authorize and "prompt=consent" in authorize
        assert "code_challenge_method=S256" in authorize and "gmail.send" in authorize
        page = httpx.get(authorize, follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "Connected" in page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    return out


def sync(space: Workspace, url: str, env: dict[str, str]) -> None:
    result = space.cli("sync", "gmail", "--connection", "maya", "--sandbox-url", url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def calls(sandbox: Any, path_end: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests("gmail") if r["path"].endswith(path_end)]


def message_gets(sandbox: Any) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests("gmail") if "/messages/" in r["path"] and r["method"] == "GET"]


def parent_state(space: Workspace, stream: str = "messages") -> dict[str, Any]:
    destination = DuckDBDestination(Path(space.warehouse_url.removeprefix("duckdb:///")))
    try:
        return destination.get_state(StateKey("gmail", stream, "maya"))
    finally:
        destination.close()


@pytest.fixture
def env(workspace: Workspace, secret_key: str) -> dict[str, str]:
    return workspace.env(MANIFOLD_SECRET_KEY=secret_key)


def connect_in_process(space: Workspace, url: str, secret_key: str) -> None:
    """The same flow without a CLI process: authorize -> the sandbox's redirect -> complete."""
    loaded = load_for_run(str(space.connectors / "gmail.yaml"), sandbox=True)
    auth = loaded.spec.auth
    assert isinstance(auth, OAuth2AuthCode)
    env = sandbox_environ(loaded)
    db, vault = ControlDB(os.environ["MANIFOLD_CONTROL_URL"]), Vault([secret_key])
    states, rewrite = OAuthStates(db, vault), sandbox_rewrite(url, "gmail")
    with callback_server() as callback:
        authorize = authorize_url(
            auth, "gmail", "maya", callback.url, states=states, env=env, rewrite=rewrite
        )
        assert httpx.get(authorize, follow_redirects=True, timeout=10).status_code == 200
        query = callback.hits[-1]
    record = complete(auth, "gmail", query.get("code"), query["state"], states=states,
                      store=ConnectionStore(db, vault), env=env, redirect_uri=callback.url, rewrite=rewrite)  # fmt: skip
    assert record.account == {"emailAddress": MAILBOX, "historyId": "94100"}


@pytest.fixture
def url(workspace: Workspace, env: dict[str, str], request: pytest.FixtureRequest) -> str:
    sandbox = workspace.start_sandbox()
    if request.node.name.startswith("test_first_sync"):  # the CLI once; the other tests connect in-process
        out = connect(workspace, sandbox.url, env)
        assert f"connected gmail/maya (account {MAILBOX})" in out
    else:
        connect_in_process(workspace, sandbox.url, env["MANIFOLD_SECRET_KEY"])
    return sandbox.url


def test_first_sync_takes_the_newest_messages_then_history_then_a_full_resync(
    workspace: Workspace, url: str, env: dict[str, str]
) -> None:
    sandbox = workspace.sandbox
    assert sandbox is not None
    sandbox.clear_requests()

    sync(workspace, url, env)  # first sync: profile, the newest 4 of 6 listed, messages.get each
    rows = workspace.query(
        "SELECT id, thread_id, from_address, to_addresses, cc_addresses, subject, snippet, labels, is_read,"
        " history_id, sent_at, received_at FROM email_messages ORDER BY received_at DESC"
    )
    assert [r[0] for r in rows] == [A3, C1, B2, A2]
    a3 = rows[0]
    assert a3[1] == A1 and a3[2] == "Ada Lovelace <ada@northwind.example>"
    assert a3[3] == [MAILBOX] and a3[4] == ["carol@northwind.example"]
    assert a3[5] == "Re: Kickoff: Northwind spring campaign" and a3[6].startswith("Perfect, Friday works")
    assert a3[7] == ["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL"] and a3[8] is False
    assert a3[9] == "94061" and a3[10].isoformat().startswith("2024-11-07T07:05:59")
    lists = calls(sandbox, "/users/me/messages")
    assert len(lists) == 4  # per stream (messages, threads): page size 2, stopped at initial_messages = 4
    assert lists[0]["query"] == {"maxResults": "2", "labelIds": "INBOX", "includeSpamTrash": "false"}
    assert ["pageToken" in c["query"] for c in lists] == [False, True, False, True]
    gets = message_gets(sandbox)
    assert sorted(g["path"].rsplit("/", 1)[1] for g in gets) == sorted([A3, C1, B2, A2])
    assert gets[0]["query_pairs"] == [["format", "metadata"]] + [
        ["metadataHeaders", h] for h in ("From", "To", "Cc", "Subject", "Date")
    ]
    assert len(calls(sandbox, "/profile")) == 2 and calls(sandbox, "/history") == []  # one per stream
    threads = workspace.query("SELECT id, subject, message_count, history_id FROM email_threads ORDER BY id")
    assert threads == [
        (A1, "Kickoff: Northwind spring campaign", 3, "94061"),
        ("18f2f0a1b2c3d402", "Quote for the product shoot", 3, "94112"),
        (C1, "Proof ready: brochure v2", 1, "94002"),
    ]
    assert parent_state(workspace)["parent"] == {"": {"token": "94100"}}  # getProfile's historyId
    assert parent_state(workspace)["slices"] == {}

    sandbox.clear_requests()
    sync(workspace, url, env)  # second sync: history.list from 94100, only the added messages
    history = calls(sandbox, "/history")
    assert [h["query"].get("pageToken") is None for h in history] == [True, False, True, False]  # 2 streams
    assert history[0]["query"]["startHistoryId"] == "94100"
    assert history[0]["query"]["historyTypes"] == "messageAdded" and history[0]["query"]["labelId"] == "INBOX"
    assert calls(sandbox, "/users/me/messages") == [] and calls(sandbox, "/profile") == []
    assert sorted(g["path"].rsplit("/", 1)[1] for g in message_gets(sandbox)) == sorted([D1, B3, D2])
    thread_gets = [r["path"].rsplit("/", 1)[1] for r in sandbox.requests("gmail") if "/threads/" in r["path"]]
    assert sorted(thread_gets) == sorted([D1, "18f2f0a1b2c3d402"])  # D1's thread once for D1 and D2
    assert workspace.query("SELECT count(*) FROM email_messages") == [(7,)]
    assert workspace.query(f"SELECT subject, cc_addresses FROM email_messages WHERE id = '{D2}'") == [
        ("Re: Budget sign-off for Q1 shoots", ["carol@northwind.example"])
    ]
    assert workspace.query("SELECT count(*) FROM email_threads") == [(4,)]
    assert parent_state(workspace)["parent"] == {"": {"token": "94120"}}  # history.list's historyId

    sandbox.clear_requests()
    sync(workspace, url, env)  # nothing new
    assert [h["query"]["startHistoryId"] for h in calls(sandbox, "/history")] == ["94120", "94120"]
    assert message_gets(sandbox) == []

    # A history id older than Gmail keeps (the sandbox's oldest is 94000): 404 -> a full sync.
    path = Path(workspace.warehouse_url.removeprefix("duckdb:///"))
    destination = DuckDBDestination(path)
    for stream in ("messages", "threads"):
        key = StateKey("gmail", stream, "maya")
        destination.commit([], key, {"slices": {}, "parent": {"": {"token": "93000"}}})
    destination.close()
    sandbox.clear_requests()
    sync(workspace, url, env)
    statuses = [(r["path"].rsplit("/", 1)[1], r["status"]) for r in sandbox.requests("gmail")]
    assert ("history", 404) in statuses and ("profile", 200) in statuses
    assert len(calls(sandbox, "/users/me/messages")) == 4  # messages.list again, 2 pages for each stream
    assert sorted(g["path"].rsplit("/", 1)[1] for g in message_gets(sandbox)) == sorted([A3, C1, B2, A2])
    assert parent_state(workspace)["parent"] == {"": {"token": "94100"}}
    assert parent_state(workspace, "threads")["parent"] == {"": {"token": "94100"}}


# ---------------------------------------------------------------- push


def push_body(mailbox: str, message_id: str = "2070443601311540") -> bytes:
    data = base64.b64encode(json.dumps({"emailAddress": mailbox, "historyId": 94131}).encode()).decode()
    return json.dumps(
        {
            "message": {"data": data, "messageId": message_id, "message_id": message_id,
                        "publishTime": "2024-11-07T11:12:13.456Z", "publish_time": "2024-11-07T11:12:13.456Z"},
            "subscription": "projects/acme-studio/subscriptions/gmail-push",
        }
    ).encode()  # fmt: skip


def bearer(**claims: Any) -> dict[str, str]:
    t = int(time.time())
    base = {"aud": AUDIENCE, "azp": "1122334455", "email": PUSH_ACCOUNT, "email_verified": True,
            "exp": t + 3600, "iat": t, "iss": "https://accounts.google.com", "sub": "1122334455"}  # fmt: skip
    token = sign_rs256_jwt(rsa_key("pubsub"), KID, {**base, **claims})
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_a_verified_push_queues_a_sync_of_the_mailbox_connection(
    workspace: Workspace, url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MANIFOLD_SECRET_KEY", env["MANIFOLD_SECRET_KEY"])
    loaded = load_connector(workspace.connectors / "gmail.yaml", check_env=False)
    assert loaded.spec.sandbox is not None
    jwks = json.dumps({"keys": [jwk_of(rsa_key("pubsub"), KID)]}).encode()
    keys = KeyStore(fetch=lambda fetched: jwks if fetched == GOOGLE_CERTS else b"{}")
    receiver = Receiver(loaded, loaded.spec.sandbox.env, keys=keys)

    def deliver(headers: dict[str, str], body: bytes) -> Any:
        return receiver.decide(Incoming("gmail", None, "POST", headers, {}, body, time.time()))

    refused = [
        deliver(bearer(aud="https://elsewhere.example/push"), push_body(MAILBOX)),
        deliver(bearer(iss="https://evil.example"), push_body(MAILBOX)),
        deliver(bearer(email="someone@evil.iam.gserviceaccount.com"), push_body(MAILBOX)),
        deliver({"Content-Type": "application/json"}, push_body(MAILBOX)),
    ]
    assert [d.reply.status for d in refused] == [401, 401, 401, 401]
    assert all(d.delivery is None for d in refused)
    bad_data = deliver(bearer(), push_body(MAILBOX).replace(b'"data": "', b'"data": "!!'))
    assert bad_data.reply.status == 400 and bad_data.delivery is None

    db = ControlDB(env["MANIFOLD_CONTROL_URL"])
    inbox = Inbox(db)
    accepted = deliver(bearer(), push_body(MAILBOX))
    assert accepted.reply.status == 200 and accepted.delivery is not None
    assert accepted.delivery.event_id == "2070443601311540"
    assert accepted.delivery.event_type == "gmail.history"
    stranger = deliver(bearer(), push_body("someone@else.example", "2070443601311999"))
    assert stranger.delivery is not None
    deliveries = [d.delivery for d in (accepted, stranger) if d.delivery is not None]
    assert inbox.write(deliveries, []) == [True, True]

    destination = DuckDBDestination(Path(workspace.warehouse_url.removeprefix("duckdb:///")))
    report = drain(inbox, {"gmail": EventApplier(loaded)}, destination, SyncRequests(db))
    destination.close()
    assert (report.processed, report.ignored, report.syncs_queued) == (1, 1, 0 + 1)
    [queued] = SyncRequests(db).queued()
    assert (queued.connector, queued.connection_id, queued.source) == ("gmail", "maya", "webhook")
    assert sorted(queued.streams) == ["messages", "threads"]


# ---------------------------------------------------------------- send_message


def test_send_message_sends_an_rfc_2822_message(workspace: Workspace, url: str, env: dict[str, str]) -> None:
    sandbox = workspace.sandbox
    assert sandbox is not None
    message = {
        "to": ["Ada Lovelace <ada@northwind.example>"],
        "cc": ["carol@northwind.example"],
        "subject": "Café shoot: call sheet ✓",
        "text": "Hi Ada,\nthe call sheet for 19-20 November is attached.\n",
        "html": "<p>Hi Ada,</p><p>the call sheet is attached.</p>",
    }
    input_file = workspace.connectors.parent / "send.json"
    input_file.write_text(json.dumps(message))
    result = workspace.cli("action", "gmail", "send_message", "--input", f"@{input_file}",
                           "--connection", "maya", "--sandbox-url", url, env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [sent] = [r for r in sandbox.requests("gmail") if r["path"].endswith("/messages/send")]
    assert sent["status"] == 200 and sent["method"] == "POST"
    raw = sent["body"]["raw"]
    assert "=" not in raw and "+" not in raw and "/" not in raw  # base64url, unpadded
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"\n" not in head.replace(b"\r\n", b"")
    assert b"Subject: =?utf-8?" in head  # RFC 2047 for the non-ASCII subject
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert parsed["Subject"] == "Café shoot: call sheet ✓"
    assert (
        parsed["To"] == "Ada Lovelace <ada@northwind.example>" and parsed["Cc"] == "carol@northwind.example"
    )
    assert parsed["From"] == MAILBOX and parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    assert plain is not None and "call sheet for 19-20 November" in plain.get_content()
    [kept] = sandbox.records("gmail", "/gmail/v1/users/{userId}/messages/send")
    assert kept["labelIds"] == ["SENT"] and kept["headers"]["Subject"] == "Café shoot: call sheet ✓"
